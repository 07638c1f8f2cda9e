// Parameter-efficient fine-tuning methods on whole DiTs, on tfjs's cpu backend and the native backend:
// identity at initialisation, gradients to the adapter only (and equal to finite differences), native
// equal to cpu, adapters saved as safetensors reproduce outputs on a fresh base, no tensor leaks, and the
// one-method factory.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Rng, decodeSafetensors, encodeSafetensors, entriesToTensors, registerNativeBackend, tensorsToEntries } from '@difflab/core-tensor';
import {
  DIT_BLOCKS,
  type DiT,
  type DiTConfig,
  FINE_TUNE_METHODS,
  type FineTuneSpec,
  type PeftAdapter,
  PeftConfigError,
  createAdapter,
  createDiT,
  trainableParams,
} from '../src/index.js';

const reg = registerNativeBackend();
if (!reg.ok) throw new Error(`native backend unavailable: ${reg.reason}; run npm run build-native -w @difflab/core-tensor`);
await tf.setBackend('cpu');

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

/** Every base weight redrawn from N(0, 0.2): a "pretrained" base with no zero-initialised gate hiding a gradient. */
function randomize(model: DiT, seed: number): void {
  const rng = new Rng(seed);
  for (const name of Object.keys(model.params).sort()) {
    const v = model.params[name]!;
    v.assign(rng.normalTensor(v.shape, 0, 0.2));
  }
}

/** Every adapter param redrawn from N(0, std): an adapter as after some training (B, up, δ no longer zero). */
function perturb(adapter: PeftAdapter, seed: number, std = 0.1): void {
  const rng = new Rng(seed);
  for (const v of Object.values(adapter.params)) v.assign(rng.normalTensor(v.shape, 0, std));
}

const SPECS: Exclude<FineTuneSpec, { method: 'full' }>[] = [
  { method: 'lora', rank: 2, alpha: 4 },
  { method: 'houlsby', bottleneck: 3 },
  { method: 'prefix', length: 3 },
  { method: 'svdiff' },
];

/** The params that receive a nonzero gradient at initialisation (the others are multiplied by a zero). */
const liveAtInit: Record<string, RegExp> = {
  lora: /lora_B$/,
  houlsby: /\.up\.(weight|bias)$/,
  prefix: /prefix_[kv]$/,
  svdiff: /svdiff_delta$/,
};

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

async function forwardValues(model: DiT, cfg: DiTConfig, adapter?: PeftAdapter | null): Promise<Float32Array> {
  const { x, t, y } = inputs(2, cfg);
  const out = model.forward(x, t, y, adapter ? { adaptation: adapter.adaptation } : {});
  const v = (await out.data()) as Float32Array;
  tf.dispose([out, x, t, y]);
  return v;
}

describe('at initialisation', () => {
  for (const backend of ['cpu', 'native'] as const) {
    for (const block of DIT_BLOCKS) {
      it(`${backend}, ${block}: LoRA, Houlsby and SVDiff leave the output unchanged bit for bit; prefix length 0 equals the fused path`, async () => {
        await tf.setBackend(backend);
        const cfg = { ...tiny, block, learnSigma: true };
        const model = createDiT(cfg, new Rng(1));
        randomize(model, 2);
        const base = await forwardValues(model, cfg);
        for (const spec of SPECS.filter((s) => s.method !== 'prefix')) {
          const adapter = createAdapter(model, spec, new Rng(3))!;
          expect(maxAbsDiff(await forwardValues(model, cfg, adapter), base), spec.method).toBe(0);
          adapter.dispose();
        }
        // Prefix tuning of length 0: the composed attention on no prefix against the fused path.
        const empty = createAdapter(model, { method: 'prefix', length: 0 }, new Rng(3))!;
        expect(empty.trainableCount).toBe(0);
        const scale = Math.max(...Array.from(base, Math.abs));
        // cpu: the same composed ops as the kernel's tfjs fallback, so the same bits; native: its fused kernel, ~1 ulp-level.
        const diff = maxAbsDiff(await forwardValues(model, cfg, empty), base);
        if (backend === 'cpu') expect(diff).toBe(0);
        else expect(diff).toBeLessThan(2e-6 * scale);
        empty.dispose();
        model.dispose();
        await tf.setBackend('cpu');
      });
    }
  }

  it('prefix tuning of length L > 0 changes the output at init (the softmax gives every prefix key weight)', async () => {
    const model = createDiT(tiny, new Rng(1));
    randomize(model, 2);
    const base = await forwardValues(model, tiny);
    const adapter = createAdapter(model, { method: 'prefix', length: 3 }, new Rng(3))!;
    expect(maxAbsDiff(await forwardValues(model, tiny, adapter), base)).toBeGreaterThan(1e-3);
    adapter.dispose();
    model.dispose();
  });
});

