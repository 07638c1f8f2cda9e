// The native backend keeps freed tensor memory mapped for reuse, and gives it back on request.
import { execFileSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { ADDON_PATH } from '../src/native/addon.js';
import { releaseNativeMemory } from '../src/native/register.js';
import { requireNative } from './native-helpers.js';

/** Page faults per page while filling a fresh 64 MB Float32Array, eight times, each freed by a full GC. */
function faultsPerRound(keep: boolean): { kept: boolean | null; faults: number[] } {
  const script = `
    const addon = require(${JSON.stringify(ADDON_PATH)});
    const kept = ${keep} ? addon.keepFreedPages() : null;
    const pages = (64 << 20) / 4096, faults = [];
    for (let round = 0; round < 8; round++) {
      const before = process.resourceUsage().minorPageFault;
      let a = new Float32Array(16 << 20);
      a.fill(1);
      faults.push((process.resourceUsage().minorPageFault - before) / pages);
      a = null;
      globalThis.gc();
    }
    console.log(JSON.stringify({ kept, faults }));`;
  return JSON.parse(execFileSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' }));
}

describe('keepFreedPages', () => {
  requireNative();

  it('stops large freed buffers from being unmapped (glibc), against a control that faults every round', () => {
    // V8 may free a buffer a round late (concurrent sweeping), so judge the best round after the first.
    const control = faultsPerRound(false);
    expect(Math.min(...control.faults.slice(1))).toBeGreaterThan(0.9);
    const kept = faultsPerRound(true);
    expect(kept.kept).toBe(process.platform === 'linux');
    if (kept.kept) expect(Math.min(...kept.faults.slice(1))).toBeLessThan(0.1);
  });
});

describe('releaseNativeMemory', () => {
  it('returns the pages of disposed tensors to the system', async () => {
    requireNative();
    await tf.setBackend('native');
    const rssMiB = () => process.memoryUsage().rss / 2 ** 20;
    // Judged by where RSS ends, not by how far it falls from its peak: under load the fall alone
    // read 412 MiB once (part of the footprint gone before the peak was read).
    const before = rssMiB();
    const big = tf.tidy(() => tf.add(tf.fill([100 << 20], 1), 1)); // two 400 MiB buffers, one kept
    expect(big.dataSync()[12345]).toBe(2);
    expect(rssMiB() - before).toBeGreaterThan(400);
    big.dispose();
    releaseNativeMemory();
    expect(rssMiB() - before).toBeLessThan(100);
  });
});
