// The float64 thin SVD (reconstruction, orthogonality, singular values against an independent
// eigendecomposition, zero and rank-deficient matrices, both linalg engines) and SVDiff on the DiT:
// names and count Σ min(in, out), the effective weight at δ = 0, the float32 SVD's reconstruction, and the
// known answer δ_i = −σ_i ⇒ W_eff = W − σ_i·u_i·v_iᵀ against float64.
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Rng, eigh, linalgEngine, setLinalgEngine } from '@difflab/core-tensor';
import { type DiT, type DiTConfig, SVDIFF_DEFAULT_TARGETS, createDiT, createSvdiff, linearLayers, thinSvd } from '../src/index.js';

await tf.setBackend('cpu');
const initialEngine = linalgEngine().choice;
afterAll(() => setLinalgEngine(initialEngine));

const tiny: DiTConfig = {
  inputSize: 8, patchSize: 2, inChannels: 3, hiddenSize: 16, depth: 2, numHeads: 2,
  mlpRatio: 4, numClasses: 5, classDropoutProb: 0.1, learnSigma: false, block: 'adaLN-Zero',
};

function randomize(model: DiT, seed: number): void {
  const rng = new Rng(seed);
  for (const name of Object.keys(model.params).sort()) model.params[name]!.assign(rng.normalTensor(model.params[name]!.shape, 0, 0.2));
}

/** max |U·diag(s)·Vᵀ − A|, max |UᵀU − I|, max |VᵀV − I|. */
function svdErrors(a: ArrayLike<number>, rows: number, cols: number, svd: ReturnType<typeof thinSvd>) {
  const { u, s, v, k } = svd;
  let recon = 0, orthU = 0, orthV = 0;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      let acc = 0;
      for (let l = 0; l < k; l++) acc += u[i * k + l]! * s[l]! * v[j * k + l]!;
      recon = Math.max(recon, Math.abs(acc - a[i * cols + j]!));
    }
  }
  const gram = (x: Float64Array, len: number) => {
    let worst = 0;
    for (let p = 0; p < k; p++) {
      for (let q = 0; q < k; q++) {
        let acc = 0;
        for (let r = 0; r < len; r++) acc += x[r * k + p]! * x[r * k + q]!;
        worst = Math.max(worst, Math.abs(acc - (p === q ? 1 : 0)));
      }
    }
    return worst;
  };
  orthU = gram(u, rows);
  orthV = gram(v, cols);
  return { recon, orthU, orthV };
}

function randomMatrix(rows: number, cols: number, seed: number): Float64Array {
  return Float64Array.from(new Rng(seed).normalArray(rows * cols));
}

/** rows × cols of rank r: (rows × r)·(r × cols). */
function lowRank(rows: number, cols: number, r: number, seed: number): Float64Array {
  const a = randomMatrix(rows, r, seed), b = randomMatrix(r, cols, seed + 1);
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) for (let l = 0; l < r; l++) out[i * cols + j]! += a[i * r + l]! * b[l * cols + j]!;
  return out;
}

