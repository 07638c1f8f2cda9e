import { initBackend, tf } from '@difflab/core-tensor';
await initBackend({ backend: 'native', log: () => {} });
const x = tf.randomNormal([4096, 768]);
const time = (label: string, f: () => void, reps = 30) => { f(); const t0 = performance.now(); for (let i = 0; i < reps; i++) f(); console.log(label.padEnd(30), ((performance.now() - t0) / reps).toFixed(3), 'ms'); };
time('sigmoid', () => tf.sigmoid(x).dispose());
time('exp', () => tf.exp(x).dispose());
time('tanh', () => tf.tanh(x).dispose());
time('mul', () => tf.mul(x, x).dispose());
time('softmax', () => tf.softmax(x).dispose());