describe('gradients', () => {
  for (const spec of SPECS) {
    it(`${spec.method}: variableGrads over the adapter's params reaches only them; live ones nonzero; one element against finite differences`, async () => {
      const cfg = { ...tiny, rope: true };
      const model = createDiT(cfg, new Rng(1));
      randomize(model, 2);
      const adapter = createAdapter(model, spec, new Rng(3))!;
      const { x, t, y } = inputs(2, cfg);
      const weights = new Rng(9).normalTensor([2, 8, 8, 3]);
      const loss = () => tf.sum(tf.mul(model.forward(x, t, y, { adaptation: adapter.adaptation }), weights)) as tf.Scalar;
      const vars = Object.values(trainableParams(model, adapter));
      const before = tf.memory().numTensors;
      const { value, grads } = tf.variableGrads(loss, vars);
      const baseNames = new Set(Object.values(model.params).map((v) => v.name));
      expect(Object.keys(grads).sort()).toEqual(vars.map((v) => v.name).sort());
      expect(Object.keys(grads).some((n) => baseNames.has(n))).toBe(false);
      let best = { name: '', index: -1, g: 0 };
      for (const [name, param] of Object.entries(adapter.params)) {
        const g = (await grads[param.name]!.data()) as Float32Array;
        expect(g.every(Number.isFinite), name).toBe(true);
        const peak = Math.max(...Array.from(g, Math.abs));
        if (liveAtInit[spec.method]!.test(name)) expect(peak, `${name} gradient`).toBeGreaterThan(1e-4);
        g.forEach((v, i) => {
          if (Math.abs(v) > Math.abs(best.g)) best = { name, index: i, g: v };
        });
      }
      value.dispose();
      tf.dispose(grads);
      expect(tf.memory().numTensors, 'forward + backward leaked').toBe(before);

      // Central difference of the loss in the element with the largest gradient (float32 forward).
      const param = adapter.params[best.name]!;
      const original = param.dataSync().slice() as Float32Array;
      const h = 1e-2;
      const at = async (delta: number) => {
        const shifted = original.slice();
        shifted[best.index]! += delta;
        param.assign(tf.tensor(shifted, param.shape));
        const l = loss();
        const v = (await l.data())[0]!;
        l.dispose();
        return v;
      };
      const fd = ((await at(h)) - (await at(-h))) / (2 * h);
      param.assign(tf.tensor(original, param.shape));
      expect(Math.abs(fd - best.g), `${best.name}[${best.index}]: tfjs ${best.g}, finite difference ${fd}`).toBeLessThan(2e-2 * Math.abs(best.g) + 1e-3);
      tf.dispose([x, t, y, weights]);
      adapter.dispose();
      model.dispose();
    });
  }
});

