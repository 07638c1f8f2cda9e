// The benchmark times the trainer's own trainStep: the same losses as a hand-run trainStep, the
// same loss curve on the native backend as on the tfjs cpu backend (float tolerance), and the
// report prints every engine's number.
import { Rng, initBackend, matmulLibrary, onednnUnavailable, tf } from '@difflab/core-tensor';
import { countDiT, linearSchedule } from '@difflab/models';
import { createDenoiser, resolveModelConfig, type ModelConfigInput } from '@difflab/runs';
import { createTrainer, epsilonObjective, flowObjective, trainStep, type Objective } from '@difflab/training';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { peerPythonHas } from '../src/python-peer.js';
import { BENCH_TRAIN, MAIN_JOB, benchModelSection, benchObjective, createDiTTrainer, torchTrainStep } from '../src/train-step.js';
import { bestNativeStep, formatTrainStepReport, nativeLibraries, type TrainStepBenchReport } from '../src/train-step-bench.js';

// learnSigma: the hybrid loss (L_simple + L_vlb) runs too.
const tiny = { preset: 'DiT-FMNIST-S/4', patchSize: 8, hiddenSize: 32, depth: 2, numHeads: 2, learnSigma: true } as const;
const tinyConfig = (() => {
  const r = resolveModelConfig(tiny);
  if (r.architecture !== 'dit') throw new Error('tiny is a DiT');
  return r.config;
})();

async function lossCurve(backend: 'cpu' | 'native', steps: number): Promise<number[]> {
  await initBackend({ backend, log: () => {} });
  const trainer = createDiTTrainer(tiny, 4, 3);
  expect(trainer.params).toBe(countDiT(tinyConfig).params);
  const losses = Array.from({ length: steps }, () => trainer.step());
  trainer.dispose();
  return losses;
}

/** `steps` trainStep losses by hand with createDiTTrainer's seeding (model, batch of 4, then the step Rng). */
function handRunLosses(section: ModelConfigInput, seed: number, objective: Objective, steps: number): number[] {
  const rng = new Rng(seed);
  const model = createDenoiser(section, rng.fork());
  const x = rng.normalTensor([4, 32, 32, 1], 0, 1);
  const batch = { x: x.dataSync() as Float32Array, y: Int32Array.from({ length: 4 }, () => rng.int(10)), shape: [4, 32, 32, 1] as [number, number, number, number] };
  x.dispose();
  const trainer = createTrainer(model, objective, linearSchedule(1000), BENCH_TRAIN);
  const stepRng = rng.fork();
  const losses = Array.from({ length: steps }, () => trainStep(trainer, batch, { lr: BENCH_TRAIN.lr, emaDecay: BENCH_TRAIN.emaDecay, rng: stepRng }).loss);
  trainer.dispose();
  objective.dispose();
  model.dispose();
  return losses;
}

