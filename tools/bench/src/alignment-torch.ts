/**
 * CKA, unbiased CKA, RBF CKA, CKNNA (unbiased and biased) and mutual-kNN against the Platonic
 * Representation Hypothesis definitions evaluated in PyTorch float64 (peers/alignment_torch.py)
 * on the same L2-normalised features.
 *
 *   npx tsx tools/bench/src/alignment-torch.ts [--n 500] [--topk 10]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Rng } from '@difflab/core-tensor';
import { cka, cknna, l2NormalizeRows, mutualKnn, writeNpz, type FeatureMatrix } from '@difflab/metrics';

const { values } = parseArgs({ options: { n: { type: 'string', default: '500' }, topk: { type: 'string', default: '10' } } });
const n = Number(values.n);
const topk = Number(values.topk);
const rng = new Rng(11);

/** Two views of shared latent structure: b = tanh(a·W) + noise, in different widths. */
const da = 48;
const db = 32;
const a = rng.normalArray(n * da);
const w = rng.normalArray(da * db, 0, 1 / Math.sqrt(da));
const b = new Float32Array(n * db);
for (let i = 0; i < n; i++)
  for (let j = 0; j < db; j++) {
    let acc = 0;
    for (let k = 0; k < da; k++) acc += a[i * da + k]! * w[k * db + j]!;
    b[i * db + j] = Math.tanh(acc) + 0.3 * rng.normal();
  }
const A = l2NormalizeRows({ rows: n, dim: da, data: a });
const B = l2NormalizeRows({ rows: n, dim: db, data: b });

const dir = mkdtempSync(join(tmpdir(), 'difflab-align-'));
const file = join(dir, 'features.npz');
const f64 = (x: FeatureMatrix) => Float64Array.from(x.data);
await writeNpz(file, { a: { shape: [n, da], data: f64(A) }, b: { shape: [n, db], data: f64(B) } });
const peer = join(dirname(fileURLToPath(import.meta.url)), '..', 'peers', 'alignment_torch.py');
let t = performance.now();
const ref = JSON.parse(execFileSync('/usr/bin/python3', [peer, file, String(topk)], { encoding: 'utf8' })) as Record<string, number>;
const peerSeconds = (performance.now() - t) / 1000;

t = performance.now();
const ours: Record<string, number> = {
  cka: cka(A, B),
  unbiased_cka: cka(A, B, { unbiased: true }),
  rbf_cka: cka(A, B, { kernel: 'rbf', rbfSigma: 0.5 }),
  cknna: cknna(A, B, { topk }),
  cknna_biased: cknna(A, B, { topk, unbiased: false }),
  mutual_knn: mutualKnn(A, B, { topk }),
};
const oursSeconds = (performance.now() - t) / 1000;
console.log(`n ${n}, widths ${da}/${db}, topk ${topk}`);
console.log('| metric | difflab | PyTorch reference | |diff| |');
console.log('|---|---|---|---|');
let worst = 0;
for (const k of Object.keys(ours)) {
  const d = Math.abs(ours[k]! - ref[k]!);
  worst = Math.max(worst, d);
  console.log(`| ${k} | ${ours[k]!.toPrecision(12)} | ${ref[k]!.toPrecision(12)} | ${d.toExponential(1)} |`);
}
console.log(`time: difflab ${oursSeconds.toFixed(2)} s, torch ${peerSeconds.toFixed(2)} s (incl. start-up)`);
if (worst > 1e-9) process.exitCode = 1;
