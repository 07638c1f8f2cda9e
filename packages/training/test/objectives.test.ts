// The objective follows the config's diffusion section (and refuses contradictions by name); the flow
// and v-prediction objectives draw t, ε, then the label dropout; a tiny DiT learns with the flow
// objective; the held-out loss scores each process's target, checked against Gaussian closed forms.
import { describe, expect, it } from 'vitest';
import { Rng, initBackend, tf } from '@difflab/core-tensor';
import { FLOW_TIME_SCALE, type DenoiseFn, type NoiseSchedule, linearSchedule } from '@difflab/models';
import { flowLossTerms, vPredictionLossTerms } from '@difflab/losses';
import {
  ConfigError,
  DEFAULT_HELDOUT,
  createDenoiser,
  heldOutLoss,
  parseTrainConfig,
  type FloatBatch,
  type FloatImageSplit,
  type TrainConfigInput,
} from '@difflab/runs';
import { createTrainer, trainStep } from '../src/index.js';
import { defaultObjectiveName, flowObjective, objectiveFor, vPredictionObjective } from '../src/objectives/index.js';

await initBackend({ log: () => {} });
const tinyModel = { preset: 'DiT-FMNIST-S/4', patchSize: 8, hiddenSize: 32, depth: 2, numHeads: 2 } as const;
const schedule = linearSchedule(100);

function config(diffusion: TrainConfigInput['diffusion'] = {}, train: Partial<TrainConfigInput['train']> = {}, extra: Partial<TrainConfigInput> = {}) {
  return parseTrainConfig({
    model: tinyModel,
    diffusion: { timesteps: 100, ...diffusion },
    train: { steps: 3, batchSize: 4, lr: 1e-3, ...train },
    ...extra,
  });
}

function randomBatch(seed: number, n: number): FloatBatch {
  const r = new Rng(seed);
  return { x: r.normalArray(n * 32 * 32, 0, 0.5), y: Int32Array.from({ length: n }, () => r.int(10)), shape: [n, 32, 32, 1] };
}

