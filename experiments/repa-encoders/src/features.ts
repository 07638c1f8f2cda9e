import { statSync } from 'node:fs';
import { join } from 'node:path';
import { float32ToFloat16Bits, tf, writeFileAtomic } from '@difflab/core-tensor';
import { loadFashionMnist, sequentialBatches, type ImageSplit } from '@difflab/data';
import { linearProbe, meanPoolTokens } from '@difflab/metrics';
import { TOKENS_FILE, readEncoderTokens, writeEncoderTokens } from '@difflab/training';
import { machine, type EncodersConfig, type TokenEncoder } from './encoders.js';
import { localVsDistantSimilarity, type SpatialStructure } from './spatial.js';

export interface FeaturesReport {
  encoder: string;
  grid: number;
  dim: number;
  count: number;
  /** Linear probe (REPA's protocol, @difflab/metrics' linearProbe) on mean-pooled tokens. */
  probe: { testAccuracy: number; valAccuracy: number; bestC: number; train: number; val: number; test: number };
  spatial: SpatialStructure;
  cache: { bytes: number; encodeSeconds: number; writeSeconds: number; loadSeconds: number };
  machine: Record<string, string | number>;
}

/** Tokens [count, grid², dim] of a split's first `count` images, as float32 (batches of `batchSize`). */
function encodeSplit(encoder: TokenEncoder, split: ImageSplit, count: number, batchSize: number, onBatch?: (done: number) => void): Float32Array {
  const per = encoder.grid * encoder.grid * encoder.dim;
  const out = new Float32Array(count * per);
  let done = 0;
  for (const b of sequentialBatches(split, batchSize, { padding: 2 })) {
    if (done >= count) break;
    const take = Math.min(b.y.length, count - done);
    const values = tf.tidy(() => encoder.tokens(tf.tensor4d(b.x, b.shape)).dataSync());
    out.set(values.subarray(0, take * per), done * per);
    done += take;
    onBatch?.(done);
  }
  return out;
}

/**
 * Writes `dir`/tokens.npy + tokens.json (the first features.count training images, default all; float16) and report.json: the probe accuracy,
 * the spatial-structure score, the cache's size and the time to encode, write and load it.
 */
export async function writeFeatures(encoder: TokenEncoder, cfg: EncodersConfig, dir: string, log: (line: string) => void): Promise<FeaturesReport> {
  const data = loadFashionMnist();
  const f = cfg.features;
  if (f.count !== undefined && f.count > data.train.count) throw new Error(`features.count: ${f.count} is more than the ${data.train.count} training images; lower it or remove it`);
  const count = f.count ?? data.train.count;
  const per = encoder.grid * encoder.grid * encoder.dim;
  const bits = new Uint16Array(count * per);
  const t0 = performance.now();
  let done = 0;
  for (const b of sequentialBatches(data.train, f.batchSize, { padding: 2 })) {
    if (done >= count) break;
    const take = Math.min(b.y.length, count - done);
    const values = tf.tidy(() => encoder.tokens(tf.tensor4d(b.x, b.shape)).dataSync() as Float32Array);
    for (let i = 0; i < take * per; i++) bits[done * per + i] = float32ToFloat16Bits(values[i]!);
    done += take;
    if (done % (20 * f.batchSize) === 0 || done === count) {
      const rate = done / ((performance.now() - t0) / 1000);
      log(`${encoder.name}: encoded ${done}/${count} images, ${rate.toFixed(0)} images/s, ETA ${((count - done) / rate).toFixed(0)} s`);
    }
  }
  const encodeSeconds = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  await writeEncoderTokens(dir, { encoder: encoder.name, dataset: 'fashion-mnist', pad32: true, split: 'train', count, grid: encoder.grid, dim: encoder.dim }, bits);
  const writeSeconds = (performance.now() - t1) / 1000;
  const t2 = performance.now();
  const loaded = readEncoderTokens(dir);
  const loadSeconds = (performance.now() - t2) / 1000;
  if (loaded.bits.length !== bits.length) throw new Error(`${dir}: read back ${loaded.bits.length} values, wrote ${bits.length}`);

  const p = f.probe;
  if (p.train + p.val > count || p.test > data.test.count) throw new Error(`features.probe: train + val must be ≤ ${count} (the cached images, features.count) and test ≤ ${data.test.count}`);
  const trainTokens = encodeSplit(encoder, data.train, p.train + p.val, f.batchSize);
  const testTokens = encodeSplit(encoder, data.test, p.test, f.batchSize);
  const pooled = (values: Float32Array, from: number, rows: number) => meanPoolTokens(values.subarray(from * per, (from + rows) * per), rows, encoder.grid * encoder.grid, encoder.dim);
  const probe = linearProbe(
    { features: pooled(trainTokens, 0, p.train), labels: data.train.labels.subarray(0, p.train) },
    { features: pooled(trainTokens, p.train, p.val), labels: data.train.labels.subarray(p.train, p.train + p.val) },
    { features: pooled(testTokens, 0, p.test), labels: data.test.labels.subarray(0, p.test) },
    { numClasses: 10 },
  );
  const spatialCount = Math.min(f.spatialImages, p.train + p.val);
  const spatial = localVsDistantSimilarity(trainTokens.subarray(0, spatialCount * per), spatialCount, encoder.grid, encoder.dim);
  const report: FeaturesReport = {
    encoder: encoder.name,
    grid: encoder.grid,
    dim: encoder.dim,
    count,
    probe: { testAccuracy: probe.testAccuracy, valAccuracy: probe.valAccuracy, bestC: probe.bestC, train: p.train, val: p.val, test: p.test },
    spatial,
    cache: { bytes: statSync(join(dir, TOKENS_FILE)).size, encodeSeconds, writeSeconds, loadSeconds },
    machine: machine(),
  };
  await writeFileAtomic(join(dir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  log(
    `${encoder.name}: probe ${(100 * probe.testAccuracy).toFixed(1)}%, LDS ${spatial.lds.toFixed(3)} (local ${spatial.local.toFixed(3)}, far ${spatial.far.toFixed(3)}), ` +
      `cache ${(report.cache.bytes / 1e6).toFixed(1)} MB encoded in ${encodeSeconds.toFixed(1)} s, loads in ${loadSeconds.toFixed(2)} s`,
  );
  return report;
}
