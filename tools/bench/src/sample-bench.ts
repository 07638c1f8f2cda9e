import { benchMachine, machineLine, type BenchMachine } from './machine.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, initBackend, releaseNativeMemory, tf } from '@difflab/core-tensor';
import { countDiT, createSampler, linearSchedule, sample, type DenoiseFn, type DiffusionProcess, type DiTConfig, type SamplerConfig } from '@difflab/models';
import { createDenoiser, resolveModelConfig, type Denoiser, type ModelConfigInput } from '@difflab/runs';
import { runPeer } from './python-peer.js';

/**
 * `difflab bench sample`: samples/s of class-conditional sampling with classifier-free guidance through the
 * product's own `sample()` + `createSampler(process, config)` on the native backend, against PyTorch doing the
 * same computation (tools/bench/peers/sample_peer.py) at its best thread count. Weights are random: this times
 * the sampler, it does not judge samples (`checkSamplePeer` compares the two engines' samples on shared weights).
 */

/** The model class of the README's main job (experiments/dit-fmnist). */
export const SAMPLE_CONFIG = 'DiT-FMNIST-S/4';
/** Classifier-free guidance scale of the benchmark (the trainer's default sample.cfgScale); the guided batch is 2× the images. */
export const SAMPLE_GUIDANCE = 2;

/** The two samplers timed: DDIM 50 steps on the ddpm process (ε-prediction) and rectified-flow Euler 25 steps. */
export const SAMPLE_SAMPLERS = ['ddim', 'euler'] as const;
export type BenchSampler = (typeof SAMPLE_SAMPLERS)[number];

/**
 * What each sampler runs: the process the model was trained on and the sampler config, as a run's `sample`
 * section makes them (packages/runs samplerConfigFor): ddim clips the predicted x̂_0 to [−1, 1] (the default
 * for pixel-space data), eta 0; euler on the uniform grid.
 */
export function samplerSetup(kind: BenchSampler, steps?: number): { process: DiffusionProcess; config: SamplerConfig } {
  if (kind === 'ddim') {
    return {
      process: { kind: 'ddpm', schedule: linearSchedule(1000), prediction: 'epsilon' },
      config: { kind: 'ddim', steps: steps ?? 50, eta: 0, clipDenoised: true, guidanceScale: SAMPLE_GUIDANCE },
    };
  }
  return { process: { kind: 'flow' }, config: { kind: 'euler', steps: steps ?? 25, guidanceScale: SAMPLE_GUIDANCE } };
}

export interface SampleBudget {
  /** Untimed sampler steps first (kernel set-up, buffer pool), through the same sample() with a shorter sampler; 0 or ≥ 2 (DDIM's least). */
  warmupSteps: number;
  /** Timed sampling runs: at least minRuns, and on until minSeconds have passed. */
  minRuns: number;
  minSeconds: number;
}

export interface SampleBenchOptions {
  quick: boolean;
  /** Preset and field overrides, as a training config's model section (e.g. { preset: 'DiT-FMNIST-S/4', depth: 4 }). */
  model?: ModelConfigInput;
  /** Images per sampling run; the guided model batch is twice this. Default 100 (10 per class), 10 with quick. */
  batch?: number;
  /** Which samplers; default both. */
  samplers?: readonly BenchSampler[];
  /** Run the PyTorch peer (default true). */
  pytorch?: boolean;
  /** PyTorch runs at 1..maxThreads threads and the fastest is reported; default the machine's cores. */
  maxThreads?: number;
  /** Overrides the budget (tests). */
  budget?: SampleBudget;
  log?: (line: string) => void;
}

export interface NativeSampleResult {
  engine: string;
  runs: number;
  secondsPerRun: number;
  samplesPerSec: number;
  /**
   * CPU time of the engine's process (all its threads, user + system) per sample over the timed runs. On a
   * machine shared with other work, wall-clock samples/s moves with the other load; this moves less (but counts
   * spin-waiting threads too).
   */
  cpuSecondsPerSample: number;
}

export interface PeerSampleResult extends NativeSampleResult {
  /** The thread count reported (the fastest tried) and samples/s at each count tried. */
  threads: number;
  byThreads: Record<number, number>;
  /** Parameters of the peer's model (must equal countDiT's). */
  params: number;
}

