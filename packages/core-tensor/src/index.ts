export * as tf from '@tensorflow/tfjs-core';
export { Rng, type RngState } from './rng.js';