describe('thinSvd (float64)', () => {
  for (const engine of ['js', 'native'] as const) {
    const cases: [string, Float64Array, number, number][] = [
      ['tall 40×12', randomMatrix(40, 12, 1), 40, 12],
      ['wide 16×48 (a qkv weight)', randomMatrix(16, 48, 2), 16, 48],
      ['square 33×33', randomMatrix(33, 33, 3), 33, 33],
      ['rank 3 of 20×30', lowRank(20, 30, 3, 4), 20, 30],
      ['graded σ from 1 to 1e-12', (() => {
        // Q1·diag(10^(−12 i/(n−1)))·Q2ᵀ from a rank-1 product's orthogonal factors is enough: use Householder reflections.
        const n = 12, m = 18;
        const h = (len: number, seed: number) => {
          const w = randomMatrix(len, 1, seed);
          const nn = w.reduce((s, x) => s + x * x, 0);
          return Array.from({ length: len * len }, (_, idx) => (Math.floor(idx / len) === idx % len ? 1 : 0) - (2 * w[Math.floor(idx / len)]! * w[idx % len]!) / nn);
        };
        const q1 = h(m, 5), q2 = h(n, 6), out = new Float64Array(m * n);
        for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let l = 0; l < n; l++) out[i * n + j]! += q1[i * m + l]! * 10 ** ((-12 * l) / (n - 1)) * q2[j * n + l]!;
        return out;
      })(), 18, 12],
      ['zero 16×96 (a zero-initialised adaLN modulation)', new Float64Array(16 * 96), 16, 96],
      ['1×5', randomMatrix(1, 5, 7), 1, 5],
    ];
    for (const [name, a, rows, cols] of cases) {
      it(`${engine} eigh: ${name}: reconstruction and orthogonality to ~1e-13, σ descending`, () => {
        setLinalgEngine(engine);
        expect(linalgEngine().engine).toBe(engine);
        const svd = thinSvd(a, rows, cols);
        expect(svd.k).toBe(Math.min(rows, cols));
        const scale = Math.max(1, svd.s[0]!);
        const { recon, orthU, orthV } = svdErrors(a, rows, cols, svd);
        expect(recon).toBeLessThan(1e-13 * scale);
        expect(orthU).toBeLessThan(1e-13);
        expect(orthV).toBeLessThan(1e-13);
        for (let i = 1; i < svd.k; i++) expect(svd.s[i]!).toBeLessThanOrEqual(svd.s[i - 1]!);
        expect(svd.s[svd.k - 1]!).toBeGreaterThanOrEqual(0);
      });
    }

    it(`${engine} eigh: singular values equal √eig(AᵀA) of an independent eigendecomposition, and the known ones of a signed scaled permutation`, () => {
      setLinalgEngine(engine);
      const [rows, cols] = [30, 10];
      const a = randomMatrix(rows, cols, 8);
      const g = new Float64Array(cols * cols);
      for (let p = 0; p < cols; p++) for (let q = 0; q < cols; q++) for (let r = 0; r < rows; r++) g[p * cols + q]! += a[r * cols + p]! * a[r * cols + q]!;
      const want = Array.from(eigh(g, cols).values, Math.sqrt).reverse();
      const got = thinSvd(a, rows, cols).s;
      want.forEach((w, i) => expect(Math.abs(got[i]! - w)).toBeLessThan(1e-13 * want[0]!));
      // Known singular values: a scaled permutation-with-signs matrix has σ = the scales, exactly.
      const scales = [3, 1e-9, 0.5, 2, 1e-15];
      const p = [2, 0, 4, 1, 3];
      const m = new Float64Array(25);
      scales.forEach((sv, i) => (m[i * 5 + p[i]!] = i % 2 ? -sv : sv));
      const s = thinSvd(m, 5, 5).s;
      [...scales].sort((x, y) => y - x).forEach((w, i) => expect(Math.abs(s[i]! - w) / w).toBeLessThan(1e-14));
    });
  }

  it('rejects NaN and mismatched sizes', () => {
    expect(() => thinSvd([1, NaN, 0, 1], 2, 2)).toThrow(/entry 0,1 is NaN/);
    expect(() => thinSvd([1, 2, 3], 2, 2)).toThrow(/expected a 2×2 matrix/);
  });
});

