import { loadAddon } from '../native/addon.js';
import { LinalgError } from './errors.js';

/**
 * Which implementation runs the O(n³) float64 routines (`eigh`, `eigvalsh`, and through them
 * `sqrtmPsd`, `psdSqrtFactor`, `traceSqrtProduct`; large `matmulTransB` products):
 * - `native`: LAPACK `dsyevd` and BLAS `dgemm`/`dsyrk` in the native addon (OpenBLAS), using the
 *   addon's thread count for the duration of each call;
 * - `js`: the pure-TypeScript implementations in this folder, which need nothing built and are
 *   the reference the native path is tested against;
 * - `auto` (default): `native` when the addon is built and loads, else `js`.
 * `DIFFLAB_LINALG=auto|native|js` sets the initial choice.
 */
export type LinalgEngine = 'native' | 'js';
export type LinalgEngineChoice = LinalgEngine | 'auto';

export const LINALG_ENGINES: readonly LinalgEngineChoice[] = ['auto', 'native', 'js'];

/** The addon's float64 entry points, present together (see native/src/lapack.cc). */
export interface NativeLinalg {
  eighF64(a: Float64Array, n: number, w: Float64Array, wantVectors: boolean): void;
  matmulTransBF64(a: Float64Array, b: Float64Array, c: Float64Array, m: number, n: number, k: number, beta: number, symmetric: boolean): void;
}

let choice: LinalgEngineChoice | null = null;

function checkChoice(value: string, from: string): LinalgEngineChoice {
  if (!(LINALG_ENGINES as readonly string[]).includes(value)) {
    throw new LinalgError(`${from}: unknown linear-algebra engine '${value}'; use one of ${LINALG_ENGINES.join(', ')}`);
  }
  return value as LinalgEngineChoice;
}

function currentChoice(): LinalgEngineChoice {
  choice ??= checkChoice(process.env['DIFFLAB_LINALG'] ?? 'auto', 'DIFFLAB_LINALG');
  return choice;
}

/** Sets the engine for subsequent calls (process-wide) and returns the previous choice, so callers can restore it. */
export function setLinalgEngine(engine: LinalgEngineChoice): LinalgEngineChoice {
  const previous = currentChoice();
  choice = checkChoice(engine, 'setLinalgEngine');
  return previous;
}

/** The native entry points, or why they cannot be used. */
function probeNative(): { reason: string } | { addon: NativeLinalg } {
  const load = loadAddon();
  if (!load.ok) return { reason: load.reason };
  const { eighF64, matmulTransBF64 } = load.addon;
  if (!eighF64 || !matmulTransBF64) {
    return {
      reason:
        process.platform === 'linux'
          ? 'the native addon predates its LAPACK functions; rebuild it (npm run build-native -w @difflab/core-tensor)'
          : `the native addon has no LAPACK on ${process.platform} (only OpenBLAS builds export it)`,
    };
  }
  return { addon: { eighF64: eighF64.bind(load.addon), matmulTransBF64: matmulTransBF64.bind(load.addon) } };
}

/**
 * The engine calls will use now (the resolution of `auto`) and why; `engine` is null when
 * `native` was forced but cannot load, in which case calls throw with `detail`.
 */
export function linalgEngine(): { engine: LinalgEngine | null; choice: LinalgEngineChoice; detail: string } {
  const c = currentChoice();
  if (c === 'js') return { engine: 'js', choice: c, detail: 'pure TypeScript (chosen)' };
  const native = probeNative();
  if ('addon' in native) return { engine: 'native', choice: c, detail: 'LAPACK dsyevd + BLAS dgemm/dsyrk (native addon, OpenBLAS)' };
  if (c === 'native') return { engine: null, choice: c, detail: `native linear algebra unavailable: ${native.reason}` };
  return { engine: 'js', choice: c, detail: `pure TypeScript (native unavailable: ${native.reason})` };
}

/**
 * The native entry points when the current choice resolves to native, else null (use JS).
 * A forced `native` that cannot load is an error rather than a silent fallback.
 */
export function nativeLinalg(caller: string): NativeLinalg | null {
  const c = currentChoice();
  if (c === 'js') return null;
  const native = probeNative();
  if ('addon' in native) return native.addon;
  if (c === 'native') throw new LinalgError(`${caller}: the native linear-algebra engine was requested but ${native.reason}`);
  return null;
}

/** Runs a native call, turning the addon's errors (plain Error/RangeError) into LinalgError. */
export function callNative(caller: string, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    throw new LinalgError(`${caller}: ${(e as Error).message}`, { cause: e });
  }
}
