// DiT architecture options (mlp: 'swiglu', norm: 'rmsnorm', rope): defaults unchanged bit for bit,
// analytic parameter and FLOP counts exact, gradients through each new module against finite
// differences, and the native backend against tfjs's cpu backend on whole models.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { ROTARY_KERNEL, Rng, registerNativeBackend } from '@difflab/core-tensor';
import { DIT_BLOCKS, DIT_CONFIGS, type DiT, type DiTConfig, ModelConfigError, countDiT, createDiT, ditConfig } from '../src/index.js';
import { ditShape } from '../src/dit/config.js';

const reg = registerNativeBackend();
if (!reg.ok) throw new Error(`native backend unavailable: ${reg.reason}; run npm run build-native -w @difflab/core-tensor`);
await tf.setBackend('native');

const tiny: DiTConfig = {
  inputSize: 8, patchSize: 2, inChannels: 3, hiddenSize: 16, depth: 2, numHeads: 2,
  mlpRatio: 4, numClasses: 5, classDropoutProb: 0.1, learnSigma: false, block: 'adaLN-Zero',
};

function inputs(b: number, cfg: DiTConfig) {
  const x = new Rng(7).normalTensor([b, cfg.inputSize, cfg.inputSize, cfg.inChannels]) as tf.Tensor4D;
  const t = tf.tensor1d(Array.from({ length: b }, (_, i) => (i * 397) % 1000), 'float32');
  const y = tf.tensor1d(Array.from({ length: b }, (_, i) => i % cfg.numClasses), 'int32');
  return { x, t, y };
}

const allocated = (m: DiT) => Object.values(m.params).reduce((a, v) => a + v.size, 0);

/** Every weight redrawn from N(0, 0.2), so no zero-initialised layer hides a gradient. */
function randomize(model: DiT, seed: number): void {
  const rng = new Rng(seed);
  for (const name of Object.keys(model.params).sort()) {
    const v = model.params[name]!;
    v.assign(rng.normalTensor(v.shape, 0, 0.2));
  }
}

describe('defaults leave every existing model as it was', () => {
  for (const block of DIT_BLOCKS) {
    it(`${block}: no option and the explicit defaults give the same names, weights and outputs, bit for bit`, async () => {
      const plain = createDiT({ ...tiny, block }, new Rng(1));
      const explicit = createDiT({ ...tiny, block, mlp: 'gelu', norm: 'layernorm', rope: false }, new Rng(1));
      expect(Object.keys(explicit.params)).toEqual(Object.keys(plain.params));
      expect(Object.keys(plain.params).some((n) => /mlp\.w\d|rope/.test(n))).toBe(false);
      for (const [name, v] of Object.entries(plain.params)) expect(await explicit.params[name]!.data(), name).toEqual(await v.data());
      randomize(plain, 3);
      randomize(explicit, 3);
      const { x, t, y } = inputs(2, tiny);
      expect(await explicit.forward(x, t, y).data()).toEqual(await plain.forward(x, t, y).data());
      plain.dispose();
      explicit.dispose();
    });
  }

  it('named configs carry no option fields (their counts are the paper table)', () => {
    for (const c of Object.values(DIT_CONFIGS)) expect(['mlp', 'norm', 'rope'].filter((k) => k in c)).toEqual([]);
  });
});

describe('SwiGLU width at equal parameters', () => {
  it("is LightningDiT's int(2/3 · mlpRatio · d): the floor, no rounding up to a multiple", () => {
    expect(ditShape({ ...ditConfig('DiT-XL/2'), mlp: 'swiglu' }).swigluHidden).toBe(3072); // 2/3 · 4608
    expect(ditShape({ ...ditConfig('DiT-FMNIST-S/4'), mlp: 'swiglu' }).swigluHidden).toBe(512); // 2/3 · 768
    expect(ditShape(tiny).swigluHidden).toBe(42); // 2/3 · 64 = 42.67
    expect(ditShape({ ...tiny, hiddenSize: 1024, numHeads: 16 }).swigluHidden).toBe(2730); // DiT-L: 2/3 · 4096 = 2730.67
  });

  it('named configs keep their weight count exactly (3·d·h = 2·d·m); only the biases differ, by depth·(2h − m)', () => {
    for (const name of ['DiT-S/2', 'DiT-B/2', 'DiT-XL/2', 'DiT-FMNIST-S/4']) {
      const c = ditConfig(name);
      const { mlpHidden: m, swigluHidden: h } = ditShape(c);
      const d = c.hiddenSize;
      expect(3 * d * h).toBe(2 * d * m);
      const delta = countDiT({ ...c, mlp: 'swiglu' }).params - countDiT(c).params;
      expect(delta).toBe(c.depth * (2 * h - m)); // biases: (h + h + d) − (m + d)
    }
  });
});

