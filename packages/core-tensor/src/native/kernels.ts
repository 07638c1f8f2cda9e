import * as tf from '@tensorflow/tfjs-core';
import { backend_util, broadcast_util, slice_util, util } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { NativeBackend } from './native-backend.js';
import { ACTIVATIONS, BINARY_OPS, GELU_TANH_OP, REDUCE_OPS, UNARY_OPS, type NativeAddon } from './addon.js';

type Args = { inputs: NamedTensorInfoMap; backend: NativeBackend; attrs?: NamedAttrMap };
type NativeKernel = (args: Args) => TensorInfo;

function f32(backend: NativeBackend, t: TensorInfo): Float32Array {
  return backend.data.get(t.dataId).values as Float32Array;
}

// Native kernels take float32 tensors held as Float32Array; anything else goes to the cpu kernel.
function allFloat32(backend: NativeBackend, ts: (TensorInfo | undefined)[]): boolean {
  return ts.every((t) => t === undefined || (t.dtype === 'float32' && backend.data.get(t.dataId).values instanceof Float32Array));
}

function output(backend: NativeBackend, shape: number[], values: Float32Array): TensorInfo {
  return backend.makeTensorInfo(shape, 'float32', values);
}

const MAX_RANK = 12;

/**
 * The kernels the native backend runs in C++, each falling back to the tfjs cpu kernel for inputs it
 * does not cover (non-float32 dtypes, NCHW, PReLU, ranks above 12, empty reductions).
 */
