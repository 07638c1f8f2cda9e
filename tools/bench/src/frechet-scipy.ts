/**
 * FID against the reference implementation: difflab's streaming float64 statistics and
 * eigendecomposition-based Fréchet distance vs pytorch-fid's formula in NumPy/SciPy
 * (`scipy.linalg.sqrtm` of Σ1·Σ2) on the same float32 features.
 *
 *   npx tsx tools/bench/src/frechet-scipy.ts [--large]
 *
 * Cases: full-rank and rank-deficient (fewer samples than dimensions) covariances, plus
 * pytorch-fid's eps·I fallback; `--large` adds the 2048-d Inception size for timing.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '@difflab/core-tensor';
import { frechetDistance, StreamingMoments, writeNpz } from '@difflab/metrics';

interface Case {
  name: string;
  dim: number;
  n1: number;
  n2: number;
}

interface PeerResult {
  fid: number;
  fid_eps: number;
  retried_with_eps: boolean;
  max_imag_diag: number;
  mu_rel_diff: number;
  sigma_rel_diff: number;
  seconds_stats: number;
  seconds_fid: number;
}

const peer = join(dirname(fileURLToPath(import.meta.url)), '..', 'peers', 'frechet_scipy.py');

/** Correlated, shifted features so the two covariances neither commute nor share a mean. */
function features(rng: Rng, n: number, dim: number, shift: number): Float32Array {
  const mix = rng.normalArray(dim * dim, 0, 1 / Math.sqrt(dim));
  const z = rng.normalArray(n * dim);
  const x = new Float32Array(n * dim);
  for (let r = 0; r < n; r++)
    for (let j = 0; j < dim; j++) {
      let acc = shift;
      for (let k = 0; k < dim; k++) acc += z[r * dim + k]! * mix[k * dim + j]!;
      x[r * dim + j] = Math.max(acc, 0); // ReLU-like, as pool3 features are non-negative
    }
  return x;
}

async function run(c: Case, dir: string): Promise<string> {
  const rng = new Rng(c.dim * 1000 + c.n2);
  const x1 = features(rng, c.n1, c.dim, 0.3);
  const x2 = features(rng, c.n2, c.dim, 0.5);
  let t = performance.now();
  const stats = [x1, x2].map((x, i) => {
    const m = new StreamingMoments(c.dim);
    const rows = i === 0 ? c.n1 : c.n2;
    for (let r = 0; r < rows; r += 256) {
      const b = Math.min(256, rows - r);
      m.update(x.subarray(r * c.dim, (r + b) * c.dim), b);
    }
    return m.stats();
  });
  const secStats = (performance.now() - t) / 1000;
  t = performance.now();
  const fid = frechetDistance(stats[0]!, stats[1]!);
  const secFid = (performance.now() - t) / 1000;
  const fidEps = frechetDistance(stats[0]!, stats[1]!, { eps: 1e-6 });
  const feats = join(dir, `${c.name}-features.npz`);
  const ours = join(dir, `${c.name}-ours.npz`);
  await writeNpz(feats, { x1: { shape: [c.n1, c.dim], data: x1 }, x2: { shape: [c.n2, c.dim], data: x2 } });
  await writeNpz(ours, {
    mu1: { shape: [c.dim], data: stats[0]!.mean },
    sigma1: { shape: [c.dim, c.dim], data: stats[0]!.cov },
    mu2: { shape: [c.dim], data: stats[1]!.mean },
    sigma2: { shape: [c.dim, c.dim], data: stats[1]!.cov },
  });
  const p = JSON.parse(execFileSync('/usr/bin/python3', [peer, feats, ours], { encoding: 'utf8' })) as PeerResult;
  const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
  return [
    `| ${c.name} | ${c.dim} | ${c.n1}/${c.n2}`,
    fid.toPrecision(10),
    p.fid.toPrecision(10),
    rel(fid, p.fid).toExponential(1),
    `${rel(fidEps, p.fid_eps).toExponential(1)}`,
    `${p.retried_with_eps ? 'yes' : 'no'}, imag ${p.max_imag_diag.toExponential(1)}`,
    `${p.mu_rel_diff.toExponential(1)} / ${p.sigma_rel_diff.toExponential(1)}`,
    `${secStats.toFixed(2)} + ${secFid.toFixed(2)}`,
    `${p.seconds_stats.toFixed(2)} + ${p.seconds_fid.toFixed(2)} |`,
  ].join(' | ');
}

const cases: Case[] = [
  { name: 'full-rank', dim: 64, n1: 2000, n2: 1500 },
  { name: 'rank-deficient', dim: 64, n1: 40, n2: 30 },
  { name: 'one-singular', dim: 128, n1: 5000, n2: 100 },
  { name: 'inception-size', dim: 512, n1: 2000, n2: 2000 },
];
if (process.argv.includes('--large')) cases.push({ name: 'inception-2048', dim: 2048, n1: 4096, n2: 4096 });

const dir = mkdtempSync(join(tmpdir(), 'difflab-frechet-'));
console.log('| case | dim | n1/n2 | FID difflab | FID SciPy | rel. diff | rel. diff (eps=1e-6) | SciPy retried / imag | μ / Σ rel. diff | difflab s (stats + FID) | NumPy s (stats + FID) |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const c of cases) console.log(await run(c, dir));
