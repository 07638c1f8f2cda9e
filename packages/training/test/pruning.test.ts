import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { entriesToTensors, readSafetensors, tf } from '@difflab/core-tensor';
import { pruneNameMap, type UNetPruningSpec } from '@difflab/models';
import { parseTrainConfig, type TrainConfigInput, ConfigError } from '@difflab/runs';
import { train } from '../src/train.js';
import { initialWeights, loadTeacher } from '@difflab/runs';
import { resolveModelConfig } from '@difflab/runs';
import type { RunSink } from '@difflab/runs';

const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
const tmp = () => mkdtempSync(join(tmpdir(), 'difflab-prune-'));

/** 32×32, two levels of 4 and 8 channels, two blocks per down stage, attention at 16×16, a mid block. */
const model = { preset: 'UNet-FMNIST-uncond', channels: [4, 8], layersPerLevel: 2, attention: [false, true], numHeads: 1, groups: 2 };

function unetConfig(extra: Partial<TrainConfigInput> = {}, trainOverrides: Partial<TrainConfigInput['train']> = {}) {
  return parseTrainConfig({
    name: 'tiny-unet',
    seed: 1,
    data: { dataset: 'fashion-mnist', pad32: true },
    model,
    diffusion: { timesteps: 100 },
    train: { steps: 2, batchSize: 4, lr: 1e-3, emaDecay: 0.5, ...trainOverrides },
    checkpoint: { every: 1000 },
    eval: { heldoutExamples: 4 },
    sample: { steps: 2, perClass: 1, useEma: false },
    ...extra,
  });
}

/** Removes the second block of both levels' down stages and the middle up block of each level (BK-SDM-Base's unit). */
const baseSpec: UNetPruningSpec = {
  remove: [
    { stage: 'down', level: 0, index: 1, parts: ['resnet'] },
    { stage: 'up', level: 0, index: 1, parts: ['resnet'] },
    { stage: 'down', level: 1, index: 1, parts: ['resnet', 'attention'] },
    { stage: 'up', level: 1, index: 1, parts: ['resnet', 'attention'] },
  ],
};

/** One trained (2-step) run serves as the source and teacher of every test. */
let teacher: string;
beforeAll(async () => {
  teacher = tmp();
  await train(unetConfig(), { runDir: teacher, progressStream: quiet });
});

const bytes = (t: tf.Tensor) => Buffer.from((t.dataSync() as Float32Array).buffer.slice(0));

