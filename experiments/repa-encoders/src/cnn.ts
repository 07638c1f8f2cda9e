import { Rng, tf } from '@difflab/core-tensor';

/**
 * The supervised teacher: a small all-3×3 CNN on the padded 32×32 images, unlike the FID network in every
 * respect that could make them agree by construction (FmnistFeatureNet: 28×28 input, 5×5 then 3×3 stride-2
 * convolutions, a 256-d fully connected feature layer; this: 32×32, four 3×3 convolutions, global average
 * pooling into the head, another seed). Its tokens are the last feature map, 8×8 at stride 4 — the
 * DiT-FMNIST-S/4 token grid — with `width` channels.
 */
export interface CnnConfig {
  /** Channels of the four convolutions; the last is the token dimension. */
  channels: [number, number, number, number];
}

/** conv name → [stride]; 32 → 32 → 16 → 8 → 8. */
const LAYERS: [string, number][] = [['conv1', 1], ['conv2', 2], ['conv3', 2], ['conv4', 1]];

export function initCnn(c: CnnConfig, seed: number): Record<string, tf.Variable> {
  const rng = new Rng(seed);
  const params: Record<string, tf.Variable> = {};
  let inC = 1;
  LAYERS.forEach(([name], i) => {
    const out = c.channels[i]!;
    const fanIn = 9 * inC;
    // He-normal (ReLU), zero bias.
    const w = rng.normalTensor([3, 3, inC, out], 0, Math.sqrt(2 / fanIn));
    params[`${name}.weight`] = tf.variable(w, true);
    w.dispose();
    const b = tf.zeros([out]);
    params[`${name}.bias`] = tf.variable(b, true);
    b.dispose();
    inC = out;
  });
  const hw = rng.normalTensor([inC, 10], 0, Math.sqrt(1 / inC));
  params['head.weight'] = tf.variable(hw, true);
  hw.dispose();
  const hb = tf.zeros([10]);
  params['head.bias'] = tf.variable(hb, true);
  hb.dispose();
  return params;
}

export class Cnn {
  constructor(
    readonly config: CnnConfig,
    readonly params: Record<string, tf.Variable>,
  ) {}

  readonly grid = 8;

  private featureMap(x: tf.Tensor4D): tf.Tensor4D {
    let h = x;
    for (const [name, stride] of LAYERS) h = tf.relu(tf.add(tf.conv2d(h, this.params[`${name}.weight`] as tf.Tensor4D, stride, 'same'), this.params[`${name}.bias`]!)) as tf.Tensor4D;
    return h;
  }

  /** The last feature map as tokens [B, 64, channels], row-major. Images [B, 32, 32, 1] in [−1, 1]. */
  tokens(x: tf.Tensor4D): tf.Tensor3D {
    return tf.tidy(() => {
      const h = this.featureMap(x);
      return tf.reshape(h, [x.shape[0], 64, h.shape[3]]) as tf.Tensor3D;
    });
  }

  logits(x: tf.Tensor4D): tf.Tensor2D {
    return tf.add(tf.matMul(tf.mean(this.featureMap(x), [1, 2]) as tf.Tensor2D, this.params['head.weight']!), this.params['head.bias']!) as tf.Tensor2D;
  }

  dispose(): void {
    tf.dispose(Object.values(this.params));
  }
}
