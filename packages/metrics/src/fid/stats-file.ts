import { existsSync } from 'node:fs';
import { readNpz, type NpyArray } from '@difflab/data';
import { MetricFileError } from '../errors.js';
import { writeNpz, type FloatArray } from '../io/npz-write.js';
import { requireGaussianStats } from '../validate.js';
import type { GaussianStats } from './moments.js';

/**
 * Saves statistics as an `.npz` with float64 `mu` and `sigma` — the file pytorch-fid writes with
 * `--save-stats` and reads as precomputed reference statistics — plus a scalar `count`.
 */
export async function saveStats(path: string, s: GaussianStats): Promise<void> {
  const arrays: Record<string, FloatArray> = {
    mu: { shape: [s.dim], data: Float64Array.from(s.mean) },
    sigma: { shape: [s.dim, s.dim], data: Float64Array.from(s.cov) },
  };
  if (s.count !== undefined) arrays.count = { shape: [], data: Float64Array.of(s.count) };
  await writeNpz(path, arrays);
}

function asFloat64(path: string, key: string, a: NpyArray): Float64Array {
  if (!(a.data instanceof Float64Array || a.data instanceof Float32Array)) {
    throw new MetricFileError(`${path}: '${key}' has dtype ${a.dtype}; statistics must be float32 or float64`);
  }
  return Float64Array.from(a.data);
}

/**
 * Loads statistics saved by `saveStats` or by pytorch-fid (`np.savez(path, mu=..., sigma=...)`),
 * checked as `frechetDistance` needs them (finite mu, symmetric PSD sigma); errors name the file and array.
 */
export function loadStats(path: string): GaussianStats {
  if (!existsSync(path)) throw new MetricFileError(`${path}: statistics file not found; create it with saveStats or pytorch-fid --save-stats`);
  const arrays = readNpz(path);
  const mu = arrays.get('mu');
  const sigma = arrays.get('sigma');
  if (!mu || !sigma) throw new MetricFileError(`${path}: expected arrays 'mu' and 'sigma' (pytorch-fid layout), found ${[...arrays.keys()].join(', ') || 'none'}`);
  const d = mu.shape[0] ?? 0;
  if (mu.shape.length !== 1 || sigma.shape.length !== 2 || sigma.shape[0] !== d || sigma.shape[1] !== d) {
    throw new MetricFileError(`${path}: mu has shape (${mu.shape}) and sigma (${sigma.shape}); expected (d,) and (d, d)`);
  }
  const count = arrays.get('count');
  const stats: GaussianStats = {
    dim: d,
    mean: asFloat64(path, 'mu', mu),
    cov: asFloat64(path, 'sigma', sigma),
    ...(count ? { count: asFloat64(path, 'count', count)[0]! } : {}),
  };
  requireGaussianStats(path, stats, { mean: "'mu'", cov: "'sigma'" });
  return stats;
}
