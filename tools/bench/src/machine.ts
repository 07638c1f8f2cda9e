import { cpus, hostname, loadavg } from 'node:os';
import { cpuFlags } from '@difflab/core-tensor';

/** The machine a benchmark ran on, as every report records it. */
export interface BenchMachine {
  host: string;
  cpu: string;
  cores: number;
  /** 1-minute load average when the benchmark started and when it ended. */
  loadAverage1m: number;
  loadAverageAfter1m: number;
  /** OPENBLAS_CORETYPE when set: it picks OpenBLAS's kernels and so moves both engines' GEMM speed. */
  openblasCoretype?: string;
}

/** Read at the end of a benchmark; `load1` is the load average read at its start. */
export function benchMachine(load1: number): BenchMachine {
  return {
    host: hostname(), cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, loadAverage1m: load1, loadAverageAfter1m: loadavg()[0]!,
    ...(process.env['OPENBLAS_CORETYPE'] ? { openblasCoretype: process.env['OPENBLAS_CORETYPE'] } : {}),
  };
}

/** `host: cpu, N cores[ (detail)], load average a → b[, OPENBLAS_CORETYPE=…]`: the header line of each report. */
export function machineLine(m: BenchMachine, detail?: string): string {
  return `${m.host}: ${m.cpu}, ${m.cores} cores${detail ? ` (${detail})` : ''}, load average ${m.loadAverage1m.toFixed(1)} → ${m.loadAverageAfter1m.toFixed(1)}${m.openblasCoretype ? `, OPENBLAS_CORETYPE=${m.openblasCoretype}` : ''}`;
}

const VECTOR_FLAG = /^(sse4_2|avx|avx2|fma|f16c|avx_vnni|avx512\w*|amx\w*)$/;

/** The CPU's SIMD-relevant flags (avx2, fma, avx512*, amx*…), recorded beside a benchmark's numbers. */
export function vectorFlags(): string[] {
  return cpuFlags().filter((f) => VECTOR_FLAG.test(f));
}
