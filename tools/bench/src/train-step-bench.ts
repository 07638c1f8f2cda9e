import { benchMachine, machineLine, type BenchMachine } from './machine.js';
import { loadavg, totalmem } from 'node:os';
import { gemmBench, type GemmReport } from './gemm.js';
import { MAIN_JOB, benchModelSection, tfjsTrainStep, torchTrainStep, type EngineResult, type Precision, type StepBudget, type TrainStepCase } from './train-step.js';
import { initBackend, onednnUnavailable, type MatmulLibrary } from '@difflab/core-tensor';
import { countDiT } from '@difflab/models';
import { resolveModelConfig } from '@difflab/runs';

export const ENGINES = ['native', 'wasm', 'cpu', 'pytorch'] as const;
export type Engine = (typeof ENGINES)[number];

/**
 * The small Fashion-MNIST DiT (32×32×1, patch 4, width 192, depth 6, adaLN-Zero) and DiT-S/2 (32×32×4); the first
 * case is the README's main job (MAIN_JOB: its model and rectified-flow objective).
 */
export const SMALL_CONFIG = 'DiT-FMNIST-S/4';
export const LARGE_CONFIG = 'DiT-S/2';

export interface TrainStepBenchOptions {
  quick: boolean;
  engines: readonly Engine[];
  /** GEMM threads; PyTorch's step runs at 1 and at this many threads and reports the faster. */
  threads: number;
  /** fp32, or bf16 matrix products on both sides (native train.precision 'bf16'; PyTorch CPU autocast). Default fp32. */
  precision?: Precision;
  /**
   * The libraries native fp32 products are timed with (train.matmul); the faster is reported, as PyTorch's best
   * thread count is. Default: BLAS and oneDNN where the addon has oneDNN, else BLAS (saying why).
   */
  matmul?: readonly MatmulLibrary[];
  /** Progress lines (stderr by default). */
  log: (line: string) => void;
}

export interface CaseReport extends TrainStepCase {
  params: number;
  /** Per engine: a result, or why it was not run / failed. */
  engines: Partial<Record<Engine, EngineResult | { skipped: string }>>;
  /** native examples/s ÷ PyTorch examples/s, when both ran. */
  nativeOverPytorch: number | null;
}

export interface TrainStepBenchReport {
  date: string;
  machine: BenchMachine;
  quick: boolean;
  precision: Precision;
  /** The libraries native fp32 products were timed with (bf16 products always use oneDNN: none listed). */
  matmul: MatmulLibrary[];
  gemm: GemmReport;
  cases: CaseReport[];
}

// cpu and wasm take minutes per DiT-S/2 step (tens of seconds on the small config): they run only
// the small config at batch 64, and only in the full benchmark.
function plan(quick: boolean): { c: TrainStepCase; engines: readonly Engine[]; budget: StepBudget }[] {
  if (quick) {
    return [
      { c: { config: MAIN_JOB, batch: 64 }, engines: ['native', 'pytorch'], budget: { warmup: 2, minSteps: 5, minSeconds: 2 } },
      { c: { config: SMALL_CONFIG, batch: 64 }, engines: ['native', 'pytorch'], budget: { warmup: 1, minSteps: 2, minSeconds: 2 } },
    ];
  }
  return [
    { c: { config: MAIN_JOB, batch: 64 }, engines: ['native', 'pytorch'], budget: { warmup: 5, minSteps: 20, minSeconds: 10 } },
    { c: { config: SMALL_CONFIG, batch: 64 }, engines: ['native', 'pytorch'], budget: { warmup: 2, minSteps: 5, minSeconds: 10 } },
    // wasm compiles on its first step; cpu has nothing to warm that matters next to a minutes-long step.
    { c: { config: SMALL_CONFIG, batch: 64 }, engines: ['wasm'], budget: { warmup: 1, minSteps: 1, minSeconds: 0 } },
    { c: { config: SMALL_CONFIG, batch: 64 }, engines: ['cpu'], budget: { warmup: 0, minSteps: 1, minSeconds: 0 } },
    { c: { config: LARGE_CONFIG, batch: 8 }, engines: ['native', 'pytorch'], budget: { warmup: 1, minSteps: 3, minSeconds: 10 } },
    // Half-minute steps that speed up over the first few on both engines (allocator and page-cache warm-up,
    // measured here): two warm-up steps and three timed ones, the same for each.
    { c: { config: LARGE_CONFIG, batch: 64 }, engines: ['native', 'pytorch'], budget: { warmup: 2, minSteps: 3, minSeconds: 10 } },
  ];
}

