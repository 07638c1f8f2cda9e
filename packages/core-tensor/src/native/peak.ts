import { loadAddon } from './addon.js';

/**
 * The machine's practical fp32 peak in GFLOP/s: `threads` threads of independent vector FMAs for
 * `seconds` (native addon; null when it is not built). Benchmarks report GEMM throughput against it.
 */
export function measurePeakGflops(threads: number, seconds = 0.5): number | null {
  const load = loadAddon();
  return load.ok ? load.addon.peakGflops(threads, seconds) : null;
}
