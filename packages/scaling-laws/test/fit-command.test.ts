import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readParquet, tableToRows } from '@difflab/data';
import { TooFewBudgetsError } from '../src/errors.js';
import { runFitCommand } from '../src/fit-command.js';
import { displayPath } from '../src/report.js';
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

  it('fit.md names the runs table relative to itself and printed Markdown relative to the cwd, never by an absolute path', async () => {
    const outDir = join(dir, 'rel', 'iso');
    const r = await run(['isoflop', '--in', csv, '--n-col', 'params', '--c-col', 'flops', '--y-col', 'loss', '--bootstrap', '20', '--out', outDir]);
    expect(r.code).toBe(0);
    const md = readFileSync(join(outDir, 'fit.md'), 'utf8');
    expect(md).toContain('Runs: `../../runs.csv`');
    expect(md).not.toContain(dir);
    expect(r.out).toContain(`Runs: \`${relative(process.cwd(), csv).split(sep).join('/')}\``);
    expect(displayPath('/a/b', '/a/c/t.csv')).toBe('../c/t.csv');
    expect(displayPath('/a', '/a')).toBe('.');
  });

  it('isoflop with a --c-col that gives no budgets names the column that would work and the numeric columns', async () => {
    const withText = join(dir, 'runs-text.csv');
    writeFileSync(withText, ['name,params,tokens,flops,loss', ...runs.n.map((n, i) => `r${i},${n},${runs.d[i]},${runs.c[i]},${runs.y[i]}`)].join('\n'));
    const bad = run(['isoflop', '--in', withText, '--n-col', 'params', '--c-col', 'tokens', '--y-col', 'loss', '--bootstrap', '10']);
    await expect(bad).rejects.toThrow(TooFewBudgetsError);
    await expect(bad).rejects.toThrow(/needs at least 2 usable budgets, got 0: the compute column has \d+ distinct value\(s\).*\(--c-col tokens\); use --c-col flops\. Numeric columns of .*runs-text\.csv: params, tokens, flops, loss$/s);
    // No column groups the runs into budgets: say so rather than suggest one that fails too.
    const noBudgets = join(dir, 'no-budgets.csv');
    writeFileSync(noBudgets, ['params,tokens,loss', ...runs.n.map((n, i) => `${n},${runs.d[i]},${runs.y[i]}`)].join('\n'));
    await expect(run(['isoflop', '--in', noBudgets, '--n-col', 'params', '--c-col', 'tokens', '--y-col', 'loss'])).rejects.toThrow(/no column of the table groups the runs/);
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
