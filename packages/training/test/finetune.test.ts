// Fine-tune runs end to end on real Fashion-MNIST: a tiny base trained on 9 classes, then each method taught
// the held-out class from 5 images. Checked: finite losses, checkpoints holding only the trained tensors (by
// name), the base untouched (files and weights), the closed-form trainable count, adapter.safetensors and its
// metadata, a bit-exact LoRA resume, and the loaded run scoring exactly what the in-memory model scored.
import { beforeAll, describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, readSafetensors, tf } from '@difflab/core-tensor';
import { readParquet, tableToRows } from '@difflab/data';
import {
  CheckpointError,
  DEFAULT_HELDOUT,
  loadCheckpoint,
  saveCheckpoint,
  createRunDenoiser,
  datasetFor,
  heldOutLoss,
  loadRun,
  newClassParamName,
  parseTrainConfig,
  processFor,
  scheduleFor,
  sha256Hex,
  type TrainConfig,
} from '@difflab/runs';
import { epsilonObjective } from '../src/objectives/index.js';
import { train } from '../src/train.js';
import { createTrainer, trainStep } from '../src/train-step.js';

const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
const tmp = () => mkdtempSync(join(tmpdir(), 'difflab-finetune-'));
const MODEL = { preset: 'DiT-FMNIST-S/4', patchSize: 8, hiddenSize: 32, depth: 2, numHeads: 2 } as const;
const d = MODEL.hiddenSize;
const depth = MODEL.depth;
const NEW_CLASS = 9;
const common = { model: MODEL, diffusion: { timesteps: 100 }, eval: { heldoutExamples: 10 }, sample: { steps: 2, perClass: 1 } };

const baseConfig = parseTrainConfig({
  name: 'base-9-classes',
  seed: 3,
  ...common,
  data: { classes: [0, 1, 2, 3, 4, 5, 6, 7, 8] },
  train: { steps: 3, batchSize: 8, lr: 2e-3, emaDecay: 0.9 },
  checkpoint: { every: 3 },
});

function fineTuneConfig(baseDir: string, finetune: Record<string, unknown>, steps = 4): TrainConfig {
  return parseTrainConfig({
    name: `ft-${String(finetune.method)}`,
    seed: 4,
    ...common,
    init: { from: baseDir },
    finetune: { ...finetune, newClass: NEW_CLASS },
    data: { classes: [NEW_CLASS], perClass: 5 },
    train: { steps, batchSize: 4, lr: 1e-2, emaDecay: 0.5 },
    checkpoint: { every: 2 },
  });
}

/** Per method: the names its checkpoint may hold (besides the new class's row) and the trainable count in closed form. */
const METHODS = [
  { ft: { method: 'lora', rank: 2 }, names: /^blocks\.\d\.attn\.(qkv|proj)\.lora_[AB]$/, count: depth * 2 * (4 * d + 2 * d) + d },
  { ft: { method: 'houlsby', bottleneck: 4 }, names: /^blocks\.\d\.adapter_(attn|mlp)\.(down|up)\.(weight|bias)$/, count: depth * 2 * (2 * d * 4 + 4 + d) + d },
  { ft: { method: 'prefix', length: 2 }, names: /^blocks\.\d\.attn\.prefix_[kv]$/, count: depth * 2 * 2 * d + d },
  { ft: { method: 'svdiff' }, names: /^blocks\.\d\.(attn\.(qkv|proj)|mlp\.fc[12]|adaLN_modulation\.1)\.svdiff_delta$/, count: depth * 5 * d + d },
] as const;

const losses = (runDir: string) => tableToRows(readParquet(join(runDir, 'metrics.parquet'))).map((r) => Number(r.loss));
const json = (path: string) => JSON.parse(readFileSync(path, 'utf8'));
const stepDir = (runDir: string, step: number) => join(runDir, 'checkpoints', `step-${String(step).padStart(7, '0')}`);

/** SHA-256 of every file of the base run's checkpoints: the fine-tunes must leave them as they were. */
function checkpointDigests(runDir: string): Record<string, string> {
  const root = join(runDir, 'checkpoints');
  return Object.fromEntries(
    (readdirSync(root, { recursive: true }) as string[]).filter((f) => statSync(join(root, f)).isFile()).sort().map((f) => [f, sha256Hex(readFileSync(join(root, f)))]),
  );
}

