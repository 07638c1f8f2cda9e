// trainStep is the one training step: the loop runs it, a test can plug its own objective into it,
// and learned-σ models get their variance channels trained by DiT's hybrid loss.
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdamW, Ema, Rng, clipByGlobalNorm, initBackend, readSafetensors, tf } from '@difflab/core-tensor';
import { addNoise, linearSchedule } from '@difflab/models';
import { diffusionTrainingLoss, vlbTerm } from '@difflab/losses';
import {
  ConfigError,
  FloatBatchIterator,
  createDenoiser,
  datasetFor,
  parseTrainConfig,
  type Denoiser,
  type FloatBatch,
  type TrainConfigInput,
} from '@difflab/runs';
import { createTrainer, emaDecayAt, epsilonObjective, learningRate, objectiveFor, train, trainStep, type Objective } from '../src/index.js';

await initBackend({ log: () => {} });
const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
const tinyModel = { preset: 'DiT-FMNIST-S/4', patchSize: 8, hiddenSize: 32, depth: 2, numHeads: 2 } as const;
const settings = { lr: 1e-3, beta1: 0.9, beta2: 0.999, weightDecay: 0, gradClip: 1, emaDecay: 0.9 };
const schedule = linearSchedule(100);

function tinyConfig(extra: Partial<TrainConfigInput> = {}, trainExtra: Partial<TrainConfigInput['train']> = {}) {
  return parseTrainConfig({
    name: 'step',
    seed: 5,
    model: tinyModel,
    diffusion: { timesteps: 100 },
    train: { steps: 3, batchSize: 4, lr: 2e-3, warmupSteps: 1, emaDecay: 0.9, ...trainExtra },
    checkpoint: { every: 3 },
    eval: { heldoutExamples: 4 },
    sample: { steps: 2, perClass: 1 },
    ...extra,
  });
}

function randomBatch(seed: number, n = 4): FloatBatch {
  const r = new Rng(seed);
  const x = Float32Array.from({ length: n * 32 * 32 }, () => r.normal() * 0.5);
  return { x, y: Int32Array.from({ length: n }, () => r.int(10)), shape: [n, 32, 32, 1] };
}

const snapshot = (m: Denoiser) => Object.fromEntries(Object.entries(m.params).map(([k, v]) => [k, Float32Array.from(v.dataSync())]));