export function nativeKernelConfigs(addon: NativeAddon, backendName: string): KernelConfig[] {
  const configs: KernelConfig[] = [];
  const add = (kernelName: string, native: NativeKernel, inputNames: string[], applies: (args: Args) => boolean = () => true) => {
    const cpu = tf.getKernel(kernelName, 'cpu');
    if (!cpu) throw new Error(`tfjs cpu backend has no ${kernelName} kernel to fall back to; is @tensorflow/tfjs-backend-cpu 4.22 installed?`);
    const kernelFunc = (args: Args) => {
      const ins = inputNames.map((n) => args.inputs[n]);
      if (allFloat32(args.backend, ins) && applies(args)) return native(args);
      const out = cpu.kernelFunc(args as Parameters<KernelFunc>[0]);
      args.backend.noteViews(out, args.inputs);
      return out;
    };
    configs.push({ kernelName, backendName, kernelFunc: kernelFunc as unknown as KernelFunc });
  };

  for (const [name, op] of Object.entries(BINARY_OPS)) {
    add(name, ({ inputs, backend }) => {
      const a = inputs['a']!, b = inputs['b']!;
      const outShape = broadcast_util.assertAndGetBroadcastShape(a.shape, b.shape);
      const out = backend.alloc(util.sizeFromShape(outShape));
      addon.binary(op, f32(backend, a), a.shape, f32(backend, b), b.shape, out, outShape);
      return output(backend, outShape, out);
    }, ['a', 'b'], ({ inputs }) => inputs['a']!.shape.length <= MAX_RANK && inputs['b']!.shape.length <= MAX_RANK);
  }

  for (const [name, op] of Object.entries(UNARY_OPS)) {
    add(name, ({ inputs, backend }) => {
      const x = inputs['x']!;
      const out = backend.alloc(util.sizeFromShape(x.shape));
      addon.unary(op, f32(backend, x), out);
      return output(backend, x.shape, out);
    }, ['x']);
  }

  const reduction = (name: keyof typeof REDUCE_OPS, axisAttr: string) =>
    add(name, ({ inputs, backend, attrs }) => {
      const x = inputs['x']!;
      const axes = [...new Set(util.parseAxisParam(attrs![axisAttr] as number | number[], x.shape))].sort((p, q) => p - q);
      const outShape = attrs!['keepDims']
        ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d))
        : x.shape.filter((_, i) => !axes.includes(i));
      const out = backend.alloc(util.sizeFromShape(outShape));
      addon.reduce(REDUCE_OPS[name], f32(backend, x), x.shape, axes, out);
      return output(backend, outShape, out);
    }, ['x'], ({ inputs }) => util.sizeFromShape(inputs['x']!.shape) > 0);
  reduction('Sum', 'axis');
  reduction('Mean', 'axis');
  reduction('Max', 'reductionIndices');
  reduction('Min', 'axis');

  add('Transpose', ({ inputs, backend, attrs }) => {
    const x = inputs['x']!;
    const perm = attrs!['perm'] as number[];
    const outShape = perm.map((p) => x.shape[p]!);
    const out = backend.alloc(util.sizeFromShape(outShape));
    addon.transpose(f32(backend, x), x.shape, perm, out);
    return output(backend, outShape, out);
  }, ['x']);

  // Contiguous slices stay zero-copy views (the cpu kernel); strided ones are copied natively.
  const sliceTo = (backend: NativeBackend, x: TensorInfo, begin: number[], size: number[]): TensorInfo => {
    const out = backend.alloc(util.sizeFromShape(size));
    addon.slice(f32(backend, x), x.shape, begin, size, out);
    return output(backend, size, out);
  };
  const sliceParams = (x: TensorInfo, attrs: NamedAttrMap) =>
    slice_util.parseSliceParams(x, attrs['begin'] as number[], attrs['size'] as number[]);
  add('Slice', ({ inputs, backend, attrs }) => {
    const x = inputs['x']!;
    const [begin, size] = sliceParams(x, attrs!);
    slice_util.assertParamsValid(x, begin, size);
    return sliceTo(backend, x, begin, size);
  }, ['x'], ({ inputs, attrs }) => {
    const x = inputs['x']!;
    const [begin, size] = sliceParams(x, attrs!);
    return !slice_util.isSliceContinous(x.shape, begin, size);
  });
  add('SplitV', (({ inputs, backend, attrs }: Args) => {
    const x = inputs['x']!;
    const axis = util.parseAxisParam(attrs!['axis'] as number, x.shape)[0]!;
    const sizes = backend_util.prepareSplitSize(x as tf.Tensor, attrs!['numOrSizeSplits'] as number | number[], axis);
    const begin = new Array<number>(x.shape.length).fill(0);
    return sizes.map((s) => {
      const size = x.shape.slice();
      size[axis] = s;
      const piece = sliceTo(backend, x, begin.slice(), size);
      begin[axis]! += s;
      return piece;
    });
  }) as unknown as NativeKernel, ['x']);

  // Concat as one row copy per input and outer index (TypedArray.set is a memcpy).
  const concatCpu = tf.getKernel('Concat', 'cpu')!;
  configs.push({
    kernelName: 'Concat',
    backendName,
    kernelFunc: ((args: Args) => {
      const { inputs, backend, attrs } = args;
      const ts = Object.values(inputs) as TensorInfo[];
      if (!allFloat32(backend, ts) || ts.length === 0) {
        const res = concatCpu.kernelFunc(args as Parameters<KernelFunc>[0]);
        backend.noteViews(res, inputs);
        return res;
      }
      const axis = util.parseAxisParam(attrs!['axis'] as number, ts[0]!.shape)[0]!;
      const outShape = backend_util.computeOutShape(ts.map((t) => t.shape), axis);
      const outer = util.sizeFromShape(outShape.slice(0, axis));
      const out = backend.alloc(util.sizeFromShape(outShape));
      const parts = ts.map((t) => ({ v: f32(backend, t), inner: util.sizeFromShape(t.shape.slice(axis)) })).filter((p) => p.inner > 0);
      let at = 0;
      for (let row = 0; row < outer; row++) {
        for (const p of parts) {
          out.set(p.v.subarray(row * p.inner, (row + 1) * p.inner), at);
          at += p.inner;
        }
      }
      return output(backend, outShape, out);
    }) as unknown as KernelFunc,
  });

  // The gradient of gather. The cpu kernel builds one mask per segment (numSegments passes over x:
  // seconds for a 1000-class label table); this is one pass.
  add('UnsortedSegmentSum', ({ inputs, backend, attrs }) => {
    const x = inputs['x']!, ids = inputs['segmentIds']!;
    const numSegments = attrs!['numSegments'] as number;
    const inner = util.sizeFromShape(x.shape.slice(1));
    const outShape = [numSegments, ...x.shape.slice(1)];
    const out = backend.alloc(numSegments * inner).fill(0);
    const xv = f32(backend, x), idv = backend.data.get(ids.dataId).values as Int32Array;
    for (let i = 0; i < idv.length; i++) {
      const seg = idv[i]!;
      if (seg < 0 || seg >= numSegments) continue; // as TensorFlow: out-of-range ids are dropped
      const src = i * inner, dst = seg * inner;
      for (let j = 0; j < inner; j++) out[dst + j]! += xv[src + j]!;
    }
    return output(backend, outShape, out);
  }, ['x'], ({ inputs }) => inputs['segmentIds']!.shape.length === 1 && inputs['segmentIds']!.dtype === 'int32' && inputs['x']!.shape.length >= 1);

  add('Softmax', ({ inputs, backend }) => {
    const logits = inputs['logits']!;
    const cols = logits.shape[logits.shape.length - 1]!;
    const size = util.sizeFromShape(logits.shape);
    const out = backend.alloc(size);
    addon.softmax(f32(backend, logits), out, cols === 0 ? 0 : size / cols, cols);
    return output(backend, logits.shape, out);
  }, ['logits'], ({ inputs, attrs }) => (attrs!['dim'] as number) === inputs['logits']!.shape.length - 1 || (attrs!['dim'] as number) === -1);

  const matmul = ({ inputs, backend, attrs }: Args, activation: number, alpha: number, bias: Float32Array | null): TensorInfo => {
    const a = inputs['a']!, b = inputs['b']!;
    const transA = attrs!['transposeA'] as boolean, transB = attrs!['transposeB'] as boolean;
    const ar = a.shape.length, br = b.shape.length;
    const m = transA ? a.shape[ar - 1]! : a.shape[ar - 2]!;
    const k = transA ? a.shape[ar - 2]! : a.shape[ar - 1]!;
    const kB = transB ? b.shape[br - 1]! : b.shape[br - 2]!;
    const n = transB ? b.shape[br - 2]! : b.shape[br - 1]!;
    util.assert(k === kB, () => `Error in matMul: inner shapes (${k}) and (${kB}) of Tensors with shapes ${a.shape} and ${b.shape} and transposeA=${transA} and transposeB=${transB} must match.`);
    const aBatch = a.shape.slice(0, -2), bBatch = b.shape.slice(0, -2);
    const outBatch = broadcast_util.assertAndGetBroadcastShape(aBatch, bBatch);
    const [aOff, bOff] = batchOffsets(aBatch, bBatch, outBatch, m * k, k * n);
    const out = backend.alloc(aOff.length * m * n);
    addon.matmul(f32(backend, a), f32(backend, b), out, aOff, bOff, m, n, k, transA, transB, bias, activation, alpha);
    return output(backend, [...outBatch, m, n], out);
  };
  add('BatchMatMul', (args) => matmul(args, ACTIVATIONS.linear, 0, null), ['a', 'b']);

  // Fused matmul: the bias must be one value per output column (or a scalar) and the activation
  // one of the native ones; PReLU and other bias shapes use the cpu kernel.
  const columnBias = (backend: NativeBackend, bias: TensorInfo | undefined, n: number): Float32Array | null | undefined => {
    if (!bias) return null;
    const size = util.sizeFromShape(bias.shape);
    const values = f32(backend, bias);
    if (size === 1) return new Float32Array(n).fill(values[0]!);
    const last = bias.shape[bias.shape.length - 1];
    return size === n && last === n ? values : undefined;
  };
  const outColumns = (args: Args) => {
    const b = args.inputs['b']!;
    return args.attrs!['transposeB'] ? b.shape[b.shape.length - 2]! : b.shape[b.shape.length - 1]!;
  };
  add('_FusedMatMul', (args) => {
    const bias = columnBias(args.backend, args.inputs['bias'], outColumns(args))!;
    const act = ACTIVATIONS[args.attrs!['activation'] as keyof typeof ACTIVATIONS];
    return matmul(args, act, (args.attrs!['leakyreluAlpha'] as number | undefined) ?? 0.2, bias);
  }, ['a', 'b', 'bias'], (args) =>
    (args.attrs!['activation'] as string) in ACTIVATIONS &&
    args.inputs['preluActivationWeights'] === undefined &&
    columnBias(args.backend, args.inputs['bias'], outColumns(args)) !== undefined);

  const geometry = (c: backend_util.Conv2DInfo): number[] => [
    c.batchSize, c.inHeight, c.inWidth, c.inChannels, c.outHeight, c.outWidth, c.outChannels,
    c.filterHeight, c.filterWidth, c.strideHeight, c.strideWidth, c.dilationHeight, c.dilationWidth,
    c.padInfo.top, c.padInfo.left,
  ];
  type Pad = 'same' | 'valid' | number | backend_util.ExplicitPadding;
  type Rounding = 'floor' | 'round' | 'ceil' | undefined;
  type Shape4 = [number, number, number, number];
  const nhwc = (args: Args) => (args.attrs!['dataFormat'] ?? 'NHWC') === 'NHWC';
  const convForward = (args: Args, activation: number, alpha: number, bias: Float32Array | null) => {
    const { inputs, backend, attrs } = args;
    const x = inputs['x']!, filter = inputs['filter']!;
    const info = backend_util.computeConv2DInfo(x.shape as Shape4, filter.shape as Shape4, attrs!['strides'] as number | [number, number],
      attrs!['dilations'] as number | [number, number], attrs!['pad'] as Pad, attrs!['dimRoundingMode'] as Rounding, false, 'channelsLast');
    const out = backend.alloc(util.sizeFromShape(info.outShape));
    addon.conv2d(f32(backend, x), f32(backend, filter), out, geometry(info), bias, activation, alpha);
    return output(backend, info.outShape, out);
  };
  add('Conv2D', (args) => convForward(args, ACTIVATIONS.linear, 0, null), ['x', 'filter'], nhwc);
  add('FusedConv2D', (args) => {
    const filter = args.inputs['filter']!;
    const bias = columnBias(args.backend, args.inputs['bias'], filter.shape[3]!)!;
    const act = ACTIVATIONS[args.attrs!['activation'] as keyof typeof ACTIVATIONS];
    return convForward(args, act, (args.attrs!['leakyreluAlpha'] as number | undefined) ?? 0.2, bias);
  }, ['x', 'filter', 'bias'], (args) =>
    nhwc(args) &&
    (args.attrs!['activation'] as string) in ACTIVATIONS &&
    args.inputs['preluActivationWeights'] === undefined &&
    columnBias(args.backend, args.inputs['bias'], args.inputs['filter']!.shape[3]!) !== undefined);
  add('Conv2DBackpropInput', ({ inputs, backend, attrs }) => {
    const dy = inputs['dy']!, filter = inputs['filter']!;
    const info = backend_util.computeConv2DInfo(attrs!['inputShape'] as Shape4, filter.shape as Shape4, attrs!['strides'] as number | [number, number],
      1, attrs!['pad'] as Pad, attrs!['dimRoundingMode'] as Rounding, false, 'channelsLast');
    const dx = backend.alloc(util.sizeFromShape(info.inShape));
    addon.conv2dBackpropInput(f32(backend, dy), f32(backend, filter), dx, geometry(info));
    return output(backend, info.inShape, dx);
  }, ['dy', 'filter'], nhwc);
  add('Conv2DBackpropFilter', ({ inputs, backend, attrs }) => {
    const x = inputs['x']!, dy = inputs['dy']!;
    const info = backend_util.computeConv2DInfo(x.shape as Shape4, attrs!['filterShape'] as Shape4, attrs!['strides'] as number | [number, number],
      1, attrs!['pad'] as Pad, attrs!['dimRoundingMode'] as Rounding, false, 'channelsLast');
    const dw = backend.alloc(util.sizeFromShape(info.filterShape));
    addon.conv2dBackpropFilter(f32(backend, x), f32(backend, dy), dw, geometry(info));
    return output(backend, info.filterShape, dw);
  }, ['x', 'dy'], nhwc);

  // Kernels without a tfjs counterpart, run by models' geluTanh op when the backend has them
  // (@difflab/models src/ops/gelu.ts imports these names and composes tfjs ops elsewhere).
  const floatInputs = (kernelName: string, backend: NativeBackend, ts: TensorInfo[]) => {
    if (!allFloat32(backend, ts)) throw new TypeError(`${kernelName}: inputs must be float32 tensors`);
  };
  configs.push({
    kernelName: GELU_TANH_KERNEL,
    backendName,
    kernelFunc: (({ inputs, backend }: Args) => {
      const x = inputs['x']!;
      floatInputs(GELU_TANH_KERNEL, backend, [x]);
      const out = backend.alloc(util.sizeFromShape(x.shape));
      addon.unary(GELU_TANH_OP, f32(backend, x), out);
      return output(backend, x.shape, out);
    }) as unknown as KernelFunc,
  });
  configs.push({
    kernelName: GELU_TANH_GRAD_KERNEL,
    backendName,
    kernelFunc: (({ inputs, backend }: Args) => {
      const dy = inputs['dy']!, x = inputs['x']!;
      floatInputs(GELU_TANH_GRAD_KERNEL, backend, [dy, x]);
      if (!util.arraysEqual(dy.shape, x.shape)) {
        throw new RangeError(`${GELU_TANH_GRAD_KERNEL}: dy [${dy.shape}] and x [${x.shape}] must have the same shape`);
      }
      const out = backend.alloc(util.sizeFromShape(x.shape));
      addon.geluTanhGrad(f32(backend, dy), f32(backend, x), out);
      return output(backend, x.shape, out);
    }) as unknown as KernelFunc,
  });

  // Self-attention from the packed qkv projection: BLAS reads each head in place (no split/merge transposes).
  const attentionGeometry = (kernelName: string, qkv: TensorInfo, heads: number) => {
    const [b, n, d3] = qkv.shape as [number, number, number];
    if (qkv.shape.length !== 3 || !Number.isInteger(heads) || heads < 1 || d3 % (3 * heads) !== 0 || n === 0) {
      throw new RangeError(`${kernelName}: qkv must be [batch, tokens ≥ 1, 3·numHeads·headDim] with numHeads ≥ 1, got [${qkv.shape}] and numHeads ${heads}`);
    }
    return { b, n, heads, hd: d3 / (3 * heads) };
  };
  configs.push({
    kernelName: ATTENTION_KERNEL,
    backendName,
    kernelFunc: (({ inputs, backend, attrs }: Args) => {
      const qkv = inputs['qkv']!;
      floatInputs(ATTENTION_KERNEL, backend, [qkv]);
      const { b, n, heads, hd } = attentionGeometry(ATTENTION_KERNEL, qkv, attrs!['numHeads'] as number);
      const out = backend.alloc(b * n * heads * hd), probs = backend.alloc(b * heads * n * n);
      addon.attention(f32(backend, qkv), b, n, heads, hd, out, probs);
      return [output(backend, [b, n, heads * hd], out), output(backend, [b, heads, n, n], probs)];
    }) as unknown as KernelFunc,
  });
  configs.push({
    kernelName: ATTENTION_GRAD_KERNEL,
    backendName,
    kernelFunc: (({ inputs, backend, attrs }: Args) => {
      const dy = inputs['dy']!, qkv = inputs['qkv']!, probs = inputs['probs']!;
      floatInputs(ATTENTION_GRAD_KERNEL, backend, [dy, qkv, probs]);
      const { b, n, heads, hd } = attentionGeometry(ATTENTION_GRAD_KERNEL, qkv, attrs!['numHeads'] as number);
      if (!util.arraysEqual(dy.shape, [b, n, heads * hd]) || !util.arraysEqual(probs.shape, [b, heads, n, n])) {
        throw new RangeError(`${ATTENTION_GRAD_KERNEL}: dy [${dy.shape}] must be [${[b, n, heads * hd]}] and probs [${probs.shape}] [${[b, heads, n, n]}] for qkv [${qkv.shape}]`);
      }
      const dqkv = backend.alloc(util.sizeFromShape(qkv.shape));
      addon.attentionGrad(f32(backend, dy), f32(backend, qkv), f32(backend, probs), b, n, heads, hd, dqkv);
      return output(backend, qkv.shape, dqkv);
    }) as unknown as KernelFunc,
  });

  // Per-batch-item rows (adaLN's shift/scale/gate): x [B, …, D] with each of `rows` holding B×D values.
  const modulationGeometry = (kernelName: string, x: TensorInfo, rows: Record<string, TensorInfo>) => {
    if (x.shape.length < 2) throw new RangeError(`${kernelName}: x must have rank ≥ 2 ([batch, …, features]), got [${x.shape}]`);
    const groups = x.shape[0]!, cols = x.shape[x.shape.length - 1]!;
    for (const [name, t] of Object.entries(rows)) {
      if (util.sizeFromShape(t.shape) !== groups * cols || t.shape[0] !== groups || t.shape[t.shape.length - 1] !== cols) {
        throw new RangeError(`${kernelName}: ${name} [${t.shape}] must hold one row of ${cols} per batch item of x [${x.shape}], e.g. [${groups}, 1, ${cols}]`);
      }
    }
    return { groups, cols, perGroup: groups * cols === 0 ? 0 : util.sizeFromShape(x.shape) / (groups * cols) };
  };
  const sameShape = (kernelName: string, a: [string, TensorInfo], b: [string, TensorInfo]) => {
    if (!util.arraysEqual(a[1].shape, b[1].shape)) {
      throw new RangeError(`${kernelName}: ${a[0]} [${a[1].shape}] and ${b[0]} [${b[1].shape}] must have the same shape`);
    }
  };

  configs.push({
    kernelName: GATED_RESIDUAL_KERNEL,
    backendName,
    kernelFunc: (({ inputs, backend }: Args) => {
      const h = inputs['h']!, gate = inputs['gate']!, x = inputs['x']!;
      floatInputs(GATED_RESIDUAL_KERNEL, backend, [h, gate, x]);
      sameShape(GATED_RESIDUAL_KERNEL, ['h', h], ['x', x]);
      const { groups, cols, perGroup } = modulationGeometry(GATED_RESIDUAL_KERNEL, x, { gate });
      const out = backend.alloc(util.sizeFromShape(x.shape));
      addon.gatedResidual(f32(backend, h), f32(backend, gate), f32(backend, x), groups, perGroup, cols, out);
      return output(backend, x.shape, out);
    }) as unknown as KernelFunc,
  });
  configs.push({
    kernelName: GATED_RESIDUAL_GRAD_KERNEL,
    backendName,
    kernelFunc: (({ inputs, backend }: Args) => {
      const dy = inputs['dy']!, gate = inputs['gate']!, x = inputs['x']!;
      floatInputs(GATED_RESIDUAL_GRAD_KERNEL, backend, [dy, gate, x]);
      sameShape(GATED_RESIDUAL_GRAD_KERNEL, ['dy', dy], ['x', x]);
      const { groups, cols, perGroup } = modulationGeometry(GATED_RESIDUAL_GRAD_KERNEL, x, { gate });
      const dx = backend.alloc(util.sizeFromShape(x.shape)), dgate = backend.alloc(groups * cols);
      addon.gatedResidualGrad(f32(backend, dy), f32(backend, gate), f32(backend, x), groups, perGroup, cols, dx, dgate);
      return [output(backend, x.shape, dx), output(backend, gate.shape, dgate)];
    }) as unknown as KernelFunc,
  });

  // Layer norm (no affine) + adaLN modulate.
  configs.push({
    kernelName: LAYER_NORM_MODULATE_KERNEL,
    backendName,
    kernelFunc: (({ inputs, backend, attrs }: Args) => {
      const x = inputs['x']!, shift = inputs['shift']!, scale = inputs['scale']!;
      floatInputs(LAYER_NORM_MODULATE_KERNEL, backend, [x, shift, scale]);
      const { groups, cols, perGroup } = modulationGeometry(LAYER_NORM_MODULATE_KERNEL, x, { shift, scale });
      if (cols === 0) throw new RangeError(`${LAYER_NORM_MODULATE_KERNEL}: x [${x.shape}] has no features to normalise`);
      const rows = groups * perGroup;
      const y = backend.alloc(rows * cols), mean = backend.alloc(rows), rstd = backend.alloc(rows);
      addon.layerNormModulate(f32(backend, x), f32(backend, shift), f32(backend, scale), groups, perGroup, cols,
        attrs!['epsilon'] as number, y, mean, rstd, centered(attrs));
      const statShape = x.shape.slice(0, -1);
      return [output(backend, x.shape, y), output(backend, statShape, mean), output(backend, statShape, rstd)];
    }) as unknown as KernelFunc,
  });
  configs.push({
    kernelName: LAYER_NORM_MODULATE_GRAD_KERNEL,
    backendName,
    kernelFunc: (({ inputs, backend, attrs }: Args) => {
      const dy = inputs['dy']!, x = inputs['x']!, mean = inputs['mean']!, rstd = inputs['rstd']!, scale = inputs['scale']!;
      floatInputs(LAYER_NORM_MODULATE_GRAD_KERNEL, backend, [dy, x, mean, rstd, scale]);
      sameShape(LAYER_NORM_MODULATE_GRAD_KERNEL, ['dy', dy], ['x', x]);
      const { groups, cols, perGroup } = modulationGeometry(LAYER_NORM_MODULATE_GRAD_KERNEL, x, { scale });
      if (cols === 0) throw new RangeError(`${LAYER_NORM_MODULATE_GRAD_KERNEL}: x [${x.shape}] has no features to normalise`);
      if (!util.arraysEqual(mean.shape, x.shape.slice(0, -1)) || !util.arraysEqual(rstd.shape, mean.shape)) {
        throw new RangeError(`${LAYER_NORM_MODULATE_GRAD_KERNEL}: mean [${mean.shape}] and rstd [${rstd.shape}] must be shaped as x [${x.shape}] without its last axis`);
      }
      const rows = groups * perGroup;
      const dx = backend.alloc(rows * cols), dscale = backend.alloc(groups * cols), dshift = backend.alloc(groups * cols);
      addon.layerNormModulateGrad(f32(backend, dy), f32(backend, x), f32(backend, mean), f32(backend, rstd), f32(backend, scale),
        groups, perGroup, cols, dx, dscale, dshift, centered(attrs));
      return [output(backend, x.shape, dx), output(backend, scale.shape, dscale), output(backend, scale.shape, dshift)];
    }) as unknown as KernelFunc,
  });

  // A dense layer on the last axis of x of any rank: the same single sgemm (and, backward, the same
  // two sgemms and bias sum) that tf.fused.matMul runs on the 2-D view of x, without its reshapes,
  // its 3-D reshapes and their gradients' reshapes (about ten engine ops per layer and step).
  const ZERO_OFFSET = new Int32Array(1);
  const linearGeometry = (kernelName: string, x: TensorInfo, weight: TensorInfo) => {
    if (x.shape.length < 1 || weight.shape.length !== 2 || x.shape[x.shape.length - 1] !== weight.shape[0]) {
      throw new RangeError(`${kernelName}: x [${x.shape}] must end in the weight's input size, weight [${weight.shape}] must be [in, out]`);
    }
    const [inDim, outDim] = weight.shape as [number, number];
    return { inDim, outDim, rows: inDim === 0 ? 0 : util.sizeFromShape(x.shape) / inDim };
  };
  configs.push({
    kernelName: LINEAR_KERNEL,
    backendName,
    kernelFunc: (({ inputs, backend }: Args) => {
      const x = inputs['x']!, weight = inputs['weight']!, bias = inputs['bias'];
      floatInputs(LINEAR_KERNEL, backend, bias ? [x, weight, bias] : [x, weight]);
      const { inDim, outDim, rows } = linearGeometry(LINEAR_KERNEL, x, weight);
      if (bias && (bias.shape.length !== 1 || bias.shape[0] !== outDim)) throw new RangeError(`${LINEAR_KERNEL}: bias [${bias.shape}] must be [${outDim}]`);
      const out = backend.alloc(rows * outDim);
      // _FusedMatMul's call for a [1, rows, in] · [1, in, out] product (its leakyreluAlpha default too).
      addon.matmul(f32(backend, x), f32(backend, weight), out, ZERO_OFFSET, ZERO_OFFSET, rows, outDim, inDim, false, false,
        bias ? f32(backend, bias) : null, ACTIVATIONS.linear, 0.2);
      return output(backend, [...x.shape.slice(0, -1), outDim], out);
    }) as unknown as KernelFunc,
  });
  configs.push({
    kernelName: LINEAR_GRAD_KERNEL,
    backendName,
    kernelFunc: (({ inputs, backend, attrs }: Args) => {
      const dy = inputs['dy']!, x = inputs['x']!, weight = inputs['weight']!;
      floatInputs(LINEAR_GRAD_KERNEL, backend, [dy, x, weight]);
      const { inDim, outDim, rows } = linearGeometry(LINEAR_GRAD_KERNEL, x, weight);
      if (!util.arraysEqual(dy.shape, [...x.shape.slice(0, -1), outDim])) {
        throw new RangeError(`${LINEAR_GRAD_KERNEL}: dy [${dy.shape}] must be [${[...x.shape.slice(0, -1), outDim]}] for x [${x.shape}] and weight [${weight.shape}]`);
      }
      const dyv = f32(backend, dy), xv = f32(backend, x);
      // The BatchMatMul calls of tf.fused.matMul's gradient: dx = dy·Wᵀ, dW = xᵀ·dy (as [1, rows, ·] products).
      const dx = backend.alloc(rows * inDim), dw = backend.alloc(inDim * outDim);
      addon.matmul(dyv, f32(backend, weight), dx, ZERO_OFFSET, ZERO_OFFSET, rows, inDim, outDim, false, true, null, ACTIVATIONS.linear, 0);
      addon.matmul(xv, dyv, dw, ZERO_OFFSET, ZERO_OFFSET, inDim, outDim, rows, true, false, null, ACTIVATIONS.linear, 0);
      const outs = [output(backend, x.shape, dx), output(backend, weight.shape, dw)];
      if (attrs?.['hasBias'] !== false) {
        // Its bias gradient: Sum of dy [1, rows, out] over axes 0 and 1.
        const db = backend.alloc(outDim);
        if (rows === 0) db.fill(0);
        else addon.reduce(REDUCE_OPS.Sum, dyv, [1, rows, outDim], [0, 1], db);
        outs.push(output(backend, [outDim], db));
      }
      return outs;
    }) as unknown as KernelFunc,
  });

  // SwiGLU's gate silu(a)·g; only where the addon has it (models compose Sigmoid and Multiply otherwise).
  const swigluGate = addon.swigluGate?.bind(addon), swigluGateGrad = addon.swigluGateGrad?.bind(addon);
  if (swigluGate && swigluGateGrad) {
    configs.push({
      kernelName: SWIGLU_GATE_KERNEL,
      backendName,
      kernelFunc: (({ inputs, backend }: Args) => {
        const a = inputs['a']!, gate = inputs['gate']!;
        floatInputs(SWIGLU_GATE_KERNEL, backend, [a, gate]);
        sameShape(SWIGLU_GATE_KERNEL, ['a', a], ['gate', gate]);
        const y = backend.alloc(util.sizeFromShape(a.shape));
        swigluGate(f32(backend, a), f32(backend, gate), y);
        return output(backend, a.shape, y);
      }) as unknown as KernelFunc,
    });
    configs.push({
      kernelName: SWIGLU_GATE_GRAD_KERNEL,
      backendName,
      kernelFunc: (({ inputs, backend }: Args) => {
        const dy = inputs['dy']!, a = inputs['a']!, gate = inputs['gate']!;
        floatInputs(SWIGLU_GATE_GRAD_KERNEL, backend, [dy, a, gate]);
        sameShape(SWIGLU_GATE_GRAD_KERNEL, ['a', a], ['gate', gate]);
        sameShape(SWIGLU_GATE_GRAD_KERNEL, ['dy', dy], ['a', a]);
        const n = util.sizeFromShape(a.shape);
        const da = backend.alloc(n), dgate = backend.alloc(n);
        swigluGateGrad(f32(backend, dy), f32(backend, a), f32(backend, gate), da, dgate);
        return [output(backend, a.shape, da), output(backend, a.shape, dgate)];
      }) as unknown as KernelFunc,
    });
  }

  // Rotary position embedding; only where the addon has it (one built before it loads without it, and
  // models then compose the rotation from tfjs ops).
  const rotaryPairs = addon.rotaryPairs?.bind(addon);
  if (rotaryPairs) {
    configs.push({
      kernelName: ROTARY_KERNEL,
      backendName,
      kernelFunc: (({ inputs, backend, attrs }: Args) => {
        const x = inputs['x']!, cos = inputs['cos']!, sin = inputs['sin']!;
        for (const [name, t] of [['x', x], ['cos', cos], ['sin', sin]] as const) {
          if (!allFloat32(backend, [t])) throw new TypeError(`${ROTARY_KERNEL}: ${name} must be a float32 tensor, got ${t.dtype}`);
        }
        if (cos.shape.length !== 2) throw new RangeError(`${ROTARY_KERNEL}: cos [${cos.shape}] must be [tokens, pairs]`);
        sameShape(ROTARY_KERNEL, ['sin', sin], ['cos', cos]);
        const [tokens, pairs] = cos.shape as [number, number];
        if (x.shape.length !== 3 || x.shape[2] !== 2 * pairs) {
          throw new RangeError(`${ROTARY_KERNEL}: x [${x.shape}] must be [batch, tokens, 2·pairs] = [batch, ${tokens}, ${2 * pairs}] for cos and sin [${cos.shape}]`);
        }
        if (x.shape[1] !== tokens) {
          throw new RangeError(`${ROTARY_KERNEL}: cos and sin [${cos.shape}] must have one row per token of x [${x.shape}], ${x.shape[1]} rows`);
        }
        const y = backend.alloc(util.sizeFromShape(x.shape));
        rotaryPairs(f32(backend, x), f32(backend, cos), f32(backend, sin), x.shape[0]!, tokens, pairs, attrs?.['inverse'] === true, y);
        return output(backend, x.shape, y);
      }) as unknown as KernelFunc,
    });
  }
  return configs;
}

