import { tf } from '@difflab/core-tensor';
import { MetricInputError } from '../errors.js';
import { StreamingMoments, type GaussianStats } from '../fid/moments.js';
import { VGGISH_FRONT_END, waveformToExamples, type ExampleOptions, type LogMelExamples } from './mel.js';
import type { Audio } from './wav.js';

/** A network that maps VGGish log-mel examples to embeddings: VGGish itself, or a network trained here. */
export interface AudioEmbedder {
  readonly name: string;
  /** Width of each embedding. */
  readonly dim: number;
  /** [N, 96, 64] log-mel examples (frames × bands) → [N, dim] embeddings. The caller owns the result. */
  embed(examples: tf.Tensor3D): tf.Tensor2D;
  dispose(): void;
}

export type AudioClips = Iterable<Audio> | AsyncIterable<Audio>;

export interface EmbeddingStatsOptions extends ExampleOptions {
  /** Examples per forward pass; default 64. */
  batchSize?: number;
}

export interface AudioEmbeddingStats {
  stats: GaussianStats;
  clips: number;
  /** 0.96 s examples embedded (every example of every clip, as FAD pools them). */
  examples: number;
}

/** Float64 mean and covariance of the embeddings of log-mel examples already in memory. */
export async function exampleEmbeddingStats(embedder: AudioEmbedder, examples: LogMelExamples, batchSize = 64): Promise<GaussianStats> {
  const size = VGGISH_FRONT_END.exampleFrames * VGGISH_FRONT_END.melBands;
  if (examples.count < 2) throw new MetricInputError(`exampleEmbeddingStats: need at least 2 examples, have ${examples.count}`);
  const moments = new StreamingMoments(embedder.dim);
  for (let at = 0; at < examples.count; at += batchSize) {
    const n = Math.min(batchSize, examples.count - at);
    const feats = tf.tidy(() => embedder.embed(tf.tensor3d(examples.data.subarray(at * size, (at + n) * size), [n, VGGISH_FRONT_END.exampleFrames, VGGISH_FRONT_END.melBands])));
    moments.update(await feats.data(), n);
    feats.dispose();
  }
  return moments.stats();
}

/**
 * Float64 mean and covariance of the embeddings of every 0.96 s example of every clip: the
 * Gaussian fit FAD compares. Clips are resampled and framed by the VGGish front end.
 */
export async function audioEmbeddingStats(embedder: AudioEmbedder, clips: AudioClips, opts: EmbeddingStatsOptions = {}): Promise<AudioEmbeddingStats> {
  const batchSize = opts.batchSize ?? 64;
  const size = VGGISH_FRONT_END.exampleFrames * VGGISH_FRONT_END.melBands;
  const moments = new StreamingMoments(embedder.dim);
  const pending = new Float32Array(batchSize * size);
  let filled = 0;
  let clipCount = 0;
  const flush = async () => {
    if (filled === 0) return;
    const feats = tf.tidy(() => embedder.embed(tf.tensor3d(pending.subarray(0, filled * size), [filled, VGGISH_FRONT_END.exampleFrames, VGGISH_FRONT_END.melBands])));
    moments.update(await feats.data(), filled);
    feats.dispose();
    filled = 0;
  };
  for await (const clip of clips) {
    clipCount++;
    const ex = waveformToExamples(clip, opts);
    for (let e = 0; e < ex.count; e++) {
      pending.set(ex.data.subarray(e * size, (e + 1) * size), filled * size);
      if (++filled === batchSize) await flush();
    }
  }
  await flush();
  if (moments.count < 2) {
    throw new MetricInputError(`audioEmbeddingStats: ${clipCount} clips gave ${moments.count} examples of 0.96 s; need at least 2 (clips shorter than 0.96 s give none unless padShort is set)`);
  }
  return { stats: moments.stats(), clips: clipCount, examples: moments.count };
}
