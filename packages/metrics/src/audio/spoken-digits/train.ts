import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { backendInfo, Rng, tf, writeFileAtomic } from '@difflab/core-tensor';
import { MetricInputError } from '../../errors.js';
import { frechetDistance } from '../../fid/frechet.js';
import { audioEmbeddingStats, exampleEmbeddingStats } from '../embedder.js';
import { VGGISH_FRONT_END, waveformToExamples } from '../mel.js';
import { readAudioSet, resolveAudioSet, type AudioSet } from '../sources.js';
import type { Audio } from '../wav.js';
import { spokenDigitsAccuracy, trainSpokenDigitsNet, type LabelledExamples, type TrainSpokenDigitsOptions } from './net.js';

export type EmbedderConfig = Omit<TrainSpokenDigitsOptions, 'log'>;

/** What the train-embedder target records next to the weights. */
export interface EmbedderReport {
  config: EmbedderConfig;
  backend: string;
  trainExamples: number;
  testExamples: number;
  trainSeconds: number;
  trainAccuracy: number;
  /** Digit accuracy on the held-out voices. */
  testAccuracy: number;
  /** FAD of the training split against the test split (held-out voices): the floor a generator of digits can reach. */
  fadTrainVsTest: number;
  /** FAD between alternate examples of the training split (same voices, other speed/pitch draws): the sampling floor. */
  fadTrainHalves: number;
  /** FAD of white noise (same clip lengths and RMS as the test clips) against the test split. */
  fadNoiseVsTest: number;
  /** FAD of the test clips with their 10 ms segments shuffled against the test split. */
  fadShuffledVsTest: number;
}

export function readEmbedderConfig(path: string): EmbedderConfig {
  const raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  const num = (k: string, ok: (v: number) => boolean) => {
    const v = raw[k];
    if (typeof v !== 'number' || !ok(v)) throw new MetricInputError(`${path}: '${k}' must be a valid number, got ${JSON.stringify(v)}`);
    return v;
  };
  const int = (v: number) => Number.isInteger(v) && v >= 0;
  return {
    epochs: num('epochs', (v) => int(v) && v > 0),
    batchSize: num('batchSize', (v) => int(v) && v > 0),
    lr: num('lr', (v) => v > 0),
    weightDecay: num('weightDecay', (v) => v >= 0),
    seed: num('seed', int),
    maxShiftFrames: num('maxShiftFrames', (v) => int(v) && v < VGGISH_FRONT_END.exampleFrames),
  };
}

/** Every (zero-padded) 0.96 s example of every clip, labelled with its clip's digit. */
export function labelledExamples(set: AudioSet): LabelledExamples {
  if (!set.labels) throw new MetricInputError('labelledExamples: the audio set has no labels; use a manifest');
  const size = VGGISH_FRONT_END.exampleFrames * VGGISH_FRONT_END.melBands;
  const parts: Float32Array[] = [];
  const labels: number[] = [];
  let i = 0;
  for (const clip of readAudioSet(set)) {
    const ex = waveformToExamples(clip, { padShort: true });
    parts.push(ex.data);
    for (let e = 0; e < ex.count; e++) labels.push(set.labels[i]!);
    i++;
  }
  const data = new Float32Array(labels.length * size);
  let at = 0;
  for (const p of parts) {
    data.set(p, at);
    at += p.length;
  }
  return { count: labels.length, data, labels: Int32Array.from(labels) };
}

/** Every other example, starting at `parity`. */
function alternate(x: LabelledExamples, parity: 0 | 1): LabelledExamples {
  const size = VGGISH_FRONT_END.exampleFrames * VGGISH_FRONT_END.melBands;
  const count = Math.floor((x.count - parity + 1) / 2);
  const data = new Float32Array(count * size);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const j = 2 * i + parity;
    data.set(x.data.subarray(j * size, (j + 1) * size), i * size);
    labels[i] = x.labels[j]!;
  }
  return { count, data, labels };
}

