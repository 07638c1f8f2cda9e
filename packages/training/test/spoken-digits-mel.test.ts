import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planCorpus, synthesizeCorpus } from '@difflab/metrics';
import { ConfigError, parseTrainConfig, type TrainConfigInput } from '@difflab/runs';
import { datasetFor } from '@difflab/runs';
import { train } from '../src/train.js';

const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
const tmp = () => mkdtempSync(join(tmpdir(), 'difflab-sd-mel-'));

/** The real corpus pipeline at its smallest: one accent, a train and a test voice, each digit once (20 clips, espeak-ng). */
let corpus: string;
beforeAll(async () => {
  corpus = tmp();
  await synthesizeCorpus(planCorpus({ seed: 0, voices: ['en-us'], variants: ['m1', 'f1'], testVariants: 1, perSpeaker: 1, speed: [150, 180], pitch: [40, 60] }), corpus);
});

/** UNet-SpokenDigits-S's layout at 4/8 channels: 64 × 64 × 1, unconditional. */
function config(extra: Partial<TrainConfigInput> = {}) {
  return parseTrainConfig({
    name: 'tiny-audio',
    data: { dataset: 'spoken-digits-mel', dir: corpus },
    model: { preset: 'UNet-SpokenDigits-S', channels: [4, 8], layersPerLevel: 1, attention: [false, true], numHeads: 1, groups: 2 },
    diffusion: { timesteps: 100 },
    train: { steps: 3, batchSize: 4, lr: 1e-3 },
    checkpoint: { every: 2 },
    eval: { heldoutExamples: 4 },
    sample: { steps: 2, perClass: 1, useEma: false },
    ...extra,
  });
}

describe('data.dataset spoken-digits-mel', () => {
  it('gives the corpus as 64 × 64 × 1 images in [-1, 1] with the voice-disjoint split', async () => {
    const d = await datasetFor(config().data);
    expect([d.train.n, d.test.n, d.train.height, d.train.width, d.train.channels]).toEqual([10, 10, 64, 64, 1]);
    expect(d.train.images.every((v) => v >= -1 && v <= 1)).toBe(true);
    expect([...d.train.labels]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(d.source).toMatch(/^spoken-digits-mel:.*manifest\.jsonl \(log-mel -4\.605\d*\.\.[\d.]+ → \[-1, 1\]\)$/);
  });

  it('trains an unconditional audio U-Net through the training loop, and resumes', async () => {
    const runDir = join(tmp(), 'run');
    const first = await train(config(), { runDir, progressStream: quiet, stopAtStep: 2 });
    expect(first.step).toBe(2);
    const resumed = await train(config(), { runDir, resume: true, progressStream: quiet });
    expect(resumed.status).toBe('FINISHED');
    expect(resumed.step).toBe(3);
    expect(Number.isFinite(resumed.heldOutLoss)).toBe(true);
    const params = JSON.parse(readFileSync(join(runDir, 'params.json'), 'utf8')) as Record<string, unknown>;
    expect(params.data_source).toMatch(/^spoken-digits-mel:/);
    expect(params['model.sampleSize']).toBe(64);
    expect(existsSync(join(runDir, 'samples', 'step-0000003.png'))).toBe(true);
  });

  it('names the field of bad data settings and the target that makes a missing corpus', async () => {
    expect(() => parseTrainConfig({ ...config(), data: { dataset: 'spoken-digits' } })).toThrow(/data\.dataset: /);
    await expect(datasetFor(parseTrainConfig({ ...config(), data: { dataset: 'fashion-mnist', dir: corpus } }).data)).rejects.toThrow(/data\.dir: applies to dataset 'spoken-digits-mel' only/);
    await expect(datasetFor(config({ data: { dataset: 'spoken-digits-mel', dir: join(tmp(), 'none') } }).data)).rejects.toThrow(/npx nx run spoken-digits:synthesize/);
    await expect(train(config({ model: { preset: 'UNet-FMNIST-uncond' } }), { runDir: join(tmp(), 'r'), progressStream: quiet })).rejects.toThrow(ConfigError);
  });
});
