import { type DiTConfig, TIMESTEP_FREQ_DIM, ditShape, validateDiTConfig } from './config.js';

export interface DiTCount {
  /** Trainable parameters (what createDiT allocates). */
  params: number;
  /** The fixed positional embedding, a non-trainable nn.Parameter in PyTorch; params + fixedParams = PyTorch's count. */
  fixedParams: number;
  /** Multiply-accumulates of one example's forward pass (linear layers, patch embedding, attention products). */
  macs: number;
  /** The paper's "Gflops" of one example: (macs + LayerNorm elements) / 1e9. See README. */
  gflops: number;
}

/**
 * Analytic parameter and forward-cost counts from the config alone (no weights allocated).
 * Convention (reproduces DiT Table 4): one multiply-add counts as one flop, as fvcore does;
 * elementwise ops (modulate, GELU, SiLU, softmax, residual adds) count zero; each
 * LayerNorm counts one per normalised element.
 * The options: SwiGLU's three matrices count 3·d·h multiply-adds per token (its silu and ⊙ count
 * zero, like GELU); RMSNorm counts one per normalised element, like LayerNorm, and its affine
 * (where DiT's norm had one) is a weight of d without bias; RoPE's rotation is elementwise and
 * adds no parameters, so it counts zero.
 */
export function countDiT(config: DiTConfig): DiTCount {
  validateDiTConfig(config);
  const d = config.hiddenSize;
  const { numPatches: n, patchDim, outChannels, mlpHidden: m, swigluHidden: h, labelRows } = ditShape(config);
  const swiglu = config.mlp === 'swiglu';
  /** Parameters of one affine norm (in-context / cross-attention designs): LayerNorm weight + bias, RMSNorm weight. */
  const affineNorm = config.norm === 'rmsnorm' ? d : 2 * d;
  const outDim = config.patchSize * config.patchSize * outChannels;
  const block = config.block;
  const adaptive = block === 'adaLN' || block === 'adaLN-Zero';
  const modulationWidth = block === 'adaLN-Zero' ? 6 * d : block === 'adaLN' ? 4 * d : 0;
  const tokens = block === 'in-context' ? n + 2 : n;

  const lin = (i: number, o: number) => i * o + o;
  const perBlockParams =
    lin(d, 3 * d) +
    lin(d, d) +
    (swiglu ? 2 * lin(d, h) + lin(h, d) : lin(d, m) + lin(m, d)) +
    (adaptive ? lin(d, modulationWidth) : 0) +
    (block === 'in-context' ? 2 * affineNorm : 0) +
    (block === 'cross-attention' ? 3 * affineNorm + lin(d, d) + lin(d, 2 * d) + lin(d, d) : 0);
  const params =
    lin(patchDim, d) +
    lin(TIMESTEP_FREQ_DIM, d) +
    lin(d, d) +
    labelRows * d +
    config.depth * perBlockParams +
    (adaptive ? lin(d, 2 * d) : affineNorm) +
    lin(d, outDim);

  const perBlockMacs =
    tokens * (3 * d * d + d * d + (swiglu ? 3 * d * h : 2 * d * m)) +
    2 * tokens * tokens * d +
    modulationWidth * d +
    (block === 'cross-attention' ? 2 * n * d * d + 2 * 2 * d * d + 2 * n * 2 * d : 0);
  const macs =
    n * patchDim * d +
    TIMESTEP_FREQ_DIM * d +
    d * d +
    config.depth * perBlockMacs +
    (adaptive ? 2 * d * d : 0) +
    n * d * outDim;
  const normsPerBlock = block === 'cross-attention' ? 3 : 2;
  const layerNormElements = config.depth * normsPerBlock * tokens * d + n * d;
  return { params, fixedParams: n * d, macs, gflops: (macs + layerNormElements) / 1e9 };
}