describe('fine-tune runs', () => {
  let baseDir: string;
  let baseDigests: Record<string, string>;
  let baseEmaSha: string;

  beforeAll(async () => {
    baseDir = tmp();
    await train(baseConfig, { runDir: baseDir, progressStream: quiet });
    baseDigests = checkpointDigests(baseDir);
    baseEmaSha = sha256Hex(readFileSync(join(stepDir(baseDir, 3), 'ema.safetensors')));
  });

  it('every adapter method trains, saves only its tensors, leaves the base as it was, and the loaded run scores what the trained model scored', async () => {
    const heldData = await datasetFor(fineTuneConfig(baseDir, { method: 'lora' }).data);
    expect(heldData.train.n).toBe(5);
    expect(new Set(heldData.test.labels)).toEqual(new Set([NEW_CLASS]));
    for (const { ft, names, count } of METHODS) {
      const label = ft.method;
      const cfg = fineTuneConfig(baseDir, ft);
      const runDir = tmp();
      const result = await train(cfg, { runDir, progressStream: quiet });
      expect(result.status, label).toBe('FINISHED');
      const l = losses(runDir);
      expect(l, label).toHaveLength(4);
      for (const v of l) expect(Number.isFinite(v), label).toBe(true);

      // Checkpoints: the trained tensors only, under the models package's names, raw and EMA alike.
      const model = await readSafetensors(join(stepDir(runDir, 4), 'model.safetensors'));
      const ema = await readSafetensors(join(stepDir(runDir, 4), 'ema.safetensors'));
      const saved = Object.keys(model.tensors).sort();
      expect(saved.filter((k) => !names.test(k)), label).toEqual([newClassParamName(NEW_CLASS)]);
      expect(Object.keys(ema.tensors).sort()).toEqual(saved);
      expect(saved.reduce((n, k) => n + model.tensors[k]!.shape.reduce((a, b) => a * b, 1), 0), label).toBe(count);
      expect(model.metadata['finetune.base_sha256']).toBe(baseEmaSha);

      // Params record the method, the count and the base (run, step, SHA-256 of its weights file).
      const params = json(join(runDir, 'params.json'));
      expect(params.model_params, label).toBe(count);
      expect(params['finetune.trainable_params']).toBe(count);
      expect(params['finetune.method']).toBe(ft.method);
      expect([params['finetune.base_run'], params['finetune.base_step'], params['finetune.base_sha256'], params['finetune.base_weights']]).toEqual([baseDir, 3, baseEmaSha, 'ema']);

      // adapter.safetensors: the final EMA tensors with their provenance; its size in eval.json.
      const adapterPath = join(runDir, 'adapter.safetensors');
      const adapter = await readSafetensors(adapterPath);
      expect(Object.keys(adapter.tensors).sort()).toEqual(saved);
      for (const k of saved) expect(Buffer.from(adapter.tensors[k]!.data).equals(Buffer.from(ema.tensors[k]!.data)), `${label} ${k}`).toBe(true);
      expect(adapter.metadata).toMatchObject({ 'finetune.method': ft.method, 'finetune.base_step': '3', 'finetune.base_sha256': baseEmaSha, 'finetune.new_class': '9', step: '4', weights: 'ema' });
      const evaluation = json(join(runDir, 'eval.json'));
      expect(evaluation.finetune).toEqual({ method: ft.method, trainable_params: count, file: 'adapter.safetensors', bytes: statSync(adapterPath).size });

      // The new class's row trained.
      const row = new Float32Array(model.tensors[newClassParamName(NEW_CLASS)]!.data.slice().buffer);
      const base = await readSafetensors(join(stepDir(baseDir, 3), 'ema.safetensors'));
      const baseRow = new Float32Array(base.tensors['y_embedder.embedding_table.weight']!.data.slice().buffer).slice(NEW_CLASS * d, (NEW_CLASS + 1) * d);
      expect(Array.from(row)).not.toEqual(Array.from(baseRow));

      // Loaded (base from init.from + adapter from the checkpoint) = the model the run held at its end.
      const run = await loadRun(runDir, 'ema');
      const loaded = createRunDenoiser(run.config, new Rng(0));
      for (const [k, v] of Object.entries(loaded.params)) v.assign(run.weights[k]!);
      const held = heldOutLoss((x, t, y) => loaded.forward(x, t, y), heldData.test, processFor(cfg.diffusion), { ...DEFAULT_HELDOUT, examples: cfg.eval.heldoutExamples }).mean;
      expect(held, `${label}: held-out loss of the loaded run`).toBe(evaluation.heldout_loss);
      loaded.dispose();
      tf.dispose(Object.values(run.weights));
    }
    expect(checkpointDigests(baseDir), 'the base run is untouched').toEqual(baseDigests);
  });

  it("'full' is init.from with every weight trained: the checkpoint holds the whole model, the count is the model's", async () => {
    const runDir = tmp();
    const cfg = fineTuneConfig(baseDir, { method: 'full' }, 2);
    await train(cfg, { runDir, progressStream: quiet });
    const base = await readSafetensors(join(stepDir(baseDir, 3), 'ema.safetensors'));
    const model = await readSafetensors(join(stepDir(runDir, 2), 'model.safetensors'));
    expect(Object.keys(model.tensors).sort()).toEqual(Object.keys(base.tensors).sort());
    const changed = Object.keys(base.tensors).filter((k) => !Buffer.from(base.tensors[k]!.data).equals(Buffer.from(model.tensors[k]!.data)));
    expect(changed).toContain('y_embedder.embedding_table.weight');
    const params = json(join(runDir, 'params.json'));
    const total = Object.values(base.tensors).reduce((n, e) => n + e.shape.reduce((a, b) => a * b, 1), 0);
    expect([params.model_params, params['finetune.trainable_params'], params['finetune.base_sha256']]).toEqual([total, total, baseEmaSha]);
    expect(json(join(runDir, 'eval.json')).finetune).toMatchObject({ method: 'full', trainable_params: total });
    expect(checkpointDigests(baseDir)).toEqual(baseDigests);
  });

  it('LoRA resumes bit-exactly: 2 steps, resume to 4 = 4 steps straight', async () => {
    const cfg = fineTuneConfig(baseDir, { method: 'lora', rank: 2 });
    const straight = tmp();
    await train(cfg, { runDir: straight, progressStream: quiet });
    const split = tmp();
    expect((await train(cfg, { runDir: split, progressStream: quiet, stopAtStep: 2 })).step).toBe(2);
    await train(cfg, { runDir: split, resume: true, progressStream: quiet });
    expect(losses(split)).toEqual(losses(straight));
    for (const file of ['model.safetensors', 'ema.safetensors', 'optimizer.safetensors']) {
      expect(readFileSync(join(stepDir(split, 4), file)).equals(readFileSync(join(stepDir(straight, 4), file))), file).toBe(true);
    }
    expect(readFileSync(join(split, 'adapter.safetensors')).equals(readFileSync(join(straight, 'adapter.safetensors')))).toBe(true);
  });

  it('a resume refuses a base that changed under it (the base run trained on), naming both checkpoints', async () => {
    const base = tmp();
    cpSync(baseDir, base, { recursive: true });
    const cfg = fineTuneConfig(base, { method: 'lora', rank: 2 });
    const runDir = tmp();
    await train(cfg, { runDir, progressStream: quiet, stopAtStep: 2 });
    // The base run goes on to step 5: its latest checkpoint is no longer the one the adapter was trained on.
    const ckpt = await loadCheckpoint(stepDir(base, 3));
    const moved = Object.fromEntries(Object.entries(ckpt.ema).map(([k, v]) => [k, tf.mul(v, 1.01)]));
    await saveCheckpoint(base, { ...ckpt, state: { ...ckpt.state, step: 5 }, ema: moved }, 2);
    tf.dispose([...Object.values(ckpt.params), ...Object.values(ckpt.ema), ...Object.values(ckpt.optimizer.tensors), ...Object.values(moved)]);
    const resumed = train(cfg, { runDir, resume: true, progressStream: quiet });
    await expect(resumed).rejects.toThrow(CheckpointError);
    await expect(train(cfg, { runDir, resume: true, progressStream: quiet })).rejects.toThrow(/was fine-tuned on .* at step 3 .*but init\.from now holds step 5 .*the adapter fits only its own base/);
  });

  it('a training step moves the adapter and never the base weights; the trainer differentiates the adapter only', async () => {
    const batch = { x: new Rng(8).normalArray(4 * 32 * 32).map((v) => Math.tanh(v)), y: Int32Array.from([9, 9, 9, 9]), shape: [4, 32, 32, 1] as [number, number, number, number] };
    for (const { ft } of METHODS) {
      const cfg = fineTuneConfig(baseDir, ft);
      const model = createRunDenoiser(cfg, new Rng(1));
      const trainer = createTrainer(model, epsilonObjective(), scheduleFor(cfg.diffusion), cfg.train);
      expect(trainer.trainable).toHaveLength(Object.keys(model.params).length);
      const baseBefore = Object.fromEntries(Object.entries(model.fineTune!.baseParams).map(([k, v]) => [k, v.dataSync().slice()]));
      const adapterBefore = Object.fromEntries(Object.entries(model.params).map(([k, v]) => [k, v.dataSync().slice()]));
      const rng = new Rng(2);
      for (let i = 0; i < 2; i++) expect(trainStep(trainer, batch, { lr: 1e-2, emaDecay: 0.5, rng }).updated).toBe(true);
      for (const [k, v] of Object.entries(model.fineTune!.baseParams)) expect(Buffer.from(v.dataSync().buffer).equals(Buffer.from(baseBefore[k]!.buffer)), `${ft.method}: ${k}`).toBe(true);
      const moved = Object.entries(model.params).filter(([k, v]) => !Buffer.from(v.dataSync().buffer).equals(Buffer.from(adapterBefore[k]!.buffer)));
      expect(moved.map(([k]) => k), ft.method).toContain(newClassParamName(NEW_CLASS));
      expect(moved.length, ft.method).toBeGreaterThan(1);
      trainer.dispose();
      model.dispose();
    }
  });
});