describe('countDiT with the options', () => {
  for (const block of DIT_BLOCKS) {
    for (const mlp of ['gelu', 'swiglu'] as const) {
      for (const norm of ['layernorm', 'rmsnorm'] as const) {
        for (const rope of [false, true]) {
          it(`${block}, ${mlp}, ${norm}, rope=${rope}: counted params = allocated params`, () => {
            const cfg: DiTConfig = { ...tiny, block, mlp, norm, rope, learnSigma: rope };
            const model = createDiT(cfg, new Rng(0));
            expect(countDiT(cfg).params).toBe(allocated(model));
            expect(countDiT(cfg).fixedParams).toBe(model.posEmbed.size);
            model.dispose();
          });
        }
      }
    }
  }

  it('adaLN-Zero + SwiGLU + RMSNorm + RoPE on an 8×8×3 input: params and Gflops by hand', () => {
    // d = 16, 2 heads, depth 2, patch 2 → 16 tokens of 12 values; SwiGLU h = floor(2/3 · 64) = 42; out 2·2·3 = 12.
    const cfg: DiTConfig = { ...tiny, mlp: 'swiglu', norm: 'rmsnorm', rope: true };
    const perBlockParams =
      (16 * 48 + 48) + (16 * 16 + 16) + // attn.qkv, attn.proj
      2 * (16 * 42 + 42) + (42 * 16 + 16) + // mlp.w1, mlp.w2, mlp.w3
      (16 * 96 + 96); // adaLN_modulation (6·d); RMSNorm without affine, RoPE without weights
    const params =
      (12 * 16 + 16) + (256 * 16 + 16) + (16 * 16 + 16) + 6 * 16 + // x_embedder, t_embedder ×2, label table (5 + null)
      2 * perBlockParams +
      (16 * 32 + 32) + (16 * 12 + 12); // final adaLN (2·d), final linear
    expect(countDiT(cfg).params).toBe(params);
    const perBlockMacs =
      16 * 16 * 48 + 16 * 16 * 16 + // qkv, proj over 16 tokens
      2 * 16 * 16 * 16 + // QKᵀ and AV: 16×16 scores of width 16 (all heads)
      16 * 3 * 16 * 42 + // SwiGLU: three 16×42 matrices per token
      16 * 96; // modulation
    const macs = 16 * 12 * 16 + 256 * 16 + 16 * 16 + 2 * perBlockMacs + 16 * 32 + 16 * 16 * 12;
    const normElements = 2 * 2 * 16 * 16 + 16 * 16; // two RMSNorms per block + the final one, 16 tokens × 16
    expect(countDiT(cfg).macs).toBe(macs);
    expect(countDiT(cfg).gflops).toBeCloseTo((macs + normElements) / 1e9, 18);
    expect(macs).toBe(127_744);
    // RoPE is elementwise (counts zero); RMSNorm counts per element like LayerNorm; SwiGLU only moves the MLP term.
    expect(countDiT({ ...cfg, rope: false }).gflops).toBe(countDiT(cfg).gflops);
    expect(countDiT({ ...cfg, norm: 'layernorm' }).gflops).toBe(countDiT(cfg).gflops);
    expect(countDiT(tiny).macs - macs).toBe(2 * 16 * (2 * 16 * 64 - 3 * 16 * 42));
  });

  it('in-context with RMSNorm: affine norms are a weight of d (no bias)', () => {
    const ln = countDiT({ ...tiny, block: 'in-context' }).params;
    const rms = countDiT({ ...tiny, block: 'in-context', norm: 'rmsnorm' }).params;
    expect(ln - rms).toBe((2 * 2 + 1) * 16); // two norms per block × depth 2, plus norm_final
  });
});

