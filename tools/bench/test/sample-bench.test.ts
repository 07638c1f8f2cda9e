// `difflab bench sample` on a tiny DiT with a quick budget: the native path through the product's sample(), the
// report's JSON shape and table, and — when Debian's python3-torch is installed (bash tools/setup.sh --peers) —
// the PyTorch peer's timing and its samples against the product's on shared weights and noise.
import { cpus } from 'node:os';
import { Rng, initBackend, tf } from '@difflab/core-tensor';
import { countDiT, createSampler, sample } from '@difflab/models';
import { createDenoiser, resolveModelConfig, type ModelConfigInput } from '@difflab/runs';
import { describe, expect, it } from 'vitest';
import { PEER_PYTHON, peerPythonHas } from '../src/python-peer.js';
import {
  checkSamplePeer, formatSampleReport, parseModelOverrides, randomizeWeights, runProductSampler, runSampleBench, samplerSetup,
  type SampleBenchReport,
} from '../src/sample-bench.js';

const tiny = { preset: 'DiT-FMNIST-S/4', patchSize: 8, hiddenSize: 32, depth: 2, numHeads: 2 } as ModelConfigInput;
const tinyParams = (() => {
  const r = resolveModelConfig(tiny);
  if (r.architecture !== 'dit') throw new Error('tiny is a DiT');
  return countDiT(r.config).params;
})();

const hasTorch = peerPythonHas('torch');
if (!hasTorch) console.log(`bench sample: ${PEER_PYTHON} has no torch (python3-torch: bash tools/setup.sh --peers), so the PyTorch peer's timing and sample check are not tested (only that its rows say it is missing)`);

