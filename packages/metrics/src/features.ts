import { requireFeatures } from './validate.js';

/** `rows` feature vectors of width `dim`, row-major (one sample per row). */
export interface FeatureMatrix {
  rows: number;
  dim: number;
  data: ArrayLike<number>;
}

/** Rows scaled to unit L2 norm (zero rows stay zero), as the Platonic-representation code does before every alignment metric. */
export function l2NormalizeRows(x: FeatureMatrix): FeatureMatrix {
  requireFeatures('l2NormalizeRows: x', x);
  const out = new Float64Array(x.rows * x.dim);
  for (let r = 0; r < x.rows; r++) {
    let ss = 0;
    for (let j = 0; j < x.dim; j++) ss += x.data[r * x.dim + j]! ** 2;
    // torch.nn.functional.normalize divides by max(‖x‖, 1e-12).
    const inv = 1 / Math.max(Math.sqrt(ss), 1e-12);
    for (let j = 0; j < x.dim; j++) out[r * x.dim + j] = x.data[r * x.dim + j]! * inv;
  }
  return { rows: x.rows, dim: x.dim, data: out };
}

/** Gram matrix K = X·Xᵀ (rows×rows) in float64. */
export function gram(x: FeatureMatrix): Float64Array {
  const { rows: n, dim: d, data } = x;
  const xd = Float64Array.from(data);
  const k = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let acc = 0;
      for (let t = 0; t < d; t++) acc += xd[i * d + t]! * xd[j * d + t]!;
      k[i * n + j] = acc;
      k[j * n + i] = acc;
    }
  }
  return k;
}
