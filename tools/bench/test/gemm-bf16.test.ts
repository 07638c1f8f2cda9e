// `difflab bench gemm`: the DiT's GEMM shapes, and the C program that times OpenBLAS sgemm against sbgemm on a
// small shape, beside the native backend's own fp32 and bf16 products (sbgemm only where the library has it: Debian's 0.3.21 does not, and the report says so).
import { describe, expect, it } from 'vitest';
import { bf16Unavailable } from '@difflab/core-tensor';
import { ditGemmShapes, formatGemmBf16Report, runGemmBf16Bench } from '../src/gemm-bench.js';

describe('bench gemm', () => {
  it("lists the distinct products of DiT-FMNIST-S/4's linear layers at batch 32", () => {
    const shapes = ditGemmShapes('DiT-FMNIST-S/4', 32);
    // 64 tokens × 32 images; width 192, MLP 768. dX of proj, fc1 and fc2 repeat forward shapes and are listed once.
    expect(shapes.map((s) => [s.m, s.n, s.k, s.transA])).toEqual([
      [2048, 576, 192, false], [2048, 192, 192, false], [2048, 768, 192, false], [2048, 192, 768, false],
      [2048, 192, 576, false],
      [192, 576, 2048, true], [192, 192, 2048, true], [192, 768, 2048, true], [768, 192, 2048, true],
    ]);
  });

  it('compiles and runs the OpenBLAS program and reports GFLOP/s per shape', async () => {
    const report = await runGemmBf16Bench({ quick: true, threads: [1], pytorch: false, seconds: 0.03, shapes: [{ label: 'small', m: 64, n: 48, k: 32, transA: false }, { label: 'small t', m: 48, n: 40, k: 64, transA: true }] });
    expect(report.rows.map((r) => [r.m, r.n, r.k, r.transA, r.threads])).toEqual([[64, 48, 32, false, 1], [48, 40, 64, true, 1]]);
    const nativeBf16 = bf16Unavailable() === null;
    for (const r of report.rows) {
      expect(r.sgemm).toBeGreaterThan(0);
      expect(r.nativeFp32).toBeGreaterThan(0);
      if (nativeBf16) expect(r.nativeBf16).toBeGreaterThan(0);
      else expect(r.nativeBf16).toBeNull();
      if (report.openblas.bf16Lib.sbgemm) {
        expect(r.sbgemm).toBeGreaterThan(0);
        expect(r.sbgemmRelErr!).toBeLessThan(1e-4); // fp32 accumulation of the same bf16 inputs
      } else {
        expect(r.sbgemm).toBeNull();
      }
    }
    expect(report.openblas.lib.config).toMatch(/OpenBLAS/);
    if (!report.openblas.bf16Lib.sbgemm) expect(report.openblas.note).toMatch(/BUILD_BFLOAT16/);
    expect(formatGemmBf16Report(report)).toMatch(/small t \(t\)\s+48\s+40\s+64\s+1\s+\d+/);
    expect(formatGemmBf16Report(report)).toContain('native bf16 / native fp32 ');
  });
});
