import { benchMachine, machineLine, type BenchMachine } from './machine.js';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuFlags } from '@difflab/core-tensor';
import { ditConfig } from '@difflab/models';
import { nativeGemmRates } from './native-gemm.js';
import { runPeer } from './python-peer.js';

/**
 * `difflab bench gemm`: bf16 against fp32 matrix products on the DiT's linear-layer shapes (issue #16 item 6).
 *
 * - OpenBLAS: `cblas_sbgemm` (bf16 inputs, fp32 accumulate and output) against `cblas_sgemm`, through the small C
 *   program tools/bench/native/gemm_bf16.c (compiled on demand with the system C compiler, OpenBLAS loaded with
 *   dlopen). The sgemm is the library the native backend links (libopenblas.so.0); sbgemm comes from the same
 *   library or from `bf16Lib`, an OpenBLAS built with BUILD_BFLOAT16=1 (Debian's 0.3.21 is built without it and has
 *   no cblas_sbgemm; tools/bench/README.md says how to build one).
 * - The native backend's own products (tf.matMul): fp32 (OpenBLAS sgemm) and bf16 (oneDNN, what
 *   train.precision 'bf16' runs), timed alternately in this process.
 * - oneDNN (through Debian's PyTorch, peers/gemm_bf16_torch.py): its fp32 and bf16 (avx512_core_bf16) kernels and
 *   OpenBLAS's sgemm via torch.mm, as a reference from a library whose bf16 path is tuned for the CPU.
 *
 * Each kernel is timed in alternating blocks and its best block counts, so load from other processes lowers
 * every kernel alike; on a shared machine the absolute numbers are below a quiet machine's and the ratios are
 * what to read.
 */

export interface GemmShape {
  /** What the product is in the DiT step. */
  label: string;
  m: number;
  n: number;
  k: number;
  /** A transposed (the weight gradient Xᵀ·dY). */
  transA: boolean;
}

/**
 * The distinct matrix products of a DiT's token-wise linear layers (qkv, attention projection, MLP fc1 and fc2)
 * at `batch` images: forward X·W (M = batch·tokens), input gradient dY·Wᵀ (the same M) and weight gradient Xᵀ·dY.
 */
export function ditGemmShapes(preset: string, batch: number, opts: { backward?: boolean } = {}): GemmShape[] {
  const c = ditConfig(preset);
  const tokens = (c.inputSize / c.patchSize) ** 2;
  const d = c.hiddenSize, h = Math.round(c.hiddenSize * c.mlpRatio), m = batch * tokens;
  const layers: [string, number, number][] = [['qkv', d, 3 * d], ['proj', d, d], ['fc1', d, h], ['fc2', h, d]];
  const out: GemmShape[] = [];
  const add = (g: GemmShape) => {
    if (!out.some((o) => o.m === g.m && o.n === g.n && o.k === g.k && o.transA === g.transA)) out.push(g);
  };
  for (const [name, fin, fout] of layers) add({ label: `${preset} ${name} fwd`, m, n: fout, k: fin, transA: false });
  if (opts.backward ?? true) {
    for (const [name, fin, fout] of layers) add({ label: `${preset} ${name} dX`, m, n: fin, k: fout, transA: false });
    for (const [name, fin, fout] of layers) add({ label: `${preset} ${name} dW`, m: fin, n: fout, k: m, transA: true });
  }
  return out;
}

export interface GemmBf16Row extends GemmShape {
  threads: number;
  /** OpenBLAS (the library the native backend links) cblas_sgemm, GFLOP/s. */
  sgemm: number;
  /** cblas_sbgemm GFLOP/s, or null when the library has none. */
  sbgemm: number | null;
  /** The bf16 library's own cblas_sgemm, when it is another library. */
  sgemmBf16Lib: number | null;
  /** max |sbgemm − sgemm| / max |sgemm| on the same bf16-rounded inputs. */
  sbgemmRelErr: number | null;
  /** oneDNN via PyTorch: fp32 and bf16 kernels, and torch.mm fp32 (OpenBLAS). null when the peer did not run. */
  onednnFp32: number | null;
  onednnBf16: number | null;
  torchOpenblasFp32: number | null;
  /** The native backend's tf.matMul: fp32, and bf16 products (null where unavailable). */
  nativeFp32: number;
  nativeBf16: number | null;
}

