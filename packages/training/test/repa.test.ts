// REPA around a base objective: its value and gradients against a float64 recomputation from the block's
// tokens (MLP projector, grid pooling, iREPA's normalised teacher), the conv projector's 3×3 reach, HASTE's
// stop step, the config's checks, and a bit-exact resume with the projector in the checkpoint.
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, float16BitsToFloat32, initBackend, readSafetensors, tf } from '@difflab/core-tensor';
import { linearSchedule } from '@difflab/models';
import { TOKEN_COSINE_EPS } from '@difflab/losses';
import { ConfigError, createDenoiser, parseTrainConfig, type FloatBatch, type TrainConfigInput } from '@difflab/runs';
import { readParquet, tableToRows } from '@difflab/data';
import {
  createRepaProjector,
  createTrainer,
  epsilonObjective,
  objectiveFor,
  readEncoderTokens,
  repaObjective,
  toHalfBits,
  trainStep,
  writeEncoderTokens,
  type EncoderTokens,
  type RepaSettings,
} from '../src/index.js';
import { train } from '../src/train.js';

await initBackend({ log: () => {} });
const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
const tmp = () => mkdtempSync(join(tmpdir(), 'difflab-repa-'));
// patch 8 on 32×32: a 4×4 token grid of width 32.
const tinyModel = { preset: 'DiT-FMNIST-S/4', patchSize: 8, hiddenSize: 32, depth: 2, numHeads: 2 } as const;
const schedule = linearSchedule(100);
const GRID = 4, D = 32, B = 3;

function batch(seed: number): FloatBatch {
  const r = new Rng(seed);
  return { x: r.normalArray(B * 32 * 32, 0, 0.5), y: Int32Array.from({ length: B }, () => r.int(10)), shape: [B, 32, 32, 1], indices: Int32Array.of(5, 0, 11) };
}

async function tokenCache(count: number, grid: number, dim: number, seed = 1): Promise<EncoderTokens> {
  const dir = tmp();
  await writeEncoderTokens(dir, { encoder: 'test', dataset: 'fashion-mnist', pad32: true, split: 'train', count, grid, dim }, toHalfBits(new Rng(seed).normalArray(count * grid * grid * dim)));
  return readEncoderTokens(dir);
}

const settings = (s: Partial<RepaSettings> = {}): RepaSettings => ({ lambda: 0.5, block: 1, projector: 'mlp', hidden: 16, spatialNorm: false, ...s });

/** Block `block`'s tokens [B, N·D] of the forward the base objective makes with Rng(seed), read through onBlock. */
function blockTokens(model: ReturnType<typeof createDenoiser>, b: FloatBatch, seed: number, block: number): { tokens: Float64Array; base: number } {
  let tokens = new Float64Array(0);
  const tapped = { ...model, forward: ((x, t, y, opts) => model.forward(x, t, y, { ...opts, onBlock: (i, h) => { if (i === block - 1) tokens = Float64Array.from(h.dataSync()); } })) as typeof model.forward };
  const base = tf.tidy(() => epsilonObjective().loss({ model: tapped, x: tf.tensor4d(b.x, b.shape as [number, number, number, number]), y: tf.tensor1d(b.y, 'int32'), rng: new Rng(seed), schedule, step: 1 }).loss.dataSync()[0]!);
  return { tokens, base };
}

