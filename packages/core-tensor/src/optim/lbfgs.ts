/** Writes the gradient at x into grad and returns the objective value. */
export type Objective = (x: Float64Array, grad: Float64Array) => number;

export interface LbfgsOptions {
  maxIterations?: number;
  /** Pairs (s, y) kept for the inverse-Hessian approximation. */
  memory?: number;
  /** Stop when max |gradient component| ≤ gradTol. */
  gradTol?: number;
  /** Stop when (f_k − f_{k+1}) / max(|f_k|, |f_{k+1}|, 1) ≤ fTol (SciPy's L-BFGS-B rule). */
  fTol?: number;
}

export interface LbfgsResult {
  x: Float64Array;
  f: number;
  grad: Float64Array;
  iterations: number;
  evaluations: number;
  converged: boolean;
  reason: 'gradient' | 'objective' | 'max-iterations' | 'line-search';
}

export interface LineSearchResult {
  alpha: number;
  f: number;
  /** Directional derivative φ'(alpha). */
  slope: number;
  ok: boolean;
}

/**
 * Line search for the strong Wolfe conditions (Nocedal & Wright, Algorithms 3.5 and 3.6):
 * φ(α) ≤ φ(0) + c1·α·φ'(0) and |φ'(α)| ≤ c2·|φ'(0)|. `phi` returns [φ(α), φ'(α)].
 * Non-finite values count as too long a step, so overflow far out shrinks the step.
 */
export function strongWolfeLineSearch(
  phi: (alpha: number) => [number, number],
  f0: number,
  slope0: number,
  alpha1: number,
  c1 = 1e-4,
  c2 = 0.9,
  maxEvaluations = 40,
): LineSearchResult {
  let evals = 0;
  const evalAt = (a: number): [number, number] => {
    evals++;
    const [f, d] = phi(a);
    return Number.isFinite(f) && Number.isFinite(d) ? [f, d] : [Infinity, NaN];
  };
  const armijo = (a: number, f: number) => f <= f0 + c1 * a * slope0;
  const curvature = (d: number) => Math.abs(d) <= -c2 * slope0;

  const zoom = (lo: number, flo: number, dlo: number, hi: number, fhi: number, dhi: number): LineSearchResult => {
    while (evals < maxEvaluations) {
      const a = interpolate(lo, flo, dlo, hi, fhi, dhi);
      const [f, d] = evalAt(a);
      if (!armijo(a, f) || f >= flo) {
        hi = a;
        fhi = f;
        dhi = d;
      } else {
        if (curvature(d)) return { alpha: a, f, slope: d, ok: true };
        if (d * (hi - lo) >= 0) {
          hi = lo;
          fhi = flo;
          dhi = dlo;
        }
        lo = a;
        flo = f;
        dlo = d;
      }
      if (Math.abs(hi - lo) <= 1e-16 * Math.max(1, Math.abs(lo))) break;
    }
    // Out of budget: a point with sufficient decrease still lets the outer loop progress.
    return { alpha: lo, f: flo, slope: dlo, ok: false };
  };

  let prevA = 0;
  let prevF = f0;
  let prevD = slope0;
  let a = alpha1;
  while (evals < maxEvaluations) {
    const [f, d] = evalAt(a);
    if (!armijo(a, f) || (prevA > 0 && f >= prevF)) return zoom(prevA, prevF, prevD, a, f, d);
    if (curvature(d)) return { alpha: a, f, slope: d, ok: true };
    if (d >= 0) return zoom(a, f, d, prevA, prevF, prevD);
    prevA = a;
    prevF = f;
    prevD = d;
    a *= 2;
  }
  return { alpha: prevA, f: prevF, slope: prevD, ok: false };
}

