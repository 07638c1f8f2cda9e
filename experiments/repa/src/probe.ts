import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Rng, initBackend, tf } from '@difflab/core-tensor';
import { loadFashionMnist, makeBatch, tableFromRows, writeParquet } from '@difflab/data';
import { cknna, l2NormalizeRows, linearProbe, meanPoolTokens, type FeatureMatrix } from '@difflab/metrics';
import { FLOW_TIME_SCALE, addNoise, createDiT, flowInterpolate } from '@difflab/models';
import { loadRun, resolveModelConfig, scheduleFor, type TrainConfig } from '@difflab/runs';
import { gatherTokens, readEncoderTokens } from '@difflab/training';

// REPA's Figure 2 in miniature, per kept checkpoint: each block's mean-pooled tokens on noised training images,
// their linear-probe accuracy for the class, and their CKNNA to each teacher's cached tokens of the same images.
// (`difflab probe` measures CKNNA to the FID network on test images; a study may not import an app, and the
// teacher's tokens exist only for training images, hence this module.)

export interface ProbeSettings {
  /** The first this many training images (all inside every teacher's cache): 60 % fit, 20 % choose C, 20 % score and CKNNA. */
  images: number;
  /**
   * Noise level in the run's own process: DDPM, the fraction of T (0.25 → timestep round(0.25·(T−1))); flow, the
   * interpolant's t (x_t = (1 − t)·x + t·ε, the network seeing 1000·t). The two are not the same signal-to-noise
   * ratio: compare probes within a process.
   */
  t: number;
  /** CKNNA's neighbourhood size. */
  topk: number;
}

export interface ProbeRow {
  step: number;
  /** 1-based, as repa.block. */
  block: number;
  /** The time the network saw: the DDPM timestep, or FLOW_TIME_SCALE·t for a flow model. */
  timestep: number;
  probe_top1: number;
  /** CKNNA to each teacher: cknna_mae, cknna_classifier, cknna_random. */
  [teacher: `cknna_${string}`]: number;
}

export const PROBE_FILE = 'probe.parquet';
const BATCH = 100;

/** How a checkpoint's process noises a clean batch to the probe's level, and the time its network then sees. */
interface ProbeNoising {
  timestep: number;
  noise(x0: tf.Tensor4D, eps: tf.Tensor4D): tf.Tensor4D;
}

function probeNoising(diffusion: TrainConfig['diffusion'], t: number): ProbeNoising {
  if (diffusion.process === 'flow') return { timestep: FLOW_TIME_SCALE * t, noise: (x0, eps) => flowInterpolate(x0, eps, new Array<number>(x0.shape[0]).fill(t)) };
  const schedule = scheduleFor(diffusion);
  const timestep = Math.round(t * (schedule.numTimesteps - 1));
  return { timestep, noise: (x0, eps) => addNoise(schedule, x0, eps, new Array<number>(x0.shape[0]).fill(timestep)) as tf.Tensor4D };
}

/** Mean-pooled outputs [images × D] of every block on x_t, labels the null class (the network's reading of the image, not of the label). */
function blockFeatures(dit: ReturnType<typeof createDiT>, x0All: Float32Array, shape: [number, number, number, number], noising: ProbeNoising, noise: Rng): FeatureMatrix[] {
  const [n, h, w, c] = shape;
  const d = dit.config.hiddenSize;
  const out = Array.from({ length: dit.config.depth }, () => new Float64Array(n * d));
  for (let at = 0; at < n; at += BATCH) {
    const b = Math.min(BATCH, n - at);
    tf.tidy(() => {
      const x0 = tf.tensor4d(x0All.subarray(at * h * w * c, (at + b) * h * w * c), [b, h, w, c]);
      const xt = noising.noise(x0, tf.tensor4d(noise.normalArray(b * h * w * c), [b, h, w, c]));
      dit.forward(xt, tf.fill([b], noising.timestep, 'float32') as tf.Tensor1D, tf.fill([b], dit.config.numClasses, 'int32') as tf.Tensor1D, {
        onBlock: (index, tokens) => out[index]!.set(meanPoolTokens(tokens.dataSync(), b, tokens.shape[1]!, d).data as Float64Array, at * d),
      });
    });
  }
  return out.map((data) => ({ rows: n, dim: d, data }));
}