describe('validation', () => {
  it('rejects unknown options and RoPE heads not divisible by 4, naming the field', () => {
    expect(() => createDiT({ ...tiny, mlp: 'relu' as never }, new Rng(0))).toThrow(ModelConfigError);
    expect(() => countDiT({ ...tiny, norm: 'batchnorm' as never })).toThrow(/DiTConfig\.norm/);
    expect(() => countDiT({ ...tiny, rope: 1 as never })).toThrow(/DiTConfig\.rope/);
    expect(() => countDiT({ ...tiny, hiddenSize: 12, numHeads: 2, rope: true })).toThrow(/divisible by 4/);
    expect(() => countDiT({ ...tiny, hiddenSize: 12, numHeads: 2 })).not.toThrow();
  });
});

describe('models with the options', () => {
  const all: DiTConfig = { ...tiny, mlp: 'swiglu', norm: 'rmsnorm', rope: true };

  for (const block of DIT_BLOCKS) {
    it(`${block} with all options: native equals cpu (outputs and every gradient), no leaks`, async () => {
      const cfg = { ...all, block, learnSigma: true };
      const run = async (backend: 'native' | 'cpu') => {
        await tf.setBackend(backend);
        const model = createDiT(cfg, new Rng(1));
        randomize(model, 2);
        const { x, t, y } = inputs(2, cfg);
        const before = tf.memory().numTensors;
        const out = model.forward(x, t, y);
        const value = await out.data();
        out.dispose();
        const { value: loss, grads } = tf.variableGrads(() => tf.mean(tf.square(model.forward(x, t, y))) as tf.Scalar);
        // variableGrads keys gradients by tf.Variable name; map them back to the state_dict names.
        const g = Object.fromEntries(
          await Promise.all(Object.entries(model.params).map(async ([k, v]) => [k, await grads[v.name]!.data()] as const)),
        );
        loss.dispose();
        tf.dispose(grads);
        expect(tf.memory().numTensors, `${backend}: forward/backward leaked`).toBe(before);
        expect(Object.keys(g).length).toBe(Object.keys(model.params).length);
        model.dispose();
        tf.dispose([x, t, y]);
        return { value, g };
      };
      const cpu = await run('cpu');
      const native = await run('native');
      expect(native.value.length).toBe(8 * 8 * 6 * 2);
      native.value.forEach((v, i) => expect(Math.abs(v - cpu.value[i]!)).toBeLessThan(1e-4 * (1 + Math.abs(cpu.value[i]!))));
      for (const [name, gc] of Object.entries(cpu.g)) {
        const gn = native.g[name]!;
        const scale = Math.max(1e-6, ...Array.from(gc, Math.abs));
        gn.forEach((v, i) => expect(Math.abs(v - gc[i]!), `${name}[${i}]`).toBeLessThan(1e-3 * scale));
      }
    });
  }

  for (const block of ['adaLN-Zero', 'in-context'] as const) {
    it(`${block} with rope alone: the native rotary kernel gives cpu's composed forward`, async () => {
      const cfg: DiTConfig = { ...tiny, block, rope: true };
      const forward = async (backend: 'native' | 'cpu') => {
        await tf.setBackend(backend);
        const model = createDiT(cfg, new Rng(3));
        randomize(model, 4);
        const { x, t, y } = inputs(3, cfg);
        let value: Float32Array = new Float32Array();
        const prof = await tf.profile(() => {
          value = tf.tidy(() => model.forward(x, t, y).dataSync().slice() as Float32Array);
        });
        model.dispose();
        tf.dispose([x, t, y]);
        return { value, kernels: prof.kernels.map((k) => k.name) };
      };
      const cpu = await forward('cpu');
      const native = await forward('native');
      expect(cpu.kernels).not.toContain(ROTARY_KERNEL);
      expect(native.kernels.filter((k) => k === ROTARY_KERNEL)).toHaveLength(cfg.depth);
      expect(native.value.length).toBe(cpu.value.length);
      native.value.forEach((v, i) => expect(Math.abs(v - cpu.value[i]!), `output ${i}`).toBeLessThan(1e-4 * (1 + Math.abs(cpu.value[i]!))));
    });
  }

  it('createDiT + dispose with RoPE leaves no tensor behind', () => {
    const before = tf.memory().numTensors;
    const model = createDiT(all, new Rng(1));
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  /**
   * d loss / d param[index] by tfjs against a central difference of the loss in float32, for the
   * element of `name` (within columns [c0, c1) of a [in, out] weight) with the largest gradient.
   */
  async function checkGradient(cfg: DiTConfig, name: string, columns?: [number, number]): Promise<void> {
    const model = createDiT(cfg, new Rng(5));
    randomize(model, 6);
    const { x, t, y } = inputs(2, cfg);
    const outShape = model.forward(x, t, y).shape;
    const weights = new Rng(9).normalTensor(outShape);
    const loss = () => tf.sum(tf.mul(model.forward(x, t, y), weights)) as tf.Scalar;
    const { value, grads } = tf.variableGrads(loss, [model.params[name]!]);
    const g = await grads[model.params[name]!.name]!.data();
    value.dispose();
    tf.dispose(grads);
    const param = model.params[name]!;
    const cols = param.shape.length === 2 ? param.shape[1]! : 1;
    let index = -1;
    for (let i = 0; i < g.length; i++) {
      const c = i % cols;
      if (columns && (c < columns[0] || c >= columns[1])) continue;
      if (index < 0 || Math.abs(g[i]!) > Math.abs(g[index]!)) index = i;
    }
    const base = await param.data();
    const at = async (delta: number) => {
      const v = Float32Array.from(base);
      v[index] = v[index]! + delta;
      param.assign(tf.tensor(v, param.shape));
      return tf.tidy(() => loss().dataSync()[0]!);
    };
    const h = 1e-2;
    const fd = ((await at(h)) - (await at(-h))) / (2 * h);
    expect(Math.abs(g[index]!), `${name}: gradient should not vanish`).toBeGreaterThan(1e-2);
    expect(Math.abs(fd - g[index]!), `${name}[${index}]: analytic ${g[index]} vs central difference ${fd}`).toBeLessThan(2e-3 + 2e-2 * Math.abs(g[index]!));
    model.dispose();
    tf.dispose([x, t, y, weights]);
  }

  const small: DiTConfig = { ...tiny, inputSize: 4, inChannels: 1, hiddenSize: 8, depth: 1, numHeads: 2 };
  it('SwiGLU: gradients of w1, w2 (gate) and w3 match finite differences (native)', async () => {
    for (const w of ['w1', 'w2', 'w3']) await checkGradient({ ...small, mlp: 'swiglu' }, `blocks.0.mlp.${w}.weight`);
  });
  it('RMSNorm: gradients through the modulated norm (scale_msa, final scale) and an affine RMSNorm weight match finite differences', async () => {
    const d = small.hiddenSize;
    await checkGradient({ ...small, norm: 'rmsnorm' }, 'blocks.0.adaLN_modulation.1.weight', [d, 2 * d]);
    await checkGradient({ ...small, norm: 'rmsnorm' }, 'final_layer.adaLN_modulation.1.weight', [d, 2 * d]);
    await checkGradient({ ...small, norm: 'rmsnorm', block: 'in-context' }, 'blocks.0.norm1.weight');
  });
  it('RoPE: gradients of the query and key projections through the rotation match finite differences', async () => {
    const d = small.hiddenSize;
    await checkGradient({ ...small, rope: true }, 'blocks.0.attn.qkv.weight', [0, d]);
    await checkGradient({ ...small, rope: true }, 'blocks.0.attn.qkv.weight', [d, 2 * d]);
  });

  it('RoPE is live: the same weights give a different output with it', async () => {
    // Same weights with and without RoPE: outputs differ (the switch is live).
    const a = createDiT({ ...tiny, rope: false }, new Rng(4));
    const b = createDiT({ ...tiny, rope: true }, new Rng(4));
    randomize(a, 8);
    randomize(b, 8);
    const { x, t, y } = inputs(2, tiny);
    const oa = await a.forward(x, t, y).data();
    const ob = await b.forward(x, t, y).data();
    expect(Math.max(...oa.map((v, i) => Math.abs(v - ob[i]!)))).toBeGreaterThan(1e-3);
    a.dispose();
    b.dispose();
  });
});
