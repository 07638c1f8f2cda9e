// difflab's improved precision and recall against scikit-learn (Debian python3-sklearn, run as a peer).
import { describe, expect, it } from 'vitest';
import { compareWithSklearn, gaussianPair } from '../src/precision-recall-sklearn.js';

describe('precisionRecall vs scikit-learn NearestNeighbors', () => {
  // n, dim, k, and the generated distribution's shift and spread (real: N(0, I))
  for (const [n, dim, k, shift, spread] of [[300, 16, 3, 0.2, 1.3], [250, 4, 1, 0.2, 1.3], [200, 8, 5, 1, 1]] as const) {
    it(`${n} × ${n} samples, dim ${dim}, k = ${k}: same precision and recall, radii to 1e-9`, async () => {
      const { real, generated } = gaussianPair(n, dim, n + dim + k, shift, spread);
      const c = await compareWithSklearn(real, generated, k);
      expect(c.ours.precision).toBe(c.sklearn.precision);
      expect(c.ours.recall).toBe(c.sklearn.recall);
      expect(c.maxRadiusRelDiff).toBeLessThan(1e-9);
      // Neither number is pinned at 0 or 1, so the comparison can tell implementations apart.
      for (const v of [c.sklearn.precision, c.sklearn.recall]) {
        expect(v).toBeGreaterThan(0.02);
        expect(v).toBeLessThan(0.98);
      }
    });
  }
});
