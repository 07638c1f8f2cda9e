/**
 * Fréchet distance timing: difflab's `frechetDistance` with the native linear algebra (LAPACK
 * `dsyevd` + BLAS through the addon) and with the pure-JS path, against pytorch-fid's formula in
 * NumPy/SciPy (`scipy.linalg.sqrtm` of Σ1·Σ2, peers/fid_bench_scipy.py), on the same statistics.
 * The three values must agree (relative 1e-6 by default); times are the best of the repeats.
 *
 *   npx difflab bench fid [--dims 512,2048] [--repeats 3] [--js-repeats 1] [--engines native,js,scipy] [--json]
 *
 * The lead wires this as `difflab bench fid` from `runFidBench` and `formatFidReport`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, hostname, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { linalgEngine, matmulTransB, Rng, setLinalgEngine } from '@difflab/core-tensor';
import { frechetDistance, StreamingMoments, writeNpz, type GaussianStats } from '@difflab/metrics';
import { vectorFlags } from './machine.js';
import { runPeer } from './python-peer.js';

export const FID_ENGINES = ['native', 'js', 'scipy'] as const;
export type FidEngine = (typeof FID_ENGINES)[number];

export interface FidBenchOptions {
  /** Feature dimensions to time (Inception pool3 is 2048). Default [512, 2048]. */
  dims?: readonly number[];
  /** Samples per feature set = samplesPerDim · d (full-rank covariances need > d). Default 2. */
  samplesPerDim?: number;
  engines?: readonly FidEngine[];
  /** Timed runs of native and SciPy; the best is reported. Default 3. */
  repeats?: number;
  /** Timed runs of the JS path (minutes at d = 2048). Default 1. */
  jsRepeats?: number;
  /** OpenBLAS threads of the SciPy peer. Default: all cores, as NumPy uses by default. */
  scipyThreads?: number;
  /** Largest relative difference between any two engines' values that counts as agreement. Default 1e-6. */
  tolerance?: number;
  seed?: number;
  /** Progress lines (stderr by default). */
  log?: (line: string) => void;
}

export type FidEngineResult = { fid: number; seconds: number; runs: number[] } | { skipped: string };

export interface FidBenchCase {
  dim: number;
  /** Samples behind each of the two covariances. */
  samples: number;
  engines: Partial<Record<FidEngine, FidEngineResult>>;
  /** Largest |a − b| / max(|a|, |b|) over the engines that ran; null with fewer than two. */
  maxRelDiff: number | null;
  agree: boolean | null;
  /** Best seconds of the JS path ÷ native, and of SciPy ÷ native (> 1: native is faster). */
  jsOverNative: number | null;
  scipyOverNative: number | null;
}

export interface FidBenchReport {
  date: string;
  machine: {
    host: string; cpu: string; cores: number;
    /** SIMD-relevant /proc/cpuinfo flags (avx2, fma, avx512*, amx*…). */
    vectorFlags: string[];
    loadAverage1m: number; loadAverageAfter1m: number;
  };
  /** What the native engine resolved to (LAPACK through the addon, or why not). */
  nativeLinalg: string;
  scipy: { threads: number; versions: string | null };
  tolerance: number;
  cases: FidBenchCase[];
}

/**
 * Two feature sets of `samples` rows: ReLU(Z·M + shift) with Gaussian Z and a random mixing M
 * per set, so the covariances are full rank (samples > d), correlated, non-commuting and of
 * unequal means, like pool3 statistics of two image sets. The product uses core-tensor's
 * `matmulTransB` (BLAS when the addon is built); only the distance itself is timed.
 */
export function randomFidStats(dim: number, samples: number, seed: number): [GaussianStats, GaussianStats] {
  const rng = new Rng(seed);
  return ([0.3, 0.5] as const).map((shift) => {
    const mix = Float64Array.from(rng.normalArray(dim * dim, 0, 1 / Math.sqrt(dim)));
    const moments = new StreamingMoments(dim);
    const batch = 1024;
    for (let r = 0; r < samples; r += batch) {
      const rows = Math.min(batch, samples - r);
      const z = Float64Array.from(rng.normalArray(rows * dim));
      const x = matmulTransB(z, mix, rows, dim, dim);
      for (let i = 0; i < x.length; i++) x[i] = Math.max(x[i]! + shift, 0);
      moments.update(x, rows);
    }
    return moments.stats();
  }) as [GaussianStats, GaussianStats];
}

