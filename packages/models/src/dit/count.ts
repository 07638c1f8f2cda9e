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
 */
export function countDiT(config: DiTConfig): DiTCount {
  validateDiTConfig(config);
  const d = config.hiddenSize;
  const { numPatches: n, patchDim, outChannels, mlpHidden: m, labelRows } = ditShape(config);
  const outDim = config.patchSize * config.patchSize * outChannels;
  const block = config.block;
  const adaptive = block === 'adaLN' || block === 'adaLN-Zero';
  const modulationWidth = block === 'adaLN-Zero' ? 6 * d : block === 'adaLN' ? 4 * d : 0;
  const tokens = block === 'in-context' ? n + 2 : n;

  const lin = (i: number, o: number) => i * o + o;
  const perBlockParams =
    lin(d, 3 * d) +
    lin(d, d) +
    lin(d, m) +
    lin(m, d) +
    (adaptive ? lin(d, modulationWidth) : 0) +
    (block === 'in-context' ? 2 * 2 * d : 0) +
    (block === 'cross-attention' ? 3 * 2 * d + lin(d, d) + lin(d, 2 * d) + lin(d, d) : 0);
  const params =
    lin(patchDim, d) +
    lin(TIMESTEP_FREQ_DIM, d) +
    lin(d, d) +
    labelRows * d +
    config.depth * perBlockParams +
    (adaptive ? lin(d, 2 * d) : 2 * d) +
    lin(d, outDim);

  const perBlockMacs =
    tokens * (3 * d * d + d * d + 2 * d * m) +
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
