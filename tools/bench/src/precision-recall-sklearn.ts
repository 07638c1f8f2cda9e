/**
 * Improved precision and recall vs scikit-learn: difflab's `precisionRecall` and `knnRadii` against
 * NearestNeighbors radii and pairwise-distance membership in `peers/precision_recall_sklearn.py`
 * on the same float64 features.
 *
 *   npx tsx tools/bench/src/precision-recall-sklearn.ts [--n 2000] [--dim 64] [--k 3]
 *
 * Features: real ~ N(0, I); generated ~ N(0.2, 1.3²·I), so neither number is pinned at 0 or 1.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Rng } from '@difflab/core-tensor';
import { type FeatureMatrix, knnRadii, precisionRecall, writeNpz } from '@difflab/metrics';
import { runPeer } from './python-peer.js';

export interface PrecisionRecallComparison {
  ours: { precision: number; recall: number; seconds: number };
  sklearn: { precision: number; recall: number; seconds: number };
  /** Largest |ours − sklearn| / sklearn over every real and generated k-NN radius. */
  maxRadiusRelDiff: number;
}

interface PeerResult {
  precision: number;
  recall: number;
  real_radii: number[];
  generated_radii: number[];
  seconds: number;
}

/** Runs both implementations on the same features (written to a temporary .npz for the peer). */
export async function compareWithSklearn(real: FeatureMatrix, generated: FeatureMatrix, k = 3): Promise<PrecisionRecallComparison> {
  const t0 = performance.now();
  const pr = precisionRecall(real, generated, { k });
  const seconds = (performance.now() - t0) / 1000;
  const dir = mkdtempSync(join(tmpdir(), 'difflab-pr-'));
  try {
    const file = join(dir, 'features.npz');
    await writeNpz(file, {
      real: { shape: [real.rows, real.dim], data: Float64Array.from(real.data) },
      generated: { shape: [generated.rows, generated.dim], data: Float64Array.from(generated.data) },
    });
    const sk = runPeer<PeerResult>('precision_recall_sklearn.py', { file, k });
    let maxRadiusRelDiff = 0;
    const radiusDiff = (ours: Float64Array, theirs: number[]) =>
      ours.forEach((v, i) => (maxRadiusRelDiff = Math.max(maxRadiusRelDiff, Math.abs(v - theirs[i]!) / Math.max(theirs[i]!, 1e-300))));
    radiusDiff(knnRadii(real, k), sk.real_radii);
    radiusDiff(knnRadii(generated, k), sk.generated_radii);
    return {
      ours: { precision: pr.precision, recall: pr.recall, seconds },
      sklearn: { precision: sk.precision, recall: sk.recall, seconds: sk.seconds },
      maxRadiusRelDiff,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** real ~ N(0, I), generated ~ N(shift, spread²·I), both n × dim. */
export function gaussianPair(n: number, dim: number, seed = 0, shift = 0.2, spread = 1.3): { real: FeatureMatrix; generated: FeatureMatrix } {
  const rng = new Rng(seed);
  return {
    real: { rows: n, dim, data: rng.normalArray(n * dim) },
    generated: { rows: n, dim, data: rng.normalArray(n * dim, shift, spread) },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { n: { type: 'string', default: '2000' }, dim: { type: 'string', default: '64' }, k: { type: 'string', default: '3' } } });
  const [n, dim, k] = [Number(values.n), Number(values.dim), Number(values.k)];
  const { real, generated } = gaussianPair(n, dim);
  const c = await compareWithSklearn(real, generated, k);
  console.log(`n ${n} real and ${n} generated, dim ${dim}, k ${k}`);
  console.log(`precision: difflab ${c.ours.precision}, sklearn ${c.sklearn.precision}`);
  console.log(`recall:    difflab ${c.ours.recall}, sklearn ${c.sklearn.recall}`);
  console.log(`max relative radius difference ${c.maxRadiusRelDiff.toExponential(2)}`);
  console.log(`time: difflab ${c.ours.seconds.toFixed(2)} s, sklearn ${c.sklearn.seconds.toFixed(2)} s`);
  if (c.ours.precision !== c.sklearn.precision || c.ours.recall !== c.sklearn.recall || c.maxRadiusRelDiff > 1e-9) process.exitCode = 1;
}