/** The REPA term in float64: MLP projector on every token, average-pooled to the teacher grid, −mean cos with the (optionally normalised) teacher. */
function referenceAlignment(tokens: Float64Array, w: Float64Array[], teacher: EncoderTokens, indices: Int32Array, spatialNorm: boolean): number {
  const { grid: tg, dim: c } = teacher.meta;
  const n = GRID * GRID, h = w[1]!.length;
  const silu = (v: number) => v / (1 + Math.exp(-v));
  const dense = (x: number[], wt: Float64Array, bias: Float64Array, out: number) =>
    Array.from({ length: out }, (_, o) => x.reduce((s, xi, i) => s + xi * wt[i * out + o]!, bias[o]!));
  let sum = 0;
  for (let b = 0; b < indices.length; b++) {
    const proj = Array.from({ length: n }, (_, t) => {
      const x = Array.from(tokens.subarray((b * n + t) * D, (b * n + t + 1) * D));
      return dense(dense(dense(x, w[0]!, w[1]!, h).map(silu), w[2]!, w[3]!, h).map(silu), w[4]!, w[5]!, c);
    });
    const k = GRID / tg;
    const teach = Array.from({ length: tg * tg }, (_, t) => Array.from({ length: c }, (_, j) => float16BitsToFloat32(teacher.bits[((indices[b]! * tg * tg + t) * c + j)]!)));
    if (spatialNorm) {
      for (let j = 0; j < c; j++) {
        const col = teach.map((v) => v[j]!);
        const mean = col.reduce((s, v) => s + v, 0) / col.length;
        const std = Math.sqrt(col.reduce((s, v) => s + (v - mean) ** 2, 0) / (col.length - 1));
        teach.forEach((v) => (v[j] = (v[j]! - mean) / (std + 1e-6)));
      }
    }
    for (let r = 0; r < tg; r++)
      for (let q = 0; q < tg; q++) {
        const p = new Array<number>(c).fill(0);
        for (let dr = 0; dr < k; dr++) for (let dq = 0; dq < k; dq++) proj[(r * k + dr) * GRID + q * k + dq]!.forEach((v, j) => (p[j]! += v / (k * k)));
        const t = teach[r * tg + q]!;
        const dot = p.reduce((s, v, j) => s + v * t[j]!, 0);
        const np = Math.sqrt(p.reduce((s, v) => s + v * v, 0) + TOKEN_COSINE_EPS), nt = Math.sqrt(t.reduce((s, v) => s + v * v, 0) + TOKEN_COSINE_EPS);
        sum += dot / (np * nt);
      }
  }
  return -sum / (indices.length * tg * tg);
}

