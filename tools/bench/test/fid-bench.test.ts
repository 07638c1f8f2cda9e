// The FID benchmark at a small dimension: the native, JS and SciPy values agree, the statistics
// are what they claim to be, and the report prints every engine with correct ratios.
import { describe, expect, it } from 'vitest';
import { formatFidReport, randomFidStats, runFidBench, type FidBenchReport } from '../src/fid-bench.js';
import { peerPythonHas } from '../src/python-peer.js';

const hasScipy = () => peerPythonHas('numpy, scipy.linalg');

describe('fid benchmark', () => {
  it('makes full-rank statistics of the requested size with unequal means', () => {
    const [a, b] = randomFidStats(12, 40, 1);
    expect(a.dim).toBe(12);
    expect(a.count).toBe(40);
    expect(a.cov.length).toBe(144);
    for (let i = 0; i < 12; i++) expect(a.cov[i * 12 + i]!).toBeGreaterThan(0);
    expect([...a.mean]).not.toEqual([...b.mean]);
    // Same seed, same statistics: the engines are timed on identical inputs across runs.
    expect([...randomFidStats(12, 40, 1)[0].cov]).toEqual([...a.cov]);
  });

  it('gets the same distance from native LAPACK, JS and SciPy at d = 48', async () => {
    const scipy = hasScipy();
    const report = await runFidBench({ dims: [48], repeats: 1, log: () => {} });
    const c = report.cases[0]!;
    expect(c.dim).toBe(48);
    expect(c.samples).toBe(96);
    for (const e of ['native', 'js'] as const) {
      const r = c.engines[e]!;
      expect('fid' in r, `${e}: ${'skipped' in r ? r.skipped : ''}`).toBe(true);
      if ('fid' in r) {
        expect(r.fid).toBeGreaterThan(0);
        expect(r.runs.length).toBe(1);
      }
    }
    expect(report.nativeLinalg).toMatch(/LAPACK dsyevd/);
    const sp = c.engines.scipy!;
    if (scipy) {
      // SciPy present: its value is part of the agreement check.
      expect('fid' in sp, 'skipped' in sp ? sp.skipped : '').toBe(true);
      expect(report.scipy.versions).toMatch(/SciPy \d/);
    } else {
      // No SciPy on this machine: the row says so and how to install it, and native vs JS still agree.
      expect('skipped' in sp && sp.skipped).toMatch(/python3-scipy/);
    }
    expect(c.agree).toBe(true);
    expect(c.maxRelDiff!).toBeLessThan(1e-9);
    expect(c.jsOverNative).toBeGreaterThan(0);
    const text = formatFidReport(report);
    expect(text).toMatch(/difflab bench fid/);
    expect(text).toMatch(/\n\s+48\s+96\s/);
    expect(text).toMatch(/agree, max rel\. diff/);
  });

  it('formats ratios, skipped engines and disagreement', () => {
    const report: FidBenchReport = {
      date: '2026-12-06T00:00:00.000Z',
      machine: { host: 'h', cpu: 'Test CPU', cores: 2, vectorFlags: ['avx2', 'fma'], loadAverage1m: 1, loadAverageAfter1m: 2 },
      nativeLinalg: 'LAPACK dsyevd + BLAS dgemm/dsyrk (native addon, OpenBLAS)',
      scipy: { threads: 2, versions: null },
      tolerance: 1e-6,
      cases: [
        {
          dim: 2048, samples: 4096, maxRelDiff: 2e-6, agree: false, jsOverNative: 20, scipyOverNative: null,
          engines: { native: { fid: 100, seconds: 1.5, runs: [1.5] }, js: { fid: 100.0002, seconds: 30, runs: [30] }, scipy: { skipped: 'no SciPy' } },
        },
      ],
    };
    const text = formatFidReport(report);
    expect(text).toContain('vector flags: avx2 fma');
    expect(text).toMatch(/2048\s+4096\s+1\.500\s+30\.000\s+—\s+20\.00×\s+—\s+DISAGREE: max rel\. diff 2\.0e-6 > 1e-6/);
    expect(text).toContain('scipy: no SciPy');
  });

  it('rejects bad options with the reason', async () => {
    await expect(runFidBench({ dims: [1], log: () => {} })).rejects.toThrow(/dims must be integers ≥ 2/);
    await expect(runFidBench({ dims: [8], samplesPerDim: 1, log: () => {} })).rejects.toThrow(/samplesPerDim must be > 1/);
    // @ts-expect-error an unknown engine name, as the CLI could pass it
    await expect(runFidBench({ dims: [8], engines: ['torch'], log: () => {} })).rejects.toThrow(/unknown engine 'torch'/);
  });
});