export interface GemmBf16Report {
  date: string;
  machine: BenchMachine & { bf16Flags: string[] };
  quick: boolean;
  openblas: { lib: LibInfo; bf16Lib: LibInfo; note: string | null };
  pytorch: string | null;
  rows: GemmBf16Row[];
  /** Per thread count: FLOP-weighted speed-up of bf16 over fp32 over all shapes (time of fp32 ÷ time of bf16 for one of each). */
  summary: {
    threads: number;
    /** sbgemm against the sgemm the native backend calls (libopenblas.so.0 with the environment's OPENBLAS_CORETYPE). */
    sbgemmOverSgemm: number | null;
    /** sbgemm against the bf16 library's own sgemm (same build and kernel family), when it is another library. */
    sbgemmOverSgemmBf16Lib: number | null;
    onednnBf16OverFp32: number | null;
    /** oneDNN bf16 against torch.mm fp32 (OpenBLAS), timed alternately in the same process. */
    onednnBf16OverOpenblasFp32: number | null;
    /** The native backend's bf16 products against its fp32 ones: what train.precision 'bf16' gains on these shapes. */
    nativeBf16OverFp32: number | null;
  }[];
}

interface LibInfo {
  path: string;
  config: string;
  core: string;
  sbgemm: boolean;
}

interface ProgramOutput {
  lib: LibInfo;
  bf16Lib: LibInfo;
  threads: number;
  results: { m: number; n: number; k: number; transA: boolean; sgemm: number; sbgemm: number | null; sgemmBf16Lib?: number; sbgemmRelErr?: number }[];
}

const NATIVE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'native');

/** Compiles tools/bench/native/gemm_bf16.c into native/build/ when the binary is missing or older than the source. */
export function buildGemmProgram(): string {
  const src = join(NATIVE_DIR, 'gemm_bf16.c');
  const bin = join(NATIVE_DIR, 'build', 'gemm_bf16');
  if (existsSync(bin) && statSync(bin).mtimeMs >= statSync(src).mtimeMs) return bin;
  mkdirSync(dirname(bin), { recursive: true });
  const cc = process.env['CC'] ?? 'cc';
  const tmp = `${bin}.${process.pid}.tmp`;
  try {
    execFileSync(cc, ['-O2', '-o', tmp, src, '-ldl', '-lm'], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`cannot compile ${src} with '${cc}' (needs a C compiler: Debian gcc, which tools/setup.sh installs with g++): ${(err.stderr?.toString() ?? err.message).trim().split('\n').pop()}`);
  }
  renameSync(tmp, bin);
  return bin;
}

function runProgram(bin: string, shapes: GemmShape[], threads: number, seconds: number, bf16Lib?: string): ProgramOutput {
  const args = [
    ...(bf16Lib ? ['--bf16-lib', bf16Lib] : []),
    '--threads', String(threads), '--seconds', String(seconds), '--blocks', '3',
    ...shapes.map((s) => `${s.m},${s.n},${s.k}${s.transA ? ',t' : ''}`),
  ];
  const out = execFileSync(bin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30 * 60_000 });
  return JSON.parse(out) as ProgramOutput;
}

interface PeerOutput {
  engine: string;
  threads: number;
  results: { m: number; n: number; k: number; transA: boolean; openblasFp32: number; onednnFp32: number; onednnBf16: number }[];
}

/** FLOP-weighted ratio: time of `slow` over time of `fast`, one product of each shape. */
function weightedRatio(rows: GemmBf16Row[], fast: (r: GemmBf16Row) => number | null, slow: (r: GemmBf16Row) => number | null): number | null {
  let tFast = 0, tSlow = 0;
  for (const r of rows) {
    const f = fast(r), s = slow(r);
    if (!f || !s) return null;
    const flop = 2 * r.m * r.n * r.k;
    tFast += flop / f;
    tSlow += flop / s;
  }
  return rows.length ? tSlow / tFast : null;
}

export interface GemmBf16Options {
  quick: boolean;
  /** An OpenBLAS with cblas_sbgemm (built with BUILD_BFLOAT16=1); default DIFFLAB_BF16_OPENBLAS, else libopenblas.so.0. */
  bf16Lib?: string;
  /** Thread counts; default 1 and the machine's cores. */
  threads?: number[];
  /** Run the PyTorch/oneDNN reference (default true). */
  pytorch?: boolean;
  shapes?: GemmShape[];
  /** Timed seconds per kernel and shape (default 0.6, quick 0.3). */
  seconds?: number;
  log?: (line: string) => void;
}

