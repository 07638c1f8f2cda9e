import { initBackend, tf, type BackendName } from '@difflab/core-tensor';
import { createDiTTrainer } from './train-step.js';

export interface KernelProfile {
  backend: string;
  config: string;
  batch: number;
  /** Wall time of one step outside the profiler. */
  stepMs: number;
  /** Per kernel name: total ms (kernels inside fused and custom-gradient ops count there too), calls. */
  kernels: { name: string; ms: number; calls: number }[];
}

/** Where one DiT training step spends its kernel time on a backend (tf.profile). */
export async function profileTrainStep(backend: BackendName, config: string, batch: number): Promise<KernelProfile> {
  await initBackend({ backend, log: () => {} });
  const trainer = createDiTTrainer({ preset: config }, batch);
  try {
    trainer.step();
    trainer.step();
    const start = performance.now();
    trainer.step();
    const stepMs = performance.now() - start;
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
    return { backend, config, batch, stepMs, kernels };
  } finally {
    trainer.dispose();
  }
}

const isWrapper = (name: string): boolean => name.endsWith('__op') || name === 'unnamed scope';

export function formatProfile(p: KernelProfile, top = 25): string {
  // Fused ops (`…__op`) and custom-gradient ops (`unnamed scope`) wrap kernels that are listed too.
  const total = p.kernels.filter((k) => !isWrapper(k.name)).reduce((s, k) => s + k.ms, 0);
  const lines = [`${p.config} batch ${p.batch} on ${p.backend}: ${p.stepMs.toFixed(0)} ms/step, kernels ${total.toFixed(0)} ms (the rest is JS dispatch and GC)`];
  lines.push(`  ${'kernel'.padEnd(22)} ${'ms'.padStart(9)} ${'%'.padStart(5)} ${'calls'.padStart(6)}`);
  for (const k of p.kernels.slice(0, top)) {
    lines.push(`  ${k.name.padEnd(22)} ${k.ms.toFixed(1).padStart(9)} ${((100 * k.ms) / total).toFixed(1).padStart(5)} ${String(k.calls).padStart(6)}`);
  }
  return lines.join('\n');
}
