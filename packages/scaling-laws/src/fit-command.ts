import { parseArgs } from 'node:util';
import { startPhase } from '@difflab/runs';
import type { BootstrapOptions } from './bootstrap.js';
import { isoflopComputeCandidates, numericColumns } from './column-hints.js';
import { FitInputError, TooFewBudgetsError } from './errors.js';
import { runIsoflopFit } from './isoflop.js';
import { runParametricFit } from './parametric.js';
import { isoflopPlotSpec, nOptPlotSpec, parametricPlotSpec, powerPlotSpec, writePlot } from './plots.js';
import { runPowerFit } from './power.js';
import { displayPath, toJson, toMarkdown, writeTables, type FitSummary } from './report.js';
import { positiveColumn, readRunTable } from './table.js';

export const FIT_SUMMARY = 'fit scaling laws (power, isoflop, parametric) with bootstrap intervals';

export const FIT_USAGE = `usage: difflab fit power|isoflop|parametric --in <table> --y-col <name> [options]

  power       y = a·C^b (log-log least squares) and y = E + a·C^b (least squares on log y)
  isoflop     Chinchilla approach 2: a parabola in log N per compute budget; N_opt ∝ C^a, D_opt ∝ C^b
  parametric  Chinchilla approach 3: L(N, D) = E + A/N^α + B/D^β, Huber loss on log residuals

  --in <file>          runs table: .csv, .parquet or .arrow
  --y-col <name>       target column (loss, FID, …)
  --n-col <name>       parameters column (default N)
  --d-col <name>       data column (default D; optional for isoflop: gives k in C = k·N·D)
  --c-col <name>       compute column (default C)
  --bootstrap <B>      bootstrap resamples (default 1000)
  --level <p>          interval coverage (default 0.95)
  --seed <int>         bootstrap seed (default 0)
  --delta <δ>          Huber threshold for parametric (default 1e-3)
  --predict-c <C>      predict at this compute (repeatable)
  --predict-n <N>      with --predict-d: predict L(N, D) (parametric; repeatable, paired in order)
  --predict-d <D>
  --out <dir>          write fit.md, fit.parquet and plots (SVG + PNG)
  --json               print the estimates with their intervals as JSON`;

function positiveNumbers(flag: string, values: string[] | undefined): number[] {
  return (values ?? []).map((s) => {
    const v = Number(s);
    if (!Number.isFinite(v) || v <= 0) throw new FitInputError(`${flag} ${s}: expected a positive number`);
    return v;
  });
}

function numberOption(flag: string, s: string | undefined, fallback: number): number {
  if (s === undefined) return fallback;
  const v = Number(s);
  if (!Number.isFinite(v)) throw new FitInputError(`${flag} ${s}: expected a number`);
  return v;
}

/**
 * One long step of the command as the trainer shows its phases (packages/runs startPhase): a line when
 * it starts and one with its time when it ends; a failed step ends its line so the error reads alone.
 */
async function phase<T>(out: NodeJS.WriteStream, label: string, work: () => T | Promise<T>, count?: (r: T) => [number, string]): Promise<T> {
  const p = startPhase(label, out);
  try {
    const result = await work();
    if (count) {
      const [n, unit] = count(result);
      p.done(n, unit);
    } else p.done();
    return result;
  } catch (err) {
    if (out.isTTY) out.write('\n');
    throw err;
  }
}

/**
 * `difflab fit …`; resolves to the exit code. Results go to `log` (stdout), notes to `info`, and the
 * progress of each phase (reading the runs, fitting, writing tables and plots) to `progress`.
 */
