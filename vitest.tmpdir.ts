import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Vitest global setup: every temporary directory a test makes (mkdtemp under os.tmpdir()) lands in one
 * directory per test run, removed when the run ends, so repeated `npm test` runs do not fill /tmp with
 * run directories, checkpoints and datasets the individual tests did not clean up.
 */
export default function setup(): () => void {
  const previous = process.env.TMPDIR;
  const dir = mkdtempSync(join(tmpdir(), 'difflab-tests-'));
  process.env.TMPDIR = dir; // os.tmpdir() reads it on every call; forked workers inherit it
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    rmSync(dir, { recursive: true, force: true });
  };
}