describe('objectiveFor', () => {
  const model = createDenoiser(tinyModel, new Rng(0));

  it('follows the diffusion section by default: ddpm → epsilon, prediction v → v-prediction, flow → flow', async () => {
    expect((await objectiveFor(config(), model)).name).toBe('epsilon');
    expect((await objectiveFor(config({ prediction: 'epsilon' }), model)).name).toBe('epsilon');
    expect((await objectiveFor(config({ prediction: 'v' }), model)).name).toBe('v-prediction');
    const flow = await objectiveFor(config({ process: 'flow' }), model);
    expect(flow.name).toBe('flow');
    expect(flow.params).toEqual({ 'objective.timeSampling': 'uniform', 'objective.velocityDirectionWeight': 0 });
    const tuned = await objectiveFor(config({ process: 'flow' }, { timeSampling: 'logit-normal', timeStd: 0.8, velocityDirectionWeight: 1 }), model);
    expect(tuned.params).toEqual({
      'objective.timeSampling': 'logit-normal',
      'objective.timeMean': 0,
      'objective.timeStd': 0.8,
      'objective.velocityDirectionWeight': 1,
    });
    expect(defaultObjectiveName(config({ process: 'flow' }, {}, { distill: { teacher: '/nowhere' } }))).toBe('distillation');
    // Naming the implied objective is allowed.
    expect((await objectiveFor(config({ process: 'flow' }, { objective: 'flow' }), model)).name).toBe('flow');
    expect((await objectiveFor(config({ prediction: 'v' }, { objective: 'v-prediction' }), model)).name).toBe('v-prediction');
  });

  it('refuses an objective that contradicts diffusion.*, naming the field and the fix', async () => {
    const refusals: [ReturnType<typeof config>, RegExp][] = [
      [config({}, { objective: 'flow' }), /^train\.objective: 'flow' trains the flow process, but diffusion\.process is 'ddpm'; set diffusion\.process: 'flow' or remove train\.objective$/],
      [config({ process: 'flow' }, { objective: 'epsilon' }), /^train\.objective: 'epsilon' trains the ddpm process, but diffusion\.process is 'flow'; remove train\.objective \(a flow model trains with 'flow'\) or set diffusion\.process: 'ddpm'$/],
      [config({ process: 'flow' }, { objective: 'v-prediction' }), /^train\.objective: 'v-prediction' trains the ddpm process, but diffusion\.process is 'flow'/],
      [config({ prediction: 'v' }, { objective: 'epsilon' }), /^train\.objective: 'epsilon' trains a ε-prediction model, but diffusion\.prediction is 'v'; set diffusion\.prediction: 'epsilon' or remove train\.objective \(it follows diffusion\.prediction\)$/],
      [config({}, { objective: 'v-prediction' }), /^train\.objective: 'v-prediction' trains a v-prediction model, but diffusion\.prediction is 'epsilon' \(the default\); set diffusion\.prediction: 'v'/],
      [config({ prediction: 'epsilon' }, { objective: 'v-prediction' }), /diffusion\.prediction is 'epsilon'; set diffusion\.prediction: 'v'/],
      [config({ process: 'flow' }, {}, { distill: { teacher: '/nowhere' } }), /^distill: BK-SDM distillation trains an ε-prediction model of the ddpm process, but diffusion\.process is 'flow'; remove the distill section or set diffusion\.process: 'ddpm'$/],
      [config({ prediction: 'v' }, {}, { distill: { teacher: '/nowhere' } }), /^distill: BK-SDM distillation trains an ε-prediction model, but diffusion\.prediction is 'v'; remove the distill section or diffusion\.prediction$/],
      [config({ process: 'flow' }, { objective: 'distillation' }), /^train\.objective: 'distillation': BK-SDM distillation .* diffusion\.process is 'flow'; remove train\.objective or set diffusion\.process: 'ddpm'$/],
      [config({ process: 'flow' }, { objective: 'flow' }, { distill: { teacher: '/nowhere' } }), /^distill: a distill section is set but train\.objective is 'flow'/],
      [config({ process: 'flow' }, { velocityDirectionWeight: 1, gradClip: 0 }), /^train\.velocityDirectionWeight: 1 needs gradient clipping .*; set train\.gradClip > 0 \(default 1\) or train\.velocityDirectionWeight: 0$/],
      [config({ prediction: 'v' }, { vlbWeight: 1 }), /^train\.vlbWeight: 1 needs an ε-prediction model with model\.learnSigma; remove train\.vlbWeight or set diffusion\.prediction: 'epsilon'$/],
    ];
    for (const [cfg, message] of refusals) {
      const attempt = objectiveFor(cfg, model);
      await expect(attempt, String(message)).rejects.toThrow(ConfigError);
      await expect(objectiveFor(cfg, model), String(message)).rejects.toThrow(message);
    }
    const sigmaModel = { ...tinyModel, learnSigma: true };
    const sigma = createDenoiser(sigmaModel, new Rng(0));
    await expect(objectiveFor(config({ prediction: 'v' }, {}, { model: sigmaModel }), sigma)).rejects.toThrow(
      /^model\.learnSigma: learned variances are trained with the ε objective's L_vlb only; set model\.learnSigma: false or diffusion\.prediction: 'epsilon'$/,
    );
    sigma.dispose();
  });

  it('names the known objectives for an unknown one', async () => {
    await expect(objectiveFor(config({}, { objective: 'rectified' }), model)).rejects.toThrow(
      /^train\.objective: unknown objective 'rectified'; known: epsilon, distillation, v-prediction, flow, esd$/,
    );
  });
});