describe('native backend against cpu', () => {
  for (const spec of SPECS) {
    it(`${spec.method}, all blocks, trained-like adapter: outputs and adapter gradients agree`, async () => {
      for (const block of DIT_BLOCKS) {
        const cfg = { ...tiny, block, mlp: 'swiglu', rope: true } as DiTConfig;
        const run = async (backend: 'cpu' | 'native') => {
          await tf.setBackend(backend);
          const model = createDiT(cfg, new Rng(1));
          randomize(model, 2);
          const adapter = createAdapter(model, spec, new Rng(3))!;
          perturb(adapter, 4);
          const { x, t, y } = inputs(2, cfg);
          const { value, grads } = tf.variableGrads(
            () => tf.mean(tf.square(model.forward(x, t, y, { adaptation: adapter.adaptation }))) as tf.Scalar,
            Object.values(adapter.params),
          );
          const out = { loss: (await value.data())[0]!, g: {} as Record<string, Float32Array> };
          for (const [name, v] of Object.entries(adapter.params)) out.g[name] = (await grads[v.name]!.data()) as Float32Array;
          tf.dispose([value, x, t, y]);
          tf.dispose(grads);
          adapter.dispose();
          model.dispose();
          return out;
        };
        const cpu = await run('cpu');
        const native = await run('native');
        expect(Math.abs(native.loss - cpu.loss), block).toBeLessThan(1e-4 * Math.abs(cpu.loss));
        for (const [name, gc] of Object.entries(cpu.g)) {
          const scale = Math.max(1e-6, ...Array.from(gc, Math.abs));
          expect(maxAbsDiff(native.g[name]!, gc), `${block} ${name}`).toBeLessThan(1e-3 * scale);
        }
      }
      await tf.setBackend('cpu');
    });
  }
});

describe('saving and loading', () => {
  for (const spec of SPECS) {
    it(`${spec.method}: params saved as safetensors and loaded onto a fresh base reproduce the outputs bit for bit`, async () => {
      const make = () => {
        const model = createDiT(tiny, new Rng(1));
        randomize(model, 2);
        return model;
      };
      const model = make();
      const adapter = createAdapter(model, spec, new Rng(3))!;
      perturb(adapter, 4);
      const want = await forwardValues(model, tiny, adapter);
      const bytes = encodeSafetensors(tensorsToEntries(adapter.params));
      adapter.dispose();
      model.dispose();

      const fresh = make();
      const loaded = createAdapter(fresh, spec, new Rng(99))!; // other initial values, overwritten below
      const saved = entriesToTensors(decodeSafetensors(bytes).tensors);
      expect(Object.keys(saved).sort()).toEqual(Object.keys(loaded.params).sort());
      for (const [name, v] of Object.entries(loaded.params)) v.assign(saved[name]!);
      tf.dispose(Object.values(saved));
      expect(maxAbsDiff(await forwardValues(fresh, tiny, loaded), want)).toBe(0);
      loaded.dispose();
      fresh.dispose();
    });
  }
});

describe('label embedding hook', () => {
  it('labelEmbedding replaces the table the labels are looked up in: a copied row is the base bit for bit; a trained row moves only its class and gets the only gradient', async () => {
    const model = createDiT(tiny, new Rng(1));
    randomize(model, 2);
    const c = 3;
    const d = tiny.hiddenSize;
    const table = model.params['y_embedder.embedding_table.weight']!;
    const row = tf.variable(tf.reshape(tf.slice(table, [c, 0], [1, d]), [d]));
    const adaptation = {
      labelEmbedding: (t: tf.Tensor2D) => tf.concat([tf.slice(t, [0, 0], [c, d]), tf.reshape(row, [1, d]), tf.slice(t, [c + 1, 0], [-1, d])]) as tf.Tensor2D,
    };
    const { x, t, y } = inputs(6, tiny); // labels 0..4, 0: class 3 is example 3
    const run = (a?: typeof adaptation) => {
      const out = model.forward(x, t, y, a ? { adaptation: a } : {});
      const v = out.dataSync().slice();
      out.dispose();
      return v;
    };
    const base = run();
    expect(Buffer.from(run(adaptation).buffer).equals(Buffer.from(base.buffer))).toBe(true);

    const { grads } = tf.variableGrads(() => tf.sum(tf.square(model.forward(x, t, y, { adaptation }))) as tf.Scalar, [row]);
    expect(Object.keys(grads)).toEqual([row.name]);
    expect(Math.max(...Array.from(grads[row.name]!.abs().dataSync()))).toBeGreaterThan(0);
    tf.dispose(Object.values(grads));

    row.assign(new Rng(9).normalTensor([d], 0, 0.5));
    const moved = run(adaptation);
    const per = moved.length / 6;
    for (let i = 0; i < 6; i++) {
      const same = Buffer.from(moved.slice(i * per, (i + 1) * per).buffer).equals(Buffer.from(base.slice(i * per, (i + 1) * per).buffer));
      expect(same, `example ${i} (label ${i % 5})`).toBe(i % 5 !== c);
    }
    tf.dispose([row, x, t, y]);
    model.dispose();
  });
});

