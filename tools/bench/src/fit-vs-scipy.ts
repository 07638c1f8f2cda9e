/**
 * Chinchilla approach 3 against SciPy: difflab's L-BFGS (packages/scaling-laws) and
 * scipy.optimize.minimize(method="L-BFGS-B") on the same data, the same Huber objective
 * (δ = 1e-3, summed over runs) and the same 4500-point initialisation grid.
 *
 *   npx tsx tools/bench/src/fit-vs-scipy.ts
 *
 * Prints a Markdown table per case: both parameter sets, both objective values, each
 * optimum scored by the other side's objective, wall time.
 */
import { cpus } from 'node:os';
import { Rng } from '@difflab/core-tensor';
import { fitParametric, parametricObjective, toLaw } from '@difflab/scaling-laws';
import { runPeer } from './python-peer.js';

interface PeerFit {
  theta: number[];
  objective: number;
  objective_at_difflab_theta: number;
  starts: number;
  seconds: number;
  scipy: string;
  numpy: string;
}

interface Runs {
  name: string;
  n: number[];
  d: number[];
  y: number[];
}

const TRUTH = { E: 1.82, A: 482, B: 2085, alpha: 0.35, beta: 0.37 };
const loss = (n: number, d: number) => TRUTH.E + TRUTH.A / n ** TRUTH.alpha + TRUTH.B / d ** TRUTH.beta;

function scattered(seed: number, count: number, noise: number): Runs {
  const rng = new Rng(seed);
  const r: Runs = { name: `${count} runs, N∈[1e7,1e10], D∈[1e9,1e12] log-uniform, noise ${noise} (log)`, n: [], d: [], y: [] };
  for (let i = 0; i < count; i++) {
    const n = 1e7 * 1e3 ** rng.uniform();
    const d = 1e9 * 1e3 ** rng.uniform();
    r.n.push(n);
    r.d.push(d);
    r.y.push(loss(n, d) * Math.exp(noise * rng.normal()));
  }
  return r;
}

function isoflop(seed: number, noise: number): Runs {
  const rng = new Rng(seed);
  const r: Runs = { name: `isoFLOP design: 5 budgets 1e18–1e22 × 9 sizes, C = 6ND, noise ${noise} (log)`, n: [], d: [], y: [] };
  for (const c of [1e18, 1e19, 1e20, 1e21, 1e22]) {
    for (let j = -4; j <= 4; j++) {
      const n = 0.06 * c ** 0.5 * Math.exp(0.4 * j);
      const d = c / (6 * n);
      r.n.push(n);
      r.d.push(d);
      r.y.push(loss(n, d) * Math.exp(noise * rng.normal()));
    }
  }
  return r;
}

function report(runs: Runs, delta: number): string {
  const t0 = performance.now();
  const ours = fitParametric(runs.n, runs.d, runs.y, { delta });
  const ourSeconds = (performance.now() - t0) / 1000;
  const peer = runPeer<PeerFit>('scipy_fit.py', { N: runs.n, D: runs.d, L: runs.y, delta, theta_difflab: ours.theta });
  const objective = parametricObjective(runs.n.map(Math.log), runs.d.map(Math.log), runs.y.map(Math.log), delta);
  const ourAtTheirs = objective(Float64Array.from(peer.theta), new Float64Array(5));
  const a = ours.law;
  const b = toLaw(peer.theta);
  const rel = (x: number, y: number) => (Math.abs(x - y) / Math.abs(y)).toExponential(1);
  const row = (name: string, x: number, y: number, t: number) => `| ${name} | ${x.toPrecision(6)} | ${y.toPrecision(6)} | ${rel(x, y)} | ${t} |`;
  return [
    `#### ${runs.name}`,
    '',
    '| quantity | difflab | SciPy L-BFGS-B | rel. diff | truth |',
    '|---|---:|---:|---:|---:|',
    row('E', a.E, b.E, TRUTH.E),
    row('A', a.A, b.A, TRUTH.A),
    row('B', a.B, b.B, TRUTH.B),
    row('α', a.alpha, b.alpha, TRUTH.alpha),
    row('β', a.beta, b.beta, TRUTH.beta),
    '',
    `| objective (Σ Huber) | difflab optimum | SciPy optimum |`,
    '|---|---:|---:|',
    `| difflab's evaluation | ${ours.objective.toExponential(10)} | ${ourAtTheirs.toExponential(10)} |`,
    `| SciPy's evaluation | ${peer.objective_at_difflab_theta.toExponential(10)} | ${peer.objective.toExponential(10)} |`,
    '',
    `Wall time for ${peer.starts} starts: difflab ${ourSeconds.toFixed(1)} s, SciPy ${peer.seconds.toFixed(1)} s (SciPy ${peer.scipy}, NumPy ${peer.numpy}).`,
    '',
  ].join('\n');
}

const delta = 1e-3;
console.log(`# fit-vs-scipy (${new Date().toISOString().slice(0, 10)}, ${cpus()[0]?.model ?? 'unknown CPU'} × ${cpus().length}, Node ${process.version})\n`);
for (const runs of [scattered(1, 100, 0.02), isoflop(2, 0.01)]) console.log(report(runs, delta));
