/**
 * How spatially structured an encoder's tokens are: iREPA's Local-vs-Distant Similarity (Singh et al. 2025,
 * "What matters for Representation Alignment: Global Information or Spatial Structure?"), the measure the
 * paper finds predicts REPA's gain better than the encoder's accuracy. Per image: the mean cosine between
 * 4-neighbour tokens minus the mean cosine between tokens at Manhattan distance ≥ `farDistance` on the grid
 * (6 in the paper's implementation, on 16×16 grids; our 8×8 grids still have 1,664 such ordered pairs);
 * then averaged over images. 0 when similarity ignores position; up to 2 when neighbours agree and far
 * tokens oppose.
 */
export interface SpatialStructure {
  lds: number;
  /** Mean cosine of 4-neighbour pairs. */
  local: number;
  /** Mean cosine of pairs at Manhattan distance ≥ farDistance. */
  far: number;
  farDistance: number;
  images: number;
}

export function localVsDistantSimilarity(tokens: ArrayLike<number>, images: number, grid: number, dim: number, farDistance = 6): SpatialStructure {
  const n = grid * grid;
  if (tokens.length !== images * n * dim) throw new RangeError(`localVsDistantSimilarity: expected ${images}×${n}×${dim} values, got ${tokens.length}`);
  const unit = new Float64Array(n * dim);
  let localSum = 0, farSum = 0;
  for (let img = 0; img < images; img++) {
    for (let t = 0; t < n; t++) {
      let ss = 0;
      for (let j = 0; j < dim; j++) ss += tokens[(img * n + t) * dim + j]! ** 2;
      const inv = 1 / Math.max(Math.sqrt(ss), 1e-8); // torch F.normalize's floor
      for (let j = 0; j < dim; j++) unit[t * dim + j] = tokens[(img * n + t) * dim + j]! * inv;
    }
    const cos = (a: number, b: number) => {
      let s = 0;
      for (let j = 0; j < dim; j++) s += unit[a * dim + j]! * unit[b * dim + j]!;
      return s;
    };
    let local = 0, localCount = 0, far = 0, farCount = 0;
    for (let r = 0; r < grid; r++)
      for (let c = 0; c < grid; c++) {
        const t = r * grid + c;
        if (r + 1 < grid) (local += cos(t, t + grid)), localCount++;
        if (c + 1 < grid) (local += cos(t, t + 1)), localCount++;
        for (let r2 = 0; r2 < grid; r2++)
          for (let c2 = 0; c2 < grid; c2++) {
            if (Math.abs(r - r2) + Math.abs(c - c2) < farDistance) continue;
            far += cos(t, r2 * grid + c2);
            farCount++;
          }
      }
    localSum += local / localCount;
    farSum += farCount > 0 ? far / farCount : 0;
  }
  const local = localSum / images, far = farSum / images;
  return { lds: local - far, local, far, farDistance, images };
}
