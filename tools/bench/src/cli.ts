import { parseArgs } from 'node:util';
import { BACKEND_NAMES, type BackendName } from '@difflab/core-tensor';
import { FID_ENGINES, formatFidReport, runFidBench, type FidEngine } from './fid-bench.js';
import { formatProfile, profileTrainStep } from './profile.js';
import { ENGINES, formatTrainStepReport, runTrainStepBench, SMALL_CONFIG, type Engine } from './train-step-bench.js';

/** The `difflab bench` command; apps/cli loads this file at run time instead of depending on the harness. */

const usage = `usage: difflab bench train-step [--quick] [--json] [--engines native,wasm,cpu,pytorch] [--threads N]
       difflab bench profile [--config ${SMALL_CONFIG}] [--batch 64] [--backend native]
       difflab bench fid [--dims 512,2048] [--repeats 3] [--js-repeats 1] [--engines native,js,scipy] [--scipy-threads N] [--json]

train-step  Times the trainer's own training step (@difflab/training's trainStep: random t,
            label dropout, forward + backward, clipping, AdamW, EMA) for the small Fashion-MNIST
            DiT (batch 64) and DiT-S/2 (batch 8 and 64) on the native backend, wasm and cpu (small
            config only: minutes per step otherwise) and the same step in PyTorch (Debian
            python3-torch) at 1 and --threads threads (the faster is reported), checks that PyTorch
            trains the same number of parameters, and runs a fp32 GEMM micro-benchmark against the
            machine's measured peak. Prints examples/s and native/PyTorch.
            --quick: the small config on native and PyTorch, within a minute.
profile     Kernel-time profile of one training step on a tfjs backend.
fid         The Fréchet distance of two random d-dimensional Gaussian statistics through the native
            LAPACK path, the JavaScript path and SciPy (pytorch-fid's sqrtm); checks the values agree
            and prints seconds and ratios.`;

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
      dims: { type: 'string' },
      repeats: { type: 'string' },
      'js-repeats': { type: 'string' },
      'scipy-threads': { type: 'string' },
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
  if (sub === 'fid') {
    const count = (flag: string, v: string | undefined) => {
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag} must be a positive integer, got '${v}'`);
      return n;
    };
    const engines = values.engines?.split(',').map((e) => e.trim());
    const unknown = engines?.filter((e) => !(FID_ENGINES as readonly string[]).includes(e)) ?? [];
    if (unknown.length) throw new Error(`--engines: unknown engine(s) ${unknown.join(', ')}; valid for fid: ${FID_ENGINES.join(', ')}`);
    const dims = values.dims?.split(',').map((d) => count('dims', d.trim())!);
    const report = await runFidBench({
      ...(dims ? { dims } : {}),
      ...(engines ? { engines: engines as FidEngine[] } : {}),
      ...(values.repeats ? { repeats: count('repeats', values.repeats)! } : {}),
      ...(values['js-repeats'] ? { jsRepeats: count('js-repeats', values['js-repeats'])! } : {}),
      ...(values['scipy-threads'] ? { scipyThreads: count('scipy-threads', values['scipy-threads'])! } : {}),
    });
    console.log(values.json ? JSON.stringify(report, null, 2) : formatFidReport(report));
    return 0;
  }
  console.error(usage);
  return 2;
}