// tfjs keeps every forward intermediate and every gradient until the backward pass ends, so a large
// batch can exceed the machine's memory and get the process OOM-killed. Scale the peak of a smaller
// batch of the same config (its batch-dependent part, when the engine reports what does not grow
// with the batch) and skip instead.
function memoryVerdict(cases: CaseReport[], c: TrainStepCase, engine: Engine): string | null {
  const smaller = cases.find((r) => r.config === c.config && r.batch < c.batch && r.engines[engine] && 'peakBytes' in r.engines[engine]!);
  const measured = smaller ? (smaller.engines[engine] as EngineResult) : undefined;
  const peak = measured?.peakBytes;
  if (!smaller || peak === undefined) return null;
  const base = Math.min(measured?.baseBytes ?? 0, peak);
  const estimate = base + ((peak - base) * c.batch) / smaller.batch;
  const limit = 0.7 * totalmem();
  if (estimate <= limit) return null;
  const gib = (b: number) => (b / 2 ** 30).toFixed(1);
  return `not run: needs ≈ ${gib(estimate)} GiB of tensors (${gib(peak)} GiB at batch ${smaller.batch}, scaled), over 70% of this machine's ${gib(totalmem())} GiB`;
}

const SKIP_SLOW = 'not run: minutes per step on this engine (cpu/wasm run the small config at batch 64 in the full benchmark only)';

/** The libraries to time native fp32 products with: those asked for, else both where oneDNN can run. */
export async function nativeLibraries(opts: TrainStepBenchOptions): Promise<MatmulLibrary[]> {
  if ((opts.precision ?? 'fp32') === 'bf16' || !opts.engines.includes('native')) return [];
  if (opts.matmul) return [...opts.matmul];
  await initBackend({ backend: 'native', log: () => {} });
  const why = onednnUnavailable();
  if (why === null) return ['blas', 'onednn'];
  opts.log(`train-step: native products by BLAS only: oneDNN is unavailable (${why})`);
  return ['blas'];
}

/** The native step with each library; the fastest, naming it and the others' rates. */
export async function bestNativeStep(c: TrainStepCase, budget: StepBudget, libraries: readonly MatmulLibrary[], log: (line: string) => void): Promise<EngineResult> {
  const runs: EngineResult[] = [];
  for (const matmul of libraries) {
    runs.push(await tfjsTrainStep('native', c, budget, 'fp32', matmul));
    if (libraries.length > 1) log(`  products by ${matmul}: ${runs.at(-1)!.examplesPerSec.toFixed(2)} examples/s`);
  }
  const best = runs.reduce((a, b) => (b.examplesPerSec > a.examplesPerSec ? b : a));
  return { ...best, byMatmul: Object.fromEntries(runs.map((r) => [r.matmul!, r.examplesPerSec])) };
}

export async function runTrainStepBench(opts: TrainStepBenchOptions): Promise<TrainStepBenchReport> {
  const load1 = loadavg()[0]!;
  const precision = opts.precision ?? 'fp32';
  const libraries = await nativeLibraries(opts);
  const cases = new Map<string, CaseReport>();
  const keyOf = (c: TrainStepCase) => `${c.config}@${c.batch}`;
  const allCases: TrainStepCase[] = [];
  for (const p of plan(opts.quick)) if (!allCases.some((c) => keyOf(c) === keyOf(p.c))) allCases.push(p.c);
  for (const c of allCases) {
    const model = resolveModelConfig(benchModelSection(c.config));
    if (model.architecture !== 'dit') throw new Error(`train-step benchmarks a DiT; '${c.config}' is a U-Net`);
    cases.set(keyOf(c), { ...c, params: countDiT(model.config).params, engines: {}, nativeOverPytorch: null });
  }
  for (const p of plan(opts.quick)) {
    const report = cases.get(keyOf(p.c))!;
    for (const engine of p.engines) {
      if (!opts.engines.includes(engine)) continue;
      const tooBig = engine === 'pytorch' ? null : memoryVerdict([...cases.values()], p.c, engine);
      if (tooBig) {
        report.engines[engine] = { skipped: tooBig };
        opts.log(`train-step: ${p.c.config} batch ${p.c.batch} on ${engine}: ${tooBig}`);
        continue;
      }
      opts.log(`train-step: ${p.c.config} batch ${p.c.batch} on ${engine} ...`);
      try {
        if (precision === 'bf16' && engine !== 'native' && engine !== 'pytorch') throw new Error('bf16 matrix products are native-only among the tfjs backends');
        const r = engine === 'pytorch'
          ? torchTrainStep(p.c, p.budget, [...new Set([1, opts.threads])], precision)
          : engine === 'native' && libraries.length
            ? await bestNativeStep(p.c, p.budget, libraries, opts.log)
            : await tfjsTrainStep(engine, p.c, p.budget, precision);
        if (r.params !== report.params) {
          throw new Error(`${engine} trained ${r.params} parameters but difflab's ${p.c.config} has ${report.params}: the peer model differs`);
        }
        report.engines[engine] = r;
        opts.log(`  ${r.examplesPerSec.toFixed(2)} examples/s (${r.steps} steps, ${r.stepMs.toFixed(0)} ms/step, loss ${r.loss?.toFixed(4)})${r.byThreads ? `; ${r.engine}` : ''}`);
      } catch (e) {
        report.engines[engine] = { skipped: `failed: ${(e as Error).message}` };
        opts.log(`  failed: ${(e as Error).message}`);
      }
    }
  }
  for (const report of cases.values()) {
    for (const engine of opts.engines) {
      if (!report.engines[engine]) report.engines[engine] = { skipped: opts.quick && (engine === 'wasm' || engine === 'cpu') ? 'not run in --quick' : SKIP_SLOW };
    }
    const n = report.engines.native, t = report.engines.pytorch;
    if (n && t && 'examplesPerSec' in n && 'examplesPerSec' in t) report.nativeOverPytorch = n.examplesPerSec / t.examplesPerSec;
  }
  opts.log('gemm: ...');
  const gemm = await gemmBench(opts.quick ? [256, 1024] : [256, 512, 1024, 2048], opts.threads, opts.engines.includes('pytorch'), opts.quick ? 0.2 : 1);
  return {
    date: new Date().toISOString(),
    machine: benchMachine(load1),
    quick: opts.quick,
    precision,
    matmul: libraries,
    gemm,
    cases: [...cases.values()],
  };
}

