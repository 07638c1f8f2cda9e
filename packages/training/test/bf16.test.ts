// train.precision 'bf16': 1,000 steps of the main job's recipe on a small DiT must follow the fp32 loss
// curve, with fp32 master weights; on a machine without bf16 products the run is refused in one line.
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bf16Unavailable, bfloat16BitsToFloat32, float32ToBfloat16Bits, initBackend, matmulPrecision, setMatmulPrecision } from '@difflab/core-tensor';
import { ConfigError } from '@difflab/runs';
import { train } from '../src/index.js';
import { lossCurve, mean, recipe } from './products-recipe.js';

await initBackend({ log: () => {} });
const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;

describe("train.precision 'bf16'", () => {
  it('follows the fp32 loss curve over 1,000 steps with fp32 master weights, or is refused where the machine has no bf16 products', async () => {
    const why = bf16Unavailable();
    if (why !== null) {
      const runDir = mkdtempSync(join(tmpdir(), 'bf16-'));
      await expect(train(recipe({ precision: 'bf16' }, 3), { runDir, progressStream: quiet })).rejects.toThrow(
        new ConfigError(`train.precision: 'bf16' is unavailable here: ${why}; use 'fp32' (the default)`),
      );
      return;
    }
    const fp32 = await lossCurve({ precision: 'fp32' }, 1000);
    const bf16 = await lossCurve({ precision: 'bf16' }, 1000);
    // Both learn: the last 100 steps' mean loss is well below the first 100's.
    expect(mean(fp32.losses.slice(-100))).toBeLessThan(0.7 * mean(fp32.losses.slice(0, 100)));
    // Per 100-step window the curves agree within 1 % (measured on AVX512-BF16: within 0.4 %).
    for (let w = 0; w < 10; w++) {
      const a = mean(fp32.losses.slice(w * 100, (w + 1) * 100)), b = mean(bf16.losses.slice(w * 100, (w + 1) * 100));
      expect(Math.abs(b - a) / a, `steps ${w * 100 + 1}–${(w + 1) * 100}: fp32 ${a}, bf16 ${b}`).toBeLessThan(0.01);
    }
    // bf16 products were used (the runs differ) and the weights they updated stayed fp32 (not bf16-representable).
    expect(bf16.weights.some((v, i) => v !== fp32.weights[i])).toBe(true);
    const offGrid = bf16.weights.filter((v) => bfloat16BitsToFloat32(float32ToBfloat16Bits(v)) !== v).length;
    expect(offGrid / bf16.weights.length).toBeGreaterThan(0.9);
  }, 300_000);

  it('runs through train() and leaves the backend at fp32 afterwards', async () => {
    if (bf16Unavailable() !== null) return expect(() => setMatmulPrecision('bf16')).toThrow('bf16 matrix products are unavailable');
    const runDir = mkdtempSync(join(tmpdir(), 'bf16-'));
    const result = await train(recipe({ precision: 'bf16' }, 3), { runDir, progressStream: quiet });
    expect(Number.isFinite(result.finalLoss)).toBe(true);
    expect(matmulPrecision()).toBe('fp32');
  }, 120_000);
});