describe('bookkeeping', () => {
  it('creating, running and disposing every adapter leaves no tensor behind', async () => {
    const model = createDiT(tiny, new Rng(1));
    const before = tf.memory().numTensors;
    for (const spec of SPECS) {
      const adapter = createAdapter(model, spec, new Rng(3))!;
      await forwardValues(model, tiny, adapter);
      adapter.dispose();
    }
    // Merge and unmerge keep and release the original weights.
    const lora = createAdapter(model, { method: 'lora' }, new Rng(3)) as PeftAdapter & { merge(): void; unmerge(): void };
    lora.merge();
    lora.unmerge();
    lora.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('createAdapter: full fine-tuning is no adapter and trains the base params; unknown methods name the valid ones', () => {
    const model = createDiT(tiny, new Rng(1));
    expect(FINE_TUNE_METHODS).toEqual(['full', 'lora', 'houlsby', 'prefix', 'svdiff']);
    expect(createAdapter(model, { method: 'full' }, new Rng(0))).toBeNull();
    expect(trainableParams(model, null)).toBe(model.params);
    for (const spec of SPECS) {
      const adapter = createAdapter(model, spec, new Rng(0))!;
      expect(adapter.method).toBe(spec.method);
      expect(trainableParams(model, adapter)).toBe(adapter.params);
      expect(adapter.trainableCount).toBe(Object.values(adapter.params).reduce((n, v) => n + v.size, 0));
      adapter.dispose();
    }
    expect(() => createAdapter(model, { method: 'ia3' } as unknown as FineTuneSpec, new Rng(0))).toThrow(
      /unknown fine-tuning method "ia3"; use one of full, lora, houlsby, prefix, svdiff/,
    );
    model.dispose();
  });

  it('bad options throw PeftConfigError naming the option and the fix', () => {
    const model = createDiT(tiny, new Rng(1));
    const bad: [FineTuneSpec, RegExp][] = [
      [{ method: 'lora', rank: 0 }, /LoRA option rank must be a positive integer, got 0; pass rank ≥ 1/],
      [{ method: 'lora', rank: 2.5 }, /LoRA option rank must be a positive integer, got 2.5/],
      [{ method: 'lora', alpha: -1 }, /LoRA option alpha must be a finite positive number/],
      [{ method: 'lora', targets: ['attn.qkvv'] }, /LoRA option targets: pattern attn.qkvv matches no linear layer of this DiT; use a layer name or a suffix.*blocks\.0\.attn\.qkv/],
      [{ method: 'lora', targets: ['attn.qkv', /^nothing/] }, /LoRA option targets: pattern \/\^nothing\/ matches no linear layer/],
      [{ method: 'lora', targets: [] }, /LoRA option targets must list at least one layer pattern/],
      [{ method: 'houlsby', bottleneck: 0 }, /Houlsby option bottleneck must be a positive integer, got 0; pass the bottleneck width m ≥ 1/],
      [{ method: 'houlsby', bottleneck: -4 }, /Houlsby option bottleneck must be a positive integer/],
      [{ method: 'prefix', length: -1 }, /prefix option length must be an integer ≥ 0 \(prefix tokens per layer\), got -1; pass e.g. length: 10/],
      [{ method: 'prefix', initStd: 0 }, /prefix option initStd must be a finite positive number/],
      [{ method: 'svdiff', targets: ['mlp.w1'] }, /SVDiff option targets: pattern mlp.w1 matches no linear layer/],
    ];
    for (const [spec, message] of bad) {
      const before = tf.memory().numTensors;
      expect(() => createAdapter(model, spec, new Rng(0)), JSON.stringify(spec)).toThrow(PeftConfigError);
      expect(() => createAdapter(model, spec, new Rng(0))).toThrow(message);
      expect(tf.memory().numTensors, 'nothing half-built is left behind').toBe(before);
    }
    model.dispose();
  });
});