export async function runGemmBf16Bench(opts: GemmBf16Options): Promise<GemmBf16Report> {
  const log = opts.log ?? (() => {});
  const load1 = loadavg()[0]!;
  const shapes = opts.shapes ?? (opts.quick
    ? ditGemmShapes('DiT-FMNIST-S/4', 32)
    : [...ditGemmShapes('DiT-FMNIST-S/4', 32), ...ditGemmShapes('DiT-S/2', 8)]);
  const threadCounts = opts.threads ?? [...new Set([1, cpus().length])];
  const seconds = opts.seconds ?? (opts.quick ? 0.3 : 0.6);
  const bf16Lib = opts.bf16Lib ?? process.env['DIFFLAB_BF16_OPENBLAS'];
  const bin = buildGemmProgram();
  const rows: GemmBf16Row[] = [];
  let libs: { lib: LibInfo; bf16Lib: LibInfo } | null = null;
  let pytorch: string | null = null;
  for (const threads of threadCounts) {
    log(`gemm: ${shapes.length} shapes, OpenBLAS sgemm${bf16Lib ? ` and sbgemm from ${bf16Lib}` : ' and sbgemm'}, ${threads} thread${threads === 1 ? '' : 's'} ...`);
    const p = runProgram(bin, shapes, threads, seconds, bf16Lib);
    libs = { lib: p.lib, bf16Lib: p.bf16Lib };
    let peer: PeerOutput | null = null;
    if (opts.pytorch !== false) {
      log(`gemm: oneDNN fp32/bf16 and torch.mm fp32 in PyTorch, ${threads} thread${threads === 1 ? '' : 's'} ...`);
      try {
        peer = runPeer<PeerOutput>('gemm_bf16_torch.py', { shapes, threads, seconds, blocks: 3 });
        pytorch = `${peer.engine} (oneDNN)`;
      } catch (e) {
        log(`  pytorch failed: ${(e as Error).message}`);
        pytorch = `failed: ${(e as Error).message}`;
      }
    }
    log(`gemm: the native backend's fp32 and bf16 products, ${threads} thread${threads === 1 ? '' : 's'} ...`);
    const native = await nativeGemmRates(shapes, threads, seconds);
    shapes.forEach((s, i) => {
      const r = p.results[i]!, t = peer?.results[i];
      rows.push({
        ...s, threads, sgemm: r.sgemm, sbgemm: r.sbgemm, sgemmBf16Lib: r.sgemmBf16Lib ?? null, sbgemmRelErr: r.sbgemmRelErr ?? null,
        onednnFp32: t?.onednnFp32 ?? null, onednnBf16: t?.onednnBf16 ?? null, torchOpenblasFp32: t?.openblasFp32 ?? null,
        ...native[i]!,
      });
    });
  }
  const bf16Flags = cpuFlags().filter((f) => /bf16|amx/.test(f));
  const note = libs && !libs.bf16Lib.sbgemm
    ? `${libs.bf16Lib.path} (${libs.bf16Lib.config}) has no cblas_sbgemm: it was built without BUILD_BFLOAT16. Name an OpenBLAS built with BUILD_BFLOAT16=1 with --bf16-lib (tools/bench/README.md)`
    : null;
  return {
    date: new Date().toISOString(),
    machine: { ...benchMachine(load1), bf16Flags },
    quick: opts.quick,
    openblas: { lib: libs!.lib, bf16Lib: libs!.bf16Lib, note },
    pytorch,
    rows,
    summary: threadCounts.map((threads) => {
      const rs = rows.filter((r) => r.threads === threads);
      return {
        threads,
        sbgemmOverSgemm: weightedRatio(rs, (r) => r.sbgemm, (r) => r.sgemm),
        sbgemmOverSgemmBf16Lib: weightedRatio(rs, (r) => r.sbgemm, (r) => r.sgemmBf16Lib),
        onednnBf16OverFp32: weightedRatio(rs, (r) => r.onednnBf16, (r) => r.onednnFp32),
        onednnBf16OverOpenblasFp32: weightedRatio(rs, (r) => r.onednnBf16, (r) => r.torchOpenblasFp32),
        nativeBf16OverFp32: weightedRatio(rs, (r) => r.nativeBf16, (r) => r.nativeFp32),
      };
    }),
  };
}

const f0 = (v: number | null) => (v === null ? '—' : v.toFixed(0));
const ratio = (a: number | null, b: number | null) => (a === null || b === null || !b ? '—' : `${(a / b).toFixed(2)}×`);

