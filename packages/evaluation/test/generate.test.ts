// generateSamples of a fine-tune run (what `difflab eval <runDir>` samples): the base from init.from plus the
// adapter from the run's checkpoint, equal bit for bit to the same model put together by hand from the models
// package (base weights into a DiT, createLora, the new class's row through the labelEmbedding hook) and
// sampled from the same x_T.
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, tf } from '@difflab/core-tensor';
import { type DiTConfig, createDiT, createLora, sample } from '@difflab/models';
import { loadRun, makeSampler, newClassParamName, parseTrainConfig, resolveModelConfig } from '@difflab/runs';
import { train } from '@difflab/training';
import { EVAL_SAMPLE_SEED, generateSamples } from '../src/index.js';

const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
const tmp = () => mkdtempSync(join(tmpdir(), 'difflab-generate-'));
const MODEL = { preset: 'DiT-FMNIST-S/4', patchSize: 8, hiddenSize: 32, depth: 2, numHeads: 2 } as const;
const common = { model: MODEL, diffusion: { timesteps: 100 }, eval: { heldoutExamples: 10 }, sample: { steps: 3, perClass: 1, cfgScale: 2 } };

describe('generateSamples of a fine-tune run', () => {
  let baseDir: string;
  let ftDir: string;

  beforeAll(async () => {
    baseDir = tmp();
    const base = parseTrainConfig({ name: 'base', seed: 1, ...common, data: { classes: [0, 1, 2, 3, 4, 5, 6, 7, 8] }, train: { steps: 3, batchSize: 8, lr: 2e-3, emaDecay: 0.9 }, checkpoint: { every: 3 } });
    await train(base, { runDir: baseDir, progressStream: quiet });
    ftDir = tmp();
    const ft = parseTrainConfig({
      name: 'ft',
      seed: 2,
      ...common,
      init: { from: baseDir },
      finetune: { method: 'lora', rank: 2, newClass: 9 },
      data: { classes: [9], perClass: 5 },
      train: { steps: 3, batchSize: 4, lr: 2e-2, emaDecay: 0.5 },
      checkpoint: { every: 3 },
    });
    await train(ft, { runDir: ftDir, progressStream: quiet });
  });

  it('rebuilds base + adapter from the run directory: the samples equal the hand-assembled model’s exactly, and differ from the base’s', async () => {
    const run = await loadRun(ftDir, 'ema');
    expect(Object.keys(run.weights).every((k) => /lora_[AB]$/.test(k) || k === newClassParamName(9))).toBe(true);
    const loaded = generateSamples(run.config, run.weights, 1, 10);

    // By hand: the base run's EMA weights in a DiT, LoRA on it with the run's tensors, row 9 replaced.
    const baseRun = await loadRun(baseDir, 'ema');
    const config = resolveModelConfig(run.config.model).config as DiTConfig;
    const dit = createDiT(config, new Rng(7));
    for (const [k, v] of Object.entries(dit.params)) v.assign(baseRun.weights[k]!);
    const lora = createLora(dit, { rank: 2 }, new Rng(7));
    for (const [k, v] of Object.entries(lora.params)) v.assign(run.weights[k]!);
    const row = run.weights[newClassParamName(9)]!;
    const adaptation = {
      ...lora.adaptation,
      labelEmbedding: (table: tf.Tensor2D) => tf.concat([tf.slice(table, [0, 0], [9, 32]), tf.reshape(row, [1, 32]), tf.slice(table, [10, 0], [1, 32])]) as tf.Tensor2D,
    };
    const draw = (withAdapter: boolean) => {
      const x = sample((xt, t, y) => dit.forward(xt, t, y, withAdapter ? { adaptation } : {}), makeSampler(run.config.sample, run.config.diffusion, 10), {
        shape: [10, 32, 32, 1],
        labels: Array.from({ length: 10 }, (_, i) => i),
        rng: new Rng(EVAL_SAMPLE_SEED),
        nullClass: 10,
      });
      const images = tf.tidy(() => tf.clipByValue(tf.div(tf.add(tf.slice(x, [0, 2, 2, 0], [10, 28, 28, 1]), 1), 2), 0, 1));
      const values = images.dataSync() as Float32Array;
      tf.dispose([x, images]);
      return values;
    };
    const byHand = draw(true);
    expect(Buffer.from(loaded.images.buffer).equals(Buffer.from(byHand.buffer))).toBe(true);
    expect(Array.from(loaded.labels!)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // The adapter is really applied: the base alone samples other images.
    expect(Buffer.from(draw(false).buffer).equals(Buffer.from(byHand.buffer))).toBe(false);

    lora.dispose();
    dit.dispose();
    tf.dispose([...Object.values(run.weights), ...Object.values(baseRun.weights)]);
  });
});
