import { parseArgs } from 'node:util';
import { BACKEND_NAMES, type BackendName, type MatmulLibrary } from '@difflab/core-tensor';
import { FID_ENGINES, formatFidReport, runFidBench, type FidEngine } from './fid-bench.js';
import { formatGemmBf16Report, runGemmBf16Bench } from './gemm-bench.js';
import { formatProfile, profileTrainStep } from './profile.js';
import { SAMPLE_CONFIG, SAMPLE_SAMPLERS, checkSamplePeer, formatSampleCheck, formatSampleReport, parseModelOverrides, runSampleBench, type BenchSampler } from './sample-bench.js';
import { benchModelSection } from './train-step.js';
import type { ModelConfigInput } from '@difflab/runs';
import { ENGINES, formatTrainStepReport, runTrainStepBench, SMALL_CONFIG, type Engine } from './train-step-bench.js';
import { formatTrackerReport, runTrackerBench } from './tracker-bench.js';

/** The `difflab bench` command; apps/cli loads this file at run time instead of depending on the harness. */

const usage = `usage: difflab bench train-step [--quick] [--json] [--engines native,wasm,cpu,pytorch] [--threads N] [--precision fp32|bf16] [--matmul blas,onednn]
       difflab bench profile [--config ${SMALL_CONFIG}|w<width>-d<depth>] [--model K=V[,K=V]] [--batch 64] [--backend native]
       difflab bench fid [--dims 512,2048] [--repeats 3] [--js-repeats 1] [--engines native,js,scipy] [--scipy-threads N] [--json]
       difflab bench sample [--quick] [--json] [--config ${SAMPLE_CONFIG}|w<width>-d<depth>] [--model K=V[,K=V]] [--batch 100] [--samplers ddim,euler]
                            [--engines native,pytorch] [--threads N] [--check]
       difflab bench gemm [--quick] [--json] [--bf16-lib PATH] [--threads 1,2] [--engines openblas,pytorch]
       difflab bench tracker [--runs 10000] [--steps 1000] [--rest-runs N] [--dir PARENT] [--json]

train-step  Times the trainer's own training step (@difflab/training's trainStep: random t,
            label dropout, forward + backward, clipping, AdamW, EMA) for the README's main job
            (main-job: its model and rectified-flow objective, batch 64), the small Fashion-MNIST
            DiT (batch 64) and DiT-S/2 (batch 8 and 64) on the native backend, wasm and cpu (small
            config only: minutes per step otherwise) and the same step in PyTorch (Debian
            python3-torch) at 1 and --threads threads (the faster is reported), checks that PyTorch
            trains the same number of parameters, and runs a fp32 GEMM micro-benchmark against the
            machine's measured peak. Prints examples/s and native/PyTorch.
            --quick: the main job and the small config on native and PyTorch, within a minute.
            --precision bf16: bf16 matrix products (train.precision 'bf16', native only) against
            PyTorch under torch.autocast("cpu", bfloat16); needs AVX512-BF16.
            --matmul: the libraries native fp32 products are timed with (train.matmul; default
            blas,onednn where the addon has oneDNN); the faster is reported, naming both rates.
profile     Kernel-time profile of one training step on a tfjs backend (ε-prediction objective), with the
            median wall time and the mean CPU time per step against the step's arithmetic at the measured
            1024² GEMM rate. --model overrides preset fields, e.g. the main job's model:
            --config DiT-FMNIST-S/4 --model hiddenSize=96,depth=3,numHeads=3,mlp=swiglu,norm=rmsnorm,rope=true.
fid         The Fréchet distance of two random d-dimensional Gaussian statistics through the native
            LAPACK path, the JavaScript path and SciPy (pytorch-fid's sqrtm); checks the values agree
            and prints seconds and ratios.
sample      Samples/s of class-conditional sampling with classifier-free guidance (scale 2: the model
            runs on 2 × batch) through the product's sample() + createSampler: DDIM 50 steps on the
            ddpm process (ε, clipped x̂_0) and rectified-flow Euler 25 steps, on the native backend and
            in PyTorch (peers/sample_peer.py, the same DiT and sampler arithmetic) at 1..--threads
            threads (default: the cores; the fastest is reported). Random weights; the peer must have
            countDiT's parameter count. --model overrides preset fields (--model depth=4,hiddenSize=96).
            --quick: batch 10, one timed run per engine. --check: the peer's samples against the
            product's on a tiny model with shared weights and noise (max |difference|).
gemm        bf16 vs fp32 GEMM on the DiT's linear-layer shapes (forward, input and weight gradients of
            DiT-FMNIST-S/4 at batch 32, + DiT-S/2 at batch 8 unless --quick): OpenBLAS cblas_sbgemm vs
            cblas_sgemm (tools/bench/native/gemm_bf16.c, compiled on demand; sbgemm from --bf16-lib or
            DIFFLAB_BF16_OPENBLAS, an OpenBLAS built with BUILD_BFLOAT16=1, since Debian's has none) and
            oneDNN fp32 vs bf16 through PyTorch. GFLOP/s per shape at 1 and all threads, and the
            FLOP-weighted bf16/fp32 ratio against issue #16's 1.5× rule.
tracker     The tracker under load, in a temp store (removed afterwards): --runs runs × --steps steps ×
            5 metrics through the store API (logBatch), --rest-runs more (default runs/20) through a
            'difflab tracker' server's runs/log-batch, then the runs table, a filtered runs table, the
            experiments list and a 10-run compare timed over HTTP. Targets: ≥ 50,000 values/s local
            ingest, each page < 1 s. The full size writes ~7 GiB: --dir picks the disk; --runs 500 is quick.`;

