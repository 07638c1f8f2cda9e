import { type UNetConfig, UNET_FF_MULT, timeEmbedDim, unetPlan, validateUNetConfig } from './config.js';

export interface UNetCount {
  /** Trainable parameters (what createUNet allocates = PyTorch's count). */
  params: number;
  /** Multiply-accumulates of one example's forward: every convolution and linear layer plus both attention products (QKᵀ, AV). */
  macs: number;
  /**
   * The BK-SDM paper's MACs (thop 0.1.1 on diffusers' UNet2DConditionModel): convolutions and linear layers,
   * plus 4 per LayerNorm element (thop's affine normalisation count); attention products, GroupNorm,
   * activations and resampling count zero because they are functional calls, not hooked modules.
   */
  thopMacs: number;
}

export interface UNetCountOptions {
  /** Length M of a text context (SD: 77 CLIP tokens). Class conditioning always has M = 1. */
  contextLength?: number;
}

/** Closed-form parameter and MAC counts from the config alone (no weights allocated). */
export function countUNet(config: UNetConfig, opts: UNetCountOptions = {}): UNetCount {
  validateUNetConfig(config);
  const cond = config.conditioning;
  const d = cond.kind === 'none' ? 0 : cond.contextDim;
  const m = cond.kind === 'text' ? (opts.contextLength ?? 77) : 1;
  const c0 = config.channels[0]!;
  const temb = timeEmbedDim(config);
  const s = config.sampleSize;
  const f = UNET_FF_MULT;

  let params = 0;
  let linearMacs = 0; // convolutions and linear layers
  let attentionMacs = 0; // QKᵀ and AV
  let layerNormElements = 0;

  const conv = (k: number, cin: number, cout: number, outSide: number): void => {
    params += k * k * cin * cout + cout;
    linearMacs += outSide * outSide * k * k * cin * cout;
  };
  const linear = (cin: number, cout: number, rows: number, bias = true): void => {
    params += cin * cout + (bias ? cout : 0);
    linearMacs += rows * cin * cout;
  };
  const norm = (c: number): void => {
    params += 2 * c;
  };

  conv(3, config.inChannels, c0, s);
  linear(c0, temb, 1);
  linear(temb, temb, 1);
  if (cond.kind === 'class') params += (cond.numClasses + 1) * cond.contextDim;

  for (const step of unetPlan(config)) {
    if (step.op === 'resnet') {
      const cin = step.inChannels + step.skipChannels;
      const o = step.outChannels;
      norm(cin);
      conv(3, cin, o, step.size);
      linear(temb, o, 1);
      norm(o);
      conv(3, o, o, step.size);
      if (cin !== o) conv(1, cin, o, step.size);
    } else if (step.op === 'transformer') {
      const c = step.channels;
      const n = step.size * step.size;
      norm(c);
      conv(1, c, c, step.size); // proj_in
      norm(c);
      linear(c, 3 * c, n, false); // attn1 q, k, v
      linear(c, c, n); // attn1 out
      attentionMacs += 2 * n * n * c;
      if (d > 0) {
        norm(c);
        linear(c, c, n, false);
        linear(d, 2 * c, m, false); // attn2 k, v from the context
        linear(c, c, n);
        attentionMacs += 2 * n * m * c;
      }
      norm(c);
      linear(c, 2 * f * c, n); // GEGLU projection
      linear(f * c, c, n);
      conv(1, c, c, step.size); // proj_out
      layerNormElements += (d > 0 ? 3 : 2) * n * c;
    } else if (step.op === 'downsample') {
      conv(3, step.channels, step.channels, step.size / 2);
    } else if (step.op === 'upsample') {
      conv(3, step.channels, step.channels, step.size * 2);
    }
  }
  norm(c0);
  conv(3, c0, config.outChannels, s);
  return { params, macs: linearMacs + attentionMacs, thopMacs: linearMacs + 4 * layerNormElements };
}
