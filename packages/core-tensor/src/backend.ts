import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import './register-gradients.js';
import { registerNativeBackend } from './native/register.js';
import { registerResizeNearestGradFix } from './resize-nearest-grad.js';
import { registerWasmTrainingKernels } from './wasm-kernels.js';

/** Candidate backends, best first. */
export const BACKEND_NAMES = ['tfjs-node-gpu', 'tfjs-node', 'native', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export interface BackendInfo {
  /** difflab's name for the backend (one of BACKEND_NAMES). */
  name: string;
  /** Human-readable engine description, e.g. "OpenBLAS 0.3.21, 2 threads". */
  detail: string;
  /** Better backends that were tried and why they were not used. */
  skipped: { name: string; reason: string }[];
}

export interface InitBackendOptions {
  /** Force a backend; overrides the DIFFLAB_BACKEND environment variable. */
  backend?: string;
  /** Receives the one notice line; defaults to stderr. */
  log?: (line: string) => void;
}

export class BackendUnavailableError extends Error {
  override name = 'BackendUnavailableError';
}

type Attempt = { ok: true; tfName: string; detail: string } | { ok: false; reason: string };

const require = createRequire(import.meta.url);
let last: BackendInfo | null = null;

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0]! : String(e);
}

function isModuleMissing(e: unknown, pkg: string): boolean {
  const code = (e as { code?: string } | null)?.code;
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && errorMessage(e).includes(pkg);
}

// tfjs-node(-gpu) are optional: their installer downloads libtensorflow from outside npm,
// so they are never dependencies and are only loaded when a user installed them.
async function tryTfjsNode(pkg: '@tensorflow/tfjs-node-gpu' | '@tensorflow/tfjs-node', detail: string): Promise<Attempt> {
  try {
    await import(/* @vite-ignore */ pkg);
  } catch (e) {
    return { ok: false, reason: isModuleMissing(e, pkg) ? `${pkg} is not installed` : `${pkg} failed to load: ${errorMessage(e)}` };
  }
  if (!tf.findBackendFactory('tensorflow')) return { ok: false, reason: `${pkg} loaded but registered no 'tensorflow' backend` };
  return { ok: true, tfName: 'tensorflow', detail };
}

function tryNative(): Attempt {
  const r = registerNativeBackend();
  return r.ok ? { ok: true, tfName: r.name, detail: r.detail } : { ok: false, reason: r.reason };
}

async function tryWasm(): Promise<Attempt> {
  let wasm: typeof import('@tensorflow/tfjs-backend-wasm');
  try {
    wasm = await import('@tensorflow/tfjs-backend-wasm');
  } catch (e) {
    return { ok: false, reason: `@tensorflow/tfjs-backend-wasm failed to load: ${errorMessage(e)}` };
  }
  // Point the loader at the .wasm files in node_modules so nothing is fetched over the network.
  const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
  wasm.setWasmPaths(dist);
  registerWasmTrainingKernels();
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  return { ok: true, tfName: 'wasm', detail: `${simd ? 'SIMD' : 'no SIMD'}, 1 thread` };
}

async function tryCpu(): Promise<Attempt> {
  await import('@tensorflow/tfjs-backend-cpu');
  return { ok: true, tfName: 'cpu', detail: 'pure JavaScript, 1 thread' };
}

function attempt(name: BackendName): Promise<Attempt> | Attempt {
  switch (name) {
    case 'tfjs-node-gpu':
      return tryTfjsNode('@tensorflow/tfjs-node-gpu', 'libtensorflow with CUDA');
    case 'tfjs-node':
      return tryTfjsNode('@tensorflow/tfjs-node', 'libtensorflow CPU');
    case 'native':
      return tryNative();
    case 'wasm':
      return tryWasm();
    case 'cpu':
      return tryCpu();
  }
}

async function activate(name: BackendName): Promise<Attempt> {
  let a: Attempt;
  try {
    a = await attempt(name);
  } catch (e) {
    a = { ok: false, reason: errorMessage(e) };
  }
  if (!a.ok) return a;
  try {
    if (!(await tf.setBackend(a.tfName))) return { ok: false, reason: `tf.setBackend('${a.tfName}') failed to initialise` };
  } catch (e) {
    return { ok: false, reason: `tf.setBackend('${a.tfName}') threw: ${errorMessage(e)}` };
  }
  await tf.ready();
  silenceCpuBanner();
  if (a.tfName !== 'tensorflow') registerResizeNearestGradFix(a.tfName);
  return a;
}

// MathBackendCPU prints a multi-line "install tfjs-node" banner on first use; the notice line replaces it.
function silenceCpuBanner(): void {
  const b = tf.backend() as tf.KernelBackend & { firstUse?: boolean };
  if (b.firstUse !== undefined) b.firstUse = false;
}

function notice(info: BackendInfo): string {
  const native = info.skipped.find((s) => s.name === 'native');
  const howTo = 'run npm run build-native -w @difflab/core-tensor';
  const hint = native ? `; native backend unavailable: ${native.reason}${native.reason.includes('build-native') ? '' : `; ${howTo}`}` : '';
  return `difflab: backend ${info.name} (${info.detail}${hint})`;
}

/**
 * Selects the fastest available backend (tfjs-node-gpu → tfjs-node → native → wasm → cpu),
 * or the one named by opts.backend / DIFFLAB_BACKEND, and prints one notice line.
 * Calling again with the same outcome is silent.
 */
export async function initBackend(opts: InitBackendOptions = {}): Promise<BackendInfo> {
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const requested = opts.backend ?? process.env['DIFFLAB_BACKEND'];
  const source = opts.backend !== undefined ? 'opts.backend' : 'DIFFLAB_BACKEND';
  let info: BackendInfo;
  if (requested !== undefined && requested !== '') {
    if (!(BACKEND_NAMES as readonly string[]).includes(requested)) {
      throw new BackendUnavailableError(`${source}='${requested}' is not a backend; valid names: ${BACKEND_NAMES.join(', ')}`);
    }
    const a = await activate(requested as BackendName);
    if (!a.ok) {
      throw new BackendUnavailableError(
        `${source}='${requested}' is unavailable: ${a.reason}. Valid names: ${BACKEND_NAMES.join(', ')} (unset ${source} to pick the best available)`,
      );
    }
    info = { name: requested, detail: a.detail, skipped: [] };
  } else {
    const skipped: BackendInfo['skipped'] = [];
    let chosen: { name: BackendName; detail: string } | null = null;
    for (const name of BACKEND_NAMES) {
      const a = await activate(name);
      if (a.ok) {
        chosen = { name, detail: a.detail };
        break;
      }
      skipped.push({ name, reason: a.reason });
    }
    if (!chosen) {
      throw new BackendUnavailableError(`no backend could be initialised: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`);
    }
    info = { ...chosen, skipped };
  }
  const line = notice(info);
  if (!last || notice(last) !== line) log(line);
  last = info;
  return info;
}

/** The last backend chosen by initBackend (trainers record it in run params), or null before the first call. */
export function backendInfo(): BackendInfo | null {
  return last;
}
