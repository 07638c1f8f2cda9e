import { loadavg } from 'node:os';
import { Rng, tf } from '@difflab/core-tensor';
import { createUNet, type UNetConfig } from '@difflab/models';

export interface LatencyResult {
  batch: number;
  /** Median wall time of one denoising step (one U-Net forward), milliseconds. */
  medianMs: number;
  repeats: number;
  /** 1-minute load average before and after the repeats: other work on the cores inflates the timing. */
  loadBefore: number;
  loadAfter: number;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError('median of an empty list');
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Latency of one denoising step at each batch size: `warmup` untimed forwards (kernel set-up, allocation),
 * then `repeats` timed ones, each ending in a read-back so asynchronous backends are included.
 * Weights are random: a forward's cost does not depend on their values.
 */
export function measureLatency(config: UNetConfig, opts: { batches: readonly number[]; warmup: number; repeats: number }): LatencyResult[] {
  const unet = createUNet(config, new Rng(0));
  try {
    return opts.batches.map((batch) => {
      const x = new Rng(1).normalTensor([batch, config.sampleSize, config.sampleSize, config.inChannels]) as tf.Tensor4D;
      const t = tf.fill([batch], 500, 'float32') as tf.Tensor1D;
      const labels = config.conditioning.kind === 'class' ? tf.zeros([batch], 'int32') : undefined;
      const once = () => {
        const y = unet.forward(x, t, labels);
        y.dataSync();
        y.dispose();
      };
      try {
        for (let i = 0; i < opts.warmup; i++) once();
        const loadBefore = loadavg()[0]!;
        const times: number[] = [];
        for (let i = 0; i < opts.repeats; i++) {
          const t0 = performance.now();
          once();
          times.push(performance.now() - t0);
        }
        return { batch, medianMs: median(times), repeats: opts.repeats, loadBefore, loadAfter: loadavg()[0]! };
      } finally {
        tf.dispose([x, t, ...(labels ? [labels] : [])]);
      }
    });
  } finally {
    unet.dispose();
  }
}