describe('REPA objective', () => {
  for (const variant of [{ grid: 4, spatialNorm: false }, { grid: 2, spatialNorm: true }]) {
    it(`equals L_base + λ·L_REPA recomputed in float64, gradient included (teacher grid ${variant.grid}, spatialNorm ${variant.spatialNorm})`, async () => {
      const model = createDenoiser(tinyModel, new Rng(0));
      const teacher = await tokenCache(12, variant.grid, 5);
      const objective = repaObjective(epsilonObjective(), model, teacher, settings({ spatialNorm: variant.spatialNorm }), new Rng(4));
      const b = batch(2);
      const names = ['0.weight', '0.bias', '2.weight', '2.bias', '4.weight', '4.bias'].map((k) => `repa.projector.${k}`);
      const weights = names.map((k) => Float64Array.from(objective.trainable![k]!.dataSync()));
      const { tokens, base } = blockTokens(model, b, 8, 1);
      const f = (w: Float64Array[]) => referenceAlignment(tokens, w, teacher, b.indices!, variant.spatialNorm);

      const run = () => {
        const x = tf.tensor4d(b.x, b.shape as [number, number, number, number]);
        const y = tf.tensor1d(b.y, 'int32');
        const vars = Object.values(objective.trainable!);
        const terms: Record<string, number> = {};
        const { value, grads } = tf.variableGrads(() => {
          const v = objective.loss({ model, x, y, rng: new Rng(8), schedule, step: 1, indices: b.indices! });
          for (const [k, t] of Object.entries(v.terms)) terms[k] = typeof t === 'number' ? t : t.dataSync()[0]!;
          return v.loss;
        }, vars);
        const byName = Object.fromEntries(Object.entries(objective.trainable!).map(([k, v]) => [k, Float64Array.from(grads[v.name]!.dataSync())]));
        const loss = value.dataSync()[0]!;
        tf.dispose([x, y, value, ...Object.values(grads)]);
        return { loss, terms, grads: byName };
      };
      const r = run();
      const align = f(weights);
      expect(r.terms.base_loss).toBe(base); // the base objective's draws are untouched
      expect(r.terms.repa_align).toBeCloseTo(align, 5);
      expect(r.loss).toBeCloseTo(base + 0.5 * align, 5);
      // Central differences of the float64 function, for entries of the first and last layers (through both SiLUs).
      for (const [layer, entries] of [[0, [0, 7, 100]], [4, [0, 3, 41]], [5, [2]]] as const) {
        for (const e of entries) {
          const eps = 1e-6;
          const plus = weights.map((w) => w.slice()), minus = weights.map((w) => w.slice());
          plus[layer]![e]! += eps;
          minus[layer]![e]! -= eps;
          const numeric = (0.5 * (f(plus) - f(minus))) / (2 * eps);
          expect(r.grads[names[layer]!]![e]!, `${names[layer]}[${e}]`).toBeCloseTo(numeric, 4);
        }
      }
      objective.dispose();
      model.dispose();
    });
  }

  it('trains the model up to the aligned block only: later blocks get the base objective\'s gradients', async () => {
    const model = createDenoiser(tinyModel, new Rng(0));
    const teacher = await tokenCache(12, 4, 5);
    const b = batch(3);
    const gradsOf = (objective: ReturnType<typeof epsilonObjective>) => {
      const x = tf.tensor4d(b.x, b.shape as [number, number, number, number]);
      const y = tf.tensor1d(b.y, 'int32');
      const { value, grads } = tf.variableGrads(() => objective.loss({ model, x, y, rng: new Rng(9), schedule, step: 1, indices: b.indices! }).loss, Object.values(model.params));
      const byName = Object.fromEntries(Object.entries(model.params).map(([k, v]) => [k, grads[v.name]!.dataSync().slice()]));
      tf.dispose([x, y, value, ...Object.values(grads)]);
      return byName;
    };
    const repa = repaObjective(epsilonObjective(), model, teacher, settings({ block: 1 }), new Rng(4));
    const [withRepa, without] = [gradsOf(repa), gradsOf(epsilonObjective())];
    const same = (k: string) => Buffer.from(withRepa[k]!.buffer).equals(Buffer.from(without[k]!.buffer));
    expect(Object.keys(withRepa).filter((k) => k.startsWith('blocks.1.') || k.startsWith('final_layer.')).every(same)).toBe(true);
    // A fresh DiT's zero-initialised final layer passes the base loss no gradient to the embedding; REPA's term does.
    expect(same('x_embedder.proj.weight')).toBe(false);
    expect(same('blocks.0.adaLN_modulation.1.weight')).toBe(false);
    repa.dispose();
    model.dispose();
  });

  it('conv projector (iREPA): [B, N, D] → [B, N, C], each output token sees only its 3×3 neighbourhood', () => {
    const p = createRepaProjector('conv', { model: 6, hidden: 0, encoder: 4 }, new Rng(1));
    expect(Object.fromEntries(Object.entries(p.params).map(([k, v]) => [k, v.shape]))).toEqual({ 'repa.projector.conv.weight': [3, 3, 6, 4], 'repa.projector.conv.bias': [4] });
    const base = new Rng(2).normalArray(2 * 16 * 6);
    const moved = base.slice();
    moved[(1 * 16 + 5) * 6 + 2] += 1; // image 1, token (1, 1)
    const out = (v: Float32Array) => tf.tidy(() => p.apply(tf.tensor3d(v, [2, 16, 6]), 4).dataSync());
    const [a, c] = [out(base), out(moved)];
    expect(a.length).toBe(2 * 16 * 4);
    for (let img = 0; img < 2; img++)
      for (let t = 0; t < 16; t++) {
        const changed = [0, 1, 2, 3].some((j) => a[(img * 16 + t) * 4 + j] !== c[(img * 16 + t) * 4 + j]);
        const near = img === 1 && Math.abs(Math.floor(t / 4) - 1) <= 1 && Math.abs((t % 4) - 1) <= 1;
        expect(changed, `image ${img} token ${t}`).toBe(near);
      }
    const mlp = createRepaProjector('mlp', { model: 6, hidden: 10, encoder: 4 }, new Rng(1));
    expect(tf.tidy(() => mlp.apply(tf.tensor3d(base, [2, 16, 6]), 4).shape)).toEqual([2, 16, 4]);
    tf.dispose([...Object.values(p.params), ...Object.values(mlp.params)]);
  });

  it('stopStep (HASTE): the term is off from that step on and the projector stops moving while the model trains', async () => {
    const model = createDenoiser(tinyModel, new Rng(0));
    const teacher = await tokenCache(12, 4, 5);
    const objective = repaObjective(epsilonObjective(), model, teacher, settings({ stopStep: 2 }), new Rng(4));
    const b = batch(4);
    const at = (step: number) =>
      tf.tidy(() => {
        const v = objective.loss({ model, x: tf.tensor4d(b.x, b.shape as [number, number, number, number]), y: tf.tensor1d(b.y, 'int32'), rng: new Rng(5), schedule, step, indices: b.indices! });
        return { loss: v.loss.dataSync()[0]!, terms: Object.keys(v.terms) };
      });
    const baseLoss = tf.tidy(() => epsilonObjective().loss({ model, x: tf.tensor4d(b.x, b.shape as [number, number, number, number]), y: tf.tensor1d(b.y, 'int32'), rng: new Rng(5), schedule }).loss.dataSync()[0]!);
    expect(at(1).loss).not.toBe(baseLoss);
    expect(at(1).terms).toContain('repa_align');
    expect(at(2)).toEqual({ loss: baseLoss, terms: [] });
    expect(at(7).loss).toBe(baseLoss);

    const trainer = createTrainer(model, objective, schedule, { lr: 1e-2, beta1: 0.9, beta2: 0.999, weightDecay: 0, gradClip: 1, emaDecay: 0.9 });
    const snap = () => Object.values(objective.trainable!).map((v) => v.dataSync().slice());
    const modelSnap = () => model.params['x_embedder.proj.weight']!.dataSync().slice();
    const p0 = snap();
    const r1 = trainStep(trainer, b, { lr: 1e-2, emaDecay: 0.9, rng: new Rng(6) });
    expect(r1.terms).toHaveProperty('repa_align');
    const p1 = snap();
    expect(p1.some((v, i) => !Buffer.from(v.buffer).equals(Buffer.from(p0[i]!.buffer)))).toBe(true);
    const m1 = modelSnap();
    const r2 = trainStep(trainer, b, { lr: 1e-2, emaDecay: 0.9, rng: new Rng(7) });
    expect(r2.terms).not.toHaveProperty('repa_align');
    expect(snap().every((v, i) => Buffer.from(v.buffer).equals(Buffer.from(p1[i]!.buffer)))).toBe(true);
    expect(Buffer.from(modelSnap().buffer).equals(Buffer.from(m1.buffer))).toBe(false);
    // The EMA follows the model only: the projector is never averaged (sampling never uses it).
    expect(Object.keys(trainer.ema.weights).some((k) => k.startsWith('repa.'))).toBe(false);
    trainer.dispose();
    objective.dispose();
    model.dispose();
  });
});

