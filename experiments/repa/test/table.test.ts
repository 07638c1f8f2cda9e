// The table from hand-made runs: the speed-up row an arm gets from its curves (computed by hand below), the
// FID-over-steps cells, "not reached", and the probe section at the aligned block.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { definitionPath, loadRepaDefinition } from '../src/definition.js';
import { armsMarkdown, type UnitCurve } from '../src/stages.js';
import type { ProbeRow } from '../src/probe.js';

const def = loadRepaDefinition(definitionPath(join(import.meta.dirname, '..')));

function unit(arm: string, seed: number, fids: [number, number], probeTop1: number, second: [number, number] = [NaN, NaN]): UnitCurve {
  const curve = [4, 8].map((step, i) => ({ step, n_samples: 20, fid: fids[i]!, fid_floor: 160, class_accuracy: 0.5, precision: 0.5, recall: 0.5, fid_s1: second[i]!, fid_floor_s1: 90, class_accuracy_s1: 0.25 }));
  const probe: ProbeRow[] = [4, 8].flatMap((step) => [1, 2].map((block) => ({ step, block, timestep: 250, probe_top1: probeTop1 + block / 100, cknna_mae: 0.1, cknna_classifier: 0.2, cknna_random: 0.3 }) as ProbeRow));
  return { curve, probe, final: { unit: `${arm}-s${seed}`, arm, seed, steps: 8, wall_seconds: 1, n_samples: 20, fid: fids[1], fid_floor: 160, class_accuracy: 0.5, precision: 0.5, recall: 0.5, fid_s1: second[1], class_accuracy_s1: 0.25 } };
}

describe('REPA table', () => {
  it('gives each arm its steps to vanilla\'s final FID and the speed-up; FID per step; the probe at the aligned block', () => {
    const md = armsMarkdown(def, 'smoke', [unit('vanilla', 0, [300, 200], 0.4), unit('repa-mae', 0, [240, 150], 0.6), unit('haste-mae', 0, [400, 300], 0.5)], 'test machine', '2026-01-01');
    // Target 200. repa-mae: 240 → 150 over steps 4..8 crosses 200 at 4 + 40/90 · 4 = 5.78 → 8 / 5.78 = 1.38×.
    expect(md).toContain('| repa-mae | s0: 6 | 1.38× [1.38, 1.38] |');
    expect(md).toContain('| vanilla | s0: 8 | 1.00× [1.00, 1.00] |');
    expect(md).toContain('| haste-mae | s0: not reached | not reached |');
    // One seed: values alone, no spread.
    expect(md).toContain('| repa-mae | 240.00 | 150.00 |');
    expect(md).toMatch(/2026-01-01, test machine\./);
    // Smoke aligns block 1: probe top-1 there is 0.6 + 0.01.
    expect(md).toContain('| repa-mae | 8 | 0.610 | 0.100 | 0.200 | 0.300 |');
    expect(md).toContain('| vanilla | 0.410 | 0.420 |');
    // No second network's scores: neither its section nor its columns.
    expect(md).not.toContain('second FID network');
    expect(md).not.toContain('2nd net');
  });

  it('adds the second FID network\'s speed-up and final columns when every curve has its scores', () => {
    const units = [unit('vanilla', 0, [300, 200], 0.4, [120, 100]), unit('repa-mae', 0, [240, 150], 0.6, [130, 110])];
    const md = armsMarkdown(def, 'smoke', units, 'test machine', '2026-01-01');
    // By the first network repa-mae gets there (1.38×); by the second its curve 130 → 110 never reaches vanilla's 100.
    expect(md).toContain('| repa-mae | s0: 6 | 1.38× [1.38, 1.38] |');
    expect(md).toContain("## Steps to vanilla's final FID, by the second FID network");
    expect(md).toContain('| repa-mae | s0: not reached | not reached |');
    expect(md).toContain('| 110.00 | 0.250 |');
    expect(md).toMatch(/its floor at N = 20 is 90\.00/);
  });
});

describe('probe settings', () => {
  it('refuses more probe images than a teacher caches, and too few to score, naming probe.images', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { writeEncoderTokens } = await import('@difflab/training');
    const { probeSnapshots } = await import('../src/probe.js');
    const dir = mkdtempSync(join(tmpdir(), 'repa-probe-'));
    await writeEncoderTokens(dir, { encoder: 'test', dataset: 'fashion-mnist', pad32: true, split: 'train', count: 30, grid: 2, dim: 3 }, new Uint16Array(30 * 4 * 3));
    const out = join(dir, 'probe.parquet');
    await expect(probeSnapshots([], { t: dir }, { images: 40, t: 0.25, topk: 5 }, out, () => {})).rejects.toThrow(/probe\.images: 40 is more than the 30 images/);
    await expect(probeSnapshots([], { t: dir }, { images: 20, t: 0.25, topk: 5 }, out, () => {})).rejects.toThrow(/probe\.images: 20 is too few/);
  });
});

describe('probe of a flow model', () => {
  it('noises with the interpolant at t and shows the network 1000·t; a DDPM run keeps the schedule index', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { writeEncoderTokens, train } = await import('@difflab/training');
    const { parseTrainConfig } = await import('@difflab/runs');
    const { probeSnapshots } = await import('../src/probe.js');
    const dir = mkdtempSync(join(tmpdir(), 'repa-probe-flow-'));
    const images = 100;
    const tokens = new Uint16Array(images * 4 * 3);
    for (let i = 0; i < tokens.length; i++) tokens[i] = 0x3c00 + ((i * 2654435761) % 977); // float16 values in [1, 2)
    await writeEncoderTokens(join(dir, 'teacher'), { encoder: 'test', dataset: 'fashion-mnist', pad32: true, split: 'train', count: images, grid: 2, dim: 3 }, tokens);
    const rows: Record<string, number> = {};
    for (const process of ['flow', 'ddpm'] as const) {
      const cfg = parseTrainConfig({
        name: `probe-${process}`,
        data: { dataset: 'fashion-mnist', pad32: true, trainExamples: images },
        model: { preset: 'DiT-FMNIST-S/4', hiddenSize: 16, depth: 2, numHeads: 2 },
        diffusion: process === 'flow' ? { process: 'flow' } : { timesteps: 100 },
        train: { steps: 2, batchSize: 4, lr: 1e-3, warmupSteps: 1 },
        checkpoint: { every: 2 },
        eval: { heldoutExamples: 4 },
        sample: { steps: 2, perClass: 1 },
      });
      const runDir = join(dir, process);
      await train(cfg, { runDir, progressStream: { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream });
      const out = await probeSnapshots([runDir], { teacher: join(dir, 'teacher') }, { images, t: 0.25, topk: 3 }, join(dir, `${process}.parquet`), () => {});
      expect(out.map((r) => r.block)).toEqual([1, 2]);
      for (const r of out) expect(Number.isFinite(r.cknna_teacher) && r.probe_top1 >= 0 && r.probe_top1 <= 1).toBe(true);
      rows[process] = out[0]!.timestep;
    }
    expect(rows).toEqual({ flow: 250, ddpm: 25 });
  });
});
