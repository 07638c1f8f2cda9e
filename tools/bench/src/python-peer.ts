import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Debian's Python, which has python3-torch (the `python3` on PATH may be another one). */
export const PEER_PYTHON = process.env['DIFFLAB_PEER_PYTHON'] ?? '/usr/bin/python3';

/**
 * glibc's malloc returns large freed blocks to the kernel (mmap/munmap, heap trimming), so a PyTorch process
 * whose step allocates tens of MB per op pays page faults on every call: its forward pass at batch 200 of
 * DiT-FMNIST-S/4 measured 50 rows/s plain and 140–160 with these settings on 2 cores (64 rows/s batches are
 * barely affected). Keeping freed memory in the process is what PyTorch's own caching allocator does on GPU;
 * the peers run with it so that they are timed at their best. A GLIBC_TUNABLES already set is kept.
 */
export const PEER_MALLOC_TUNABLES = 'glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=4294967296';

/** Whether the peers' Python imports `modules` (e.g. 'torch', 'numpy, scipy.linalg': Debian packages that `bash tools/setup.sh --peers` installs). */
export function peerPythonHas(modules: string): boolean {
  try {
    execFileSync(PEER_PYTHON, ['-c', `import ${modules}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export class PeerError extends Error {
  override name = 'PeerError';
}

/** Runs tools/bench/peers/<script> with one JSON argument and parses the JSON object it prints last. */
export function runPeer<T>(script: string, input: unknown, timeoutMs = 30 * 60_000): T {
  const path = join(dirname(fileURLToPath(import.meta.url)), '..', 'peers', script);
  let out: string;
  try {
    out = execFileSync(PEER_PYTHON, [path, JSON.stringify(input)], {
      encoding: 'utf8',
      timeout: timeoutMs,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, GLIBC_TUNABLES: process.env['GLIBC_TUNABLES'] ?? PEER_MALLOC_TUNABLES },
    });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    const why = (err.stderr ?? '').trim().split('\n').pop() || err.message.split('\n')[0];
    throw new PeerError(`peer ${script} failed: ${why} (needs ${PEER_PYTHON} with python3-torch: bash tools/setup.sh --peers)`);
  }
  const last = out.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as T;
  } catch {
    throw new PeerError(`peer ${script} printed no JSON result; its output ended with: ${last.slice(0, 200)}`);
  }
}
