import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readParquet, tableToRows } from '@difflab/data';
import { formatNumber } from '@difflab/scaling-laws';
import { budgetLabel } from './ids.js';
import { PUBLISHED, allocationExponents, type PublishedExponents } from './papers.js';

/**
 * results/<preset>/exponents.md: our compute-optimal exponents, read from the fits' own outputs (fit.parquet as
 * `difflab fit` writes it: fit, kind, quantity, estimate, ci_low, ci_high, level), beside the published ones
 * (papers.ts), with what differs between the setups. Intervals are the fits' percentile-bootstrap intervals:
 * a ratio's interval cannot be rebuilt from its parts' intervals, so it is read, never recomputed.
 */
export class ExponentsInputError extends Error {
  override name = 'ExponentsInputError';
}

export interface FitEstimate {
  value: number;
  lo: number;
  hi: number;
  level: number;
}

/** What one fit directory holds: its estimates, or the failure the table stage recorded in fit.md. */
export type FitOutput =
  | { status: 'fitted'; fit: string; file: string; estimate(quantity: string): FitEstimate; has(quantity: string): boolean }
  | { status: 'failed'; fit: string; file: string; reason: string };

/** Reads `<dir>/fit.parquet`, or the "No fit: …" of `<dir>/fit.md`; `rerun` is the command that writes them. */
export function readFitOutput(dir: string, fit: string, rerun: string): FitOutput {
  const file = join(dir, 'fit.parquet');
  if (existsSync(file)) {
    const rows = tableToRows(readParquet(file)) as Array<Record<string, unknown>>;
    const find = (q: string) => rows.find((r) => r.kind === 'estimate' && r.quantity === q);
    return {
      status: 'fitted',
      fit,
      file,
      has: (q) => find(q) !== undefined,
      estimate(q) {
        const r = find(q);
        if (!r) throw new ExponentsInputError(`${file}: no estimate '${q}' (the file was written by another version of the fitter); rerun: ${rerun}`);
        return { value: Number(r.estimate), lo: Number(r.ci_low), hi: Number(r.ci_high), level: Number(r.level) };
      },
    };
  }
  const md = join(dir, 'fit.md');
  const failed = existsSync(md) ? /^No fit: (.*)$/m.exec(readFileSync(md, 'utf8')) : null;
  if (failed) return { status: 'failed', fit, file: md, reason: failed[1]! };
  throw new ExponentsInputError(`${file} is missing: the ${fit} fit has not written its output; run: ${rerun}`);
}

/** One row of ours: which fit, its exponents (null where the fit gives none), and what to know about it. */
export interface OurExponents {
  method: string;
  a: FitEstimate | null;
  b: FitEstimate | null;
  loss: FitEstimate | null;
  note: string;
}

/** The parametric fit's a from its α and β must be the fit's own a = β/(α+β); a mismatch means a changed fitter. */
function checkedAllocation(out: Extract<FitOutput, { status: 'fitted' }>, rerun: string): { a: FitEstimate; b: FitEstimate; alpha: number; beta: number } {
  const alpha = out.estimate('α').value;
  const beta = out.estimate('β').value;
  const want = allocationExponents(alpha, beta);
  const a = out.estimate('a = β/(α+β) (N_opt ∝ C^a)');
  const b = out.estimate('b = α/(α+β) (D_opt ∝ C^b)');
  for (const [name, got, w] of [['a', a.value, want.a], ['b', b.value, want.b]] as const) {
    if (!(Math.abs(got - w) <= 1e-9 * Math.max(1, Math.abs(w)))) {
      throw new ExponentsInputError(`${out.file}: ${name} = ${got}, but α = ${alpha} and β = ${beta} give ${w}; the file is inconsistent, rerun: ${rerun}`);
    }
  }
  return { a: { ...a, value: want.a }, b: { ...b, value: want.b }, alpha, beta };
}

/** Our rows from the three fits: isoFLOP (approach 2), parametric (approach 3) and the power law of the loss frontier. */
export function ourExponents(fits: { isoflop: FitOutput; parametric: FitOutput; power: FitOutput }, rerun: string): OurExponents[] {
  const noFit = (method: string, o: Extract<FitOutput, { status: 'failed' }>): OurExponents => ({ method, a: null, b: null, loss: null, note: `no fit: ${o.reason}` });
  const rows: OurExponents[] = [];
  const iso = fits.isoflop;
  rows.push(
    iso.status === 'failed'
      ? noFit('isoFLOP profiles (approach 2)', iso)
      : { method: 'isoFLOP profiles (approach 2)', a: iso.estimate('a (N_opt ∝ C^a)'), b: iso.estimate('b (D_opt ∝ C^b)'), loss: null, note: 'b = 1 − a by construction (C = k·N·D, k from the runs)' },
  );
  const par = fits.parametric;
  if (par.status === 'failed') rows.push(noFit('parametric L(N, D) (approach 3)', par));
  else {
    const { a, b, alpha, beta } = checkedAllocation(par, rerun);
    rows.push({ method: 'parametric L(N, D) (approach 3)', a, b, loss: null, note: `a = β/(α+β), b = α/(α+β) with α = ${formatNumber(alpha)}, β = ${formatNumber(beta)}` });
  }
  const pow = fits.power;
  if (pow.status === 'failed') rows.push(noFit('power law of the loss frontier', pow));
  else {
    rows.push({ method: 'power law L = a·C^b (best run per budget)', a: null, b: null, loss: pow.estimate('b (y = a·C^b)'), note: 'loss exponent only' });
    if (pow.has('b (y = E + a·C^b)')) rows.push({ method: 'power law L = E + a·C^b (best run per budget)', a: null, b: null, loss: pow.estimate('b (y = E + a·C^b)'), note: 'the exponent of the reducible part' });
  }
  return rows;
}