describe('SVDiff', () => {
  it('default targets every linear layer in the blocks: names, shapes [min(in, out)], count Σ min(in, out), zero δ', async () => {
    const model = createDiT(tiny, new Rng(1)); // adaLN-Zero: the modulations are zero at init (σ = 0, U completed)
    const svdiff = createSvdiff(model);
    expect(SVDIFF_DEFAULT_TARGETS).toEqual([/^blocks\.\d+\./]);
    const inBlocks = linearLayers(model).filter((l) => l.startsWith('blocks.'));
    expect(svdiff.layers).toEqual(inBlocks);
    expect(inBlocks).toEqual(['qkv', 'proj'].map((l) => `blocks.0.attn.${l}`).concat(['blocks.0.mlp.fc1', 'blocks.0.mlp.fc2', 'blocks.0.adaLN_modulation.1'],
      ['qkv', 'proj'].map((l) => `blocks.1.attn.${l}`), ['blocks.1.mlp.fc1', 'blocks.1.mlp.fc2', 'blocks.1.adaLN_modulation.1']));
    expect(Object.keys(svdiff.params)).toEqual(inBlocks.map((l) => `${l}.svdiff_delta`));
    const d = 16;
    for (const l of inBlocks) expect(svdiff.params[`${l}.svdiff_delta`]!.shape).toEqual([d]); // min(in, out) = d for every block linear
    expect(svdiff.trainableCount).toBe(tiny.depth * 5 * d);
    for (const v of Object.values(svdiff.params)) expect(Array.from(await v.data()).every((x) => x === 0)).toBe(true);
    const sp = svdiff.spectra['blocks.0.mlp.fc2']!;
    expect([sp.u.shape, sp.s.shape, sp.v.shape]).toEqual([[64, 16], [16], [16, 16]]);
    svdiff.dispose();
    model.dispose();
  });

  it('at δ = 0 the effective weight is W bit for bit; the float32 U·diag(σ)·Vᵀ is W to (k + 3)·2⁻²⁴·σ_max', async () => {
    const model = createDiT(tiny, new Rng(1));
    randomize(model, 2);
    const svdiff = createSvdiff(model, { targets: ['attn.qkv', 'mlp.fc1', 'mlp.fc2'] });
    for (const layer of svdiff.layers) {
      const w = model.params[`${layer}.weight`] as tf.Tensor2D;
      const eff = tf.tidy(() => svdiff.adaptation.weight!(layer, w));
      expect(await eff.data(), layer).toEqual(await w.data());
      eff.dispose();
      // The paper's form U·diag(ReLU(σ + 0))·Vᵀ in float32: each of U, σ, V rounded to float32 (relative 2⁻²⁴)
      // and a k-term float32 dot product bound the error by about (k + 3)·2⁻²⁴·Σ_l |u_il|σ_l|v_jl| ≤ (k + 3)·2⁻²⁴·σ_max.
      const { u, s, v } = svdiff.spectra[layer]!;
      const paper = tf.tidy(() => tf.matMul(tf.mul(u, tf.relu(s)), v, false, true));
      const k = s.shape[0];
      const sMax = (await s.data())[0]!;
      const [pw, ww] = [(await paper.data()) as Float32Array, (await w.data()) as Float32Array];
      const worst = pw.reduce((m, x, i) => Math.max(m, Math.abs(x - ww[i]!)), 0);
      expect(worst, layer).toBeLessThan((k + 3) * 2 ** -24 * sMax);
      paper.dispose();
    }
    svdiff.dispose();
    model.dispose();
  });

  it('known answer: δ_i = −σ_i removes exactly σ_i·u_i·v_iᵀ = W·v_i·v_iᵀ (independent float64 eigh of WᵀW)', async () => {
    const model = createDiT(tiny, new Rng(1));
    randomize(model, 2);
    const svdiff = createSvdiff(model, { targets: ['blocks.1.attn.qkv', 'blocks.0.mlp.fc2'] });
    for (const layer of svdiff.layers) {
      const w = model.params[`${layer}.weight`] as tf.Tensor2D;
      const [rows, cols] = w.shape;
      const W = Float64Array.from(await w.data());
      // Right singular vectors of W [in, out] are the eigenvectors of WᵀW (out × out); its k = min(in, out) largest.
      const g = new Float64Array(cols * cols);
      for (let p = 0; p < cols; p++) for (let q = 0; q < cols; q++) for (let r = 0; r < rows; r++) g[p * cols + q]! += W[r * cols + p]! * W[r * cols + q]!;
      const { vectors } = eigh(g, cols);
      const sigma = (await svdiff.spectra[layer]!.s.data()) as Float32Array;
      const k = sigma.length;
      const delta = svdiff.params[`${layer}.svdiff_delta`]!;
      for (const i of [0, Math.floor(k / 2), k - 1]) {
        const shift = new Float32Array(k);
        shift[i] = -sigma[i]!;
        delta.assign(tf.tensor1d(shift));
        const eff = tf.tidy(() => svdiff.adaptation.weight!(layer, w)).dataSync();
        const col = cols - 1 - i; // eigenvalues ascend
        const vi = Array.from({ length: cols }, (_, r) => vectors[r * cols + col]!);
        let worst = 0;
        for (let r = 0; r < rows; r++) {
          let wv = 0;
          for (let c = 0; c < cols; c++) wv += W[r * cols + c]! * vi[c]!;
          for (let c = 0; c < cols; c++) {
            const want = W[r * cols + c]! - wv * vi[c]!; // W − (W·v_i)·v_iᵀ, sign-free
            worst = Math.max(worst, Math.abs(eff[r * cols + c]! - want));
          }
        }
        expect(worst, `${layer} σ_${i}`).toBeLessThan(4 * k * 2 ** -24 * sigma[0]!);
        // And the rank dropped: that direction's singular value is now (numerically) zero.
        const s = thinSvd(Float64Array.from(eff), rows, cols).s;
        expect(s[k - 1]!).toBeLessThan(4 * k * 2 ** -24 * sigma[0]!);
      }
      delta.assign(tf.zeros([k]));
    }
    svdiff.dispose();
    model.dispose();
  });

  it('ReLU clamps a singular value at zero: δ_i < −σ_i acts as δ_i = −σ_i; positive δ scales that direction up', async () => {
    const model = createDiT(tiny, new Rng(1));
    randomize(model, 2);
    const svdiff = createSvdiff(model, { targets: ['blocks.0.attn.proj'] });
    const layer = 'blocks.0.attn.proj';
    const w = model.params[`${layer}.weight`] as tf.Tensor2D;
    const sigma = svdiff.spectra[layer]!.s.dataSync();
    const effWith = (i: number, value: number) => {
      const shift = new Float32Array(16);
      shift[i] = value;
      svdiff.params[`${layer}.svdiff_delta`]!.assign(tf.tensor1d(shift));
      return tf.tidy(() => svdiff.adaptation.weight!(layer, w)).dataSync();
    };
    expect(effWith(3, -sigma[3]! - 5)).toEqual(effWith(3, -sigma[3]!));
    const up = thinSvd(Float64Array.from(effWith(0, 1)), 16, 16).s;
    expect(Math.abs(up[0]! - (sigma[0]! + 1))).toBeLessThan(1e-5 * up[0]!);
    svdiff.dispose();
    model.dispose();
  });

  it('a non-finite base weight is a LinalgError naming the layer and the entry; nothing is left behind', () => {
    const model = createDiT(tiny, new Rng(1));
    randomize(model, 2);
    const w = model.params['blocks.1.mlp.fc1.weight']!;
    const values = w.dataSync().slice();
    values[5] = NaN;
    w.assign(tf.tensor(values, w.shape));
    const before = tf.memory().numTensors;
    expect(() => createSvdiff(model)).toThrow(/SVDiff, blocks\.1\.mlp\.fc1\.weight: thinSvd: entry 0,5 is NaN; remove NaN\/Inf first/);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('merge writes W_eff and unmerge restores the original bits', async () => {
    const model = createDiT(tiny, new Rng(1));
    randomize(model, 2);
    const svdiff = createSvdiff(model);
    const rng = new Rng(3);
    for (const v of Object.values(svdiff.params)) v.assign(rng.normalTensor(v.shape, 0, 0.2));
    const originals = Object.fromEntries(svdiff.layers.map((l) => [l, model.params[`${l}.weight`]!.dataSync().slice()]));
    const x = new Rng(7).normalTensor([2, 8, 8, 3]) as tf.Tensor4D;
    const t = tf.tensor1d([3, 700]);
    const y = tf.tensor1d([1, 4], 'int32');
    const adapted = await model.forward(x, t, y, { adaptation: svdiff.adaptation }).data();
    svdiff.merge();
    expect(await model.forward(x, t, y).data()).toEqual(adapted);
    svdiff.unmerge();
    for (const l of svdiff.layers) expect(model.params[`${l}.weight`]!.dataSync(), l).toEqual(originals[l]);
    tf.dispose([x, t, y]);
    svdiff.dispose();
    model.dispose();
  });
});
