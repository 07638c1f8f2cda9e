import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { processAlive } from '@difflab/tracking';

/** The lock file inside a run directory while a process writes to it. */
export const RUN_LOCK_FILE = 'run.lock';

/** Who holds a run directory: written into the lock file as JSON. */
export interface RunLockHolder {
  pid: number;
  host: string;
  /** ISO time the lock was taken. */
  since: string;
  /** Tells this holder's lock from a later one with a reused pid. */
  token: string;
}

/** A second writer, or a lock that cannot be judged safely; the message names the holder and the fix. */
export class RunLockedError extends Error {
  override name = 'RunLockedError';
  constructor(
    message: string,
    readonly holder: RunLockHolder | undefined,
  ) {
    super(message);
  }
}

export interface RunLock {
  readonly path: string;
  /** True when acquiring created the run directory (it held nothing before). */
  readonly createdDir: boolean;
  /** Removes the lock file if it is still this process's; safe to call more than once. */
  release(): void;
}

export interface AcquireRunLockOptions {
  /** Where the one-line notice about a replaced stale lock goes (default stderr). */
  warn?: (line: string) => void;
}

/** Tokens of the locks this process holds: a lock with our pid but another token is a dead predecessor's (pids restart in a restarted container). */
const heldHere = new Set<string>();

function holderAlive(holder: RunLockHolder): boolean {
  return holder.pid === process.pid ? heldHere.has(holder.token) : processAlive(holder.pid);
}

/**
 * Takes `<runDir>/run.lock` (creating runDir), refusing while another live process holds it.
 *
 * The lock file is created with O_EXCL (`wx`), so of two processes racing for it exactly one wins.
 * A lock left by a process that died (kill -9, power loss) on this host is replaced with a one-line
 * notice: `--resume` after a crash just works, and the pid check cannot be fooled on the same machine.
 * A lock from another host is never broken automatically — its pid means nothing here.
 */
export function acquireRunLock(runDir: string, opts: AcquireRunLockOptions = {}): RunLock {
  const warn = opts.warn ?? ((line: string) => process.stderr.write(`${line}\n`));
  const createdDir = !existsSync(runDir);
  mkdirSync(runDir, { recursive: true });
  const path = join(runDir, RUN_LOCK_FILE);
  const me: RunLockHolder = { pid: process.pid, host: hostname(), since: new Date().toISOString(), token: randomBytes(8).toString('hex') };
  if (!tryCreate(path, me)) {
    const holder = readSettledHolder(path);
    if (holder === 'gone') {
      if (!tryCreate(path, me)) throw refused(runDir, path, readHolderOrUndefined(path));
    } else if (holder === undefined || holder.host !== me.host || holderAlive(holder)) {
      throw refused(runDir, path, holder);
    } else {
      replaceStale(path, holder, me, runDir);
      warn(`difflab: replaced the stale lock of pid ${holder.pid} (host ${holder.host}, since ${holder.since}) on ${runDir}: that process is gone`);
    }
  }
  let held = true;
  heldHere.add(me.token);
  const release = () => {
    if (!held) return;
    held = false;
    heldHere.delete(me.token);
    process.off('exit', release);
    // Only our own lock: if it was (wrongly) replaced meanwhile, the newer holder keeps theirs.
    const now = readHolderOrUndefined(path);
    if (now?.token === me.token) rmSync(path, { force: true });
  };
  // process.exit() (a second Ctrl-C) skips finally blocks; the lock still goes.
  process.on('exit', release);
  return { path, createdDir, release };
}

function tryCreate(path: string, holder: RunLockHolder): boolean {
  try {
    writeFileSync(path, `${JSON.stringify(holder)}\n`, { flag: 'wx' });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

/** The holder, 'gone' if the file vanished meanwhile, undefined if it cannot be read as a lock. */
function readHolder(path: string): RunLockHolder | 'gone' | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw e;
  }
  try {
    const h = JSON.parse(text) as Partial<RunLockHolder>;
    if (Number.isSafeInteger(h.pid) && typeof h.host === 'string' && typeof h.since === 'string' && typeof h.token === 'string') return h as RunLockHolder;
  } catch {
    // An empty or partial file: a writer is between creating and filling it, or died right there.
  }
  return undefined;
}

/** As readHolder, but gives a writer that just created the file a moment to fill it. */
function readSettledHolder(path: string): RunLockHolder | 'gone' | undefined {
  for (let attempt = 0; ; attempt++) {
    const h = readHolder(path);
    if (h !== undefined || attempt === 10) return h;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
}

function readHolderOrUndefined(path: string): RunLockHolder | undefined {
  const h = readHolder(path);
  return h === 'gone' ? undefined : h;
}

/**
 * Moves the dead holder's lock aside and creates ours. Two resumers racing for one stale lock: the
 * rename moves each file once, so the loser finds it moved a live lock, puts it back and is refused.
 */
function replaceStale(path: string, stale: RunLockHolder, me: RunLockHolder, runDir: string): void {
  const aside = `${path}.stale-${me.pid}-${me.token}`;
  try {
    renameSync(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const moved = existsSync(aside) ? readHolderOrUndefined(aside) : undefined;
  if (moved && moved.token !== stale.token) {
    try {
      linkSync(aside, path);
    } catch {
      // Someone holds the path again already; they are the holder either way.
    }
    unlinkSync(aside);
    throw refused(runDir, path, moved);
  }
  rmSync(aside, { force: true });
  if (!tryCreate(path, me)) throw refused(runDir, path, readHolderOrUndefined(path));
}

function refused(runDir: string, path: string, holder: RunLockHolder | undefined): RunLockedError {
  if (!holder) {
    const age = existsSync(path) ? (Date.now() - statSync(path).mtimeMs) / 1000 : 0;
    return new RunLockedError(
      `${runDir} is locked by ${path}, which does not name its holder (written ${age.toFixed(0)} s ago); ` +
        `if no difflab process is writing to this run directory, delete it (rm ${path}) and try again`,
      undefined,
    );
  }
  const who = `pid ${holder.pid} on host ${holder.host}, since ${holder.since}`;
  if (holder.host !== hostname()) {
    return new RunLockedError(
      `${runDir} is in use by ${who} (lock ${path}). A lock from another machine is never broken automatically: ` +
        `if that run is gone, delete the lock (rm ${path}) and try again; otherwise choose another --out`,
      holder,
    );
  }
  return new RunLockedError(
    `${runDir} is in use by ${who} (lock ${path}); wait for that run to end (or stop it: kill ${holder.pid}), or choose another --out. ` +
      `If pid ${holder.pid} is no difflab run (its pid was reused after a crash), delete the lock: rm ${path}`,
    holder,
  );
}
