// train.matmul 'onednn': fp32 products from oneDNN instead of BLAS must train the same model — the same
// loss curve up to the rounding of another summation order — and leave BLAS active afterwards; where the
// addon has no oneDNN, and for the contradiction with bf16, the run is refused before it starts.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, matmulLibrary, onednnUnavailable, setMatmulLibrary } from '@difflab/core-tensor';
import { ConfigError } from '@difflab/runs';
import { train } from '../src/index.js';
import { lossCurve, mean, recipe } from './products-recipe.js';

await initBackend({ log: () => {} });
const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;

describe("train.matmul 'onednn'", () => {
  it('follows the BLAS loss curve over 300 steps, or is refused where the addon has no oneDNN', async () => {
    const why = onednnUnavailable();
    if (why !== null) {
      const runDir = mkdtempSync(join(tmpdir(), 'onednn-'));
      await expect(train(recipe({ matmul: 'onednn' }, 3), { runDir, progressStream: quiet })).rejects.toThrow(
        new ConfigError(`train.matmul: 'onednn' is unavailable here: ${why}; use 'blas' (the default)`),
      );
      return;
    }
    const blas = await lossCurve({ matmul: 'blas' }, 300);
    const onednn = await lossCurve({ matmul: 'onednn' }, 300);
    expect(mean(blas.losses.slice(-100))).toBeLessThan(0.8 * mean(blas.losses.slice(0, 100)));
    // The first step's loss is computed before any update: the forward pass alone, equal to fp32 rounding.
    expect(Math.abs(onednn.losses[0]! - blas.losses[0]!) / blas.losses[0]!).toBeLessThan(1e-5);
    for (let w = 0; w < 3; w++) {
      const a = mean(blas.losses.slice(w * 100, (w + 1) * 100)), b = mean(onednn.losses.slice(w * 100, (w + 1) * 100));
      expect(Math.abs(b - a) / a, `steps ${w * 100 + 1}–${(w + 1) * 100}: blas ${a}, onednn ${b}`).toBeLessThan(0.01);
    }
    // oneDNN computed the products: its sums round differently, so the weights are not BLAS's bits.
    expect(onednn.weights.some((v, i) => v !== blas.weights[i])).toBe(true);
  }, 300_000);

  it('runs through train(), records the library, resumes bit-exactly and leaves BLAS active afterwards', async () => {
    if (onednnUnavailable() !== null) return expect(() => setMatmulLibrary('onednn')).toThrow('oneDNN matrix products are unavailable');
    const cfg = { ...recipe({ matmul: 'onednn' }, 6), checkpoint: { every: 3 } };
    const straight = mkdtempSync(join(tmpdir(), 'onednn-'));
    const result = await train(cfg, { runDir: straight, progressStream: quiet });
    expect(Number.isFinite(result.finalLoss)).toBe(true);
    expect(matmulLibrary()).toBe('blas');
    expect(JSON.parse(readFileSync(join(straight, 'params.json'), 'utf8'))['train.matmul']).toBe('onednn');
    // 3 steps, then 3 more from the checkpoint: the same bits as 6 straight (oneDNN's kernels are deterministic per shape).
    const split = mkdtempSync(join(tmpdir(), 'onednn-'));
    await train(cfg, { runDir: split, progressStream: quiet, stopAtStep: 3 });
    await train(cfg, { runDir: split, resume: true, progressStream: quiet });
    const weights = (dir: string) => readFileSync(join(dir, 'checkpoints', 'step-0000006', 'model.safetensors'));
    expect(weights(split).equals(weights(straight))).toBe(true);
  }, 120_000);

  it("refuses train.matmul 'blas' with bf16 products before writing anything", async () => {
    const parent = mkdtempSync(join(tmpdir(), 'onednn-'));
    const runDir = join(parent, 'run');
    await expect(train(recipe({ precision: 'bf16', matmul: 'blas' }, 3), { runDir, progressStream: quiet })).rejects.toThrow(
      new ConfigError("train.matmul: 'blas' cannot compute train.precision 'bf16' (bf16 products always use oneDNN); drop train.matmul or set it to 'onednn'"),
    );
    expect(readdirSync(parent)).toEqual([]);
  });
});
