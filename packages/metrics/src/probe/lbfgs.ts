/** Objective value and gradient at a point. */
export type Objective = (x: Float64Array, grad: Float64Array) => number;

export interface LbfgsOptions {
  maxIter: number;
  /** Stop when max |∂f/∂x_i| ≤ gtol (SciPy L-BFGS-B's `pgtol`, which scikit-learn sets to its `tol`). */
  gtol: number;
  /** Stop when the relative decrease of f in an iteration is ≤ ftol (SciPy's factr·ε = 1e7·ε). */
  ftol?: number;
  memory?: number;
}

export interface LbfgsResult {
  x: Float64Array;
  value: number;
  iterations: number;
  converged: boolean;
}

const dot = (a: Float64Array, b: Float64Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

/**
 * Limited-memory BFGS (Nocedal & Wright, alg. 7.4) with a backtracking Armijo line search —
 * enough for the smooth, strictly convex objectives of regularised logistic regression, where
 * the minimiser (not the path) decides the result.
 */
export function lbfgs(f: Objective, x0: Float64Array, opts: LbfgsOptions): LbfgsResult {
  const n = x0.length;
  const m = opts.memory ?? 10;
  const ftol = opts.ftol ?? 1e7 * 2 ** -52;
  const x = Float64Array.from(x0);
  const g = new Float64Array(n);
  let fx = f(x, g);
  const ss: Float64Array[] = [];
  const ys: Float64Array[] = [];
  const rhos: number[] = [];
  const dir = new Float64Array(n);
  const xNew = new Float64Array(n);
  const gNew = new Float64Array(n);
  const alpha = new Float64Array(m);
  const gmax = (v: Float64Array) => v.reduce((a, b) => Math.max(a, Math.abs(b)), 0);
  for (let iter = 0; iter < opts.maxIter; iter++) {
    if (gmax(g) <= opts.gtol) return { x, value: fx, iterations: iter, converged: true };
    // Two-loop recursion: dir = −H·g.
    dir.set(g);
    for (let k = ss.length - 1; k >= 0; k--) {
      alpha[k] = rhos[k]! * dot(ss[k]!, dir);
      const y = ys[k]!;
      for (let i = 0; i < n; i++) dir[i] = dir[i]! - alpha[k]! * y[i]!;
    }
    if (ss.length > 0) {
      const last = ss.length - 1;
      const gamma = dot(ss[last]!, ys[last]!) / dot(ys[last]!, ys[last]!);
      for (let i = 0; i < n; i++) dir[i] = dir[i]! * gamma;
    } else {
      const scale = 1 / Math.max(Math.sqrt(dot(g, g)), 1e-300);
      for (let i = 0; i < n; i++) dir[i] = dir[i]! * scale;
    }
    for (let k = 0; k < ss.length; k++) {
      const beta = rhos[k]! * dot(ys[k]!, dir);
      const s = ss[k]!;
      for (let i = 0; i < n; i++) dir[i] = dir[i]! + (alpha[k]! - beta) * s[i]!;
    }
    for (let i = 0; i < n; i++) dir[i] = -dir[i]!;
    let slope = dot(g, dir);
    if (slope >= 0) {
      // Not a descent direction (stale curvature pairs): restart from steepest descent.
      ss.length = ys.length = rhos.length = 0;
      for (let i = 0; i < n; i++) dir[i] = -g[i]!;
      slope = -dot(g, g);
    }
    let step = 1;
    let fNew = Infinity;
    for (let tries = 0; tries < 60; tries++) {
      for (let i = 0; i < n; i++) xNew[i] = x[i]! + step * dir[i]!;
      fNew = f(xNew, gNew);
      if (fNew <= fx + 1e-4 * step * slope) break;
      step *= 0.5;
    }
    if (!(fNew <= fx)) return { x, value: fx, iterations: iter, converged: false };
    const s = new Float64Array(n);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      s[i] = xNew[i]! - x[i]!;
      y[i] = gNew[i]! - g[i]!;
    }
    const sy = dot(s, y);
    if (sy > 1e-12 * Math.sqrt(dot(s, s) * dot(y, y))) {
      if (ss.length === m) {
        ss.shift();
        ys.shift();
        rhos.shift();
      }
      ss.push(s);
      ys.push(y);
      rhos.push(1 / sy);
    }
    const decrease = (fx - fNew) / Math.max(Math.abs(fx), Math.abs(fNew), 1);
    x.set(xNew);
    g.set(gNew);
    fx = fNew;
    if (decrease <= ftol) return { x, value: fx, iterations: iter + 1, converged: true };
  }
  return { x, value: fx, iterations: opts.maxIter, converged: gmax(g) <= opts.gtol };
}