describe('trainStep', () => {
  it('is the step the loop runs: a hand-run of trainStep over the same draws gives bit-identical weights', async () => {
    const cfg = tinyConfig();
    const runDir = mkdtempSync(join(tmpdir(), 'step-'));
    await train(cfg, { runDir, progressStream: quiet });
    const saved = await readSafetensors(join(runDir, 'checkpoints', 'step-0000003', 'model.safetensors'));

    // The loop's seeding, spelled out: model, then the step Rng, then the data order.
    const root = new Rng(cfg.seed);
    const model = createDenoiser(cfg.model, root.fork());
    const objective = await objectiveFor(cfg, model);
    const rng = root.fork();
    const batches = new FloatBatchIterator((await datasetFor(cfg.data)).train, cfg.train.batchSize, { seed: root.nextUint32() });
    const trainer = createTrainer(model, objective, linearSchedule(100), cfg.train);
    for (let step = 1; step <= 3; step++) {
      trainStep(trainer, batches.next(), { lr: learningRate(cfg.train, step), emaDecay: emaDecayAt(cfg.train, step), rng });
    }
    for (const [name, v] of Object.entries(model.params)) {
      expect(Buffer.from(new Float32Array(v.dataSync()).buffer).equals(Buffer.from(saved.tensors[name]!.data)), name).toBe(true);
    }
    trainer.dispose();
    model.dispose();
  });

  it('equals forward, loss, backward, clipping, AdamW and EMA written out by hand', () => {
    const make = () => createDenoiser(tinyModel, new Rng(1));
    const batch = randomBatch(2);
    const a = make();
    const trainer = createTrainer(a, epsilonObjective(), schedule, { ...settings, gradClip: 1e-3 });
    const r = trainStep(trainer, batch, { lr: 1e-3, emaDecay: 0.5, rng: new Rng(9) });

    const b = make();
    const opt = new AdamW({ lr: 1e-3, weightDecay: 0, decay: (n) => (b.params[n]?.rank ?? 0) > 1 });
    const ema = new Ema(b.params, 0.5);
    const rng = new Rng(9);
    const names = Object.keys(b.params);
    const { value, grads } = tf.variableGrads(() => {
      const x = tf.tensor4d(batch.x, batch.shape);
      const y = tf.tensor1d(batch.y, 'int32');
      return diffusionTrainingLoss((xt, t, yy) => b.forward(xt, t, yy, { labelDropout: rng }), x, y, rng, schedule);
    }, names.map((n) => b.params[n]!));
    const clipped = clipByGlobalNorm(Object.fromEntries(names.map((n) => [n, grads[b.params[n]!.name]!])), 1e-3);
    opt.step(b.params, clipped.grads, 1e-3);
    ema.update(b.params, 0.5);

    expect(r.loss).toBe(value.dataSync()[0]);
    expect(r.gradNorm).toBe(clipped.norm);
    expect(r.gradNorm).toBeGreaterThan(1e-3); // so clipping acted
    expect(r.updated).toBe(true);
    const [sa, sb] = [snapshot(a), snapshot(b)];
    for (const n of names) expect(sa[n], n).toEqual(sb[n]);
    for (const n of names) expect(trainer.ema.weights[n]!.dataSync(), n).toEqual(ema.weights[n]!.dataSync());
    tf.dispose([value, ...Object.values(grads), ...Object.values(clipped.grads)]);
    trainer.dispose();
    opt.dispose();
    ema.dispose();
    a.dispose();
    b.dispose();
  });

  it('trains whatever Objective is plugged in: a test objective pulls every output to 0.5', () => {
    const model = createDenoiser(tinyModel, new Rng(3));
    const seen: string[] = [];
    const toHalf: Objective = {
      name: 'to-half',
      params: {},
      loss: ({ model: m, x, y, rng, schedule: s }) => {
        seen.push(`${s.numTimesteps}`);
        const t = tf.fill([x.shape[0]], rng.int(s.numTimesteps), 'float32') as tf.Tensor1D;
        const err = tf.mean(tf.square(tf.sub(m.forward(x, t, y), 0.5))) as tf.Scalar;
        return { loss: err, terms: { constant: 7 } };
      },
      dispose: () => {},
    };
    const trainer = createTrainer(model, toHalf, schedule, { ...settings, lr: 1e-2, gradClip: 0 });
    const batch = randomBatch(4);
    const losses = Array.from({ length: 12 }, () => trainStep(trainer, batch, { lr: 1e-2, emaDecay: 0.9, rng: new Rng(0) }));
    expect(seen).toHaveLength(12);
    expect(seen[0]).toBe('100');
    expect(losses[0]!.loss).toBeCloseTo(0.25, 5); // adaLN-Zero starts at output 0
    expect(losses[11]!.loss).toBeLessThan(0.5 * losses[0]!.loss);
    expect(losses[0]!.terms).toEqual({ constant: 7 });
    trainer.dispose();
    model.dispose();
  });

  it('leaves the weights alone and says so when the loss is not finite', () => {
    const model = createDenoiser(tinyModel, new Rng(3));
    const nan: Objective = {
      name: 'nan', params: {}, dispose: () => {},
      loss: ({ model: m, x, y }) => ({ loss: tf.mul(tf.mean(m.forward(x, tf.zeros([x.shape[0]]) as tf.Tensor1D, y)), NaN) as tf.Scalar, terms: {} }),
    };
    const trainer = createTrainer(model, nan, schedule, settings);
    const before = snapshot(model);
    const tensors = tf.memory().numTensors;
    const r = trainStep(trainer, randomBatch(1), { lr: 1, emaDecay: 0.9, rng: new Rng(0) });
    expect(r.updated).toBe(false);
    expect(Number.isNaN(r.loss)).toBe(true);
    expect(snapshot(model)).toEqual(before);
    expect(tf.memory().numTensors).toBe(tensors);
    trainer.dispose();
    model.dispose();
  });
});