export interface SampleBenchCase {
  /** The preset and overrides of the model timed (the flow case drops a learned σ: flow models output the velocity only). */
  model: ModelConfigInput;
  params: number;
  process: 'ddpm' | 'flow';
  sampler: BenchSampler;
  steps: number;
  /** Model evaluations per sample (sampler.evaluations); each evaluates the guided batch of 2 × batch. */
  evaluationsPerSample: number;
  guidanceScale: number;
  batch: number;
  guidedBatch: number;
  native: NativeSampleResult | { skipped: string };
  pytorch: PeerSampleResult | { skipped: string };
  /** native samples/s ÷ PyTorch samples/s when both ran. */
  nativeOverPytorch: number | null;
}

export interface SampleBenchReport {
  date: string;
  machine: BenchMachine;
  quick: boolean;
  cases: SampleBenchCase[];
}

const QUICK_BUDGET: SampleBudget = { warmupSteps: 2, minRuns: 1, minSeconds: 0 };
const FULL_BUDGET: SampleBudget = { warmupSteps: 2, minRuns: 1, minSeconds: 10 };

/** The model of one case: a flow model has no learned variance (the trainer refuses it), so the euler case drops it. */
function caseModel(model: ModelConfigInput, kind: BenchSampler): { section: ModelConfigInput; config: DiTConfig } {
  const resolved = resolveModelConfig(model);
  if (resolved.architecture !== 'dit') throw new Error(`bench sample times a DiT; '${model.preset}' is a U-Net preset`);
  if (kind === 'euler' && resolved.config.learnSigma) {
    return { section: { ...model, learnSigma: false } as ModelConfigInput, config: { ...resolved.config, learnSigma: false } };
  }
  return { section: model, config: resolved.config };
}

/**
 * Every parameter redrawn: N(0, 1/fan-in) for matrices ([in, out]: fan-in = rows), N(0, 0.1²) for vectors, so
 * that DiT's zero-initialised gates and output layer do not make every model output 0.
 */
export function randomizeWeights(model: Denoiser, rng: Rng): void {
  for (const name of Object.keys(model.params).sort()) {
    const v = model.params[name]!;
    const std = v.rank >= 2 ? 1 / Math.sqrt(v.shape[0]!) : 0.1;
    tf.tidy(() => v.assign(rng.normalTensor(v.shape, 0, std)));
  }
}

function labelsFor(batch: number, numClasses: number): number[] {
  return Array.from({ length: batch }, (_, i) => i % numClasses);
}

/** The product's sample() with the case's sampler on a model; returns the images (NHWC, flattened). */
export function runProductSampler(model: Denoiser, kind: BenchSampler, opts: { batch: number; rng: Rng; steps?: number; noise?: tf.Tensor4D }): Float32Array {
  const { process, config } = samplerSetup(kind, opts.steps);
  const numClasses = model.numClasses;
  if (numClasses === null) throw new Error('bench sample needs a class-conditional model (guidance)');
  const fn: DenoiseFn = (x, t, y) => model.forward(x, t, y);
  const x = sample(fn, createSampler(process, config), {
    shape: [opts.batch, model.inputSize, model.inputSize, model.inChannels],
    labels: labelsFor(opts.batch, numClasses),
    rng: opts.rng,
    nullClass: numClasses,
    ...(opts.noise ? { noise: opts.noise } : {}),
  });
  const out = x.dataSync() as Float32Array;
  x.dispose();
  return out;
}

function nativeSampling(section: ModelConfigInput, kind: BenchSampler, batch: number, budget: SampleBudget, engine: string): NativeSampleResult {
  const rng = new Rng(0);
  const model = createDenoiser(section, rng.fork());
  try {
    randomizeWeights(model, rng.fork());
    const run = rng.fork();
    if (budget.warmupSteps > 0) runProductSampler(model, kind, { batch, rng: run, steps: budget.warmupSteps });
    let runs = 0;
    const start = performance.now();
    const cpu = process.cpuUsage();
    while (runs < budget.minRuns || performance.now() - start < budget.minSeconds * 1000) {
      runProductSampler(model, kind, { batch, rng: run });
      runs++;
    }
    const seconds = (performance.now() - start) / 1000;
    const used = process.cpuUsage(cpu);
    return { engine, runs, secondsPerRun: seconds / runs, samplesPerSec: (batch * runs) / seconds, cpuSecondsPerSample: (used.user + used.system) / 1e6 / (batch * runs) };
  } finally {
    model.dispose();
  }
}

interface PeerTiming {
  engine: string;
  threads: number;
  params: number;
  results: { sampler: BenchSampler; steps: number; evaluations: number; runs: number; secondsPerRun: number; samplesPerSec: number; cpuSecondsPerSample: number }[];
}