/** White noise with each clip's length and RMS. */
export function* noiseLike(clips: Iterable<Audio>, seed: number): Generator<Audio> {
  const rng = new Rng(seed);
  for (const c of clips) {
    let q = 0;
    for (const v of c.samples) q += v * v;
    yield { sampleRate: c.sampleRate, samples: rng.normalArray(c.samples.length, 0, Math.sqrt(q / c.samples.length)) };
  }
}

/** The clips with their `segmentSeconds`-long segments put in a random order: same sounds, no word. */
export function* shuffledSegments(clips: Iterable<Audio>, segmentSeconds: number, seed: number): Generator<Audio> {
  const rng = new Rng(seed);
  for (const c of clips) {
    const seg = Math.max(1, Math.round(segmentSeconds * c.sampleRate));
    const count = Math.floor(c.samples.length / seg);
    const out = new Float32Array(c.samples.length);
    const order = rng.permutation(count);
    for (let s = 0; s < count; s++) out.set(c.samples.subarray(order[s]! * seg, (order[s]! + 1) * seg), s * seg);
    out.set(c.samples.subarray(count * seg), count * seg);
    yield { sampleRate: c.sampleRate, samples: out };
  }
}

/**
 * Trains the spoken-digits embedder on the manifest's train split, then writes
 * `<outDir>/spoken-digits-embedder.safetensors` and `report.json` (accuracies, FAD floor and ceilings).
 */
export async function runEmbedderTraining(config: EmbedderConfig, manifest: string, outDir: string, log: (line: string) => void): Promise<EmbedderReport> {
  const trainSet = await resolveAudioSet(`${manifest}:train`);
  const testSet = await resolveAudioSet(`${manifest}:test`);
  const train = labelledExamples(trainSet);
  const test = labelledExamples(testSet);
  log(`${train.count} training examples (${trainSet.paths.length} clips), ${test.count} test examples (${testSet.paths.length} clips)`);
  const started = performance.now();
  const net = await trainSpokenDigitsNet(train, { ...config, log });
  const trainSeconds = (performance.now() - started) / 1000;
  const trainAccuracy = spokenDigitsAccuracy(net, train);
  const testAccuracy = spokenDigitsAccuracy(net, test);
  log(`accuracy train ${(100 * trainAccuracy).toFixed(2)}%, test (held-out voices) ${(100 * testAccuracy).toFixed(2)}%`);
  const stats = async (clips: Iterable<Audio>) => (await audioEmbeddingStats(net, clips, { padShort: true })).stats;
  const testStats = await exampleEmbeddingStats(net, test);
  const report: EmbedderReport = {
    config,
    backend: backendInfo()?.name ?? tf.getBackend(),
    trainExamples: train.count,
    testExamples: test.count,
    trainSeconds,
    trainAccuracy,
    testAccuracy,
    fadTrainVsTest: frechetDistance(testStats, await exampleEmbeddingStats(net, train)),
    fadTrainHalves: frechetDistance(await exampleEmbeddingStats(net, alternate(train, 0)), await exampleEmbeddingStats(net, alternate(train, 1))),
    fadNoiseVsTest: frechetDistance(testStats, await stats(noiseLike(readAudioSet(testSet), config.seed + 2))),
    fadShuffledVsTest: frechetDistance(testStats, await stats(shuffledSegments(readAudioSet(testSet), 0.01, config.seed + 3))),
  };
  log(`FAD (spoken-digits) train vs test ${report.fadTrainVsTest.toFixed(3)}, train halves ${report.fadTrainHalves.toFixed(3)}, shuffled ${report.fadShuffledVsTest.toFixed(2)}, noise ${report.fadNoiseVsTest.toFixed(2)}`);
  await net.save(join(outDir, 'spoken-digits-embedder.safetensors'), { testAccuracy: String(testAccuracy), seed: String(config.seed) });
  await writeFileAtomic(join(outDir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  net.dispose();
  return report;
}