/** Minimiser of the cubic through both end points, kept inside the middle 80% of the bracket (else bisection). */
function interpolate(a: number, fa: number, da: number, b: number, fb: number, db: number): number {
  const lo = Math.min(a, b);
  const hi = Math.max(a, b);
  const margin = 0.1 * (hi - lo);
  const d1 = da + db - (3 * (fa - fb)) / (a - b);
  const disc = d1 * d1 - da * db;
  if (Number.isFinite(disc) && disc >= 0) {
    const d2 = Math.sign(b - a) * Math.sqrt(disc);
    const t = b - ((b - a) * (db + d2 - d1)) / (db - da + 2 * d2);
    if (Number.isFinite(t) && t >= lo + margin && t <= hi - margin) return t;
  }
  return 0.5 * (a + b);
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/**
 * Limited-memory BFGS (Nocedal & Wright, Algorithm 7.4 with the two-loop recursion) with a
 * strong-Wolfe line search, in float64. Unconstrained: the fits parameterise positive
 * quantities through their logarithms instead of bounds.
 */
export function minimizeLbfgs(objective: Objective, x0: ArrayLike<number>, opts: LbfgsOptions = {}): LbfgsResult {
  const maxIterations = opts.maxIterations ?? 1000;
  const m = opts.memory ?? 10;
  const gradTol = opts.gradTol ?? 1e-8;
  const fTol = opts.fTol ?? 1e-12;
  const n = x0.length;
  const x = Float64Array.from(x0);
  const g = new Float64Array(n);
  let evaluations = 1;
  let f = objective(x, g);
  if (!Number.isFinite(f)) throw new RangeError(`L-BFGS: objective is not finite at the start point [${Array.from(x0).join(', ')}]`);
  const ss: Float64Array[] = [];
  const ys: Float64Array[] = [];
  const rhos: number[] = [];
  const dir = new Float64Array(n);
  const xt = new Float64Array(n);
  const gt = new Float64Array(n);
  const alphaBuf = new Float64Array(m);
  let iterations = 0;
  let reason: LbfgsResult['reason'] = 'max-iterations';

  while (iterations < maxIterations) {
    if (maxAbs(g) <= gradTol) {
      reason = 'gradient';
      break;
    }
    // Two-loop recursion: dir = −H·g.
    for (let i = 0; i < n; i++) dir[i] = -g[i]!;
    for (let k = ss.length - 1; k >= 0; k--) {
      const a = rhos[k]! * dot(ss[k]!, dir);
      alphaBuf[k] = a;
      const y = ys[k]!;
      for (let i = 0; i < n; i++) dir[i] = dir[i]! - a * y[i]!;
    }
    if (ss.length > 0) {
      const last = ss.length - 1;
      const gamma = dot(ss[last]!, ys[last]!) / dot(ys[last]!, ys[last]!);
      for (let i = 0; i < n; i++) dir[i] = dir[i]! * gamma;
    }
    for (let k = 0; k < ss.length; k++) {
      const b = rhos[k]! * dot(ys[k]!, dir);
      const s = ss[k]!;
      const a = alphaBuf[k]!;
      for (let i = 0; i < n; i++) dir[i] = dir[i]! + (a - b) * s[i]!;
    }
    let slope = dot(g, dir);
    if (!(slope < 0)) {
      // Lost descent (rounding in a stale memory): restart from steepest descent.
      ss.length = ys.length = rhos.length = 0;
      for (let i = 0; i < n; i++) dir[i] = -g[i]!;
      slope = dot(g, dir);
    }
    const alpha1 = ss.length === 0 ? Math.min(1, 1 / Math.sqrt(-slope)) : 1;
    let lastAlpha = NaN;
    let lastF = NaN;
    const phi = (a: number): [number, number] => {
      for (let i = 0; i < n; i++) xt[i] = x[i]! + a * dir[i]!;
      evaluations++;
      lastAlpha = a;
      lastF = objective(xt, gt);
      return [lastF, dot(gt, dir)];
    };
    const ls = strongWolfeLineSearch(phi, f, slope, alpha1);
    if (!(ls.alpha > 0) || !(ls.f < f)) {
      reason = 'line-search';
      break;
    }
    // The search usually ends on its last trial point; otherwise evaluate the accepted one again.
    let fNew = lastF;
    if (lastAlpha !== ls.alpha) {
      for (let i = 0; i < n; i++) xt[i] = x[i]! + ls.alpha * dir[i]!;
      evaluations++;
      fNew = objective(xt, gt);
    }
    const s = new Float64Array(n);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      s[i] = xt[i]! - x[i]!;
      y[i] = gt[i]! - g[i]!;
    }
    const fOld = f;
    x.set(xt);
    g.set(gt);
    f = fNew;
    iterations++;
    const sy = dot(s, y);
    if (sy > 1e-300) {
      if (ss.length === m) {
        ss.shift();
        ys.shift();
        rhos.shift();
      }
      ss.push(s);
      ys.push(y);
      rhos.push(1 / sy);
    }
    if ((fOld - f) / Math.max(Math.abs(fOld), Math.abs(f), 1) <= fTol) {
      reason = 'objective';
      break;
    }
  }
  if (reason === 'max-iterations' && maxAbs(g) <= gradTol) reason = 'gradient';
  return { x, f, grad: g, iterations, evaluations, converged: reason === 'gradient' || reason === 'objective', reason };
}
