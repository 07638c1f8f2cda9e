import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { registerNativeBackend } from '../../../packages/core-tensor/src/native/register.js';
console.log(registerNativeBackend());
await tf.setBackend('native');
const a = tf.randomNormal([2, 3, 4]); const b = tf.randomNormal([4]);
const r1 = tf.add(a, b).dataSync();
const m = tf.matMul(tf.randomNormal([5, 300, 200]), tf.randomNormal([200, 100]));
console.log(tf.getBackend(), r1.slice(0, 3), m.shape, tf.sum(a, 1).shape);