describe('the fused optimizer update (clipping, AdamW and EMA in one native kernel)', () => {
  const bitsOf = (t: tf.Tensor) => Buffer.from(Float32Array.from(t.dataSync()).buffer);
  const state = (trainer: ReturnType<typeof createTrainer>) => ({
    ...Object.fromEntries(Object.entries(trainer.model.params).map(([k, v]) => [`p/${k}`, bitsOf(v)])),
    ...Object.fromEntries(Object.entries(trainer.optimizer.getState().tensors).map(([k, v]) => [k, bitsOf(v)])),
    ...Object.fromEntries(Object.entries(trainer.ema.weights).map(([k, v]) => [`ema/${k}`, bitsOf(v)])),
  });
  const make = (gradClip: number, updateEngine: 'native' | 'tfjs') =>
    createTrainer(createDenoiser(tinyModel, new Rng(1)), epsilonObjective(), schedule, { ...settings, weightDecay: 0.05, gradClip }, { updateEngine });
  const run = (trainer: ReturnType<typeof createTrainer>, from: number, to: number) =>
    Array.from({ length: to - from }, (_, i) =>
      trainStep(trainer, randomBatch(20 + from + i), { lr: 1e-3 / (from + i + 1), emaDecay: 0.5 + 0.1 * (from + i), rng: new Rng(30 + from + i) }));

  // updateEngine 'native' throws rather than fall back, so these run the fused kernel.
  it('trains bit-identically to the reference tfjs ops, clipping active and off, with weight decay', () => {
    for (const gradClip of [1e-3, 0]) {
      const fused = make(gradClip, 'native'), reference = make(gradClip, 'tfjs');
      const a = run(fused, 0, 4), b = run(reference, 0, 4);
      expect(a).toEqual(b);
      if (gradClip > 0) expect(a.every((r) => r.gradNorm > gradClip)).toBe(true);
      const [sa, sb] = [state(fused), state(reference)];
      expect(Object.keys(sa).sort()).toEqual(Object.keys(sb).sort());
      for (const k of Object.keys(sa)) expect(sa[k]!.equals(sb[k]!), `${k} (gradClip ${gradClip})`).toBe(true);
      for (const t of [fused, reference]) {
        t.dispose();
        t.model.dispose();
      }
    }
  });

  it('resumes bit-exactly: weights, AdamW state and EMA saved after two steps, two more steps on a fresh trainer', () => {
    const straight = make(1e-3, 'native');
    run(straight, 0, 2);
    const saved = {
      params: Object.fromEntries(Object.entries(straight.model.params).map(([k, v]) => [k, tf.clone(v)])),
      opt: { step: straight.optimizer.getState().step, tensors: Object.fromEntries(Object.entries(straight.optimizer.getState().tensors).map(([k, v]) => [k, tf.clone(v)])) },
      ema: Object.fromEntries(Object.entries(straight.ema.weights).map(([k, v]) => [k, tf.clone(v)])),
    };
    run(straight, 2, 4);
    const resumed = make(1e-3, 'native');
    for (const [k, v] of Object.entries(resumed.model.params)) v.assign(saved.params[k]!);
    resumed.optimizer.loadState(saved.opt);
    resumed.ema.loadState({ decay: settings.emaDecay, tensors: saved.ema });
    tf.dispose([...Object.values(saved.params), ...Object.values(saved.opt.tensors), ...Object.values(saved.ema)]);
    run(resumed, 2, 4);
    const [sa, sb] = [state(straight), state(resumed)];
    for (const k of Object.keys(sa)) expect(sa[k]!.equals(sb[k]!), k).toBe(true);
    for (const t of [straight, resumed]) {
      t.dispose();
      t.model.dispose();
    }
  });
});