/** The peer for one model at 1..maxThreads threads (one process each, as the train-step peer); the fastest per case. */
function peerSampling(config: DiTConfig, cases: { sampler: BenchSampler; steps: number }[], batch: number, budget: SampleBudget, maxThreads: number): PeerSampleResult[] {
  const peerCases = cases.map((c) => ({ ...samplerSetup(c.sampler, c.steps).config, sampler: c.sampler }));
  const runs: PeerTiming[] = [];
  for (let threads = 1; threads <= maxThreads; threads++) {
    runs.push(runPeer<PeerTiming>('sample_peer.py', { model: config, cases: peerCases, batch, threads, ...budget }));
  }
  return cases.map((_, i) => {
    const best = runs.reduce((a, b) => (b.results[i]!.samplesPerSec > a.results[i]!.samplesPerSec ? b : a));
    const r = best.results[i]!;
    return {
      engine: `${best.engine}, ${best.threads} thread${best.threads === 1 ? '' : 's'}`,
      threads: best.threads,
      byThreads: Object.fromEntries(runs.map((t) => [t.threads, t.results[i]!.samplesPerSec])),
      params: best.params,
      runs: r.runs,
      secondsPerRun: r.secondsPerRun,
      samplesPerSec: r.samplesPerSec,
      cpuSecondsPerSample: r.cpuSecondsPerSample,
    };
  });
}

export async function runSampleBench(opts: SampleBenchOptions): Promise<SampleBenchReport> {
  const log = opts.log ?? (() => {});
  const load1 = loadavg()[0]!;
  const model = opts.model ?? { preset: SAMPLE_CONFIG };
  const batch = opts.batch ?? (opts.quick ? 10 : 100);
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`bench sample: batch must be a positive integer, got ${batch}`);
  const budget = opts.budget ?? (opts.quick ? QUICK_BUDGET : FULL_BUDGET);
  if (budget.warmupSteps === 1) throw new Error('bench sample: warmupSteps must be 0 or ≥ 2 (a DDIM sampler has at least 2 steps)');
  const maxThreads = opts.maxThreads ?? cpus().length;
  const info = await initBackend({ backend: 'native', log: () => {} });
  const engine = `native (${info.detail})`;

  const cases: SampleBenchCase[] = (opts.samplers ?? SAMPLE_SAMPLERS).map((kind) => {
    const { section, config } = caseModel(model, kind);
    if (!(config.classDropoutProb > 0)) throw new Error(`bench sample uses classifier-free guidance, which needs the null class: the model has classDropoutProb ${config.classDropoutProb}`);
    const { process, config: sc } = samplerSetup(kind);
    return {
      model: section,
      params: countDiT(config).params,
      process: process.kind,
      sampler: kind,
      steps: sc.steps,
      evaluationsPerSample: createSampler(process, sc).evaluations,
      guidanceScale: SAMPLE_GUIDANCE,
      batch,
      guidedBatch: 2 * batch,
      native: { skipped: 'not run' },
      pytorch: { skipped: opts.pytorch === false ? 'not run (pytorch off)' : 'not run' },
      nativeOverPytorch: null,
    };
  });

  for (const c of cases) {
    log(`sample: ${describeModel(c.model)} ${c.sampler} ${c.steps} steps, batch ${batch} (guided ${2 * batch}) on native ...`);
    try {
      c.native = nativeSampling(c.model, c.sampler, batch, budget, engine);
      log(`  ${c.native.samplesPerSec.toFixed(2)} samples/s (${c.native.runs} run${c.native.runs === 1 ? '' : 's'}, ${c.native.secondsPerRun.toFixed(2)} s/run)`);
    } catch (e) {
      c.native = { skipped: `failed: ${(e as Error).message}` };
      log(`  failed: ${(e as Error).message}`);
    }
  }
  // The peer runs in its own process and needs the memory the native runs kept for reuse.
  releaseNativeMemory();

  if (opts.pytorch !== false) {
    // One peer process per model and thread count, timing every case of that model.
    const groups = new Map<string, SampleBenchCase[]>();
    for (const c of cases) groups.set(JSON.stringify(c.model), [...(groups.get(JSON.stringify(c.model)) ?? []), c]);
    for (const group of groups.values()) {
      const config = caseModel(group[0]!.model, group[0]!.sampler).config;
      log(`sample: ${describeModel(group[0]!.model)} ${group.map((c) => c.sampler).join(' + ')} in PyTorch at 1..${maxThreads} threads ...`);
      try {
        const results = peerSampling(config, group, batch, budget, maxThreads);
        group.forEach((c, i) => {
          const r = results[i]!;
          if (r.params !== c.params) throw new Error(`the PyTorch DiT has ${r.params} parameters but difflab's has ${c.params}: the peer model differs`);
          c.pytorch = r;
          log(`  ${c.sampler}: ${r.samplesPerSec.toFixed(2)} samples/s at ${r.threads} thread${r.threads === 1 ? '' : 's'} (${Object.entries(r.byThreads).map(([t, v]) => `${t}: ${v.toFixed(2)}`).join(', ')})`);
        });
      } catch (e) {
        for (const c of group) c.pytorch = { skipped: `failed: ${(e as Error).message}` };
        log(`  failed: ${(e as Error).message}`);
      }
    }
  }
  for (const c of cases) {
    if ('samplesPerSec' in c.native && 'samplesPerSec' in c.pytorch) c.nativeOverPytorch = c.native.samplesPerSec / c.pytorch.samplesPerSec;
  }
  return {
    date: new Date().toISOString(),
    machine: benchMachine(load1),
    quick: opts.quick,
    cases,
  };
}

