import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readParquet, tableToRows } from '@difflab/data';
import { runFitCommand } from '../src/fit-command.js';
import { TRUTH, isoflopRuns } from './synthetic.js';

const dir = mkdtempSync(join(tmpdir(), 'slf-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const runs = isoflopRuns(9, 0.005);
const csv = join(dir, 'runs.csv');
writeFileSync(csv, ['params,tokens,flops,loss', ...runs.n.map((n, i) => `${n},${runs.d[i]},${runs.c[i]},${runs.y[i]}`)].join('\n'));

async function run(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runFitCommand(args, (s) => out.push(s), (s) => err.push(s));
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('difflab fit', () => {
  it('isoflop --json prints estimates with intervals; --out writes fit.md, fit.parquet and plots', async () => {
    const outDir = join(dir, 'iso');
    const r = await run(['isoflop', '--in', csv, '--n-col', 'params', '--d-col', 'tokens', '--c-col', 'flops', '--y-col', 'loss', '--bootstrap', '100', '--predict-c', '1e23', '--json', '--out', outDir]);
    expect(r.code).toBe(0);
    const json = JSON.parse(r.out) as { fit: string; estimates: Array<{ quantity: string; value: number; lo: number; hi: number }>; predictions: unknown[] };
    expect(json.fit).toBe('isoflop');
    const a = json.estimates.find((e) => e.quantity === 'a (N_opt ∝ C^a)')!;
    const trueA = TRUTH.beta / (TRUTH.alpha + TRUTH.beta);
    expect(a.lo).toBeLessThanOrEqual(trueA);
    expect(a.hi).toBeGreaterThanOrEqual(trueA);
    expect(json.predictions).toHaveLength(2);
    expect(readFileSync(join(outDir, 'fit.md'), 'utf8')).toMatch(/\| a \(N_opt ∝ C\^a\) \|/);
    const rows = tableToRows(readParquet(join(outDir, 'fit.parquet')));
    expect(rows.find((x) => x.quantity === 'a (N_opt ∝ C^a)')).toMatchObject({ fit: 'isoflop', kind: 'estimate', estimate: a.value, ci_low: a.lo, ci_high: a.hi, level: 0.95 });
    for (const name of ['isoflop_curves', 'n_opt_vs_compute']) {
      expect(readFileSync(join(outDir, `${name}.svg`), 'utf8')).toMatch(/^<svg/);
      expect(readFileSync(join(outDir, `${name}.png`)).subarray(1, 4).toString()).toBe('PNG');
    }
    expect(r.err).toMatch(/wrote .*fit\.md/);
  });

  it('power prints a Markdown table and draws loss vs compute', async () => {
    const outDir = join(dir, 'pow');
    const r = await run(['power', '--in', csv, '--c-col', 'flops', '--y-col', 'loss', '--bootstrap', '50', '--out', outDir]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^# difflab fit power/);
    expect(r.out).toMatch(/\| E \(y = E \+ a·C\^b\) \|/);
    expect(existsSync(join(outDir, 'loss_vs_compute.png'))).toBe(true);
  });

  it('--help prints the usage', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/usage: difflab fit power\|isoflop\|parametric/);
  });

  it('bad invocations fail with a message naming the fix', async () => {
    await expect(run(['sideways', '--in', csv, '--y-col', 'loss'])).rejects.toThrow(/expected one of power, isoflop, parametric/);
    await expect(run(['power', '--in', csv])).rejects.toThrow(/--y-col <name> is required/);
    await expect(run(['power', '--y-col', 'loss'])).rejects.toThrow(/--in <table> is required/);
    await expect(run(['power', '--in', csv, '--y-col', 'loss'])).rejects.toThrow(/no column 'C' \(given by --c-col\)/);
    await expect(run(['parametric', '--in', csv, '--n-col', 'params', '--y-col', 'loss'])).rejects.toThrow(/no column 'D' \(given by --d-col\)/);
    await expect(run(['parametric', '--in', csv, '--n-col', 'params', '--d-col', 'tokens', '--y-col', 'loss', '--predict-n', '1e9'])).rejects.toThrow(/pair up in order/);
    await expect(run(['power', '--in', csv, '--c-col', 'flops', '--y-col', 'loss', '--predict-c', '0'])).rejects.toThrow(/--predict-c 0: expected a positive number/);
    await expect(run(['power', '--in', csv, '--c-col', 'flops', '--y-col', 'loss', '--level', '2'])).rejects.toThrow(/level must be in \(0, 1\)/);
  });
});