/** The norm kernels' `center` attr: layer norm unless it is explicitly false (RMSNorm). */
function centered(attrs: Args['attrs']): boolean {
  return attrs?.['center'] !== false;
}

/** GELU (tanh approximation) forward {x} and backward {dy, x}: native-only kernels. */
export const GELU_TANH_KERNEL = 'GeluTanh';
export const GELU_TANH_GRAD_KERNEL = 'GeluTanhGrad';
/**
 * Multi-head self-attention, native only: {qkv [B, N, 3·d] laid out [B, N, 3, H, hd]}, attr numHeads →
 * [out [B, N, d] = softmax(q·kᵀ/√hd)·v per head with heads merged, probs [B, H, N, N]].
 */
export const ATTENTION_KERNEL = 'Attention';
/** Its gradient: {dy [B, N, d], qkv, probs}, attr numHeads → dqkv [B, N, 3·d]. */
export const ATTENTION_GRAD_KERNEL = 'AttentionGrad';
/**
 * Layer norm without affine followed by adaLN modulate, native only:
 * {x [B, …, D], shift, scale (B×D values, e.g. [B, 1, D])}, attrs epsilon, center (default true) →
 * [y = (x − mean)·rstd·(1 + scale) + shift, mean, rstd] (mean and rstd shaped x without its last axis).
 * center: false is RMSNorm + modulate: mean is 0 and rstd = 1/√(mean(x²) + ε).
 */
