import { parseArgs } from 'node:util';
import { BACKEND_NAMES, type BackendName } from '@difflab/core-tensor';
import { ENGINES, formatProfile, formatTrainStepReport, profileTrainStep, runTrainStepBench, SMALL_CONFIG, type Engine } from '@difflab/bench';

export const summary = 'Benchmarks: DiT training step per engine vs PyTorch, GEMM vs peak, kernel profiles';

const usage = `usage: difflab bench train-step [--quick] [--json] [--engines native,wasm,cpu,pytorch] [--threads N]
       difflab bench profile [--config ${SMALL_CONFIG}] [--batch 64] [--backend native]

train-step  Times the DiT training step (forward + backward + AdamW) for the small Fashion-MNIST
            DiT (batch 64) and DiT-S/2 (batch 8 and 64) on the native backend, wasm and cpu (small
            config only: minutes per step otherwise) and in PyTorch (Debian python3-torch), checks
            that PyTorch trains the same number of parameters, and runs a fp32 GEMM micro-benchmark
            against the machine's measured peak. Prints examples/s and native/PyTorch.
            --quick: the small config on native and PyTorch, within a minute.
profile     Kernel-time profile of one training step on a tfjs backend.`;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      quick: { type: 'boolean' },
      json: { type: 'boolean' },
      engines: { type: 'string' },
      threads: { type: 'string' },
      config: { type: 'string' },
      batch: { type: 'string' },
      backend: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const [sub] = positionals;
  if (sub === 'train-step') {
    const engines = (values.engines ?? ENGINES.join(',')).split(',').map((e) => e.trim());
    const unknown = engines.filter((e) => !(ENGINES as readonly string[]).includes(e));
    if (unknown.length) throw new Error(`--engines: unknown engine(s) ${unknown.join(', ')}; valid: ${ENGINES.join(', ')}`);
    const threads = values.threads === undefined ? 2 : Number(values.threads);
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`--threads must be a positive integer, got '${values.threads}'`);
    const report = await runTrainStepBench({
      quick: values.quick ?? false,
      engines: engines as Engine[],
      threads,
      log: (line) => process.stderr.write(line + '\n'),
    });
    console.log(values.json ? JSON.stringify(report, null, 2) : formatTrainStepReport(report));
    return 0;
  }
  if (sub === 'profile') {
    const backend = values.backend ?? 'native';
    if (!(BACKEND_NAMES as readonly string[]).includes(backend)) throw new Error(`--backend must be one of ${BACKEND_NAMES.join(', ')}, got '${backend}'`);
    const batch = Number(values.batch ?? 64);
    if (!Number.isInteger(batch) || batch < 1) throw new Error(`--batch must be a positive integer, got '${values.batch}'`);
    const p = await profileTrainStep(backend as BackendName, values.config ?? SMALL_CONFIG, batch);
    console.log(values.json ? JSON.stringify(p, null, 2) : formatProfile(p));
    return 0;
  }
  console.error(usage);
  return 2;
}
