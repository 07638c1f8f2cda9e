// ESD as a training objective, on tiny DiT base runs trained here (real Fashion-MNIST, a few dozen steps). Checked:
// the loss against a hand computation from the models API (ddpm and flow); η = 0 at θ = θ* is exactly 0; x_t is a
// hand-run sampler stopped at the drawn index, run by the frozen model; only esd.train's weights move while the frozen
// copy and the base run's files stay as they were; a 2 + 2 resume equals 4 steps; ε_θ(c) moves along ESD's
// direction on held-out x_t; bad configs name the field.
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, readSafetensors, tf } from '@difflab/core-tensor';
import { readParquet, tableToRows } from '@difflab/data';
import { createSampler, linearSchedule, withGuidance, type DenoiseFn, type Sampler } from '@difflab/models';
import {
  ConfigError,
  createDenoiser,
  createRunDenoiser,
  loadRun,
  parseTrainConfig,
  scheduleFor,
  sha256Hex,
  type Denoiser,
  type TrainConfig,
} from '@difflab/runs';
import { drawEsdState, objectiveFor, type EsdObjective } from '../src/objectives/index.js';
import { train } from '../src/train.js';
import { createTrainer, trainStep } from '../src/train-step.js';

const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
const tmp = () => mkdtempSync(join(tmpdir(), 'difflab-esd-'));
const MODEL = { preset: 'DiT-FMNIST-S/4', patchSize: 8, hiddenSize: 32, depth: 2, numHeads: 2 } as const;
const d = MODEL.hiddenSize;
const NULL = 10; // DiT-FMNIST: 10 classes, label 10 is ∅
const CONCEPT = 3;
const BASE_STEPS = 200;
const SHAPE = (b: number): [number, number, number, number] => [b, 32, 32, 1];
const common = { model: MODEL, eval: { heldoutExamples: 10 }, sample: { steps: 2, perClass: 1 }, data: { trainExamples: 256 } };
type Process = 'ddpm' | 'flow';
const diffusionOf = (p: Process) => (p === 'ddpm' ? { process: 'ddpm', timesteps: 100 } : { process: 'flow' });

const baseConfig = (p: Process, steps: number) =>
  parseTrainConfig({ name: `base-${p}`, seed: 3, ...common, diffusion: diffusionOf(p), train: { steps, batchSize: 16, lr: 2e-3, emaDecay: 0.9 }, checkpoint: { every: steps } });

function esdConfig(baseDir: string, p: Process, esd: Record<string, unknown>, train: Record<string, unknown> = {}, model: Record<string, unknown> = MODEL): TrainConfig {
  return parseTrainConfig({
    name: 'esd',
    seed: 4,
    ...common,
    model,
    diffusion: diffusionOf(p),
    init: { from: baseDir },
    finetune: { method: 'full' },
    esd: { concept: CONCEPT, ...esd },
    train: { steps: 4, batchSize: 2, lr: 1e-2, emaDecay: 0.5, ...train },
    checkpoint: { every: 2 },
  });
}

/** The conditioning path of an adaLN-Zero DiT, by name: the label table and every adaLN modulation linear. */
const CONDITIONING = /^(y_embedder\.embedding_table\.weight|(blocks\.\d+|final_layer)\.adaLN_modulation\.1\.(weight|bias))$/;
const inVariant = (train: 'conditioning' | 'unconditioning') => (name: string) => CONDITIONING.test(name) === (train === 'conditioning');

const stepDir = (runDir: string, step: number) => join(runDir, 'checkpoints', `step-${String(step).padStart(7, '0')}`);
const losses = (runDir: string) => tableToRows(readParquet(join(runDir, 'metrics.parquet')));
const f64 = (t: tf.Tensor) => Float64Array.from(t.dataSync());
const bits = (t: tf.Tensor) => Buffer.from((t.dataSync() as Float32Array).buffer.slice(0));

function checkpointDigests(runDir: string): Record<string, string> {
  const root = join(runDir, 'checkpoints');
  return Object.fromEntries(
    (readdirSync(root, { recursive: true }) as string[]).filter((f) => statSync(join(root, f)).isFile()).sort().map((f) => [f, sha256Hex(readFileSync(join(root, f)))]),
  );
}