const fmt = (v: number | null | undefined, digits = 1) => (v === null || v === undefined ? '—' : v.toFixed(digits));

export function formatTrainStepReport(r: TrainStepBenchReport): string {
  const m = r.machine;
  const lines = [
    `difflab bench train-step${r.quick ? ' --quick' : ''}${r.precision === 'bf16' ? ' --precision bf16' : ''}${r.matmul.length === 1 ? ` --matmul ${r.matmul[0]}` : ''}  ${r.date}  ${machineLine(m)}`,
    '',
    `fp32 peak (measured FMA loop): ${fmt(r.gemm.peak1, 0)} GFLOP/s on 1 thread, ${fmt(r.gemm.peakAll, 0)} on ${r.gemm.threads}`,
    `GEMM fp32 n×n (GFLOP/s, % of ${r.gemm.threads}-thread peak):`,
    `  ${'n'.padStart(5)}  ${'native'.padStart(14)}  ${'native oneDNN'.padStart(14)}  ${'pytorch'.padStart(14)}`,
  ];
  const pct = (v: number | null) => (v === null || !r.gemm.peakAll ? '' : ` (${((100 * v) / r.gemm.peakAll).toFixed(0)}%)`);
  for (const g of r.gemm.results) {
    const cell = (v: number | null) => (fmt(v, 0) + pct(v)).padStart(14);
    lines.push(`  ${String(g.n).padStart(5)}  ${cell(g.native)}  ${cell(g.nativeOnednn)}  ${cell(g.pytorch)}`);
  }
  if (r.gemm.onednnUnavailable) lines.push(`  native oneDNN: ${r.gemm.onednnUnavailable}`);
  const products = r.precision === 'bf16' ? 'bf16 matrix products (native train.precision bf16, PyTorch CPU autocast)' : 'fp32';
  lines.push('', `DiT training step (the trainer's trainStep: random t, label dropout, forward + backward, clipping, AdamW, EMA), ${products}, examples/s:`);
  const engines = ENGINES.filter((e) => r.cases.some((c) => c.engines[e]));
  lines.push(`  ${'config'.padEnd(16)} ${'batch'.padStart(5)} ${'params'.padStart(11)} ${engines.map((e) => e.padStart(9)).join(' ')}  native/pytorch`);
  const notes: string[] = [];
  for (const c of r.cases) {
    const cells = engines.map((e) => {
      const v = c.engines[e];
      if (!v) return '—'.padStart(9);
      if ('skipped' in v) {
        if (!notes.includes(`${e}: ${v.skipped}`)) notes.push(`${e}: ${v.skipped}`);
        return '—'.padStart(9);
      }
      return v.examplesPerSec.toFixed(2).padStart(9);
    });
    lines.push(`  ${c.config.padEnd(16)} ${String(c.batch).padStart(5)} ${c.params.toLocaleString('en-US').padStart(11)} ${cells.join(' ')}  ${c.nativeOverPytorch === null ? '—' : c.nativeOverPytorch.toFixed(2) + '×'}`);
  }
  for (const c of r.cases) {
    const n = c.engines.native;
    if (n && 'byMatmul' in n && n.byMatmul && Object.keys(n.byMatmul).length > 1) {
      const tried = Object.entries(n.byMatmul).map(([l, v]) => `products by ${l} ${v.toFixed(2)}`).join(', ');
      notes.push(`native ${c.config} batch ${c.batch}: ${tried} examples/s; the table shows the best`);
    }
    const t = c.engines.pytorch;
    if (t && 'byThreads' in t && t.byThreads) {
      const tried = Object.entries(t.byThreads).map(([n, v]) => `${n} thread${n === '1' ? '' : 's'} ${v.toFixed(2)}`).join(', ');
      notes.push(`pytorch ${c.config} batch ${c.batch}: ${tried} examples/s; the table shows the best`);
    }
  }
  if (notes.length) lines.push('', ...notes.map((n) => `  ${n}`));
  return lines.join('\n');
}