export function formatGemmBf16Report(r: GemmBf16Report): string {
  const m = r.machine;
  const lib = r.openblas.lib, bl = r.openblas.bf16Lib;
  const twoLibs = lib.path !== bl.path;
  const lines = [
    `difflab bench gemm${r.quick ? ' --quick' : ''}  ${r.date}  ${machineLine(m, m.bf16Flags.join(', ') || 'no bf16 flags')}`,
    `sgemm: ${lib.path} (${lib.config}; core ${lib.core})`,
    `sbgemm: ${twoLibs ? `${bl.path} (${bl.config}; core ${bl.core})` : 'the same library'}${bl.sbgemm ? '' : ' — absent'}`,
    `oneDNN: ${r.pytorch ?? 'not run'}`,
    '',
    'GFLOP/s (best of 3 alternating blocks); C[M,N] = op(A)·B, t = A transposed:',
    `  ${'product'.padEnd(26)} ${'M'.padStart(5)} ${'N'.padStart(5)} ${'K'.padStart(5)} ${'thr'.padStart(3)} ${'sgemm'.padStart(6)} ${twoLibs ? `${'sgemm*'.padStart(6)} ` : ''}${'sbgemm'.padStart(6)} ${'sb/s'.padStart(6)} ${'mm32'.padStart(6)} ${'dnn32'.padStart(6)} ${'dnn16'.padStart(6)} ${'16/32'.padStart(6)} ${'nat32'.padStart(6)} ${'nat16'.padStart(6)} ${'16/32'.padStart(6)}`,
  ];
  for (const row of r.rows) {
    lines.push(
      `  ${(row.label + (row.transA ? ' (t)' : '')).padEnd(26)} ${String(row.m).padStart(5)} ${String(row.n).padStart(5)} ${String(row.k).padStart(5)} ${String(row.threads).padStart(3)} ${f0(row.sgemm).padStart(6)} ${twoLibs ? `${f0(row.sgemmBf16Lib).padStart(6)} ` : ''}${f0(row.sbgemm).padStart(6)} ${ratio(row.sbgemm, row.sgemm).padStart(6)} ${f0(row.torchOpenblasFp32).padStart(6)} ${f0(row.onednnFp32).padStart(6)} ${f0(row.onednnBf16).padStart(6)} ${ratio(row.onednnBf16, row.onednnFp32).padStart(6)} ${f0(row.nativeFp32).padStart(6)} ${f0(row.nativeBf16).padStart(6)} ${ratio(row.nativeBf16, row.nativeFp32).padStart(6)}`,
    );
  }
  lines.push('', 'FLOP-weighted over the shapes (one product of each):');
  for (const s of r.summary) {
    const x = (v: number | null) => (v === null ? '—' : `${v.toFixed(2)}×`);
    lines.push(`  ${s.threads} thread${s.threads === 1 ? ': ' : 's:'} OpenBLAS sbgemm / sgemm ${x(s.sbgemmOverSgemm)}${twoLibs ? ` (/ sgemm* ${x(s.sbgemmOverSgemmBf16Lib)})` : ''};  oneDNN bf16 / oneDNN fp32 ${x(s.onednnBf16OverFp32)};  oneDNN bf16 / OpenBLAS sgemm (torch.mm) ${x(s.onednnBf16OverOpenblasFp32)};  native bf16 / native fp32 ${x(s.nativeBf16OverFp32)}`);
  }
  const errs = r.rows.map((x) => x.sbgemmRelErr).filter((e): e is number => e !== null);
  if (errs.length) lines.push(`  sbgemm vs sgemm on the same bf16 inputs: max relative difference ${Math.max(...errs).toExponential(1)}`);
  if (twoLibs) lines.push(`  sgemm* = ${bl.path}'s own cblas_sgemm`);
  lines.push("  mm32 = torch.mm fp32 (PyTorch's BLAS: OpenBLAS); dnn32 / dnn16 = oneDNN's fp32 / bf16 inner product through PyTorch (a linear layer x·Wᵀ of the same M, N, K), timed in the same process, alternating with mm32; nat32 / nat16 = the native backend's tf.matMul in fp32 (OpenBLAS) / bf16 (oneDNN, train.precision 'bf16'), alternating");
  if (r.openblas.note) lines.push(`  ${r.openblas.note}`);
  lines.push('  Issue #16 rule: an opt-in train.precision "bf16" is worth adding only if bf16 is ≥ 1.5× fp32.');
  return lines.join('\n');
}