describe('repa config', () => {
  const cfg = (repa: Record<string, unknown>, extra: Partial<TrainConfigInput> = {}) =>
    parseTrainConfig({ model: tinyModel, diffusion: { timesteps: 100 }, train: { steps: 2, batchSize: 4, lr: 1e-3 }, repa, ...extra });

  it('defaults as REPA (λ 0.5, MLP, no spatial norm) and refuses bad fields by name', () => {
    expect(cfg({ encoder: 'x', block: 1 }).repa).toEqual({ encoder: 'x', block: 1, lambda: 0.5, projector: 'mlp', spatialNorm: false });
    expect(() => cfg({ encoder: 'x', block: 3 })).toThrow(/repa\.block: 3 is past the model's last block \(model\.depth 2\)/);
    expect(() => cfg({ encoder: 'x', block: 1, projector: 'conv', hidden: 8 })).toThrow(/repa\.hidden/);
    expect(() => cfg({ encoder: 'x', block: 0 })).toThrow(/repa\.block/);
    expect(() => cfg({ encoder: 'x', block: 1, lamda: 1 })).toThrow(/lamda/);
  });

  it('wraps the configured base objective, names it, and says what is wrong with the cache', async () => {
    const model = createDenoiser(tinyModel, new Rng(0));
    const teacher = await tokenCache(12, 4, 5);
    // The cache holds the first 12 training images: the run must train on those only.
    const first12 = { data: { dataset: 'fashion-mnist', pad32: true, trainExamples: 12 } } as const;
    const flow = await objectiveFor(cfg({ encoder: teacher.dir, block: 2, projector: 'conv' }, { ...first12, diffusion: { process: 'flow' } }), model);
    expect(flow.name).toBe('flow+repa');
    expect(flow.params).toMatchObject({ 'objective.repa.block': 2, 'objective.repa.projector': 'conv', 'objective.repa.lambda': 0.5, 'objective.timeSampling': 'uniform' });
    expect(Object.keys(flow.trainable!)).toEqual(['repa.projector.conv.weight', 'repa.projector.conv.bias']);
    flow.dispose();
    const mlp = await objectiveFor(cfg({ encoder: teacher.dir, block: 1 }, first12), model);
    expect(mlp.params['objective.repa.hidden']).toBe(4 * 32);
    mlp.dispose();
    // A run that can draw an image the cache does not hold is refused before training, naming both fields.
    await expect(objectiveFor(cfg({ encoder: teacher.dir, block: 1 }, { data: { dataset: 'fashion-mnist', pad32: true, trainExamples: 13 } }), model)).rejects.toThrow(
      /repa\.encoder: .* first 12 training images, but this run trains on 13 \(data\.trainExamples 13\)/,
    );
    await expect(objectiveFor(cfg({ encoder: teacher.dir, block: 1 }), model)).rejects.toThrow(/trains on 60000 \(data\.trainExamples unset: the whole split\)/);
    await expect(objectiveFor(cfg({ encoder: tmp(), block: 1 }), model)).rejects.toThrow(/repa\.encoder: .* has no tokens\.json/);
    const coarse = await tokenCache(12, 3, 2);
    await expect(objectiveFor(cfg({ encoder: coarse.dir, block: 1 }, first12), model)).rejects.toThrow(/3×3 token grid does not divide the DiT's 4×4/);
    model.dispose();
  });
});

describe('REPA in a run', () => {
  it('resumes bit-exactly with the projector in objective.safetensors, covered by the checkpoint digests', async () => {
    const cache = tmp();
    // Every training image (60,000) needs a row; a 2×2 grid of 3 values keeps the file small (1.4 MB).
    await writeEncoderTokens(cache, { encoder: 'test', dataset: 'fashion-mnist', pad32: true, split: 'train', count: 60000, grid: 2, dim: 3 }, toHalfBits(new Rng(3).normalArray(60000 * 4 * 3)));
    const cfg = parseTrainConfig({
      name: 'tiny-repa',
      seed: 3,
      model: tinyModel,
      diffusion: { timesteps: 100 },
      train: { steps: 6, batchSize: 8, lr: 2e-3, warmupSteps: 2, emaDecay: 0.9 },
      repa: { encoder: cache, block: 1, hidden: 8, stopStep: 5 },
      checkpoint: { every: 3 },
      eval: { heldoutExamples: 20 },
      sample: { steps: 4, perClass: 1 },
    });
    const straight = tmp();
    await train(cfg, { runDir: straight, progressStream: quiet });
    const split = tmp();
    await train(cfg, { runDir: split, progressStream: quiet, stopAtStep: 3 });
    await train(cfg, { runDir: split, resume: true, progressStream: quiet });
    const losses = (dir: string) => tableToRows(readParquet(join(dir, 'metrics.parquet'))).map((r) => Number(r.loss));
    expect(losses(split)).toEqual(losses(straight));
    for (const file of ['model.safetensors', 'objective.safetensors', 'optimizer.safetensors']) {
      const a = await readSafetensors(join(straight, 'checkpoints', 'step-0000006', file));
      const b = await readSafetensors(join(split, 'checkpoints', 'step-0000006', file));
      expect(Object.keys(a.tensors).length).toBeGreaterThan(0);
      for (const [name, entry] of Object.entries(a.tensors)) expect(Buffer.from(b.tensors[name]!.data).equals(Buffer.from(entry.data)), `${file} ${name}`).toBe(true);
    }
    const objectiveFile = await readSafetensors(join(straight, 'checkpoints', 'step-0000006', 'objective.safetensors'));
    expect(Object.keys(objectiveFile.tensors).every((k) => k.startsWith('repa.projector.'))).toBe(true);
    const ema = await readSafetensors(join(straight, 'checkpoints', 'step-0000006', 'ema.safetensors'));
    expect(Object.keys(ema.tensors).some((k) => k.startsWith('repa.'))).toBe(false);
    const sums = join(straight, 'checkpoints', 'step-0000006', 'SHA256SUMS');
    if (existsSync(sums)) expect(readFileSync(sums, 'utf8')).toMatch(/objective\.safetensors/);
    const params = JSON.parse(readFileSync(join(straight, 'params.json'), 'utf8')) as Record<string, unknown>;
    expect(params).toMatchObject({ objective: 'epsilon+repa', 'objective.repa.stopStep': 5 });
  });
});
