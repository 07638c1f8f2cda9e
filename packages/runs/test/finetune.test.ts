// The denoiser of a fine-tune config, built over a base run written here by hand (no training): its params
// are exactly the method's tensors (+ the new class's row) with the closed-form count, the base weights are
// the base run's, the identity-at-init methods reproduce the base bit for bit, and the refusals name the field.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, initBackend, tf } from '@difflab/core-tensor';
import { ShuffledOrder } from '@difflab/data';
import { countDiT } from '@difflab/models';
import { CheckpointError, saveCheckpoint } from '../src/checkpoint.js';
import { sha256Hex } from '../src/checkpoint-digest.js';
import { ConfigError, parseTrainConfig, type TrainConfig } from '../src/config.js';
import { fineTuneMetadata, newClassParamName, replaceRow } from '../src/finetune.js';
import { createDenoiser, type Denoiser } from '../src/model.js';
import { createRunDenoiser, runDenoiserWithWeights } from '../src/run-denoiser.js';
import { loadRun } from '../src/run-dir.js';

await initBackend();

const MODEL = { preset: 'DiT-FMNIST-S/4', patchSize: 8, hiddenSize: 32, depth: 2, numHeads: 2 } as const;
const d = MODEL.hiddenSize;
const depth = MODEL.depth;
const tmp = () => mkdtempSync(join(tmpdir(), 'difflab-finetune-'));

function config(extra: Record<string, unknown>): TrainConfig {
  return parseTrainConfig({ seed: 2, model: MODEL, diffusion: { timesteps: 100 }, train: { steps: 3, batchSize: 4, lr: 1e-3 }, ...extra });
}

/** A run directory as training leaves it: config.json and one checkpoint of `model`'s weights (as raw and EMA). */
async function writeRun(dir: string, cfg: TrainConfig, params: Record<string, tf.Tensor>, step: number, metadata?: Record<string, string>): Promise<void> {
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
  const state = { step, trainRng: new Rng(0).getState(), data: new ShuffledOrder(10, 2, { seed: 0 }).getState(), configHash: 'test' };
  await saveCheckpoint(dir, { state, params, ema: params, emaDecay: 0.9, optimizer: { step, tensors: {} }, ...(metadata ? { metadata } : {}) }, 2);
}

/** A "trained" base: every weight redrawn, so no zero gate hides a difference. */
async function baseRun(seed: number, model: Record<string, unknown> = MODEL): Promise<{ dir: string; model: Denoiser }> {
  const dir = tmp();
  const cfg = config({ model, data: { classes: [0, 1, 2, 3, 4, 5, 6, 7, 8] } });
  const m = createDenoiser(cfg.model, new Rng(seed));
  const rng = new Rng(seed + 100);
  for (const name of Object.keys(m.params).sort()) m.params[name]!.assign(rng.normalTensor(m.params[name]!.shape, 0, 0.1));
  await writeRun(dir, cfg, m.params, 7);
  return { dir, model: m };
}

function inputs() {
  const x = new Rng(5).normalTensor([4, 32, 32, 1]) as tf.Tensor4D;
  const t = tf.tensor1d([3, 30, 60, 90]);
  const y = tf.tensor1d([9, 0, 9, 4], 'int32');
  return { x, t, y };
}

function output(model: Denoiser): Float32Array {
  const { x, t, y } = inputs();
  const out = model.forward(x, t, y);
  const v = out.dataSync().slice() as Float32Array;
  tf.dispose([out, x, t, y]);
  return v;
}

const same = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer).equals(Buffer.from(b.buffer));

/** Trained tensor names and closed-form counts per method, for MODEL (adaLN-Zero, GELU MLP of 4d). */
const METHODS = [
  { ft: { method: 'lora', rank: 2 }, names: /^blocks\.\d\.attn\.(qkv|proj)\.lora_[AB]$/, tensors: depth * 4, count: depth * 2 * ((d + 3 * d) + (d + d)) },
  { ft: { method: 'lora', rank: 3, targets: ['mlp.fc1'] }, names: /^blocks\.\d\.mlp\.fc1\.lora_[AB]$/, tensors: depth * 2, count: depth * 3 * (d + 4 * d) },
  { ft: { method: 'houlsby', bottleneck: 4 }, names: /^blocks\.\d\.adapter_(attn|mlp)\.(down|up)\.(weight|bias)$/, tensors: depth * 8, count: depth * 2 * (d * 4 + 4 + 4 * d + d) },
  { ft: { method: 'prefix', length: 3 }, names: /^blocks\.\d\.attn\.prefix_[kv]$/, tensors: depth * 2, count: depth * 2 * 3 * d },
  // Every linear layer in a block: qkv, proj, fc1, fc2, adaLN_modulation.1, each min(in, out) = d.
  { ft: { method: 'svdiff' }, names: /^blocks\.\d\.(attn\.(qkv|proj)|mlp\.fc[12]|adaLN_modulation\.1)\.svdiff_delta$/, tensors: depth * 5, count: depth * 5 * d },
] as const;