/** Fresh copies: `frechetDistance` caches the factorisation of `a` by its covariance array. */
function copyStats(s: GaussianStats): GaussianStats {
  return { ...s, mean: Float64Array.from(s.mean), cov: Float64Array.from(s.cov) };
}

function timeInProcess(engine: 'native' | 'js', a: GaussianStats, b: GaussianStats, repeats: number): FidEngineResult {
  const previous = setLinalgEngine(engine);
  try {
    const resolved = linalgEngine();
    if (resolved.engine !== engine) return { skipped: resolved.detail };
    const runs: number[] = [];
    let fid = NaN;
    for (let i = 0; i < repeats; i++) {
      const [a1, b1] = [copyStats(a), copyStats(b)];
      const t = performance.now();
      fid = frechetDistance(a1, b1);
      runs.push((performance.now() - t) / 1000);
    }
    return { fid, seconds: Math.min(...runs), runs };
  } finally {
    setLinalgEngine(previous);
  }
}

interface PeerOutput { fid: number; seconds: number[]; retried_with_eps: boolean; threads: number; numpy: string; scipy: string }

const done = (r: FidEngineResult | undefined): r is { fid: number; seconds: number; runs: number[] } => !!r && 'fid' in r;

export async function runFidBench(opts: FidBenchOptions = {}): Promise<FidBenchReport> {
  const dims = opts.dims ?? [512, 2048];
  const engines = opts.engines ?? FID_ENGINES;
  const repeats = opts.repeats ?? 3;
  const jsRepeats = opts.jsRepeats ?? 1;
  const perDim = opts.samplesPerDim ?? 2;
  const tolerance = opts.tolerance ?? 1e-6;
  const scipyThreads = opts.scipyThreads ?? cpus().length;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  for (const d of dims) if (!Number.isInteger(d) || d < 2) throw new RangeError(`runFidBench: dims must be integers ≥ 2, got ${d}`);
  if (!(perDim > 1)) throw new RangeError(`runFidBench: samplesPerDim must be > 1 (full-rank covariances), got ${perDim}`);
  for (const e of engines) if (!FID_ENGINES.includes(e)) throw new RangeError(`runFidBench: unknown engine '${e}'; use ${FID_ENGINES.join(', ')}`);

  const load1 = loadavg()[0]!;
  const previous = setLinalgEngine('native');
  const nativeLinalg = linalgEngine().detail;
  setLinalgEngine(previous);
  let versions: string | null = null;
  const dir = mkdtempSync(join(tmpdir(), 'difflab-fid-bench-'));
  const cases: FidBenchCase[] = [];
  try {
    for (const dim of dims) {
      const samples = Math.ceil(perDim * dim);
      log(`fid d=${dim}: statistics of 2 × ${samples} random features ...`);
      const [a, b] = randomFidStats(dim, samples, (opts.seed ?? 0) * 100_003 + dim);
      const c: FidBenchCase = { dim, samples, engines: {}, maxRelDiff: null, agree: null, jsOverNative: null, scipyOverNative: null };
      for (const engine of engines) {
        log(`fid d=${dim}: ${engine} ...`);
        if (engine === 'scipy') {
          const stats = join(dir, `stats-${dim}.npz`);
          await writeNpz(stats, {
            mu1: { shape: [dim], data: a.mean }, sigma1: { shape: [dim, dim], data: a.cov },
            mu2: { shape: [dim], data: b.mean }, sigma2: { shape: [dim, dim], data: b.cov },
          });
          try {
            const p = runPeer<PeerOutput>('fid_bench_scipy.py', { stats, threads: scipyThreads, repeats });
            versions = `NumPy ${p.numpy}, SciPy ${p.scipy}`;
            c.engines.scipy = { fid: p.fid, seconds: Math.min(...p.seconds), runs: p.seconds };
          } catch (e) {
            c.engines.scipy = { skipped: `${(e as Error).message} (Debian: apt-get install python3-scipy python3-numpy)` };
          }
        } else {
          c.engines[engine] = timeInProcess(engine, a, b, engine === 'js' ? jsRepeats : repeats);
        }
        const r = c.engines[engine];
        log(`fid d=${dim}: ${engine} ${done(r) ? `${r.fid.toPrecision(12)} in ${r.seconds.toFixed(3)} s` : r?.skipped}`);
      }
      const ran = FID_ENGINES.map((e) => c.engines[e]).filter(done);
      if (ran.length >= 2) {
        let worst = 0;
        for (const x of ran) for (const y of ran) worst = Math.max(worst, Math.abs(x.fid - y.fid) / Math.max(Math.abs(x.fid), Math.abs(y.fid), Number.MIN_VALUE));
        c.maxRelDiff = worst;
        c.agree = worst <= tolerance;
      }
      const native = c.engines.native, js = c.engines.js, scipy = c.engines.scipy;
      if (done(native) && done(js)) c.jsOverNative = js.seconds / native.seconds;
      if (done(native) && done(scipy)) c.scipyOverNative = scipy.seconds / native.seconds;
      cases.push(c);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    date: new Date().toISOString(),
    machine: { host: hostname(), cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, vectorFlags: vectorFlags(), loadAverage1m: load1, loadAverageAfter1m: loadavg()[0]! },
    nativeLinalg,
    scipy: { threads: scipyThreads, versions },
    tolerance,
    cases,
  };
}

export function formatFidReport(r: FidBenchReport): string {
  const m = r.machine;
  const lines = [
    `difflab bench fid  ${r.date}  ${m.host}: ${m.cpu}, ${m.cores} cores, load average ${m.loadAverage1m.toFixed(1)} → ${m.loadAverageAfter1m.toFixed(1)}`,
    `  vector flags: ${m.vectorFlags.join(' ') || 'unknown'}`,
    `  native: ${r.nativeLinalg}`,
    `  scipy: pytorch-fid's calculate_frechet_distance (scipy.linalg.sqrtm), ${r.scipy.threads} OpenBLAS thread(s)${r.scipy.versions ? `, ${r.scipy.versions}` : ''}`,
    '',
    'Fréchet distance, seconds (best of the repeats):',
    `  ${'d'.padStart(5)} ${'samples'.padStart(8)} ${'native'.padStart(9)} ${'js'.padStart(9)} ${'scipy'.padStart(9)}  ${'js/native'.padStart(9)} ${'scipy/native'.padStart(12)}  values`,
  ];
  const notes: string[] = [];
  const ratio = (v: number | null, w: number) => (v === null ? '—' : `${v.toFixed(2)}×`).padStart(w);
  for (const c of r.cases) {
    const cells = FID_ENGINES.map((e) => {
      const v = c.engines[e];
      if (!v) return '—'.padStart(9);
      if ('skipped' in v) {
        if (!notes.includes(`${e}: ${v.skipped}`)) notes.push(`${e}: ${v.skipped}`);
        return '—'.padStart(9);
      }
      return v.seconds.toFixed(3).padStart(9);
    });
    const fids = FID_ENGINES.flatMap((e) => {
      const v = c.engines[e];
      return v && 'fid' in v ? [`${e} ${v.fid.toPrecision(12)}`] : [];
    });
    const verdict = c.agree === null ? 'fewer than two engines ran' : c.agree
      ? `agree, max rel. diff ${c.maxRelDiff!.toExponential(1)} ≤ ${r.tolerance.toExponential(0)}`
      : `DISAGREE: max rel. diff ${c.maxRelDiff!.toExponential(1)} > ${r.tolerance.toExponential(0)}`;
    lines.push(`  ${String(c.dim).padStart(5)} ${String(c.samples).padStart(8)} ${cells.join(' ')}  ${ratio(c.jsOverNative, 9)} ${ratio(c.scipyOverNative, 12)}  ${verdict}`);
    lines.push(`  ${''.padStart(5)} ${''.padStart(8)} ${fids.join(', ')}`);
  }
  if (notes.length) lines.push('', ...notes.map((n) => `  ${n}`));
  return lines.join('\n');
}
