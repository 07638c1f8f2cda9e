import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runFitCommand } from '../src/fit-command.js';
import { displayPath } from '../src/report.js';
import { isoflopRuns } from './synthetic.js';

const dir = mkdtempSync(join(tmpdir(), 'slf-progress-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const runs = isoflopRuns(9, 0.005);
const csv = join(dir, 'runs.csv');
writeFileSync(csv, ['params,tokens,flops,loss', ...runs.n.map((n, i) => `${n},${runs.d[i]},${runs.c[i]},${runs.y[i]}`)].join('\n'));

/** A stand-in for stderr that keeps what is written; a terminal or a log file. */
function stream(isTTY: boolean): NodeJS.WriteStream & { text: string } {
  const s = { isTTY, text: '', write: (chunk: string) => ((s.text += chunk), true) };
  return s as unknown as NodeJS.WriteStream & { text: string };
}

describe('difflab fit progress', () => {
  it('prints a start and an end line for reading the runs, fitting, and writing tables and plots', async () => {
    const progress = stream(false);
    const out = join(dir, 'pow');
    const code = await runFitCommand(['power', '--in', csv, '--c-col', 'flops', '--y-col', 'loss', '--bootstrap', '20', '--out', out], () => {}, () => {}, progress);
    expect(code).toBe(0);
    const [src, dst] = [displayPath(process.cwd(), csv), displayPath(process.cwd(), out)];
    const lines = progress.text.trimEnd().split('\n');
    expect(lines).toHaveLength(6);
    expect(lines[0]).toBe(`reading runs from ${src} …`);
    expect(lines[1]).toMatch(new RegExp(`^reading runs from ${src.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ${runs.n.length} runs in \\d+\\.\\d s`));
    expect(lines[2]).toBe('fitting power with 20 bootstrap resamples …');
    expect(lines[3]).toMatch(/^fitting power with 20 bootstrap resamples: \d+\.\d s$/);
    expect(lines[4]).toBe(`writing tables and plots to ${dst} …`);
    expect(lines[5]).toMatch(/^writing tables and plots to .*: \d+\.\d s$/);
  });

  it('on a terminal, a phase that fails ends its line so the error is printed on its own', async () => {
    const progress = stream(true);
    const noBudgets = join(dir, 'no-budgets.csv');
    writeFileSync(noBudgets, ['params,tokens,loss', ...runs.n.map((n, i) => `${n},${runs.d[i]},${runs.y[i]}`)].join('\n'));
    await expect(runFitCommand(['isoflop', '--in', noBudgets, '--n-col', 'params', '--c-col', 'tokens', '--y-col', 'loss'], () => {}, () => {}, progress)).rejects.toThrow(/usable budgets/);
    expect(progress.text.endsWith('\r\x1b[Kfitting isoflop with 1000 bootstrap resamples …\n')).toBe(true);
  });
});
