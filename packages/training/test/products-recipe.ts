// The main job's training recipe on a small DiT, for the tests of the matrix-product settings
// (train.precision, train.matmul): a run config, and the loss curve of trainStep under given settings.
import { Rng, setMatmulLibrary, setMatmulPrecision, type MatmulLibrary, type MatmulPrecision } from '@difflab/core-tensor';
import { FloatBatchIterator, createDenoiser, datasetFor, parseTrainConfig, scheduleFor } from '@difflab/runs';
import { createTrainer, emaDecayAt, learningRate, objectiveFor, trainStep } from '../src/index.js';

export interface Products {
  precision?: MatmulPrecision;
  matmul?: MatmulLibrary;
}

// The main job's recipe (rectified flow, logit-normal t, velocity-direction term, SwiGLU, RMSNorm, RoPE,
// cosine lr) on a 32-wide, 2-deep DiT at batch 16.
export function recipe(products: Products, steps = 1000) {
  return parseTrainConfig({
    name: 'products-parity',
    seed: 11,
    model: { preset: 'DiT-FMNIST-S/4', hiddenSize: 32, depth: 2, numHeads: 1, mlp: 'swiglu', norm: 'rmsnorm', rope: true },
    diffusion: { process: 'flow' },
    train: {
      steps, batchSize: 16, lr: 3e-3, warmupSteps: 50, lrSchedule: 'cosine', beta2: 0.95, emaDecay: 0.999, emaWarmup: true,
      timeSampling: 'logit-normal', velocityDirectionWeight: 1, ...products,
    },
    checkpoint: { every: steps },
    eval: { heldoutExamples: 16 },
    sample: { steps: 2, perClass: 1 },
  });
}

export async function lossCurve(products: Products, steps: number) {
  const cfg = recipe(products, steps);
  const root = new Rng(cfg.seed);
  const model = createDenoiser(cfg.model, root.fork());
  const objective = await objectiveFor(cfg, model);
  const rng = root.fork();
  const batches = new FloatBatchIterator((await datasetFor(cfg.data)).train, cfg.train.batchSize, { seed: root.nextUint32() });
  const trainer = createTrainer(model, objective, scheduleFor(cfg.diffusion), cfg.train);
  setMatmulPrecision(products.precision ?? 'fp32');
  setMatmulLibrary(products.matmul ?? 'blas');
  const losses: number[] = [];
  try {
    for (let step = 1; step <= steps; step++) {
      losses.push(trainStep(trainer, batches.next(), { lr: learningRate(cfg.train, step), emaDecay: emaDecayAt(cfg.train, step), rng }).loss);
    }
  } finally {
    setMatmulPrecision('fp32');
    setMatmulLibrary('blas');
  }
  const weights = Object.values(model.params).flatMap((v) => Array.from(v.dataSync()));
  trainer.dispose();
  objective.dispose();
  model.dispose();
  return { losses, weights };
}

export const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