export const LAYER_NORM_MODULATE_KERNEL = 'LayerNormModulate';
/** Its gradient: {dy, x, mean, rstd, scale}, attr center as the forward's → [dx, dscale, dshift]. */
export const LAYER_NORM_MODULATE_GRAD_KERNEL = 'LayerNormModulateGrad';
/**
 * 2-D RoPE's rotation of interleaved channel pairs, native only: {x [B, T, 2·P], cos, sin [T, P]}, attr inverse
 * (default false) → y [B, T, 2·P] with y[…, 2p] = x₀·cos − x₁·sin, y[…, 2p+1] = x₁·cos + x₀·sin (x₀, x₁ = x[…, 2p],
 * x[…, 2p+1]; tables indexed [t, p]). inverse: true negates sin, the inverse rotation, which is also the
 * gradient: dx = the kernel on dy with inverse: true (the tables are constants and get none).
 * Registered only where the addon has it.
 */
export const ROTARY_KERNEL = 'DifflabRotaryPairs';
/**
 * A dense layer on the last axis, native only: {x [..., in], weight [in, out], bias [out] (optional)} →
 * x·weight + bias, [..., out]; bit-identical to tf.fused.matMul on x reshaped to [rows, in].
 */
export const LINEAR_KERNEL = 'DifflabLinear';
/**
 * Its gradient: {dy [..., out], x, weight}, attr hasBias (default true) → [dx = dy·weightᵀ, dweight = xᵀ·dy,
 * dbias = Σ dy over rows (when hasBias)], bit-identical to tf.fused.matMul's gradient.
 */