describe('fine-tune denoiser', () => {
  it('each method trains only its tensors plus the new class row, counted in closed form, over the base weights; identity methods equal the base at init', async () => {
    const base = await baseRun(1);
    const baseOut = output(base.model);
    const baseSha = sha256Hex(readFileSync(join(base.dir, 'checkpoints', 'step-0000007', 'ema.safetensors')));
    const before = tf.memory().numTensors;
    for (const { ft, names, tensors, count } of METHODS) {
      const cfg = config({ init: { from: base.dir }, finetune: { ...ft, newClass: 9 }, data: { classes: [9], perClass: 5 } });
      const model = createRunDenoiser(cfg, new Rng(3));
      const label = JSON.stringify(ft);
      const keys = Object.keys(model.params);
      expect(keys.filter((k) => !names.test(k)), label).toEqual([newClassParamName(9)]);
      expect(keys.length, label).toBe(tensors + 1);
      expect(model.paramCount, label).toBe(count + d);
      expect(model.fineTune!.trainableCount).toBe(count + d);
      expect(model.fineTune!.base).toEqual({ runDir: base.dir, step: 7, weights: 'ema', sha256: baseSha });
      for (const [k, v] of Object.entries(base.model.params)) expect(same(model.fineTune!.baseParams[k]!.dataSync() as Float32Array, v.dataSync() as Float32Array), k).toBe(true);
      // The new row starts as the base's row 9.
      const table = base.model.params['y_embedder.embedding_table.weight']!;
      expect(Array.from(model.params[newClassParamName(9)]!.dataSync())).toEqual(Array.from(table.dataSync().slice(9 * d, 10 * d)));
      if (ft.method !== 'prefix') expect(same(output(model), baseOut), `${label}: the adapted model at init is the base`).toBe(true);
      else expect(same(output(model), baseOut)).toBe(false);
      // A trained row moves the class-9 examples only (examples 0 and 2 of inputs()).
      tf.tidy(() => model.params[newClassParamName(9)]!.assign(tf.fill([d], 0.3)));
      const moved = output(model);
      const per = moved.length / 4;
      if (ft.method !== 'prefix') {
        for (const i of [1, 3]) expect(same(moved.slice(i * per, (i + 1) * per), baseOut.slice(i * per, (i + 1) * per)), `${label} example ${i}`).toBe(true);
        for (const i of [0, 2]) expect(same(moved.slice(i * per, (i + 1) * per), baseOut.slice(i * per, (i + 1) * per)), `${label} example ${i}`).toBe(false);
      }
      expect(model.fineTune!.method).toBe(ft.method);
      model.dispose();
    }
    expect(tf.memory().numTensors, 'no tensor left behind').toBe(before);

    // 'full': every base weight is trained, no extra row (the whole table trains), the count is countDiT's.
    const full = createRunDenoiser(config({ init: { from: base.dir }, finetune: { method: 'full', newClass: 9 } }), new Rng(3));
    expect(Object.keys(full.params).sort()).toEqual(Object.keys(base.model.params).sort());
    expect(full.paramCount).toBe(countDiT(full.config as Parameters<typeof countDiT>[0]).params);
    expect(full.params).toBe(full.fineTune!.baseParams);
    expect(same(output(full), baseOut)).toBe(true);
    full.dispose();
    base.model.dispose();
  });

  it('refuses a base of another architecture (naming both), an adapter run as base, a missing base and a target that matches nothing', async () => {
    const base = await baseRun(1);
    const ft = (extra: Record<string, unknown> = {}, finetune: Record<string, unknown> = { method: 'lora' }) =>
      () => createRunDenoiser(config({ init: { from: base.dir }, finetune, ...extra }), new Rng(0)).dispose();
    expect(ft({ model: { ...MODEL, depth: 3 } })).toThrow(ConfigError);
    expect(ft({ model: { ...MODEL, depth: 3 } })).toThrow(
      new RegExp(`init\\.from: ${base.dir} trained DiT 'DiT-FMNIST-S/4' with another architecture than this config's model 'DiT-FMNIST-S/4' \\(depth: base 2, model 3\\); a fine-tune keeps its base's architecture: set model to that run's model section`),
    );
    expect(ft({ model: { ...MODEL, hiddenSize: 64, numHeads: 4 } })).toThrow(/\(hiddenSize: base 32, model 64; numHeads: base 2, model 4\)/);
    expect(ft({}, { method: 'lora', targets: ['attn.qkvv'] })).toThrow(/finetune\.targets: pattern attn\.qkvv matches no linear layer of this DiT/);
    expect(() => createRunDenoiser(config({ init: { from: join(base.dir, 'nope') }, finetune: { method: 'lora' } }), new Rng(0))).toThrow(/init\.from: run directory .*nope does not exist/);

    const adapterRun = tmp();
    const lora = createRunDenoiser(config({ init: { from: base.dir }, finetune: { method: 'lora' } }), new Rng(0));
    await writeRun(adapterRun, config({ init: { from: base.dir }, finetune: { method: 'lora' } }), lora.params, 3);
    lora.dispose();
    expect(() => createRunDenoiser(config({ init: { from: adapterRun }, finetune: { method: 'houlsby' } }), new Rng(0))).toThrow(
      /init\.from: .* is itself a 'lora' fine-tune, whose checkpoints hold only its adapter/,
    );
    base.model.dispose();
  });

  it('loadRun of a fine-tune run refuses weights trained on another base than init.from holds now', async () => {
    const base = await baseRun(1);
    const cfg = config({ init: { from: base.dir }, finetune: { method: 'lora', newClass: 9 } });
    const model = createRunDenoiser(cfg, new Rng(0));
    const run = tmp();
    await writeRun(run, cfg, model.params, 3, fineTuneMetadata(model.fineTune!));
    const loaded = await loadRun(run, 'ema');
    expect(Object.keys(loaded.weights).sort()).toEqual(Object.keys(model.params).sort());
    expect(loaded.metadata['finetune.base_sha256']).toBe(model.fineTune!.base.sha256);
    expect(loaded.metadata['finetune.method']).toBe('lora');
    tf.dispose(Object.values(loaded.weights));
    // The base run trains on: its latest checkpoint is no longer the adapter's base.
    const moved = Object.fromEntries(Object.entries(base.model.params).map(([k, v]) => [k, tf.mul(v, 1.5)]));
    await writeRun(base.dir, config({ model: MODEL, data: { classes: [0, 1, 2, 3, 4, 5, 6, 7, 8] } }), moved, 8);
    tf.dispose(Object.values(moved));
    await expect(loadRun(run, 'ema')).rejects.toThrow(CheckpointError);
    await expect(loadRun(run, 'ema')).rejects.toThrow(/was fine-tuned on .* at step 7 .*but init\.from now holds step 8 .*the adapter fits only its own base/);
    model.dispose();
    base.model.dispose();
  });

  it('the labelEmbedding forward option replaces the label table as the forward uses it, after a fine-tune run\'s own new-class row', async () => {
    const base = await baseRun(4);
    const table = base.model.params['y_embedder.embedding_table.weight']!;
    const nullRow = tf.tidy(() => tf.slice(table, [10, 0], [1, -1]).reshape([-1]));
    // Row 9 replaced by the null row (10): examples with label 9 become the null-label forward, bit for bit.
    const { x, t } = inputs();
    const y = tf.tensor1d([9, 0, 9, 4], 'int32');
    const yNull = tf.tensor1d([10, 0, 10, 4], 'int32');
    const hooked = base.model.forward(x, t, y, { labelEmbedding: replaceRow(9, nullRow) });
    const plain = base.model.forward(x, t, yNull);
    expect(same(hooked.dataSync() as Float32Array, plain.dataSync() as Float32Array)).toBe(true);
    // A fine-tune run with a new-class row: the hook sees the table with that row in place (identity hook = no hook).
    const lora = createRunDenoiser(config({ init: { from: base.dir }, finetune: { method: 'lora', newClass: 9 } }), new Rng(3));
    tf.tidy(() => lora.params[newClassParamName(9)]!.assign(tf.fill([d], 0.3)));
    let seen: Float32Array | null = null;
    const viaHook = lora.forward(x, t, y, { labelEmbedding: (tbl) => ((seen = tbl.dataSync().slice() as Float32Array), tbl) });
    const direct = lora.forward(x, t, y);
    expect(same(viaHook.dataSync() as Float32Array, direct.dataSync() as Float32Array)).toBe(true);
    expect(Array.from(seen!.slice(9 * d, 10 * d))).toEqual(new Array(d).fill(0.3).map((v) => Math.fround(v)));
    tf.dispose([x, t, y, yNull, nullRow, hooked, plain, viaHook, direct]);
    lora.dispose();
    base.model.dispose();
  });

  it('runDenoiserWithWeights holds the given tensors and names a missing or mis-shaped weight', async () => {
    const base = await baseRun(6);
    const cfg = config({});
    const model = runDenoiserWithWeights(cfg, base.model.params);
    expect(same(output(model), output(base.model))).toBe(true);
    model.dispose();
    const { 'final_layer.linear.bias': _gone, ...missing } = base.model.params;
    expect(() => runDenoiserWithWeights(cfg, missing)).toThrow(/checkpoint weight 'final_layer\.linear\.bias' is missing, the config's model needs \[/);
    const bad = { ...base.model.params, 'final_layer.linear.bias': tf.zeros([3]) };
    expect(() => runDenoiserWithWeights(cfg, bad)).toThrow(/checkpoint weight 'final_layer\.linear\.bias' is \[3\].*was config\.json edited after training\?/);
    bad['final_layer.linear.bias'].dispose();
    base.model.dispose();
  });
});