/** What this preset trained, for the comparison columns: from the sweep's base config and the gathered runs. */
export interface StudySetup {
  family: 'rectified-flow' | 'ddpm';
  objective: string;
  data: string;
  compute: readonly [number, number];
  params: readonly [number, number];
  /** Most passes over the 60,000 training images any run made. */
  maxEpochs: number;
}

const FMNIST_TRAIN_IMAGES = 60_000;

export function studySetup(process: string, runs: ReadonlyArray<{ budget: number; N: number; D: number }>): StudySetup {
  const flow = process === 'flow';
  const maxEpochs = Math.max(...runs.map((r) => r.D)) / FMNIST_TRAIN_IMAGES;
  return {
    family: flow ? 'rectified-flow' : 'ddpm',
    objective: flow ? 'rectified flow, velocity MSE, logit-normal t (+ velocity-direction term in training)' : 'DDPM ε-MSE',
    data: `Fashion-MNIST 32×32 pixels, class-conditional, up to ${epochs(maxEpochs)} epochs`,
    compute: [Math.min(...runs.map((r) => r.budget)), Math.max(...runs.map((r) => r.budget))],
    params: [Math.min(...runs.map((r) => r.N)), Math.max(...runs.map((r) => r.N))],
    maxEpochs,
  };
}

const sci = (v: number) => v.toExponential(0).replace('e+', 'e');
const epochs = (v: number) => (v < 10 ? v.toFixed(1) : v.toFixed(0));
const cell = (e: FitEstimate | null) => (e === null ? '–' : `${formatNumber(e.value)} [${formatNumber(e.lo)}, ${formatNumber(e.hi)}]`);

/** How a published setup differs from ours: objective, data, compute (as a ratio), compute convention. */
export function differs(p: PublishedExponents, ours: StudySetup): string {
  const objective = p.family === ours.family ? 'same objective family' : 'another objective';
  const lo = p.compute[0] / ours.compute[1], hi = p.compute[1] / ours.compute[0];
  return `${objective}; their data vs Fashion-MNIST pixels repeated up to ${epochs(ours.maxEpochs)} epochs; ${sci(lo)}–${sci(hi)}× our compute; ${p.convention} vs our counted FLOPs (attention included)`;
}

export function exponentsMarkdown(preset: string, ours: OurExponents[], setup: StudySetup, published: readonly PublishedExponents[] = PUBLISHED): string {
  const level = ours.map((r) => r.a ?? r.b ?? r.loss).find((e) => e !== null)?.level ?? 0.95;
  const pct = `${Math.round(100 * level)} %`;
  const num = (v: number) => v.toFixed(v === Math.round(v * 100) / 100 ? 2 : 4);
  return [
    `# Compute-optimal exponents — preset ${preset}`,
    '',
    `N_opt ∝ C^a and D_opt ∝ C^b (D: images seen; a + b = 1 when C ∝ N·D), and the loss frontier's L ∝ C^b_L. Ours: estimate [${pct} percentile-bootstrap interval] from`,
    '`isoflop/fit.parquet`, `parametric/fit.parquet` and `power/fit.parquet` of this preset; the papers\' values are their published ones (`experiments/dit-scaling/src/papers.ts`).',
    '',
    `This study: ${setup.objective}; ${setup.data}; C = ${budgetLabel(setup.compute[0])}–${budgetLabel(setup.compute[1])} FLOPs (C = 3·F_fwd·images, attention included), N = ${formatNumber(setup.params[0])}–${formatNumber(setup.params[1])} parameters.`,
    '',
    '| source | method | a (N_opt ∝ C^a) | b (D_opt ∝ C^b) | loss exponent | objective | data | scale, compute | note / what differs from this study |',
    '|---|---|---:|---:|---:|---|---|---|---|',
    ...ours.map((r) => `| this study (${preset}) | ${r.method} | ${cell(r.a)} | ${cell(r.b)} | ${cell(r.loss)} | this study | this study | this study | ${r.note} |`),
    ...published.map((p) => {
      const from = p.alpha !== undefined && p.beta !== undefined ? ` (from α = ${p.alpha}, β = ${p.beta})` : '';
      return `| ${p.source} | ${p.method} | ${num(p.a)}${from} | ${num(p.b)}${from} | – | ${p.objective} | ${p.data} | ${p.scale}; C = ${sci(p.compute[0])}–${sci(p.compute[1])} FLOPs | ${differs(p, setup)} |`;
    }),
    '',
    '## Reading it',
    '',
    '- Exponents in C do not change when C or D is rescaled by a constant (FLOPs per parameter, tokens per image), so a and b compare',
    '  directly across conventions; they do change when the convention\'s factor drifts with model size (our C counts attention, whose',
    '  share falls with width; the isoFLOP fit reports how far C/(N·D) varies in `isoflop/fit.md`).',
    '- Ours repeat data: a run sees the 60,000 training images many times at the largest budgets, where the papers train on about one epoch.',
    '- Besiroglu et al. find Hoffmann et al.\'s approach-3 estimate inconsistent with approaches 1–2 and its interval implausibly narrow;',
    '  their refit (row above) agrees with approaches 1–2. Its a and b are computed here from their α and β.',
    '',
    '## Sources',
    '',
    ...[...new Set(published.map((p) => p.citation))].map((c) => `- ${c}`),
    '',
  ].join('\n');
}
