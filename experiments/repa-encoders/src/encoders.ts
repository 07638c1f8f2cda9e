import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { AdamW, Rng, backendInfo, cpuFlags, entryToTensor, readSafetensors, tf, writeSafetensors } from '@difflab/core-tensor';
import { BatchIterator, loadFashionMnist } from '@difflab/data';
import { z } from 'zod';
import { Cnn, initCnn } from './cnn.js';
import { Vit, initVit } from './vit.js';

export const ENCODERS = ['mae', 'classifier', 'random'] as const;
export type EncoderName = (typeof ENCODERS)[number];

const vitSchema = z
  .object({
    patch: z.literal(4),
    imageSize: z.literal(32),
    width: z.number().int().positive(),
    depth: z.number().int().positive(),
    heads: z.number().int().positive(),
    mlpRatio: z.number().int().positive(),
    decoderWidth: z.number().int().positive(),
    decoderDepth: z.number().int().nonnegative(),
    maskRatio: z.number().gt(0).lt(1),
  })
  .strict();

const optimSchema = {
  seed: z.number().int().nonnegative(),
  steps: z.number().int().positive(),
  batchSize: z.number().int().positive(),
  lr: z.number().positive(),
  warmupSteps: z.number().int().nonnegative(),
  weightDecay: z.number().nonnegative(),
};

/** encoders.json (full) / encoders.smoke.json: every encoder's training and the feature cache's settings. */
export const encodersConfigSchema = z
  .object({
    mae: z.object({ ...optimSchema, vit: vitSchema }).strict(),
    classifier: z.object({ ...optimSchema, cnn: z.object({ channels: z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]) }).strict() }).strict(),
    /** The control: mae's architecture at this seed's init, never trained. */
    random: z.object({ seed: z.number().int().nonnegative() }).strict(),
    features: z
      .object({
        batchSize: z.number().int().positive(),
        /**
         * Encode the first this many training images (split order) into the cache; default the whole split. A DiT
         * trained on that cache must set data.trainExamples ≤ this (the trainer refuses otherwise).
         */
        count: z.number().int().positive().optional(),
        /** Linear probe on mean-pooled tokens: first `train` training images, the next `val`, the first `test` test images. */
        probe: z.object({ train: z.number().int().positive(), val: z.number().int().positive(), test: z.number().int().positive() }).strict(),
        /** Training images the spatial-structure score averages over. */
        spatialImages: z.number().int().positive(),
      })
      .strict(),
  })
  .strict();
export type EncodersConfig = z.output<typeof encodersConfigSchema>;

export function readEncodersConfig(path: string): EncodersConfig {
  const parsed = encodersConfigSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!parsed.success) throw new Error(`invalid encoders config ${path}:\n${parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n')}`);
  return parsed.data;
}

/** A teacher: images [B, 32, 32, 1] in [−1, 1] → tokens [B, grid², dim] on the DiT-FMNIST-S/4 grid. */
export interface TokenEncoder {
  readonly name: EncoderName;
  readonly grid: number;
  readonly dim: number;
  /** The weights that make the tokens (a MAE's decoder is left out). */
  readonly weights: Record<string, tf.Variable>;
  tokens(x: tf.Tensor4D): tf.Tensor3D;
  dispose(): void;
}

function vitEncoder(name: EncoderName, vit: Vit): TokenEncoder {
  return { name, grid: vit.grid, dim: vit.config.width, weights: vit.encoderParams(), tokens: (x) => vit.tokens(x), dispose: () => vit.dispose() };
}

function cnnEncoder(cnn: Cnn): TokenEncoder {
  return { name: 'classifier', grid: cnn.grid, dim: cnn.config.channels[3], weights: cnn.params, tokens: (x) => cnn.tokens(x), dispose: () => cnn.dispose() };
}

/** The machine a number was measured on (CPU model, its vector flags, cores, backend), recorded beside it. */
export function machine(): Record<string, string | number> {
  // Not Linux: no flags, and the model name still says which machine.
  const flags = cpuFlags().filter((f) => ['avx2', 'avx512f', 'avx512_bf16', 'amx_bf16', 'fma'].includes(f));
  const info = backendInfo();
  return { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, vectorFlags: flags.join(' '), backend: info ? `${info.name} (${info.detail})` : tf.getBackend(), date: new Date().toISOString() };
}

export interface TrainReport {
  encoder: EncoderName;
  seconds: number;
  steps: number;
  finalLoss: number | null;
  machine: Record<string, string | number>;
}

/**
 * Trains `name` (the control is only initialised) on the Fashion-MNIST training split, padded to 32×32:
 * AdamW, linear warm-up then cosine decay, weight decay on matrices only. MAE needs no augmentation
 * pipeline (masking is its pretext task) and the classifier is trained on plain images too.
 */