/**
 * `--model` values: comma-separated KEY=VALUE field overrides of the preset (repeatable), values read as JSON
 * where they parse (numbers, booleans) and as strings otherwise: ['depth=4,hiddenSize=96', 'mlp=swiglu'].
 * Validated like a training config's model section when the model is built.
 */
export function parseModelOverrides(values: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of values.flatMap((v) => v.split(',')).map((p) => p.trim()).filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`--model takes KEY=VALUE field overrides (e.g. --model depth=4,hiddenSize=96), got '${pair}'`);
    const key = pair.slice(0, eq).trim(), raw = pair.slice(eq + 1).trim();
    if (key === 'preset') throw new Error(`--model preset=…: name the preset with --config ${raw}`);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      /* a string such as swiglu */
    }
    out[key] = value;
  }
  return out;
}

function describeModel(m: ModelConfigInput): string {
  const { preset, ...rest } = m as { preset: string } & Record<string, unknown>;
  const extra = Object.entries(rest).filter(([k, v]) => k !== 'architecture' && v !== undefined).map(([k, v]) => `${k}=${String(v)}`);
  return extra.length ? `${preset} (${extra.join(', ')})` : preset;
}

export function formatSampleReport(r: SampleBenchReport): string {
  const m = r.machine;
  const w = Math.max(24, ...r.cases.map((c) => describeModel(c.model).length));
  const lines = [
    `difflab bench sample${r.quick ? ' --quick' : ''}  ${r.date}  ${machineLine(m)}`,
    '',
    `Class-conditional sampling with classifier-free guidance (scale ${r.cases[0]?.guidanceScale ?? SAMPLE_GUIDANCE}: each evaluation runs the model on 2 × batch), random weights, samples/s:`,
    `  ${'model'.padEnd(w)} ${'sampler'.padEnd(16)} ${'evals'.padStart(5)} ${'batch'.padStart(5)} ${'params'.padStart(11)} ${'native'.padStart(9)} ${'pytorch'.padStart(9)} ${'threads'.padStart(7)}  native/pytorch`,
  ];
  const notes: string[] = [];
  const cell = (v: NativeSampleResult | { skipped: string }, who: string) => {
    if ('skipped' in v) {
      const note = `${who}: ${v.skipped}`;
      if (!notes.includes(note)) notes.push(note);
      return '—'.padStart(9);
    }
    return v.samplesPerSec.toFixed(2).padStart(9);
  };
  for (const c of r.cases) {
    const sampler = c.sampler === 'ddim' ? `ddim (ddpm, ε)` : `euler (flow)`;
    const threads = 'threads' in c.pytorch ? String(c.pytorch.threads) : '—';
    lines.push(
      `  ${describeModel(c.model).padEnd(w)} ${sampler.padEnd(16)} ${String(c.evaluationsPerSample).padStart(5)} ${String(c.batch).padStart(5)} ${c.params.toLocaleString('en-US').padStart(11)} ${cell(c.native, 'native')} ${cell(c.pytorch, 'pytorch')} ${threads.padStart(7)}  ${c.nativeOverPytorch === null ? '—' : c.nativeOverPytorch.toFixed(2) + '×'}`,
    );
  }
  for (const c of r.cases) {
    if ('byThreads' in c.pytorch) {
      const tried = Object.entries(c.pytorch.byThreads).map(([n, v]) => `${n} thread${n === '1' ? '' : 's'} ${v.toFixed(2)}`).join(', ');
      notes.push(`pytorch ${c.sampler}: ${tried} samples/s; the table shows the best`);
    }
  }
  for (const c of r.cases) {
    const cpu = (v: NativeSampleResult | { skipped: string }) => ('cpuSecondsPerSample' in v ? `${v.cpuSecondsPerSample.toFixed(3)} s` : '—');
    if ('cpuSecondsPerSample' in c.native) notes.push(`CPU time per sample (all threads), ${c.sampler}: native ${cpu(c.native)}, pytorch ${cpu(c.pytorch)}`);
  }
  if (notes.length) lines.push('', ...notes.map((n) => `  ${n}`));
  return lines.join('\n');
}