const rowsOf = (x: FeatureMatrix, from: number, to: number): FeatureMatrix => ({ rows: to - from, dim: x.dim, data: (x.data as Float64Array).subarray(from * x.dim, to * x.dim) });

/**
 * Probes each kept checkpoint `snapshots` (run directories, in step order) against the teachers in `teachers`
 * (name → token-cache directory) and writes `outFile`. The images, their noise (Rng(0)) and the probe splits are
 * the same at every checkpoint and for every arm.
 */
export async function probeSnapshots(snapshots: string[], teachers: Record<string, string>, s: ProbeSettings, outFile: string, log: (line: string) => void): Promise<ProbeRow[]> {
  await initBackend();
  const nFit = Math.floor(0.6 * s.images);
  const nVal = Math.floor(0.2 * s.images);
  if (nFit < 10 || s.images - nFit - nVal <= s.topk) throw new Error(`probe.images: ${s.images} is too few; need ≥ 17 and a scored fifth larger than probe.topk (${s.topk})`);
  const caches = Object.entries(teachers).map(([name, dir]) => {
    if (!existsSync(join(dir, 'tokens.json'))) throw new Error(`${dir} has no token cache; run the preset's repa-encoders target`);
    const cache = readEncoderTokens(dir);
    if (cache.meta.count < s.images) throw new Error(`probe.images: ${s.images} is more than the ${cache.meta.count} images ${dir} caches; lower it`);
    return { name, cache };
  });
  const test = Int32Array.from({ length: s.images - nFit - nVal }, (_, i) => nFit + nVal + i);
  const reference = caches.map(({ name, cache }) => {
    const tokens = cache.meta.grid * cache.meta.grid;
    return { name, features: l2NormalizeRows(meanPoolTokens(gatherTokens(cache, test), test.length, tokens, cache.meta.dim)) };
  });
  const data = loadFashionMnist();
  const labels = Array.from(data.train.labels.subarray(0, s.images));
  const rows: ProbeRow[] = [];
  for (const snap of snapshots) {
    const run = await loadRun(snap, 'ema');
    const resolved = resolveModelConfig(run.config.model);
    if (resolved.architecture !== 'dit') throw new Error(`${snap}: the probe reads DiT blocks`);
    const noising = probeNoising(run.config.diffusion, s.t);
    const timestep = noising.timestep;
    const dit = createDiT(resolved.config, new Rng(0));
    try {
      for (const [name, v] of Object.entries(dit.params)) v.assign(run.weights[name]!);
      const batch = makeBatch(data.train, Int32Array.from({ length: s.images }, (_, i) => i), { padding: run.config.data.pad32 ? 2 : 0 });
      const feats = blockFeatures(dit, batch.x, batch.shape as [number, number, number, number], noising, new Rng(0));
      feats.forEach((f, k) => {
        const probe = linearProbe(
          { features: rowsOf(f, 0, nFit), labels: labels.slice(0, nFit) },
          { features: rowsOf(f, nFit, nFit + nVal), labels: labels.slice(nFit, nFit + nVal) },
          { features: rowsOf(f, nFit + nVal, s.images), labels: labels.slice(nFit + nVal) },
          { numClasses: 10 },
        );
        const own = l2NormalizeRows(rowsOf(f, nFit + nVal, s.images));
        const row = { step: run.step, block: k + 1, timestep, probe_top1: probe.testAccuracy } as ProbeRow;
        for (const r of reference) row[`cknna_${r.name}`] = cknna(own, r.features, { topk: s.topk });
        rows.push(row);
      });
      log(`probe ${snap}: step ${run.step}, top-1 by block ${rows.slice(-feats.length).map((r) => r.probe_top1.toFixed(3)).join(' ')}`);
    } finally {
      dit.dispose();
      tf.dispose(Object.values(run.weights));
    }
  }
  await writeParquet(outFile, tableFromRows(rows as unknown as Record<string, unknown>[]));
  return rows;
}