describe('learnSigma: DiT hybrid loss L_simple + λ·L_vlb', () => {
  const sigmaModel = { ...tinyModel, learnSigma: true };

  /** Gradient of the final linear layer's bias, split into ε̂ channels and variance channels. */
  function finalBiasGrad(model: Denoiser, objective: Objective): { eps: number; variance: number } {
    const bias = model.params['final_layer.linear.bias']!;
    const batch = randomBatch(6);
    const { value, grads } = tf.variableGrads(() => {
      const x = tf.tensor4d(batch.x, batch.shape);
      const y = tf.tensor1d(batch.y, 'int32');
      return objective.loss({ model, x, y, rng: new Rng(11), schedule }).loss;
    }, [bias]);
    const g = grads[bias.name]!.dataSync();
    value.dispose();
    tf.dispose(Object.values(grads));
    // unpatchify reads the output as (p, p, 2C) with the channel fastest: C = 1 here, so odd entries are variance.
    let eps = 0, variance = 0;
    g.forEach((v, j) => (j % 2 === 0 ? (eps += Math.abs(v)) : (variance += Math.abs(v))));
    return { eps, variance };
  }

  it('gives the variance channels a gradient only through L_vlb', async () => {
    const model = createDenoiser(sigmaModel, new Rng(2));
    const cfg = tinyConfig({ model: sigmaModel });
    const hybrid = await objectiveFor(cfg, model);
    expect(hybrid.params['objective.vlbWeight']).toBe(1); // DiT's default
    const withVlb = finalBiasGrad(model, hybrid);
    const withoutVlb = finalBiasGrad(model, epsilonObjective({ vlbWeight: 0 }));
    expect(withVlb.variance).toBeGreaterThan(1e-4);
    expect(withoutVlb.variance).toBe(0);
    expect(withoutVlb.eps).toBeGreaterThan(0);
    model.dispose();
  });

  it('logs mse and vlb, with loss = mse + λ·vlb and vlb the mean of vlbTerm on the same draws', () => {
    const model = createDenoiser(sigmaModel, new Rng(2));
    const batch = randomBatch(5, 3);
    const x = tf.tensor4d(batch.x, batch.shape);
    const y = tf.tensor1d(batch.y, 'int32');
    const v = epsilonObjective({ vlbWeight: 0.25 }).loss({ model, x, y, rng: new Rng(8), schedule });
    const [loss, mse, vlb] = [v.loss, v.terms.mse, v.terms.vlb].map((t) => (t as tf.Scalar).dataSync()[0]!);
    expect(loss).toBeCloseTo(mse! + 0.25 * vlb!, 5);
    // Independently: replay the Rng (t, then ε, then label dropout) and score the output with vlbTerm.
    const r = new Rng(8);
    const t = Array.from({ length: 3 }, () => r.int(100));
    const noise = r.normalTensor(batch.shape);
    const xt = addNoise(schedule, x, noise, t) as tf.Tensor4D;
    const out = model.forward(xt, tf.tensor1d(t), y, { labelDropout: r });
    expect(vlb).toBeCloseTo(tf.mean(vlbTerm(schedule, out, x, xt, t)).dataSync()[0]!, 5);
    expect(mse).toBeCloseTo(tf.mean(tf.square(tf.sub(tf.slice(out, [0, 0, 0, 0], [-1, -1, -1, 1]), noise))).dataSync()[0]!, 6);
    model.dispose();
  });

  it('trains the variance channels in the loop: they move away from their zero init', async () => {
    const runDir = mkdtempSync(join(tmpdir(), 'sigma-'));
    const result = await train(tinyConfig({ model: sigmaModel }), { runDir, progressStream: quiet });
    expect(result.status).toBe('FINISHED');
    const saved = await readSafetensors(join(runDir, 'checkpoints', 'step-0000003', 'model.safetensors'));
    const bias = new Float32Array(saved.tensors['final_layer.linear.bias']!.data.slice().buffer);
    expect(Math.max(...bias.filter((_, j) => j % 2 === 1).map(Math.abs))).toBeGreaterThan(0);
  });

  it('rejects a learned σ with no vlb weight, and a vlb weight with no learned σ, naming the field', async () => {
    const sigma = createDenoiser(sigmaModel, new Rng(0));
    const plain = createDenoiser(tinyModel, new Rng(0));
    await expect(objectiveFor(tinyConfig({ model: sigmaModel }, { vlbWeight: 0 }), sigma)).rejects.toThrow(/train\.vlbWeight: 0 leaves the variance channels .* untrained/);
    await expect(objectiveFor(tinyConfig({}, { vlbWeight: 1 }), plain)).rejects.toThrow(/train\.vlbWeight: 1 needs a model that predicts its variance/);
    sigma.dispose();
    plain.dispose();
  });
});

describe('objective choice', () => {
  it('names train.objective and the known objectives for an unknown one', async () => {
    const model = createDenoiser(tinyModel, new Rng(0));
    await expect(objectiveFor(tinyConfig({}, { objective: 'score' }), model)).rejects.toThrow(ConfigError);
    await expect(objectiveFor(tinyConfig({}, { objective: 'score' }), model)).rejects.toThrow(/train\.objective: unknown objective 'score'; known: epsilon, distillation, v-prediction, flow/);
    await expect(objectiveFor(tinyConfig({}, { objective: 'toString' }), model)).rejects.toThrow(/unknown objective 'toString'/);
    await expect(objectiveFor(tinyConfig({}, { objective: 'distillation' }), model)).rejects.toThrow(/'distillation' needs a distill section/);
    expect((await objectiveFor(tinyConfig(), model)).name).toBe('epsilon');
    model.dispose();
  });
});