describe('DiT training step', () => {
  it("is the trainer's trainStep with random t, label dropout, clipping and EMA", async () => {
    await initBackend({ backend: 'native', log: () => {} });
    const bench = createDiTTrainer(tiny, 4, 7);
    const benchLosses = [bench.step(), bench.step(), bench.step()];
    bench.dispose();
    const losses = handRunLosses(tiny, 7, epsilonObjective({ vlbWeight: 1 }), 3);
    expect(benchLosses).toEqual(losses);
    // Random t and noise each step: the same weights at step 1 and 2 would still give different losses.
    expect(new Set(losses).size).toBe(3);
  });

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

const hasTorch = peerPythonHas('torch');

describe('the main-job case', () => {
  const mainJob = JSON.parse(readFileSync(new URL('../../../experiments/dit-fmnist/config.json', import.meta.url), 'utf8'));

  it("is the README's main job: its config's model and its rectified-flow objective", () => {
    expect(benchModelSection(MAIN_JOB)).toEqual(mainJob.model);
    expect(mainJob.diffusion.process).toBe('flow');
    expect(benchObjective(MAIN_JOB)).toEqual({
      kind: 'flow', timeSampling: mainJob.train.timeSampling, timeMean: 0, timeStd: 1, velocityDirectionWeight: mainJob.train.velocityDirectionWeight,
    });
    expect(benchObjective('DiT-S/2')).toEqual({ kind: 'epsilon' });
  });

  it('times the trainer step with the flow objective, as a hand-run trainStep does', async () => {
    await initBackend({ backend: 'native', log: () => {} });
    const section = { ...mainJob.model, hiddenSize: 32, numHeads: 2, depth: 1 };
    const spec = benchObjective(MAIN_JOB);
    const bench = createDiTTrainer(section, 4, 7, spec);
    const benchLosses = [bench.step(), bench.step()];
    bench.dispose();
    const { kind: _kind, ...flow } = spec as { kind: 'flow' };
    expect(benchLosses).toEqual(handRunLosses(section, 7, flowObjective(flow), 2));
  });

  it('has a PyTorch peer with the same parameter count and initial loss (SwiGLU, RMSNorm, RoPE, flow), or says it needs python3-torch', async () => {
    const run = () => torchTrainStep({ config: MAIN_JOB, batch: 8 }, { warmup: 0, minSteps: 2, minSeconds: 0 }, [1]);
    if (!hasTorch) return expect(run).toThrow(/python3-torch: bash tools\/setup.sh --peers/);
    const peer = run();
    const model = resolveModelConfig(benchModelSection(MAIN_JOB));
    expect(peer.params).toBe(countDiT(model.config as Parameters<typeof countDiT>[0]).params);
    // Zero-initialised output layer: v̂ = 0, so the loss is E[(ε − x)²] + 1·(1 − 0) ≈ 3 on both sides.
    await initBackend({ backend: 'native', log: () => {} });
    const native = createDiTTrainer(benchModelSection(MAIN_JOB), 8, 0, benchObjective(MAIN_JOB));
    const nativeLoss = (native.step() + native.step()) / 2;
    native.dispose();
    expect(Math.abs(peer.loss! - nativeLoss)).toBeLessThan(0.25);
    expect(peer.loss!).toBeGreaterThan(2.5);
  });
});

describe('the native step at its best matrix-product library', () => {
  it('is timed with BLAS and, where the addon has it, oneDNN; the faster is reported with both rates, and BLAS is active afterwards', async () => {
    const logged: string[] = [];
    const opts = { quick: true, engines: ['native'] as const, threads: 2, log: (l: string) => logged.push(l) };
    const libraries = await nativeLibraries(opts);
    const why = onednnUnavailable();
    expect(libraries).toEqual(why === null ? ['blas', 'onednn'] : ['blas']);
    if (why !== null) expect(logged).toContain(`train-step: native products by BLAS only: oneDNN is unavailable (${why})`);
    expect(await nativeLibraries({ ...opts, precision: 'bf16' })).toEqual([]);
    expect(await nativeLibraries({ ...opts, matmul: ['blas'] })).toEqual(['blas']);

    const r = await bestNativeStep({ config: 'w32-d1', batch: 4 }, { warmup: 1, minSteps: 2, minSeconds: 0 }, libraries, () => {});
    expect(Object.keys(r.byMatmul!)).toEqual(libraries);
    const fastest = Object.entries(r.byMatmul!).reduce((a, b) => (b[1] > a[1] ? b : a));
    expect(r.matmul).toBe(fastest[0]);
    expect(r.examplesPerSec).toBe(fastest[1]);
    expect(r.engine.includes('products by oneDNN')).toBe(r.matmul === 'onednn');
    expect(matmulLibrary()).toBe('blas');
  });
});

describe('formatTrainStepReport', () => {
  it('prints examples/s per engine, the native/PyTorch ratio and why engines were skipped', () => {
    const report: TrainStepBenchReport = {
      date: '2026-11-22T00:00:00.000Z',
      machine: { host: 'h', cpu: 'AMD EPYC', cores: 2, loadAverage1m: 0.1, loadAverageAfter1m: 1.9 },
      quick: false,
      precision: 'fp32',
      matmul: ['blas', 'onednn'],
      gemm: { peak1: 260, peakAll: 520, threads: 2, pytorchEngine: 'pytorch 1.13', onednnUnavailable: null, results: [{ n: 1024, native: 390, nativeOnednn: 450, pytorch: 350 }] },
      cases: [{
        config: 'DiT-FMNIST-S/4', batch: 64, params: 4167568, nativeOverPytorch: 2,
        engines: {
          native: { engine: 'native', params: 4167568, steps: 5, stepMs: 355.6, examplesPerSec: 180, matmul: 'onednn', byMatmul: { blas: 150, onednn: 180 } },
          pytorch: { engine: 'pytorch', params: 4167568, steps: 5, stepMs: 711.1, examplesPerSec: 90 },
          cpu: { skipped: 'not run in --quick' },
        },
      }],
    };
    const text = formatTrainStepReport(report);
    expect(text).toMatch(/1024\s+390 \(75%\)\s+450 \(87%\)\s+350 \(67%\)/);
    expect(text).toContain('native DiT-FMNIST-S/4 batch 64: products by blas 150.00, products by onednn 180.00 examples/s; the table shows the best');
    expect(text).toMatch(/DiT-FMNIST-S\/4\s+64\s+4,167,568\s+180\.00\s+—\s+90\.00\s+2\.00×/);
    expect(text).toContain('cpu: not run in --quick');
    expect(text.split('\n')[0]).not.toContain('OPENBLAS_CORETYPE');
    const withEnv = formatTrainStepReport({ ...report, machine: { ...report.machine, openblasCoretype: 'Haswell' } });
    expect(withEnv.split('\n')[0]).toMatch(/load average 0\.1 → 1\.9, OPENBLAS_CORETYPE=Haswell$/);
    expect(text).toContain('EMA), fp32, examples/s:');
    const bf16 = formatTrainStepReport({ ...report, precision: 'bf16' });
    expect(bf16.split('\n')[0]).toMatch(/^difflab bench train-step --precision bf16 /);
    expect(bf16).toContain('EMA), bf16 matrix products (native train.precision bf16, PyTorch CPU autocast), examples/s:');
  });
});