describe('initialising from a pruned checkpoint', () => {
  it('carries every kept weight over bit-exactly, zeroes model.zero, and keeps those zero while training', async () => {
    const zeroName = 'mid_block.resnets.0.conv1.weight';
    const cfg = unetConfig({ model: { ...model, prune: baseSpec, zero: [zeroName] }, init: { from: teacher, weights: 'raw' } });
    const weights = await initialWeights(cfg);
    const source = entriesToTensors((await readSafetensors(join(teacher, 'checkpoints', 'step-0000002', 'model.safetensors'))).tensors);
    const resolved = resolveModelConfig(cfg.model);
    if (resolved.architecture !== 'unet') throw new Error('expected a U-Net');
    const map = pruneNameMap(resolved.base, baseSpec);
    expect(Object.keys(weights).sort()).toEqual([...map.keys()].sort());
    for (const [newName, oldName] of map) {
      if (oldName === zeroName) expect(Array.from(weights[newName]!.dataSync()).every((v) => v === 0)).toBe(true);
      else expect(bytes(weights[newName]!).equals(bytes(source[oldName]!)), newName).toBe(true);
    }
    // The mid block is kept, so the name is unchanged; it is frozen at zero through training.
    const student = tmp();
    await train({ ...cfg, train: { ...cfg.train, lr: 1e-2 } }, { runDir: student, progressStream: quiet });
    const after = entriesToTensors((await readSafetensors(join(student, 'checkpoints', 'step-0000002', 'model.safetensors'))).tensors);
    expect(Array.from(after[zeroName]!.dataSync()).every((v) => v === 0)).toBe(true);
    expect(bytes(after['conv_in.weight']!).equals(bytes(weights['conv_in.weight']!))).toBe(false);
    tf.dispose([...Object.values(weights), ...Object.values(source), ...Object.values(after)]);
  });

  it('names the field and the file on bad input', async () => {
    const missing = join(tmp(), 'nope');
    await expect(initialWeights(unetConfig({ init: { from: missing, weights: 'ema' } }))).rejects.toThrow(/init\.from: run directory .*nope does not exist/);
    await expect(loadTeacher(unetConfig({ distill: { teacher: missing, weights: 'ema', task: 1, output: 1, feature: 1, includeMid: false } }))).rejects.toThrow(
      /distill\.teacher: run directory .*nope does not exist/,
    );
    expect(() => resolveModelConfig({ ...model, prune: { removeMid: false, remove: [{ stage: 'down', level: 5, index: 0, parts: ['resnet'] }] } })).toThrow(/model\.prune: /);
    expect(() => resolveModelConfig({ ...model, zero: ['no.such.weight'] })).toThrow(/model\.zero: 'no\.such\.weight' is not a parameter/);
    expect(() => resolveModelConfig({ ...model, prune: { removeMid: true, remove: [] }, zero: ['mid_block.resnets.0.conv2.weight'] })).toThrow(
      /model\.zero: .* belongs to a block model\.prune removes/,
    );
    expect(() => resolveModelConfig({ preset: 'DiT-FMNIST-S/4', channels: [4] })).toThrow(/channels apply to U-Net presets only/);
    expect(() => parseTrainConfig({ model: { preset: 'UNet-FMNIST' }, train: { steps: 1, batchSize: 1, lr: 1 }, data: { dataset: 'mnist' } })).toThrow(/data\.dataset/);
    // A source run with another architecture.
    const other = tmp();
    await train(unetConfig({ model: { ...model, channels: [8, 8] } }), { runDir: other, progressStream: quiet });
    await expect(initialWeights(unetConfig({ init: { from: other, weights: 'raw' } }))).rejects.toThrow(ConfigError);
    await expect(initialWeights(unetConfig({ init: { from: other, weights: 'raw' } }))).rejects.toThrow(/init\.from: .* different architecture/);
  });
});

class CaptureSink implements RunSink {
  rows: Record<string, number>[] = [];
  params: Record<string, string | number | boolean> = {};
  async start(params: Record<string, string | number | boolean>) {
    this.params = params;
  }
  metrics(_step: number, values: Record<string, number>) {
    this.rows.push(values);
  }
  async artifact() {}
  async end() {}
}

describe('BK-SDM distillation training', () => {
  it('reduces the distillation loss (output + feature terms) of a student trained from scratch', async () => {
    const cfg = unetConfig(
      { model: { ...model, prune: baseSpec }, distill: { teacher, weights: 'raw', task: 0, output: 1, feature: 1, includeMid: false } },
      { steps: 16, lr: 1e-2, batchSize: 8 },
    );
    const sink = new CaptureSink();
    await train(cfg, { runDir: tmp(), progressStream: quiet, sinks: [sink] });
    const kd = sink.rows.filter((r) => 'kd_output' in r).map((r) => r.kd_output! + r.kd_feature!);
    expect(kd).toHaveLength(16);
    const mean = (xs: number[]) => xs.reduce((s, v) => s + v, 0) / xs.length;
    expect(mean(kd.slice(-3))).toBeLessThan(0.7 * mean(kd.slice(0, 3)));
    // With task weight 0 the logged loss is exactly the distillation loss.
    sink.rows.filter((r) => 'kd_output' in r).forEach((r) => expect(r.loss).toBeCloseTo(r.kd_output! + r.kd_feature!, 5));
    expect(JSON.parse(String(sink.params.distill_pairs)).length).toBeGreaterThan(0);
  });
});
