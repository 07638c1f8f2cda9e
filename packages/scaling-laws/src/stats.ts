export interface Line {
  intercept: number;
  slope: number;
}

/** Ordinary least squares y ≈ intercept + slope·x. */
export function fitLine(x: ArrayLike<number>, y: ArrayLike<number>): Line {
  const n = x.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]!;
    my += y[i]!;
  }
  mx /= n;
  my /= n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (x[i]! - mx) ** 2;
    sxy += (x[i]! - mx) * (y[i]! - my);
  }
  const slope = sxy / sxx;
  return { intercept: my - slope * mx, slope };
}

export interface Parabola {
  /** y = a·x² + b·x + c */
  a: number;
  b: number;
  c: number;
}

/** The parabola fit's normal matrix XᵀX for X = [1, u, u²], u = x − mean x (centred so that it stays well conditioned). */
function centredNormalMatrix(x: ArrayLike<number>): { mx: number; M: number[][] } {
  const n = x.length;
  let mx = 0;
  for (let i = 0; i < n; i++) mx += x[i]!;
  mx /= n;
  const s = new Float64Array(5);
  for (let i = 0; i < n; i++) {
    const u = x[i]! - mx;
    for (let k = 0, p = 1; k < 5; k++, p *= u) s[k] = s[k]! + p;
  }
  const M = [
    [s[0]!, s[1]!, s[2]!],
    [s[1]!, s[2]!, s[3]!],
    [s[2]!, s[3]!, s[4]!],
  ];
  return { mx, M };
}

/** Least-squares parabola; x is centred first so the 3×3 normal equations stay well conditioned. */
export function fitParabola(x: ArrayLike<number>, y: ArrayLike<number>): Parabola {
  const { mx, M } = centredNormalMatrix(x);
  const t = new Float64Array(3);
  for (let i = 0; i < x.length; i++) {
    const u = x[i]! - mx;
    for (let k = 0, p = 1; k < 3; k++, p *= u) t[k] = t[k]! + p * y[i]!;
  }
  // Normal equations in (c', b', a') for y = c' + b'u + a'u², solved by Cramer's rule.
  const det = det3(M);
  const col = (k: number) => M.map((row, i) => row.map((v, j) => (j === k ? t[i]! : v)));
  const c0 = det3(col(0)) / det;
  const b0 = det3(col(1)) / det;
  const a0 = det3(col(2)) / det;
  // Undo the centring: a(x−m)² + b(x−m) + c.
  return { a: a0, b: b0 - 2 * a0 * mx, c: a0 * mx * mx - b0 * mx + c0 };
}

/**
 * Diagonal of the hat matrix H = X(XᵀX)⁻¹Xᵀ of the parabola fit (X = [1, u, u²], u = x − mean x): h_i is how much
 * y_i pulls its own fitted value. Σ h_i = 3 for ≥ 3 distinct x; h_i = 1 where the fit passes through y_i whatever it is.
 */
export function parabolaLeverages(x: ArrayLike<number>): Float64Array {
  const n = x.length;
  const { mx, M } = centredNormalMatrix(x);
  const det = det3(M);
  // (XᵀX)⁻¹ by cofactors (M is symmetric, so the adjugate is the cofactor matrix).
  const minor = (r: number, c: number) => {
    const m = M.filter((_, i) => i !== r).map((row) => row.filter((_, j) => j !== c));
    return m[0]![0]! * m[1]![1]! - m[0]![1]! * m[1]![0]!;
  };
  const inv = [0, 1, 2].map((r) => [0, 1, 2].map((c) => ((r + c) % 2 ? -1 : 1) * minor(r, c) / det));
  const h = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = x[i]! - mx;
    const v = [1, u, u * u];
    let acc = 0;
    for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) acc += v[r]! * inv[r]![c]! * v[c]!;
    h[i] = acc;
  }
  return h;
}

function det3(m: number[][]): number {
  const [[a, b, c], [d, e, f], [g, h, i]] = m as [[number, number, number], [number, number, number], [number, number, number]];
  return a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
}

/** Linear-interpolated sample quantile (type 7, the default of NumPy and R). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, n - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

/** Huber function with threshold delta, and its derivative. */
export function huber(r: number, delta: number): [number, number] {
  const a = Math.abs(r);
  return a <= delta ? [0.5 * r * r, r] : [delta * (a - 0.5 * delta), delta * Math.sign(r)];
}