export const LINEAR_GRAD_KERNEL = 'DifflabLinearGrad';
/**
 * SwiGLU's gate, native only: {a, gate} (same shape) → (a·σ(a))·gate, bit-identical to
 * tf.mul(tf.mul(a, tf.sigmoid(a)), gate) on this backend. Registered only where the addon has it.
 */
export const SWIGLU_GATE_KERNEL = 'DifflabSwigluGate';
/** Its gradient: {dy, a, gate} → [da, dgate], bit-identical to tfjs's gradients of those three ops. */
export const SWIGLU_GATE_GRAD_KERNEL = 'DifflabSwigluGateGrad';
/** adaLN-Zero's gated residual, native only: {h, gate, x} → h + gate·x, with x, h [B, …, D] and gate B×D values. */
export const GATED_RESIDUAL_KERNEL = 'GatedResidual';
/** Its gradient but dh (= dy): {dy, gate, x} → [dx = dy·gate, dgate = Σ dy·x over each batch item's rows]. */
export const GATED_RESIDUAL_GRAD_KERNEL = 'GatedResidualGrad';

/** Element offsets of each broadcast batch item's matrix in A and B. */
function batchOffsets(aBatch: number[], bBatch: number[], outBatch: number[], aMatrix: number, bMatrix: number): [Int32Array, Int32Array] {
  const count = util.sizeFromShape(outBatch);
  const aOff = new Int32Array(count), bOff = new Int32Array(count);
  const aCount = util.sizeFromShape(aBatch), bCount = util.sizeFromShape(bBatch);
  const stridesFor = (shape: number[]) => {
    const aligned = [...new Array<number>(outBatch.length - shape.length).fill(1), ...shape];
    const strides = new Array<number>(aligned.length);
    let s = 1;
    for (let i = aligned.length - 1; i >= 0; i--) {
      strides[i] = aligned[i] === 1 ? 0 : s;
      s *= aligned[i]!;
    }
    return strides;
  };
  const aStrides = aCount === count ? null : stridesFor(aBatch);
  const bStrides = bCount === count ? null : stridesFor(bBatch);
  for (let i = 0; i < count; i++) {
    let ai = i, bi = i;
    if (aStrides || bStrides) {
      let rem = i;
      ai = 0;
      bi = 0;
      for (let d = outBatch.length - 1; d >= 0; d--) {
        const idx = rem % outBatch[d]!;
        rem = Math.floor(rem / outBatch[d]!);
        ai += idx * (aStrides ? aStrides[d]! : 0);
        bi += idx * (bStrides ? bStrides[d]! : 0);
      }
      if (!aStrides) ai = i;
      if (!bStrides) bi = i;
    }
    aOff[i] = ai * aMatrix;
    bOff[i] = bi * bMatrix;
  }
  return [aOff, bOff];
}
