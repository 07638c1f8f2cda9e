import { cpuFlags } from '../cpu-flags.js';

// OpenBLAS core types (OPENBLAS_CORETYPE, case-insensitive) whose sgemm kernels use AVX-512.
const AVX512_CORES = new Set(['skylakex', 'cooperlake', 'sapphirerapids']);

/**
 * One line when OPENBLAS_CORETYPE pins OpenBLAS to kernels narrower than the CPU's vectors: an AVX2 core
 * type on an AVX-512 CPU halves the width of every fp32 GEMM (on Zen 5, Haswell's kernels ran the DiT's
 * GEMMs at 0.57× OpenBLAS's own choice, Cooperlake: docs/benchmarks.md). null when nothing is pinned or
 * the pin matches. Arguments default to this process's environment and the CPU's flags.
 */
export function openblasCoretypeNotice(
  env: Record<string, string | undefined> = process.env,
  flags: readonly string[] = cpuFlags(),
): string | null {
  const coretype = env['OPENBLAS_CORETYPE'];
  if (!coretype || AVX512_CORES.has(coretype.toLowerCase())) return null;
  if (!flags.includes('avx512f')) return null;
  return `OPENBLAS_CORETYPE=${coretype} pins non-AVX-512 GEMM kernels on this AVX-512 CPU; unset it to let OpenBLAS choose (faster GEMMs)`;
}