export async function runFitCommand(
  args: string[],
  log: (s: string) => void = console.log,
  info: (s: string) => void = console.error,
  progress: NodeJS.WriteStream = process.stderr,
): Promise<number> {
  const { values: o, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      in: { type: 'string' },
      'y-col': { type: 'string' },
      'n-col': { type: 'string', default: 'N' },
      'd-col': { type: 'string' },
      'c-col': { type: 'string', default: 'C' },
      bootstrap: { type: 'string' },
      level: { type: 'string' },
      seed: { type: 'string' },
      delta: { type: 'string' },
      'predict-c': { type: 'string', multiple: true },
      'predict-n': { type: 'string', multiple: true },
      'predict-d': { type: 'string', multiple: true },
      out: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (o.help) {
    log(FIT_USAGE);
    return 0;
  }
  const kind = positionals[0];
  if (positionals.length !== 1 || (kind !== 'power' && kind !== 'isoflop' && kind !== 'parametric')) {
    throw new FitInputError(`expected one of power, isoflop, parametric as the first argument\n${FIT_USAGE}`);
  }
  if (!o.in) throw new FitInputError('--in <table> is required (a .csv, .parquet or .arrow file of runs)');
  if (!o['y-col']) throw new FitInputError('--y-col <name> is required (the target column, e.g. loss)');
  const boot: BootstrapOptions = {
    resamples: numberOption('--bootstrap', o.bootstrap, 1000),
    level: numberOption('--level', o.level, 0.95),
    seed: numberOption('--seed', o.seed, 0),
  };
  const predictC = positiveNumbers('--predict-c', o['predict-c']);
  const [inPath, yCol] = [o.in, o['y-col']];
  const table = await phase(progress, `reading runs from ${displayPath(process.cwd(), inPath)}`, () => readRunTable(inPath), (t) => [t.rowCount, 'runs']);
  const col = (name: string, flag: string) => positiveColumn(table, name, flag);
  const y = col(o['y-col'], '--y-col');
  const dName = o['d-col'] ?? 'D';
  // D is optional for isoflop unless named explicitly.
  const dOptional = () => (o['d-col'] !== undefined || table.columns.includes(dName) ? col(dName, '--d-col') : null);

  let summary!: FitSummary;
  const plots: Array<[string, Parameters<typeof writePlot>[2]]> = [];
  const resamples = boot.resamples ?? 0;
  const fitting = `fitting ${kind}${resamples > 0 ? ` with ${resamples} bootstrap resamples` : ''}`;
  await phase(progress, fitting, () => {
    if (kind === 'power') {
      const c = col(o['c-col']!, '--c-col');
      const r = runPowerFit(c, y, { ...boot, predictC });
      summary = r;
      plots.push(['loss_vs_compute', powerPlotSpec(r, c, y, predictC, yCol)]);
    } else if (kind === 'isoflop') {
      const n = col(o['n-col']!, '--n-col');
      const c = col(o['c-col']!, '--c-col');
      let r: ReturnType<typeof runIsoflopFit>;
      try {
        r = runIsoflopFit(n, c, y, dOptional(), { ...boot, predictC });
      } catch (err) {
        if (!(err instanceof TooFewBudgetsError)) throw err;
        // Studies record this message in a committed fit.md: the table is named relative to the cwd.
        const better = isoflopComputeCandidates(table, n, y, [o['c-col']!, o['n-col']!, yCol]);
        const fix = better.length > 0 ? `use --c-col ${better.join(' or --c-col ')}` : 'no column of the table groups the runs into 2 budgets of ≥ 3 model sizes each';
        throw new TooFewBudgetsError(`${err.message} (--c-col ${o['c-col']}); ${fix}. Numeric columns of ${displayPath(process.cwd(), inPath)}: ${numericColumns(table).join(', ') || 'none'}`);
      }
      summary = r;
      plots.push(['isoflop_curves', isoflopPlotSpec(r, n, y, yCol)], ['n_opt_vs_compute', nOptPlotSpec(r, predictC)]);
    } else {
      const n = col(o['n-col']!, '--n-col');
      const d = col(dName, '--d-col');
      const pn = positiveNumbers('--predict-n', o['predict-n']);
      const pd = positiveNumbers('--predict-d', o['predict-d']);
      if (pn.length !== pd.length) throw new FitInputError(`--predict-n and --predict-d pair up in order; got ${pn.length} and ${pd.length} values`);
      let k = 6;
      if (table.columns.includes(o['c-col']!)) {
        const c = col(o['c-col']!, '--c-col');
        k = Math.exp(Array.from(c, (cc, i) => Math.log(cc / (n[i]! * d[i]!))).reduce((s, v) => s + v, 0) / c.length);
      }
      // The 4500-start grid takes seconds to minutes: show progress on a terminal only.
      const t0 = performance.now();
      const onProgress = progress.isTTY
        ? (done: number, total: number) => {
            if (done % 100 !== 0 && done !== total) return;
            const rate = done / ((performance.now() - t0) / 1000);
            const eta = (total - done) / rate;
            progress.write(`\rL-BFGS starts ${done}/${total}, ${rate.toFixed(0)}/s, ETA ${eta.toFixed(0)} s ${done === total ? '\n' : ''}`);
          }
        : undefined;
      const r = runParametricFit(n, d, y, { ...boot, delta: numberOption('--delta', o.delta, 1e-3), predictND: pn.map((v, i) => [v, pd[i]!]), predictC, k, onProgress });
      summary = r;
      plots.push(['fitted_vs_observed', parametricPlotSpec(r, n, d, y)]);
    }
  });

  // Paths in the output are relative (to the cwd here, to the output directory in fit.md): no machine's layout in committed files.
  log(o.json ? toJson(summary) : toMarkdown(summary, displayPath(process.cwd(), o.in)));
  if (o.out) {
    const outDir = o.out;
    const files = await phase(progress, `writing tables and plots to ${displayPath(process.cwd(), outDir)}`, async () => {
      const written = await writeTables(outDir, summary, inPath);
      for (const [name, spec] of plots) written.push(...(await writePlot(outDir, name, spec)));
      return written;
    });
    info(`wrote ${files.join(', ')}`);
  }
  return 0;
}