/** The base model rebuilt independently of the objective: its run's config and EMA weights through loadRun. */
async function baseDenoiser(baseDir: string): Promise<Denoiser> {
  const run = await loadRun(baseDir, 'ema');
  const model = createDenoiser(run.config.model, new Rng(0));
  for (const [k, v] of Object.entries(model.params)) v.assign(run.weights[k]!);
  tf.dispose(Object.values(run.weights));
  return model;
}

/** The sampler ESD should use, built by hand from the models API: DDIM (η = 0, clipped) on the base's schedule, or Euler. */
function handSampler(p: Process, steps: number, guidance: number): Sampler {
  const process = p === 'ddpm' ? { kind: 'ddpm' as const, schedule: linearSchedule(100) } : { kind: 'flow' as const };
  return createSampler(process, p === 'ddpm' ? { kind: 'ddim', steps, eta: 0, clipDenoised: true, guidanceScale: guidance } : { kind: 'euler', steps, guidanceScale: guidance });
}

/** x_t by hand: x_T from rng, then `index` guided steps of `sampler` with label c. */
function handDraw(model: DenoiseFn, sampler: Sampler, index: number, b: number, rng: Rng): tf.Tensor4D {
  const guided = withGuidance(model, sampler.config!.guidanceScale!, NULL);
  const y = tf.fill([b], CONCEPT, 'int32') as tf.Tensor1D;
  let x = rng.normalTensor(SHAPE(b)) as tf.Tensor4D;
  for (let i = 0; i < index; i++) {
    const next = sampler.step((xt, t) => guided(xt, tf.fill([b], t, 'float32') as tf.Tensor1D, y), i, x, rng);
    x.dispose();
    x = next;
  }
  return x;
}

/** A seed whose first draw, Rng.int(n), is at least `min`: the sampler then really runs before x_t. */
function seedWithIndex(n: number, min: number): { seed: number; index: number } {
  for (let seed = 1; ; seed++) {
    const index = new Rng(seed).int(n);
    if (index >= min) return { seed, index };
  }
}

const batch = (b: number) => ({ x: new Float32Array(b * 32 * 32), y: new Int32Array(b), shape: SHAPE(b) });
const OPT = { lr: 1e-2, beta1: 0.9, beta2: 0.999, weightDecay: 0, gradClip: 1, emaDecay: 0.5 };