describe('flow and v-prediction objectives', () => {
  const batch = randomBatch(4, 3);
  const x = tf.tensor4d(batch.x, batch.shape);
  const y = tf.tensor1d(batch.y, 'int32');

  it('flow: the loss of flowLossTerms with label dropout drawn after t and ε; logs mse and direction when w > 0', () => {
    const model = createDenoiser({ ...tinyModel, classDropoutProb: 0.5 }, new Rng(1));
    const opts = { timeSampling: 'logit-normal', timeMean: -0.5, timeStd: 1.2, velocityDirectionWeight: 0.5 } as const;
    const v = flowObjective(opts).loss({ model, x, y, rng: new Rng(8), schedule });
    const r = new Rng(8);
    const ref = flowLossTerms((xt, t, yy) => model.forward(xt, t, yy, { labelDropout: r }), x, y, r, opts);
    expect(v.loss.dataSync()[0]).toBe(ref.total.dataSync()[0]);
    expect(Object.keys(v.terms).sort()).toEqual(['direction', 'mse']);
    expect((v.terms.direction as tf.Scalar).dataSync()[0]).toBe(ref.direction!.dataSync()[0]);
    expect(Object.keys(flowObjective().loss({ model, x, y, rng: new Rng(8), schedule }).terms)).toEqual([]);
    model.dispose();
  });

  it('v-prediction: the loss of vPredictionLossTerms with label dropout drawn after t and ε', () => {
    const model = createDenoiser({ ...tinyModel, classDropoutProb: 0.5 }, new Rng(1));
    const v = vPredictionObjective().loss({ model, x, y, rng: new Rng(8), schedule });
    const r = new Rng(8);
    const ref = vPredictionLossTerms((xt, t, yy) => model.forward(xt, t, yy, { labelDropout: r }), x, y, r, schedule);
    expect(v.loss.dataSync()[0]).toBe(ref.total.dataSync()[0]);
    model.dispose();
  });

  it('a tiny DiT trained 30 steps with the flow objective lowers its loss on a fixed batch', () => {
    const model = createDenoiser(tinyModel, new Rng(2));
    const objective = flowObjective({ timeSampling: 'logit-normal', velocityDirectionWeight: 1 });
    const fixed = randomBatch(5, 8);
    const xf = tf.tensor4d(fixed.x, fixed.shape);
    const yf = tf.tensor1d(fixed.y, 'int32');
    // The same five draws of (t, ε) before and after: the difference is the weights'. [total, mse]
    const evaluate = () =>
      tf.tidy(() => {
        const sum = [0, 0];
        for (let s = 0; s < 5; s++) {
          const v = objective.loss({ model, x: xf, y: yf, rng: new Rng(100 + s), schedule });
          sum[0] += v.loss.dataSync()[0]! / 5;
          sum[1] += (v.terms.mse as tf.Scalar).dataSync()[0]! / 5;
        }
        return sum;
      });
    const before = evaluate();
    const trainer = createTrainer(model, objective, schedule, { lr: 3e-3, beta1: 0.9, beta2: 0.999, weightDecay: 0, gradClip: 1, emaDecay: 0.9 });
    const rng = new Rng(3);
    for (let i = 0; i < 30; i++) expect(trainStep(trainer, fixed, { lr: 3e-3, emaDecay: 0.9, rng }).updated).toBe(true);
    const after = evaluate();
    // v̂ ≡ 0 at init (zero final layer): mse = E(ε − x)² ≈ 1.25, direction term 1.
    expect(before[1]).toBeCloseTo(1.25, 1);
    expect(before[0]! - before[1]!).toBeCloseTo(1, 5);
    expect(after[0]).toBeLessThan(0.85 * before[0]!);
    expect(after[1]).toBeLessThan(0.95 * before[1]!);
    trainer.dispose();
    model.dispose();
  });
});

/*
 * Held-out loss with the exact denoiser of Gaussian data x ~ N(μ, σ²) elementwise, ε ~ N(0, 1):
 * ddpm, x_t = a·x + s·ε (a = √ᾱ_t, s = √(1−ᾱ_t)), W = Var(x_t) = a²σ² + s²:
 *   ε* = s/W·(x_t − aμ), Var(ε | x_t) = 1 − s²/W = a²σ²/W;
 *   v = a·ε − s·x: v* = −sμ + as(1 − σ²)/W·(x_t − aμ), Var(v | x_t) = a² + s²σ² − a²s²(1 − σ²)²/W (= σ²/W);
 * flow, x_t = (1 − t)·x + t·ε, V = (1 − t)²σ² + t²: v* = −μ + (t − (1 − t)σ²)/V·(x_t − (1 − t)μ), Var(ε − x | x_t) = σ²/V.
 */
