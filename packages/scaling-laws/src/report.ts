import { join, relative, resolve, sep } from 'node:path';
import { writeFileAtomic } from '@difflab/core-tensor';
import { tableFromColumns, writeParquet } from '@difflab/data';
import type { BootstrapInfo, Estimate } from './bootstrap.js';

/** What every fit hands to the writers. */
export interface FitSummary {
  fit: 'power' | 'isoflop' | 'parametric';
  estimates: Estimate[];
  predictions: Estimate[];
  bootstrap: BootstrapInfo;
  notes: string[];
}

/** How fit reports print a number: 4 significant digits, exponential outside [1e−3, 1e4), '–' when not finite. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return '–';
  return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toPrecision(4);
}

const failRate = (b: BootstrapInfo) => (b.resamples ? `${((100 * b.failed) / b.resamples).toFixed(1)} %` : 'no resamples');

export function toMarkdown(s: FitSummary, source: string): string {
  const pct = `${Math.round(s.bootstrap.level * 100)}%`;
  const rows = (list: Estimate[]) => list.map((e) => `| ${e.quantity} | ${formatNumber(e.value)} | ${formatNumber(e.lo)} | ${formatNumber(e.hi)} |`);
  const head = [`| quantity | estimate | ${pct} low | ${pct} high |`, '|---|---:|---:|---:|'];
  const out = [
    `# difflab fit ${s.fit}`,
    '',
    `Runs: \`${source}\`. Intervals: percentile bootstrap, ${s.bootstrap.resamples} resamples of ${s.bootstrap.scheme === 'cases' ? 'the runs' : "the isoFLOP parabolas' pooled residuals (sizes and budgets kept)"} (seed ${s.bootstrap.seed}; ${s.bootstrap.failed} refits failed, ${failRate(s.bootstrap)}, left out).`,
    '',
    ...head,
    ...rows(s.estimates),
  ];
  if (s.predictions.length) out.push('', '## Predictions', '', ...head, ...rows(s.predictions));
  if (s.notes.length) out.push('', '## Notes', '', ...s.notes.map((n) => `- ${n}`));
  return out.join('\n') + '\n';
}

/** JSON for --json: estimates and predictions with their intervals. */
export function toJson(s: FitSummary): string {
  return JSON.stringify({ fit: s.fit, estimates: s.estimates, predictions: s.predictions, bootstrap: s.bootstrap, notes: s.notes }, null, 2);
}

/** `path` relative to the directory `from`, '/'-separated, so a written file names no machine-specific absolute path. */
export function displayPath(from: string, path: string): string {
  return relative(resolve(from), resolve(path)).split(sep).join('/') || '.';
}

/** fit.md and fit.parquet (columns fit, kind, quantity, estimate, ci_low, ci_high, level) in dir. */
export async function writeTables(dir: string, s: FitSummary, source: string): Promise<string[]> {
  const all = [...s.estimates.map((e) => ({ e, kind: 'estimate' })), ...s.predictions.map((e) => ({ e, kind: 'prediction' }))];
  const table = tableFromColumns({
    fit: all.map(() => s.fit),
    kind: all.map((r) => r.kind),
    quantity: all.map((r) => r.e.quantity),
    estimate: Float64Array.from(all, (r) => r.e.value),
    ci_low: Float64Array.from(all, (r) => r.e.lo),
    ci_high: Float64Array.from(all, (r) => r.e.hi),
    level: Float64Array.from(all, () => s.bootstrap.level),
  });
  const md = join(dir, 'fit.md');
  const pq = join(dir, 'fit.parquet');
  // fit.md is committed with the study's results: name the runs table relative to it.
  await writeFileAtomic(md, toMarkdown(s, displayPath(dir, source)));
  await writeParquet(pq, table);
  return [md, pq];
}