describe('ESD objective', () => {
  const bases: Record<Process, string> = { ddpm: '', flow: '' };
  const digests: Record<Process, Record<string, string>> = { ddpm: {}, flow: {} };

  beforeAll(async () => {
    // The ddpm base is pre-trained long enough for its conditional and unconditional predictions to differ
    // clearly (after 40 steps ‖ε*(c) − ε*(∅)‖² is ~30× smaller and ESD's first Adam steps overshoot it).
    for (const [p, steps] of [['ddpm', BASE_STEPS], ['flow', 3]] as const) {
      bases[p] = tmp();
      await train(baseConfig(p, steps), { runDir: bases[p], progressStream: quiet });
      digests[p] = checkpointDigests(bases[p]);
    }
  });

  it('the loss equals a hand computation from the frozen base and the models API (ddpm and flow)', async () => {
    const steps = 6, guidance = 2.5, eta = 1.5, b = 3;
    for (const p of ['ddpm', 'flow'] as const) {
      const cfg = esdConfig(bases[p], p, { eta, samplerSteps: steps, guidance, train: 'conditioning' });
      const model = createRunDenoiser(cfg, new Rng(0));
      const objective = (await objectiveFor(cfg, model)) as EsdObjective;
      expect(objective.name).toBe('esd');
      expect(objective.params).toMatchObject({ 'objective.concept': CONCEPT, 'objective.eta': eta, 'objective.samplerSteps': steps, 'objective.guidance': guidance, 'objective.sampler': p === 'ddpm' ? 'ddim' : 'euler' });
      // θ ≠ θ*: the target must come from the frozen copy, the prediction from θ.
      const noise = new Rng(11);
      for (const v of Object.values(model.params)) tf.tidy(() => v.assign(tf.add(v, noise.normalTensor(v.shape, 0, 0.05))));

      const { seed, index } = seedWithIndex(steps, 2);
      const x = tf.zeros(SHAPE(b)) as tf.Tensor4D;
      const value = objective.loss({ model, x, y: tf.zeros([b], 'int32') as tf.Tensor1D, rng: new Rng(seed), schedule: scheduleFor(cfg.diffusion) });
      const got = value.loss.dataSync()[0]!;

      const base = await baseDenoiser(bases[p]);
      const sampler = handSampler(p, steps, guidance);
      const rng = new Rng(seed);
      expect(rng.int(steps)).toBe(index);
      const xt = handDraw((a, t, y) => base.forward(a, t, y), sampler, index, b, rng);
      const timestep = sampler.timesteps[index]!;
      expect(value.terms.esd_t).toBe(timestep);
      if (p === 'flow') expect(timestep).toBeCloseTo(1000 * (1 - index / steps), 9);
      const t = tf.fill([b], timestep, 'float32') as tf.Tensor1D;
      const label = (c: number) => tf.fill([b], c, 'int32') as tf.Tensor1D;
      const cond = f64(base.forward(xt, t, label(CONCEPT)));
      const uncond = f64(base.forward(xt, t, label(NULL)));
      const out = f64(model.forward(xt, t, label(CONCEPT)));
      const want = out.reduce((s, o, i) => s + (o - (cond[i]! - eta * (cond[i]! - uncond[i]!))) ** 2, 0) / out.length;
      expect(Math.abs(got - want) / want, `${p}: loss ${got} vs hand ${want}`).toBeLessThan(1e-5);
      expect(want).toBeGreaterThan(0);
      objective.dispose();
      model.dispose();
      base.dispose();
      tf.dispose([x, xt, t]);
    }
  });

  it('η = 0 at θ = θ*: the loss is exactly 0, so the first step has no gradient and changes nothing', async () => {
    const cfg = esdConfig(bases.ddpm, 'ddpm', { eta: 0, samplerSteps: 5, train: 'unconditioning' });
    const model = createRunDenoiser(cfg, new Rng(0));
    const objective = (await objectiveFor(cfg, model)) as EsdObjective;
    const before = Object.fromEntries(Object.entries(model.params).map(([k, v]) => [k, bits(v)]));
    const trainer = createTrainer(model, objective, scheduleFor(cfg.diffusion), OPT);
    for (const seed of [1, 2, 3]) {
      const r = trainStep(trainer, batch(2), { lr: 1e-2, emaDecay: 0.5, rng: new Rng(seed) });
      expect(r.loss).toBe(0);
      expect(r.gradNorm).toBe(0);
    }
    for (const [k, v] of Object.entries(model.params)) expect(bits(v).equals(before[k]!), k).toBe(true);
    trainer.dispose();
    objective.dispose();
    model.dispose();
  });

  it('x_t is the frozen model sampled from noise with label c, stopped at the drawn index (ddpm and flow)', async () => {
    for (const p of ['ddpm', 'flow'] as const) {
      const base = await baseDenoiser(bases[p]);
      const fn: DenoiseFn = (a, t, y) => base.forward(a, t, y);
      const sampler = handSampler(p, 8, 2);
      for (const min of [0, 3]) {
        const { seed, index } = seedWithIndex(8, min);
        const draw = drawEsdState(fn, sampler, { concept: CONCEPT, nullClass: NULL, shape: SHAPE(2), rng: new Rng(seed) });
        const rng = new Rng(seed);
        rng.int(8);
        const hand = handDraw(fn, sampler, index, 2, rng);
        expect(draw.index).toBe(index);
        expect(draw.timestep).toBe(sampler.timesteps[index]);
        expect(bits(draw.xt).equals(bits(hand)), `${p}, index ${index}`).toBe(true);
        if (index === 0) {
          const noise = new Rng(seed);
          noise.int(8);
          expect(bits(draw.xt).equals(bits(noise.normalTensor(SHAPE(2)))), 'index 0 is x_T').toBe(true);
        }
        tf.dispose([draw.xt, hand]);
      }
      base.dispose();
    }
  });

  it('trains only esd.train’s weights; the frozen copy stays the base (both variants)', async () => {
    const baseWeights = await loadRun(bases.ddpm, 'ema');
    for (const variant of ['conditioning', 'unconditioning'] as const) {
      const cfg = esdConfig(bases.ddpm, 'ddpm', { samplerSteps: 4, train: variant });
      const model = createRunDenoiser(cfg, new Rng(0));
      const objective = (await objectiveFor(cfg, model)) as EsdObjective;
      const trainer = createTrainer(model, objective, scheduleFor(cfg.diffusion), OPT);
      const rng = new Rng(5);
      for (let i = 0; i < 3; i++) expect(Number.isFinite(trainStep(trainer, batch(2), { lr: 1e-2, emaDecay: 0.5, rng }).loss)).toBe(true);
      const trains = inVariant(variant);
      for (const [k, v] of Object.entries(model.params)) {
        const same = bits(v).equals(bits(baseWeights.weights[k]!));
        expect(same, `${variant}: ${k} ${trains(k) ? 'should train' : 'should stay'}`).toBe(!trains(k));
      }
      for (const [k, v] of Object.entries(objective.frozen.params)) expect(bits(v).equals(bits(baseWeights.weights[k]!)), `frozen copy: ${k}`).toBe(true);
      trainer.dispose();
      objective.dispose();
      model.dispose();
    }
    tf.dispose(Object.values(baseWeights.weights));
  });

  it('the cross-attention design: its conditioning path is the label table and the cross-attention layers (ESD-x’s attn2)', async () => {
    const model = { ...MODEL, block: 'cross-attention' };
    const baseDir = tmp();
    await train(parseTrainConfig({ name: 'base-xattn', seed: 3, ...common, model, diffusion: diffusionOf('ddpm'), train: { steps: 1, batchSize: 4, lr: 1e-3 }, checkpoint: { every: 1 } }), { runDir: baseDir, progressStream: quiet });
    const xattn = /^(y_embedder\.embedding_table\.weight|blocks\.\d+\.cross_attn\.(q|kv|proj)\.(weight|bias))$/;
    for (const variant of ['conditioning', 'unconditioning'] as const) {
      const denoiser = createRunDenoiser(esdConfig(baseDir, 'ddpm', { train: variant }, {}, model), new Rng(0));
      const trained = Object.keys(denoiser.params).filter((k) => !denoiser.frozen.includes(k));
      expect(trained.sort()).toEqual(Object.keys(denoiser.params).filter((k) => xattn.test(k) === (variant === 'conditioning')).sort());
      expect(trained.filter((k) => k.includes('cross_attn'))).toHaveLength(variant === 'conditioning' ? MODEL.depth * 6 : 0);
      expect(denoiser.paramCount).toBe(trained.reduce((n, k) => n + denoiser.params[k]!.size, 0));
      denoiser.dispose();
    }
  });

  it('a run: finite losses, only the subset saved changed, the base run untouched, resume 2 + 2 = 4 bit for bit', async () => {
    const cfg = esdConfig(bases.ddpm, 'ddpm', { samplerSteps: 4, train: 'conditioning' }, { emaDecay: 0.99 });
    const whole = tmp();
    expect((await train(cfg, { runDir: whole, progressStream: quiet })).status).toBe('FINISHED');
    const rows = losses(whole);
    expect(rows).toHaveLength(4);
    for (const r of rows) expect(Number.isFinite(Number(r.loss))).toBe(true);

    const params = JSON.parse(readFileSync(join(whole, 'params.json'), 'utf8'));
    const labelRows = NULL + 1;
    const conditioningCount = labelRows * d + MODEL.depth * (d * 6 * d + 6 * d) + (d * 2 * d + 2 * d);
    expect(params).toMatchObject({ objective: 'esd', model_params: conditioningCount, 'finetune.trainable_params': conditioningCount, 'objective.guidance': 2, 'objective.samplerSteps': 4 });

    const saved = await readSafetensors(join(stepDir(whole, 4), 'model.safetensors'));
    const ema = await readSafetensors(join(stepDir(whole, 4), 'ema.safetensors'));
    const base = await readSafetensors(join(stepDir(bases.ddpm, BASE_STEPS), 'ema.safetensors'));
    const values = (f: typeof base, k: string) => new Float32Array(f.tensors[k]!.data.slice().buffer);
    const trains = inVariant('conditioning');
    for (const k of Object.keys(base.tensors)) {
      const same = Buffer.from(saved.tensors[k]!.data).equals(Buffer.from(base.tensors[k]!.data));
      expect(same, k).toBe(!trains(k));
      // A frozen parameter's average is not updated (d·w + (1 − d)·w would round it): it keeps the base's bits.
      const [e, w] = [values(ema, k), values(base, k)];
      const gap = e.reduce((m, v, i) => Math.max(m, Math.abs(v - w[i]!) / (Math.abs(w[i]!) + 1e-30)), 0);
      if (trains(k)) expect(gap, `ema ${k}`).toBeGreaterThan(1e-5);
      else expect(gap, `ema ${k}`).toBe(0);
    }
    // Only the concept's row of the label table has a gradient (no weight decay): the other rows keep their bits.
    const [after, before] = [values(saved, 'y_embedder.embedding_table.weight'), values(base, 'y_embedder.embedding_table.weight')];
    for (let row = 0; row < labelRows; row++) {
      const same = after.slice(row * d, (row + 1) * d).every((v, i) => Object.is(v, before[row * d + i]));
      expect(same, `label row ${row}`).toBe(row !== CONCEPT);
    }

    const split = tmp();
    expect((await train(cfg, { runDir: split, progressStream: quiet, stopAtStep: 2 })).step).toBe(2);
    expect((await train(cfg, { runDir: split, progressStream: quiet, resume: true })).step).toBe(4);
    for (const file of ['model.safetensors', 'ema.safetensors']) {
      const a = readFileSync(join(stepDir(whole, 4), file));
      const b = readFileSync(join(stepDir(split, 4), file));
      expect(a.equals(b), file).toBe(true);
    }
    expect(losses(split).map((r) => r.loss)).toEqual(rows.map((r) => r.loss));
    for (const p of ['ddpm', 'flow'] as const) expect(checkpointDigests(bases[p]), `base ${p} untouched`).toEqual(digests[p]);
  });

  it('after ESD with η = 1, ε_θ(c) moves along −(ε*(c) − ε*(∅)) on held-out x_t (both variants)', async () => {
    for (const variant of ['conditioning', 'unconditioning'] as const) {
      const cfg = esdConfig(bases.ddpm, 'ddpm', { samplerSteps: 10, train: variant });
      const model = createRunDenoiser(cfg, new Rng(0));
      const objective = (await objectiveFor(cfg, model)) as EsdObjective;
      // The reference's learning rate: Adam's steps are ~lr whatever the gradient's size, and ‖ε*(c) − ε*(∅)‖ is small here.
      const trainer = createTrainer(model, objective, scheduleFor(cfg.diffusion), { ...OPT, lr: 1e-5 });
      const rng = new Rng(21);
      for (let i = 0; i < 15; i++) trainStep(trainer, batch(4), { lr: 1e-5, emaDecay: 0.5, rng });

      // Held-out x_t: another generator, so other stop indices and noise than training saw.
      const frozen: DenoiseFn = (a, t, y) => objective.frozen.forward(a, t, y);
      const held = new Rng(999);
      let dot = 0, nDelta = 0, nDir = 0, before = 0, after = 0;
      for (let i = 0; i < 4; i++) {
        const draw = drawEsdState(frozen, handSampler('ddpm', 10, 2), { concept: CONCEPT, nullClass: NULL, shape: SHAPE(4), rng: held });
        const t = tf.fill([4], draw.timestep, 'float32') as tf.Tensor1D;
        const label = (c: number) => tf.fill([4], c, 'int32') as tf.Tensor1D;
        const cond = f64(frozen(draw.xt, t, label(CONCEPT)));
        const uncond = f64(frozen(draw.xt, t, label(NULL)));
        const out = f64(model.forward(draw.xt, t, label(CONCEPT)));
        for (let j = 0; j < out.length; j++) {
          const delta = out[j]! - cond[j]!;
          const dir = uncond[j]! - cond[j]!; // −(ε*(c) − ε*(∅)); with η = 1 the target is ε*(∅)
          dot += delta * dir;
          nDelta += delta * delta;
          nDir += dir * dir;
          before += dir * dir;
          after += (out[j]! - uncond[j]!) ** 2;
        }
      }
      const cos = dot / Math.sqrt(nDelta * nDir);
      expect(cos, `${variant}: cos(ε_θ(c) − ε*(c), ε*(∅) − ε*(c))`).toBeGreaterThan(0);
      expect(after, `${variant}: ‖ε_θ(c) − ε*(∅)‖² fell`).toBeLessThan(before);
      trainer.dispose();
      objective.dispose();
      model.dispose();
    }
  });

  it('bad configs are refused, naming the field and the fix', async () => {
    const base = { ...common, init: { from: 'runs/base' }, finetune: { method: 'full' }, train: { steps: 1, batchSize: 2, lr: 1e-3 } };
    const refused = (raw: Record<string, unknown>, field: RegExp) => expect(() => parseTrainConfig({ ...base, ...raw }), String(field)).toThrow(field);
    const esd = { concept: CONCEPT, train: 'conditioning' };
    refused({ esd: { ...esd, concept: 10 } }, /esd\.concept: 10 is the null class/);
    refused({ esd: { ...esd, concept: 12 } }, /esd\.concept: 12 is not a class of the model, whose labels are 0\.\.9/);
    refused({ esd: { ...esd, eta: -1 } }, /esd\.eta: the negative-guidance scale η must be ≥ 0/);
    refused({ esd: { concept: CONCEPT } }, /esd\.train/);
    refused({ init: undefined, finetune: undefined, esd }, /esd: fine-tunes a trained base: set init\.from/);
    refused({ finetune: { method: 'lora' }, esd }, /finetune\.method: 'lora' trains an adapter/);
    refused({ finetune: { method: 'full', newClass: 9 }, esd }, /finetune\.newClass/);
    refused({ model: { preset: 'UNet-FMNIST', architecture: 'unet' }, init: { from: 'runs/base' }, finetune: undefined, esd }, /esd: erases a class from a class-conditional DiT; model 'UNet-FMNIST' is a U-Net/);
    refused({ repa: { encoder: 'enc', block: 1 }, esd }, /repa: ESD/);
    refused({ distill: { teacher: 'runs/t' }, esd }, /distill: ESD and BK-SDM/);
    refused({ train: { ...base.train, objective: 'epsilon' }, esd }, /train\.objective: is 'epsilon', but an esd section trains the 'esd' objective/);
    refused({ model: { ...MODEL, block: 'in-context' }, esd }, /model\.block: 'in-context'/);
    refused({ model: { ...MODEL, classDropoutProb: 0 }, esd }, /model\.classDropoutProb: is 0/);
    refused({ esd: { ...esd, samplerSteps: 1 } }, /esd\.samplerSteps: 1 is outside DDIM's \[2, diffusion\.timesteps = 1000\]/);
    expect(() => parseTrainConfig({ ...base, diffusion: { process: 'flow' }, esd: { ...esd, samplerSteps: 1 } })).not.toThrow();

    // train.objective 'esd' without the section: the registry's factory names the field.
    const cfg = parseTrainConfig({ ...common, train: { steps: 1, batchSize: 2, lr: 1e-3, objective: 'esd' } });
    const model = createDenoiser(cfg.model, new Rng(0));
    await expect(objectiveFor(cfg, model)).rejects.toThrow(ConfigError);
    await expect(objectiveFor(cfg, model)).rejects.toThrow(/train\.objective: 'esd' needs an esd section/);
    model.dispose();
  });
});
