/**
 * Inception-v3 (FID) port check: the same random weights through difflab's tfjs `InceptionV3Fid`
 * and through pytorch-fid's architecture rebuilt in plain PyTorch (peers/inception_torch.py),
 * which also exercises the .pth → safetensors conversion snippet of docs/metrics.md.
 *
 *   npx tsx tools/bench/src/inception-torch.ts [--images 2]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import '@tensorflow/tfjs-backend-cpu';
import { readSafetensors, Rng, tf } from '@difflab/core-tensor';
import { readNpz } from '@difflab/data';
import { InceptionV3Fid, writeNpz } from '@difflab/metrics';

const { values } = parseArgs({ options: { images: { type: 'string', default: '2' } } });
const n = Number(values.images);
await tf.setBackend('cpu');

const dir = mkdtempSync(join(tmpdir(), 'difflab-inception-'));
const pixels = new Rng(7).uniformArray(n * 64 * 48 * 3, 0, 1); // non-square, upsampled to 299
await writeNpz(join(dir, 'images.npz'), { images: { shape: [n, 64, 48, 3], data: pixels } });
const peer = join(dirname(fileURLToPath(import.meta.url)), '..', 'peers', 'inception_torch.py');
let t = performance.now();
execFileSync('/usr/bin/python3', [peer, join(dir, 'images.npz'), join(dir, 'weights.safetensors'), join(dir, 'features.npz')]);
const torchSeconds = (performance.now() - t) / 1000;
const expected = readNpz(join(dir, 'features.npz')).get('features')!.data as Float64Array;

const net = new InceptionV3Fid((await readSafetensors(join(dir, 'weights.safetensors'))).tensors);
t = performance.now();
const images = tf.tensor4d(pixels, [n, 64, 48, 3]);
const got = net.extract(images).dataSync();
const tfjsSeconds = (performance.now() - t) / 1000;
let maxAbs = 0;
let maxRef = 0;
for (let i = 0; i < got.length; i++) {
  maxAbs = Math.max(maxAbs, Math.abs(got[i]! - expected[i]!));
  maxRef = Math.max(maxRef, Math.abs(expected[i]!));
}
console.log(`${n} images 64×48 → 299×299 → pool3 (${got.length / n}-d), random weights`);
console.log(`max |tfjs − torch| = ${maxAbs.toExponential(2)} (max |feature| ${maxRef.toFixed(3)}, relative ${(maxAbs / maxRef).toExponential(2)})`);
console.log(`time: tfjs ${tf.getBackend()} ${tfjsSeconds.toFixed(1)} s, torch (incl. init and save) ${torchSeconds.toFixed(1)} s`);
if (maxAbs / maxRef > 1e-4) process.exitCode = 1;
