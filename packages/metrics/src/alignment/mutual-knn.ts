import { gram, type FeatureMatrix } from '../features.js';
import { requireNeighbours } from '../validate.js';
import { checkPair, topkMask } from './cka.js';

export interface MutualKnnOptions {
  /** Neighbours per sample, 1 ≤ topk ≤ n − 1 (the paper uses 10). */
  topk: number;
}

/**
 * Mutual k-nearest-neighbour alignment (Huh et al. 2024): the mean over samples of
 * |kNN_A(i) ∩ kNN_B(i)| / k, neighbours ranked by inner product with the sample itself excluded
 * (AlignmentMetrics.mutual_knn). The paper L2-normalises rows first (`l2NormalizeRows`), making
 * the ranking by cosine similarity.
 */
export function mutualKnn(a: FeatureMatrix, b: FeatureMatrix, opts: MutualKnnOptions): number {
  checkPair('mutualKnn', a, b, 2, 'mutual k-NN (a sample and its neighbour)');
  const n = a.rows;
  const { topk } = opts;
  requireNeighbours('mutualKnn: topk', topk, n, 1);
  const ma = topkMask(gram(a), n, topk, true);
  const mb = topkMask(gram(b), n, topk, true);
  let shared = 0;
  for (let i = 0; i < n * n; i++) shared += ma[i]! & mb[i]!;
  return shared / (n * topk);
}
