import { initBackend, setMatmulLibrary, tf, type BackendName, type MatmulLibrary } from '@difflab/core-tensor';
import { timeMatMul } from './gemm.js';
import type { ModelConfigInput } from '@difflab/runs';
import { benchModelSection, createDiTTrainer } from './train-step.js';

export interface KernelProfile {
  backend: string;
  config: string;
  batch: number;
  /** Median wall time of `timedSteps` steps outside the profiler, after two warm-up steps. */
  stepMs: number;
  /**
   * Mean process CPU time (user + system, process.cpuUsage) of the same timed steps. On a loaded machine
   * it moves far less than wall time; with DIFFLAB_NATIVE_THREADS=1 it is the step's single-core time
   * (other thread counts add every thread's time).
   */
  cpuMs: number;
  timedSteps: number;
  /** Arithmetic of one training step: 2 FLOPs per multiply-add × 3 (forward, and the backward's two products) × forward MACs × batch. */
  flops: number;
  /**
   * fp32 GFLOP/s of a 1024×1024 tf.matMul on the native backend measured in the same process (as the
   * train-step benchmark's GEMM table does), or null on other backends. flops at this rate is the
   * step's arithmetic time.
   */
  gemmGflops: number | null;
  /** native: the library of the fp32 products (of the step and of the GEMM rate). */
  matmul: MatmulLibrary | null;
  /** Per kernel name: total ms (kernels inside fused and custom-gradient ops count there too), calls. */
  kernels: { name: string; ms: number; calls: number }[];
}

/**
 * Where one DiT training step spends its kernel time on a backend (tf.profile), its median step time,
 * and that time against the step's arithmetic at the machine's GEMM rate. `config` is a DiT preset or a
 * sweep size such as `w64-d2` (benchModelSection).
 */
export async function profileTrainStep(
  backend: BackendName,
  config: string,
  batch: number,
  timedSteps = 20,
  modelOverrides: Record<string, unknown> = {},
  matmul: MatmulLibrary = 'blas',
): Promise<KernelProfile> {
  if (matmul !== 'blas' && backend !== 'native') throw new Error(`--matmul ${matmul} needs the native backend, not '${backend}'`);
  await initBackend({ backend, log: () => {} });
  // The step's products and the GEMM rate they are measured against come from the same library.
  if (backend === 'native') setMatmulLibrary(matmul);
  const gemmGflops = backend === 'native' ? timeMatMul(1024, 0.5) : null;
  const trainer = createDiTTrainer({ ...benchModelSection(config), ...modelOverrides } as ModelConfigInput, batch);
  try {
    trainer.step();
    trainer.step();
    const times: number[] = [];
    const cpuStart = process.cpuUsage();
    for (let i = 0; i < timedSteps; i++) {
      const start = performance.now();
      trainer.step();
      times.push(performance.now() - start);
    }
    const cpu = process.cpuUsage(cpuStart);
    const cpuMs = (cpu.user + cpu.system) / 1000 / timedSteps;
    times.sort((a, b) => a - b);
    const stepMs = times[Math.floor(times.length / 2)]!;
    const flops = 2 * 3 * trainer.macsPerExample * batch;
    const prof = await tf.profile(() => {
      trainer.step();
    });
    const byName = new Map<string, { ms: number; calls: number }>();
    for (const k of prof.kernels) {
      const e = byName.get(k.name) ?? { ms: 0, calls: 0 };
      e.ms += Number(await k.kernelTimeMs);
      e.calls++;
      byName.set(k.name, e);
    }
    const kernels = [...byName].map(([name, e]) => ({ name, ...e })).sort((a, b) => b.ms - a.ms);
    const described = Object.keys(modelOverrides).length ? `${config} (${Object.entries(modelOverrides).map(([k, v]) => `${k}=${String(v)}`).join(', ')})` : config;
    return { backend, config: described, batch, stepMs, cpuMs, timedSteps, flops, gemmGflops, matmul: backend === 'native' ? matmul : null, kernels };
  } finally {
    if (backend === 'native') setMatmulLibrary('blas');
    trainer.dispose();
  }
}

const isWrapper = (name: string): boolean => name.endsWith('__op') || name === 'unnamed scope';

export function formatProfile(p: KernelProfile, top = 25): string {
  // Fused ops (`…__op`) and custom-gradient ops (`unnamed scope`) wrap kernels that are listed too.
  const total = p.kernels.filter((k) => !isWrapper(k.name)).reduce((s, k) => s + k.ms, 0);
  const lines = [
    `${p.config} batch ${p.batch} on ${p.backend}${p.matmul ? ` (products by ${p.matmul})` : ''}: ${p.stepMs.toFixed(1)} ms/step (median of ${p.timedSteps}); one profiled step: kernels ${total.toFixed(0)} ms (the rest is JS dispatch and GC)`,
  ];
  const gflop = p.flops / 1e9;
  if (p.gemmGflops) {
    const arithmeticMs = (1000 * gflop) / p.gemmGflops;
    lines.push(
      `arithmetic: ${gflop.toFixed(2)} GFLOP per step (2 × 3 × forward MACs × batch) at the 1024² GEMM rate ${p.gemmGflops.toFixed(0)} GFLOP/s = ${arithmeticMs.toFixed(1)} ms; the step takes ${(p.stepMs / arithmeticMs).toFixed(1)}× that (CPU time ${p.cpuMs.toFixed(1)} ms/step: ${(p.cpuMs / arithmeticMs).toFixed(1)}×)`,
    );
  } else {
    lines.push(`arithmetic: ${gflop.toFixed(2)} GFLOP per step (2 × 3 × forward MACs × batch), ${(gflop / (p.stepMs / 1000)).toFixed(1)} GFLOP/s achieved`);
  }
  lines.push(`  ${'kernel'.padEnd(22)} ${'ms'.padStart(9)} ${'%'.padStart(5)} ${'calls'.padStart(6)}`);
  for (const k of p.kernels.slice(0, top)) {
    lines.push(`  ${k.name.padEnd(22)} ${k.ms.toFixed(1).padStart(9)} ${((100 * k.ms) / total).toFixed(1).padStart(5)} ${String(k.calls).padStart(6)}`);
  }
  return lines.join('\n');
}