describe('bench sample', () => {
  it('times the product sampler on native and the peer at 1..cores threads, and reports JSON per case', async () => {
    const maxThreads = Math.min(2, cpus().length);
    const report = await runSampleBench({ quick: true, model: tiny, batch: 2, maxThreads, budget: { warmupSteps: 2, minRuns: 1, minSeconds: 0 } });
    const json = JSON.parse(JSON.stringify(report)) as SampleBenchReport;
    expect(json.machine.cores).toBe(cpus().length);
    expect(json.cases.map((c) => [c.sampler, c.process, c.steps, c.evaluationsPerSample])).toEqual([
      ['ddim', 'ddpm', 50, 50],
      ['euler', 'flow', 25, 25],
    ]);
    for (const c of json.cases) {
      expect(c).toMatchObject({ params: tinyParams, batch: 2, guidedBatch: 4, guidanceScale: 2 });
      expect('samplesPerSec' in c.native, JSON.stringify(c.native)).toBe(true);
      if (!('samplesPerSec' in c.native)) continue;
      expect(c.native.samplesPerSec).toBeGreaterThan(0);
      expect(c.native.runs).toBe(1);
      expect(c.native.cpuSecondsPerSample).toBeGreaterThan(0);
      if (hasTorch) {
        expect('samplesPerSec' in c.pytorch, JSON.stringify(c.pytorch)).toBe(true);
        if (!('samplesPerSec' in c.pytorch)) continue;
        expect(c.pytorch.params).toBe(tinyParams);
        expect(Object.keys(c.pytorch.byThreads).map(Number)).toEqual(Array.from({ length: maxThreads }, (_, i) => i + 1));
        expect(c.pytorch.samplesPerSec).toBe(Math.max(...Object.values(c.pytorch.byThreads)));
        expect(c.nativeOverPytorch).toBeCloseTo(c.native.samplesPerSec / c.pytorch.samplesPerSec, 10);
      } else {
        // The row says why the peer is missing and how to install it.
        expect('skipped' in c.pytorch && c.pytorch.skipped).toMatch(/python3-torch/);
        expect(c.nativeOverPytorch).toBeNull();
      }
    }
    const text = formatSampleReport(report);
    expect(text).toMatch(/^difflab bench sample --quick /);
    expect(text).toMatch(/ddim \(ddpm, ε\)\s+50\s+2\s+[\d,]+\s+\d+\.\d\d/);
    expect(text).toMatch(/euler \(flow\)\s+25\s+2\s/);
  });

  it("is the product's sample() + createSampler, leaks no tensors and is deterministic in its Rng", async () => {
    await initBackend({ backend: 'native', log: () => {} });
    const model = createDenoiser(tiny, new Rng(1));
    randomizeWeights(model, new Rng(2));
    const before = tf.memory().numTensors;
    const a = runProductSampler(model, 'euler', { batch: 3, rng: new Rng(3), steps: 4 });
    expect(tf.memory().numTensors).toBe(before);
    const { process, config } = samplerSetup('euler', 4);
    const x = sample((xt, t, y) => model.forward(xt, t, y), createSampler(process, config), { shape: [3, 32, 32, 1], labels: [0, 1, 2], rng: new Rng(3), nullClass: 10 });
    expect(Array.from(a)).toEqual(Array.from(x.dataSync()));
    x.dispose();
    // Random weights: DiT's zero-initialised output layer would make every velocity 0 and the sample the noise.
    const noise = new Rng(3).normalArray(a.length);
    expect(a.some((v, i) => Math.abs(v - noise[i]!) > 1e-3)).toBe(true);
    model.dispose();
  });

  // The main job's block variants too (SwiGLU, RMSNorm, 2-D RoPE): the same peer DiT times the main-job training step.
  it("PyTorch peer's DDIM and Euler samples equal the product's on shared weights and noise (adaLN-Zero DiT, and with SwiGLU, RMSNorm and RoPE), or the peer says it needs python3-torch", async () => {
    for (const model of [tiny, { ...tiny, mlp: 'swiglu', norm: 'rmsnorm', rope: true } as ModelConfigInput]) {
      if (!hasTorch) {
        await expect(checkSamplePeer({ model })).rejects.toThrow(/python3-torch: bash tools\/setup.sh --peers/);
        continue;
      }
      const check = await checkSamplePeer({ model });
      expect(check.cases.map((c) => [c.sampler, c.steps])).toEqual([['ddim', 50], ['euler', 25]]);
      for (const c of check.cases) {
        expect(c.maxAbs).toBeGreaterThan(0.5); // non-trivial samples
        expect(c.maxAbsDiff, `${JSON.stringify(model)} ${c.sampler}`).toBeLessThan(1e-3);
      }
    }
  });

  it('formats ratios, thread counts and skipped engines', () => {
    const base = { model: { preset: 'DiT-FMNIST-S/4' } as ModelConfigInput, params: 4167568, guidanceScale: 2, batch: 100, guidedBatch: 200 };
    const report: SampleBenchReport = {
      date: '2026-12-06T00:00:00.000Z',
      machine: { host: 'h', cpu: 'AMD EPYC', cores: 2, loadAverage1m: 0.1, loadAverageAfter1m: 1.9 },
      quick: false,
      cases: [
        {
          ...base, process: 'ddpm', sampler: 'ddim', steps: 50, evaluationsPerSample: 50, nativeOverPytorch: 2,
          native: { engine: 'native', runs: 1, secondsPerRun: 10, samplesPerSec: 10, cpuSecondsPerSample: 0.2 },
          pytorch: { engine: 'pytorch', runs: 1, secondsPerRun: 20, samplesPerSec: 5, cpuSecondsPerSample: 0.2, threads: 1, byThreads: { 1: 5, 2: 4 }, params: 4167568 },
        },
        { ...base, process: 'flow', sampler: 'euler', steps: 25, evaluationsPerSample: 25, nativeOverPytorch: null, native: { skipped: 'failed: x' }, pytorch: { skipped: 'not run (pytorch off)' } },
      ],
    };
    const text = formatSampleReport(report);
    expect(text).toMatch(/DiT-FMNIST-S\/4\s+ddim \(ddpm, ε\)\s+50\s+100\s+4,167,568\s+10\.00\s+5\.00\s+1\s+2\.00×/);
    expect(text).toMatch(/euler \(flow\)\s+25\s+100\s+4,167,568\s+—\s+—\s+—\s+—/);
    expect(text).toContain('pytorch ddim: 1 thread 5.00, 2 threads 4.00 samples/s; the table shows the best');
    expect(text).toContain('native: failed: x');
    expect(text).toContain('pytorch: not run (pytorch off)');
  });

  it('reads --model overrides as JSON values where they parse', () => {
    expect(parseModelOverrides(['depth=4,hiddenSize=96', 'mlp=swiglu', 'rope=true'])).toEqual({ depth: 4, hiddenSize: 96, mlp: 'swiglu', rope: true });
    expect(() => parseModelOverrides(['depth'])).toThrow(/KEY=VALUE/);
    expect(() => parseModelOverrides(['preset=DiT-S/2'])).toThrow(/--config DiT-S\/2/);
  });
});