export interface SamplePeerCheck {
  model: ModelConfigInput;
  batch: number;
  cases: { sampler: BenchSampler; steps: number; maxAbsDiff: number; maxAbs: number }[];
}

/**
 * The PyTorch peer's samplers against the product's on identical weights, noise and labels: difflab's
 * (randomised) weights are written to a temporary JSON file in its own layout, the peer maps them into its
 * modules, and both run DDIM (ddpm process, clipped x̂_0) and flow Euler with guidance from the same noise.
 * Returns the largest absolute difference of the samples per sampler (float32 arithmetic in a different order:
 * expect ~1e-5, not 0). On the native backend.
 */
export async function checkSamplePeer(opts: { model: ModelConfigInput; batch?: number; steps?: Partial<Record<BenchSampler, number>>; seed?: number }): Promise<SamplePeerCheck> {
  await initBackend({ backend: 'native', log: () => {} });
  const batch = opts.batch ?? 3;
  const rng = new Rng(opts.seed ?? 5);
  // One model for both samplers: the check needs C output channels, so no learned σ.
  const { section, config } = caseModel(opts.model, 'euler');
  const model = createDenoiser(section, rng.fork());
  const dir = mkdtempSync(join(tmpdir(), 'difflab-sample-check-'));
  try {
    randomizeWeights(model, rng.fork());
    const shape: [number, number, number, number] = [batch, model.inputSize, model.inputSize, model.inChannels];
    const noise = rng.normalTensor(shape) as tf.Tensor4D;
    const kinds = [...SAMPLE_SAMPLERS];
    const steps = kinds.map((k) => opts.steps?.[k] ?? samplerSetup(k).config.steps);
    const ours = kinds.map((k, i) => runProductSampler(model, k, { batch, rng: new Rng(0), steps: steps[i]!, noise }));
    const file = join(dir, 'check.json');
    writeFileSync(
      file,
      JSON.stringify({
        config,
        params: Object.fromEntries(Object.entries(model.params).map(([k, v]) => [k, { shape: v.shape, data: Array.from(v.dataSync()) }])),
        noise: { shape, data: Array.from(noise.dataSync()) },
        labels: labelsFor(batch, config.numClasses),
        cases: kinds.map((k, i) => ({ ...samplerSetup(k, steps[i]).config, sampler: k })),
      }),
    );
    noise.dispose();
    const peer = runPeer<{ params: number; samples: number[][] }>('sample_peer.py', { check: file });
    if (peer.params !== model.paramCount) throw new Error(`the PyTorch DiT has ${peer.params} parameters but difflab's has ${model.paramCount}`);
    return {
      model: section,
      batch,
      cases: kinds.map((k, i) => {
        const a = ours[i]!, b = peer.samples[i]!;
        if (b.length !== a.length) throw new Error(`peer returned ${b.length} values for ${k}, expected ${a.length}`);
        let maxAbsDiff = 0, maxAbs = 0;
        for (let j = 0; j < a.length; j++) {
          maxAbsDiff = Math.max(maxAbsDiff, Math.abs(a[j]! - b[j]!));
          maxAbs = Math.max(maxAbs, Math.abs(a[j]!));
        }
        return { sampler: k, steps: steps[i]!, maxAbsDiff, maxAbs };
      }),
    };
  } finally {
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatSampleCheck(c: SamplePeerCheck): string {
  return [
    `PyTorch peer vs difflab's sample(), same weights, noise and labels (${describeModel(c.model)}, batch ${c.batch}, guidance ${SAMPLE_GUIDANCE}):`,
    ...c.cases.map((k) => `  ${k.sampler.padEnd(6)} ${String(k.steps).padStart(3)} steps: max |difference| ${k.maxAbsDiff.toExponential(2)} (samples up to ${k.maxAbs.toFixed(2)})`),
  ].join('\n');
}
