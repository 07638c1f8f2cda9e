import * as tf from '@tensorflow/tfjs-core';
import { AdamW, Rng, initBackend } from '@difflab/core-tensor';
import { createDiT, ditConfig } from '@difflab/models';
const [cfgName = 'DiT-FMNIST-S/4', batchS = '64', backend = 'native'] = process.argv.slice(2);
await initBackend({ backend });
const cfg = ditConfig(cfgName); const batch = Number(batchS);
const rng = new Rng(1);
const dit = createDiT(cfg, rng);
const x = rng.normalTensor([batch, cfg.inputSize, cfg.inputSize, cfg.inChannels], 0, 1) as tf.Tensor4D;
const eps = rng.normalTensor([batch, cfg.inputSize, cfg.inputSize, cfg.inChannels], 0, 1);
const t = tf.tensor1d(Array.from({ length: batch }, () => rng.int(1000)), 'float32');
const y = tf.tensor1d(Array.from({ length: batch }, () => rng.int(cfg.numClasses)), 'int32');
const opt = new AdamW({ lr: 1e-4, weightDecay: 0 });
const step = () => {
  const { value, grads } = tf.variableGrads(() => {
    const out = dit.forward(x, t, y);
    const pred = cfg.learnSigma ? tf.slice(out, [0, 0, 0, 0], [-1, -1, -1, cfg.inChannels]) : out;
    return tf.mean(tf.squaredDifference(pred, eps)) as tf.Scalar;
  }, Object.values(dit.params));
  const named: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries(dit.params)) named[k] = grads[v.name]!;
  opt.step(dit.params, named);
  const l = value.dataSync()[0];
  tf.dispose([value, ...Object.values(grads)]);
  return l;
};
step(); step();
let t0 = performance.now(); const n = 3; for (let i = 0; i < n; i++) step();
const ms = (performance.now() - t0) / n;
console.log(`${cfgName} b${batch} ${backend}: ${ms.toFixed(1)} ms/step, ${(batch * 1000 / ms).toFixed(1)} ex/s`);
const prof = await tf.profile(() => { step(); });
const byKernel = new Map<string, { ms: number; n: number }>();
let total = 0;
for (const k of prof.kernels) { const ms = (await k.kernelTimeMs) as number; total += ms; const e = byKernel.get(k.name) ?? { ms: 0, n: 0 }; e.ms += ms; e.n++; byKernel.set(k.name, e); }
console.log(`kernels: ${prof.kernels.length}, kernel ms ${total.toFixed(1)}`);
for (const [k, e] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25)) console.log(k.padEnd(24), e.ms.toFixed(1).padStart(8), String(e.n).padStart(6));
