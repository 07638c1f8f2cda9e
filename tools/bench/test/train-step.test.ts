// The DiT training step the benchmark times gives the same loss curve on the native backend as on
// the tfjs cpu backend (float tolerance), and the report prints every engine's number.
import { initBackend, tf } from '@difflab/core-tensor';
import { countDiT, type DiTConfig } from '@difflab/models';
import { describe, expect, it } from 'vitest';
import { createDiTTrainer } from '../src/train-step.js';
import { formatTrainStepReport, type TrainStepBenchReport } from '../src/train-step-bench.js';

const tiny: DiTConfig = {
  inputSize: 8, patchSize: 2, inChannels: 2, hiddenSize: 32, depth: 2, numHeads: 2, mlpRatio: 4,
  numClasses: 5, classDropoutProb: 0.1, learnSigma: true, block: 'adaLN-Zero',
};

async function lossCurve(backend: 'cpu' | 'native', steps: number): Promise<number[]> {
  await initBackend({ backend, log: () => {} });
  const trainer = createDiTTrainer(tiny, 4, 3);
  expect(trainer.params).toBe(countDiT(tiny).params);
  const losses = Array.from({ length: steps }, () => trainer.step());
  trainer.dispose();
  return losses;
}

describe('DiT training step', () => {
  it('follows the same loss curve on native and cpu', async () => {
    const cpu = await lossCurve('cpu', 6);
    const native = await lossCurve('native', 6);
    expect(native[5]).toBeLessThan(native[0]!); // it trains
    for (let i = 0; i < cpu.length; i++) expect(Math.abs(native[i]! - cpu[i]!)).toBeLessThan(1e-4 * Math.abs(cpu[i]!));
  });
  it('leaks no tensors from step to step', async () => {
    await initBackend({ backend: 'native', log: () => {} });
    const trainer = createDiTTrainer(tiny, 2, 1);
    trainer.step(); // creates the optimizer moments
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) trainer.step();
    expect(tf.memory().numTensors).toBe(before);
    trainer.dispose();
  });
});

describe('formatTrainStepReport', () => {
  it('prints examples/s per engine, the native/PyTorch ratio and why engines were skipped', () => {
    const report: TrainStepBenchReport = {
      date: '2026-11-22T00:00:00.000Z',
      machine: { host: 'h', cpu: 'AMD EPYC', cores: 2, loadAverage1m: 0.1, loadAverageAfter1m: 1.9 },
      quick: false,
      gemm: { peak1: 260, peakAll: 520, threads: 2, pytorchEngine: 'pytorch 1.13', results: [{ n: 1024, native: 390, pytorch: 350 }] },
      cases: [{
        config: 'DiT-FMNIST-S/4', batch: 64, params: 4167568, nativeOverPytorch: 2,
        engines: {
          native: { engine: 'native', params: 4167568, steps: 5, stepMs: 355.6, examplesPerSec: 180 },
          pytorch: { engine: 'pytorch', params: 4167568, steps: 5, stepMs: 711.1, examplesPerSec: 90 },
          cpu: { skipped: 'not run in --quick' },
        },
      }],
    };
    const text = formatTrainStepReport(report);
    expect(text).toMatch(/1024\s+390 \(75%\)\s+350 \(67%\)/);
    expect(text).toMatch(/DiT-FMNIST-S\/4\s+64\s+4,167,568\s+180\.00\s+—\s+90\.00\s+2\.00×/);
    expect(text).toContain('cpu: not run in --quick');
    expect(text.split('\n')[0]).not.toContain('OPENBLAS_CORETYPE');
    const withEnv = formatTrainStepReport({ ...report, machine: { ...report.machine, openblasCoretype: 'Haswell' } });
    expect(withEnv.split('\n')[0]).toMatch(/load average 0\.1 → 1\.9, OPENBLAS_CORETYPE=Haswell$/);
  });
});
