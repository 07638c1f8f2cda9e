import * as tf from '@tensorflow/tfjs-core';
import { type UNetConfig, UNET_FF_MULT, type UNetStep, timeEmbedDim, unetPlan } from './config.js';

/**
 * How a parameter starts: PyTorch's default for its layer (`uniform` with bound 1/√fanIn, the
 * kaiming_uniform(a=√5) of nn.Conv2d/nn.Linear and their biases), `ones`/`zeros` for norms,
 * `normal` N(0, 1) for the class table (nn.Embedding), and `zeros` for the convolutions that close
 * a residual branch and for conv_out (CompVis ldm's zero_module), so every block starts as the identity.
 */
export type UNetInit = { kind: 'uniform'; bound: number } | { kind: 'ones' } | { kind: 'zeros' } | { kind: 'normal' };

export interface UNetParamSpec {
  name: string;
  shape: number[];
  init: UNetInit;
}

/**
 * Every parameter of the U-Net under its diffusers state_dict name. Layouts are tfjs's:
 * conv weights HWIO [kh, kw, in, out] (PyTorch OIHW [out, in, kh, kw] transposed by [2, 3, 1, 0]),
 * linear weights [in, out] (PyTorch [out, in] transposed).
 */
export function unetParamSpecs(config: UNetConfig): UNetParamSpec[] {
  const specs: UNetParamSpec[] = [];
  const c0 = config.channels[0]!;
  const temb = timeEmbedDim(config);
  const uniform = (fanIn: number): UNetInit => ({ kind: 'uniform', bound: 1 / Math.sqrt(fanIn) });

  const conv = (name: string, k: number, cin: number, cout: number, zero = false): void => {
    specs.push({ name: `${name}.weight`, shape: [k, k, cin, cout], init: zero ? { kind: 'zeros' } : uniform(cin * k * k) });
    specs.push({ name: `${name}.bias`, shape: [cout], init: zero ? { kind: 'zeros' } : uniform(cin * k * k) });
  };
  const linear = (name: string, cin: number, cout: number, bias = true): void => {
    specs.push({ name: `${name}.weight`, shape: [cin, cout], init: uniform(cin) });
    if (bias) specs.push({ name: `${name}.bias`, shape: [cout], init: uniform(cin) });
  };
  const norm = (name: string, c: number): void => {
    specs.push({ name: `${name}.weight`, shape: [c], init: { kind: 'ones' } });
    specs.push({ name: `${name}.bias`, shape: [c], init: { kind: 'zeros' } });
  };

  const cond = config.conditioning;
  const contextDim = cond.kind === 'none' ? 0 : cond.contextDim;

  const resnet = (s: Extract<UNetStep, { op: 'resnet' }>): void => {
    const cin = s.inChannels + s.skipChannels;
    norm(`${s.prefix}.norm1`, cin);
    conv(`${s.prefix}.conv1`, 3, cin, s.outChannels);
    linear(`${s.prefix}.time_emb_proj`, temb, s.outChannels);
    norm(`${s.prefix}.norm2`, s.outChannels);
    conv(`${s.prefix}.conv2`, 3, s.outChannels, s.outChannels, true);
    if (cin !== s.outChannels) conv(`${s.prefix}.conv_shortcut`, 1, cin, s.outChannels);
  };

  const transformer = (s: Extract<UNetStep, { op: 'transformer' }>): void => {
    const c = s.channels;
    const b = `${s.prefix}.transformer_blocks.0`;
    norm(`${s.prefix}.norm`, c);
    conv(`${s.prefix}.proj_in`, 1, c, c);
    norm(`${b}.norm1`, c);
    for (const p of ['to_q', 'to_k', 'to_v']) linear(`${b}.attn1.${p}`, c, c, false);
    linear(`${b}.attn1.to_out.0`, c, c);
    if (contextDim > 0) {
      norm(`${b}.norm2`, c);
      linear(`${b}.attn2.to_q`, c, c, false);
      linear(`${b}.attn2.to_k`, contextDim, c, false);
      linear(`${b}.attn2.to_v`, contextDim, c, false);
      linear(`${b}.attn2.to_out.0`, c, c);
    }
    norm(`${b}.norm3`, c);
    linear(`${b}.ff.net.0.proj`, c, 2 * UNET_FF_MULT * c);
    linear(`${b}.ff.net.2`, UNET_FF_MULT * c, c);
    conv(`${s.prefix}.proj_out`, 1, c, c, true);
  };

  conv('conv_in', 3, config.inChannels, c0);
  linear('time_embedding.linear_1', c0, temb);
  linear('time_embedding.linear_2', temb, temb);
  if (cond.kind === 'class') specs.push({ name: 'class_context.weight', shape: [cond.numClasses + 1, cond.contextDim], init: { kind: 'normal' } });
  for (const s of unetPlan(config)) {
    if (s.op === 'resnet') resnet(s);
    else if (s.op === 'transformer') transformer(s);
    else if (s.op === 'downsample' || s.op === 'upsample') conv(`${s.prefix}.conv`, 3, s.channels, s.channels);
  }
  norm('conv_norm_out', c0);
  conv('conv_out', 3, c0, config.outChannels, true);
  return specs;
}

/** PyTorch keeps the class table [rows, dim] as we do; every other 2-D weight is a linear layer. */
const isLinearWeight = (name: string, rank: number) => rank === 2 && name.endsWith('.weight') && name !== 'class_context.weight';

/**
 * A diffusers/PyTorch U-Net state_dict (conv OIHW, linear [out, in]) in this package's layout
 * (conv HWIO, linear [in, out]), ready for createUNet. Returns new tensors; the caller disposes the input.
 */
export function unetParamsFromPyTorch(state: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
  return relayout(state, [2, 3, 1, 0]);
}

/** The inverse of unetParamsFromPyTorch: this package's layout to PyTorch's, e.g. to save a diffusers checkpoint. */
export function unetParamsToPyTorch(params: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
  return relayout(params, [3, 2, 0, 1]);
}

function relayout(record: Record<string, tf.Tensor>, convPerm: number[]): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [name, t] of Object.entries(record)) {
    out[name] = t.rank === 4 ? tf.transpose(t, convPerm) : isLinearWeight(name, t.rank) ? tf.transpose(t) : tf.clone(t);
  }
  return out;
}