export async function trainEncoder(name: EncoderName, cfg: EncodersConfig, log: (line: string) => void): Promise<{ encoder: TokenEncoder; report: TrainReport }> {
  const started = performance.now();
  if (name === 'random') {
    const vit = new Vit(cfg.mae.vit, initVit(cfg.mae.vit, cfg.random.seed));
    return { encoder: vitEncoder('random', vit), report: { encoder: name, seconds: 0, steps: 0, finalLoss: null, machine: machine() } };
  }
  const o = name === 'mae' ? cfg.mae : cfg.classifier;
  const data = loadFashionMnist();
  const batches = new BatchIterator(data.train, { batchSize: o.batchSize, seed: o.seed + 1, padding: 2 });
  const rng = new Rng(o.seed + 2);
  let params: Record<string, tf.Variable>;
  let lossOf: (x: tf.Tensor4D, y: tf.Tensor1D) => tf.Scalar;
  let encoder: TokenEncoder;
  if (name === 'mae') {
    const vit = new Vit(cfg.mae.vit, initVit(cfg.mae.vit, o.seed));
    params = vit.params;
    lossOf = (x) => vit.maeLoss(x, rng);
    encoder = vitEncoder('mae', vit);
  } else {
    const cnn = new Cnn(cfg.classifier.cnn, initCnn(cfg.classifier.cnn, o.seed));
    params = cnn.params;
    lossOf = (x, y) => tf.losses.softmaxCrossEntropy(tf.oneHot(y, 10), cnn.logits(x)) as tf.Scalar;
    encoder = cnnEncoder(cnn);
  }
  const optim = new AdamW({ lr: o.lr, weightDecay: o.weightDecay, decay: (k) => (params[k]?.rank ?? 0) > 1 });
  const vars = Object.values(params);
  const nameOf = new Map(Object.entries(params).map(([k, v]) => [v.name, k]));
  let finalLoss = NaN;
  for (let step = 1; step <= o.steps; step++) {
    const lr = step <= o.warmupSteps ? (o.lr * step) / o.warmupSteps : 0.5 * o.lr * (1 + Math.cos((Math.PI * (step - o.warmupSteps)) / Math.max(1, o.steps - o.warmupSteps)));
    const b = batches.next();
    const { value, grads } = tf.tidy(() => tf.variableGrads(() => lossOf(tf.tensor4d(b.x, b.shape), tf.tensor1d(b.y, 'int32')), vars));
    const byName = Object.fromEntries(Object.entries(grads).map(([k, g]) => [nameOf.get(k)!, g]));
    optim.step(params, byName, lr);
    tf.dispose(Object.values(grads));
    finalLoss = value.dataSync()[0]!;
    value.dispose();
    if (!Number.isFinite(finalLoss)) throw new Error(`${name}: loss became ${finalLoss} at step ${step}; lower ${name}.lr in the config`);
    if (step % 50 === 0 || step === o.steps) {
      const rate = step / ((performance.now() - started) / 1000);
      log(`${name} step ${step}/${o.steps} loss ${finalLoss.toFixed(4)} ${rate.toFixed(2)} steps/s ETA ${((o.steps - step) / rate).toFixed(0)} s`);
    }
  }
  optim.dispose();
  return { encoder, report: { encoder: name, seconds: (performance.now() - started) / 1000, steps: o.steps, finalLoss, machine: machine() } };
}

/** Saves the token-making weights with what rebuilds them (encoder name and architecture config). */
export async function saveEncoder(path: string, encoder: TokenEncoder, cfg: EncodersConfig): Promise<void> {
  const arch = encoder.name === 'classifier' ? cfg.classifier.cnn : cfg.mae.vit;
  await writeSafetensors(path, encoder.weights, { encoder: encoder.name, architecture: JSON.stringify(arch) });
}

/** Rebuilds a saved encoder (its architecture from the file's metadata; a MAE's decoder is not needed). */
export async function loadEncoder(path: string, name: EncoderName): Promise<TokenEncoder> {
  const { tensors, metadata } = await readSafetensors(path);
  if (metadata.encoder !== name || !metadata.architecture) throw new Error(`${path}: holds encoder '${metadata.encoder}', expected '${name}'; run the train-${name} target`);
  const arch = JSON.parse(metadata.architecture) as unknown;
  const params: Record<string, tf.Variable> = {};
  for (const [k, e] of Object.entries(tensors)) {
    const t = entryToTensor(e, k);
    params[k] = tf.variable(t, true);
    t.dispose();
  }
  if (name === 'classifier') return cnnEncoder(new Cnn(arch as Cnn['config'], params));
  const vitConfig = vitSchema.parse(arch);
  // The decoder's weights are absent: tokens() never reads them.
  return vitEncoder(name, new Vit(vitConfig, params));
}