describe('heldOutLoss with the exact Gaussian denoiser', () => {
  const MU = 0.2;
  const SIGMA = 0.6;
  const n = 400;
  const size = 8 * 8;
  const split: FloatImageSplit = {
    images: new Rng(11).normalArray(n * size, MU, SIGMA),
    labels: new Int32Array(n),
    n,
    height: 8,
    width: 8,
    channels: 1,
  };
  const opts = { ...DEFAULT_HELDOUT, examples: n, timestepFractions: [0.1, 0.5, 0.9] };
  // Per fraction the mean of N = n·64 squared N(0, c) residuals: standard error c·√(2/N).
  const tolerance = (c: number) => 4 * c * Math.sqrt(2 / (n * size));

  /** A DenoiseFn a(t)·x_t + b(t), one affine map per (shared) timestep value. */
  const affine = (coef: (fed: number) => [number, number]): DenoiseFn => (xt, t) =>
    tf.tidy(() => {
      const [slope, offset] = coef(t.dataSync()[0]!);
      return tf.add(tf.mul(xt, slope), offset) as tf.Tensor4D;
    });
  const ddpmCoef = (s: NoiseSchedule, step: number) => {
    const ab = s.alphasCumprod[step]!;
    return { a: Math.sqrt(ab), s: Math.sqrt(1 - ab), W: ab * SIGMA ** 2 + (1 - ab) };
  };

  it('flow: the per-time loss is σ²/V(t) at t = each fraction', () => {
    const oracle = affine((fed) => {
      const t = fed / FLOW_TIME_SCALE;
      const V = (1 - t) ** 2 * SIGMA ** 2 + t ** 2;
      const k = (t - (1 - t) * SIGMA ** 2) / V;
      return [k, -MU - k * (1 - t) * MU];
    });
    const r = heldOutLoss(oracle, split, { kind: 'flow' }, opts);
    expect(r.perTimestep.map((p) => p.t)).toEqual([0.1, 0.5, 0.9]);
    for (const { t, loss } of r.perTimestep) {
      const c = SIGMA ** 2 / ((1 - t) ** 2 * SIGMA ** 2 + t ** 2);
      expect(Math.abs(loss - c), `t = ${t}`).toBeLessThan(tolerance(c));
    }
  });

  it('ddpm ε: the per-timestep loss is a²σ²/W; ddpm v: σ²/W, the two closed forms of Var(v | x_t) agreeing', () => {
    const s = linearSchedule(1000);
    const eps = affine((step) => {
      const { a, s: sd, W } = ddpmCoef(s, step);
      return [sd / W, (-sd / W) * a * MU];
    });
    const v = affine((step) => {
      const { a, s: sd, W } = ddpmCoef(s, step);
      const k = (a * sd * (1 - SIGMA ** 2)) / W;
      return [k, -sd * MU - k * a * MU];
    });
    const re = heldOutLoss(eps, split, { kind: 'ddpm', schedule: s }, opts);
    const rv = heldOutLoss(v, split, { kind: 'ddpm', schedule: s, prediction: 'v' }, opts);
    expect(re.perTimestep.map((p) => p.t)).toEqual([100, 500, 900]);
    re.perTimestep.forEach(({ t, loss }, i) => {
      const { a, s: sd, W } = ddpmCoef(s, t);
      const cEps = (a ** 2 * SIGMA ** 2) / W;
      const cV = a ** 2 + sd ** 2 * SIGMA ** 2 - (a ** 2 * sd ** 2 * (1 - SIGMA ** 2) ** 2) / W;
      expect(cV).toBeCloseTo(SIGMA ** 2 / W, 12);
      expect(Math.abs(loss - cEps), `ε at t = ${t}`).toBeLessThan(tolerance(cEps));
      expect(Math.abs(rv.perTimestep[i]!.loss - cV), `v at t = ${t}`).toBeLessThan(tolerance(cV));
    });
  });
});