function matmulLibraryArg(v: string): MatmulLibrary {
  if (v !== 'blas' && v !== 'onednn') throw new Error(`--matmul: '${v}' is not a matrix-product library; valid: blas, onednn`);
  return v;
}

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
      model: { type: 'string', multiple: true },
      samplers: { type: 'string' },
      check: { type: 'boolean' },
      'bf16-lib': { type: 'string' },
      precision: { type: 'string' },
      matmul: { type: 'string' },
      runs: { type: 'string' },
      steps: { type: 'string' },
      'rest-runs': { type: 'string' },
      dir: { type: 'string' },
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
    const precision = values.precision ?? 'fp32';
    if (precision !== 'fp32' && precision !== 'bf16') throw new Error(`--precision must be fp32 or bf16, got '${precision}'`);
    const matmul = values.matmul?.split(',').map((l) => matmulLibraryArg(l.trim()));
    const report = await runTrainStepBench({
      quick: values.quick ?? false,
      engines: engines as Engine[],
      threads,
      precision,
      ...(matmul ? { matmul } : {}),
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
    const matmul = matmulLibraryArg(values.matmul ?? 'blas');
    const p = await profileTrainStep(backend as BackendName, values.config ?? SMALL_CONFIG, batch, 20, parseModelOverrides(values.model ?? []), matmul);
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
  if (sub === 'sample') {
    // --config: a preset or a dit-scaling size name (w<width>-d<depth>), as train-step reads it; --model overrides fields.
    const model = { ...benchModelSection(values.config ?? SAMPLE_CONFIG), ...parseModelOverrides(values.model ?? []) } as ModelConfigInput;
    if (values.check) {
      // A tiny model of the same class unless --config/--model say otherwise: the check is about arithmetic, not speed.
      const tiny = values.config || values.model?.length ? model : { preset: SAMPLE_CONFIG, patchSize: 8, hiddenSize: 32, depth: 2, numHeads: 2 };
      const c = await checkSamplePeer({ model: tiny });
      console.log(values.json ? JSON.stringify(c, null, 2) : formatSampleCheck(c));
      return c.cases.every((k) => k.maxAbsDiff < 1e-3) ? 0 : 1;
    }
    const samplers = values.samplers?.split(',').map((e) => e.trim());
    const unknownSamplers = samplers?.filter((e) => !(SAMPLE_SAMPLERS as readonly string[]).includes(e)) ?? [];
    if (unknownSamplers.length) throw new Error(`--samplers: unknown sampler(s) ${unknownSamplers.join(', ')}; valid: ${SAMPLE_SAMPLERS.join(', ')}`);
    const engines = (values.engines ?? 'native,pytorch').split(',').map((e) => e.trim());
    const unknown = engines.filter((e) => e !== 'native' && e !== 'pytorch');
    if (unknown.length || !engines.includes('native')) throw new Error(`--engines for sample: native, or native,pytorch; got '${values.engines}'`);
    const positive = (flag: string, v: string | undefined) => {
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag} must be a positive integer, got '${v}'`);
      return n;
    };
    const batch = positive('batch', values.batch);
    const maxThreads = positive('threads', values.threads);
    const report = await runSampleBench({
      quick: values.quick ?? false,
      model,
      ...(batch ? { batch } : {}),
      ...(maxThreads ? { maxThreads } : {}),
      ...(samplers ? { samplers: samplers as BenchSampler[] } : {}),
      pytorch: engines.includes('pytorch'),
      log: (line) => process.stderr.write(line + '\n'),
    });
    console.log(values.json ? JSON.stringify(report, null, 2) : formatSampleReport(report));
    return 0;
  }
  if (sub === 'gemm') {
    const threads = values.threads?.split(',').map((t) => {
      const n = Number(t.trim());
      if (!Number.isInteger(n) || n < 1) throw new Error(`--threads for gemm: positive integers separated by commas, got '${values.threads}'`);
      return n;
    });
    const engines = (values.engines ?? 'openblas,pytorch').split(',').map((e) => e.trim());
    if (engines.some((e) => e !== 'openblas' && e !== 'pytorch') || !engines.includes('openblas')) throw new Error(`--engines for gemm: openblas, or openblas,pytorch; got '${values.engines}'`);
    const report = await runGemmBf16Bench({
      quick: values.quick ?? false,
      ...(values['bf16-lib'] ? { bf16Lib: values['bf16-lib'] } : {}),
      ...(threads ? { threads } : {}),
      pytorch: engines.includes('pytorch'),
      log: (line) => process.stderr.write(line + '\n'),
    });
    console.log(values.json ? JSON.stringify(report, null, 2) : formatGemmBf16Report(report));
    return 0;
  }
  if (sub === 'tracker') {
    const count = (flag: string, v: string | undefined, fallback: number | undefined) => {
      if (v === undefined) return fallback;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag} must be a positive integer, got '${v}'`);
      return n;
    };
    const report = await runTrackerBench({
      runs: count('runs', values.runs, 10_000)!,
      steps: count('steps', values.steps, 1000)!,
      restRuns: count('rest-runs', values['rest-runs'], undefined),
      ...(values.dir ? { parentDir: values.dir } : {}),
      log: (line) => process.stderr.write(line + '\n'),
    });
    console.log(values.json ? JSON.stringify(report, null, 2) : formatTrackerReport(report));
    return 0;
  }
  console.error(usage);
  return 2;
}
