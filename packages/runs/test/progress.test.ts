import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { formatDuration, formatNumber, Progress, startPhase } from '../src/progress.js';

describe('formatNumber', () => {
  it('prints 4 significant digits between 1e-3 and 1e5', () => {
    expect(formatNumber(0.002)).toBe('0.002000');
    expect(formatNumber(0.001)).toBe('0.001000');
    expect(formatNumber(0.12345)).toBe('0.1235');
    expect(formatNumber(1)).toBe('1.000');
    expect(formatNumber(-3.14159)).toBe('-3.142');
    expect(formatNumber(1234.5)).toBe('1235');
    expect(formatNumber(12345.6)).toBe('12346');
    expect(formatNumber(99999.4)).toBe('99999');
  });

  it('uses the exponent only below 1e-3 or from 1e5 on, always with 4 significant digits', () => {
    expect(formatNumber(7.4123e-4)).toBe('7.412e-4');
    expect(formatNumber(-2e-7)).toBe('-2.000e-7');
    expect(formatNumber(1e5)).toBe('1.000e+5');
    expect(formatNumber(6.02e23)).toBe('6.020e+23');
  });

  it('prints zero as 0 (not 0.000e+0) and keeps non-finite values readable', () => {
    expect(formatNumber(0)).toBe('0');
    expect(formatNumber(-0)).toBe('0');
    expect(formatNumber(NaN)).toBe('NaN');
    expect(formatNumber(-Infinity)).toBe('-Infinity');
  });

  it('formats durations as m:ss or h:mm:ss', () => {
    expect(formatDuration(65)).toBe('1:05');
    expect(formatDuration(3661)).toBe('1:01:01');
    expect(formatDuration(Infinity)).toBe('--:--');
  });
});

describe('Progress', () => {
  it('prints a plain line every `every` steps off a TTY, with the shared number format', () => {
    const lines: string[] = [];
    const out = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    }) as unknown as NodeJS.WriteStream;
    const p = new Progress(4, 0, 2, out);
    for (const [step, lr] of [[1, 0.002], [2, 0.002], [3, 7.4123e-4], [4, 0]] as const) p.update(step, { lr });
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^step 2\/4 {2}lr 0\.002000 {2}.* it\/s {2}ETA /);
    expect(lines[1]).toMatch(/^step 4\/4 {2}lr 0 {2}/);
  });
});

describe('startPhase', () => {
  function capture(isTTY: boolean): { out: NodeJS.WriteStream; text: () => string } {
    let text = '';
    const out = new Writable({
      write(chunk: Buffer, _enc, done) {
        text += chunk.toString();
        done();
      },
    }) as unknown as NodeJS.WriteStream;
    (out as { isTTY?: boolean }).isTTY = isTTY;
    return { out, text: () => text };
  }

  it('off a TTY logs a start line and an end line with the count, time and rate', () => {
    const { out, text } = capture(false);
    const phase = startPhase('held-out loss on 10 test images', out);
    expect(text()).toBe('held-out loss on 10 test images …\n');
    phase.done(10, 'examples');
    expect(text().split('\n')[1]).toMatch(/^held-out loss on 10 test images: 10 examples in \d+\.\d s \(\S+ examples\/s\)$/);
  });

  it('on a TTY replaces the start line with the end line, and prints only the time without a count', () => {
    const { out, text } = capture(true);
    startPhase('loading fashion-mnist', out).done();
    expect(text()).toMatch(/^\r\x1b\[Kloading fashion-mnist …\r\x1b\[Kloading fashion-mnist: \d+\.\d s\n$/);
  });
});
