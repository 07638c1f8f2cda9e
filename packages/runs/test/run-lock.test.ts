import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireRunLock, RUN_LOCK_FILE, RunLockedError } from '../src/run-lock.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'run-lock-'));

/** A pid that existed a moment ago and is gone now (spawnSync has reaped it). */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid!;
}

function writeLock(dir: string, holder: object): void {
  writeFileSync(join(dir, RUN_LOCK_FILE), JSON.stringify(holder));
}

describe('run directory lock', () => {
  it('writes the holder, refuses a second writer naming the holder and the fix, and frees the directory on release', () => {
    const dir = tmp();
    const lock = acquireRunLock(dir, { warn: () => undefined });
    const holder = JSON.parse(readFileSync(join(dir, RUN_LOCK_FILE), 'utf8'));
    expect(holder).toMatchObject({ pid: process.pid, host: hostname() });
    expect(Date.parse(holder.since)).toBeGreaterThan(0);

    let err: unknown;
    try {
      acquireRunLock(dir);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RunLockedError);
    const msg = (err as Error).message;
    expect(msg).toContain(`pid ${process.pid} on host ${hostname()}, since ${holder.since}`);
    expect(msg).toContain('choose another --out');

    lock.release();
    expect(existsSync(join(dir, RUN_LOCK_FILE))).toBe(false);
    acquireRunLock(dir).release();
  });

  it('creates a missing run directory and says so (so a refused run can remove it again)', () => {
    const dir = join(tmp(), 'new-run');
    const lock = acquireRunLock(dir);
    expect(lock.createdDir).toBe(true);
    lock.release();
    expect(acquireRunLock(dir).createdDir).toBe(false);
  });

  it('replaces the lock of a process that is gone on this host, with a one-line notice', () => {
    const dir = tmp();
    const pid = deadPid();
    writeLock(dir, { pid, host: hostname(), since: '2026-01-01T00:00:00.000Z', token: 'old' });
    const lines: string[] = [];
    const lock = acquireRunLock(dir, { warn: (l) => lines.push(l) });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`replaced the stale lock of pid ${pid}`);
    expect(JSON.parse(readFileSync(join(dir, RUN_LOCK_FILE), 'utf8')).pid).toBe(process.pid);
    lock.release();
  });

  it("treats a lock with its own pid but not its own token as a dead predecessor's (a restarted container reuses pids)", () => {
    const dir = tmp();
    writeLock(dir, { pid: process.pid, host: hostname(), since: '2026-01-01T00:00:00.000Z', token: 'previous-container' });
    const lines: string[] = [];
    const lock = acquireRunLock(dir, { warn: (l) => lines.push(l) });
    expect(lines[0]).toContain(`replaced the stale lock of pid ${process.pid}`);
    // …while a lock this process really holds still refuses a second acquire.
    expect(() => acquireRunLock(dir)).toThrow(RunLockedError);
    lock.release();
  });

  it('never breaks a lock held on another host, even if that pid does not exist here', () => {
    const dir = tmp();
    writeLock(dir, { pid: deadPid(), host: 'gpu-node-7', since: '2026-01-01T00:00:00.000Z', token: 't' });
    expect(() => acquireRunLock(dir)).toThrow(/in use by pid \d+ on host gpu-node-7.*never broken automatically.*rm .*run\.lock/);
    expect(JSON.parse(readFileSync(join(dir, RUN_LOCK_FILE), 'utf8')).host).toBe('gpu-node-7');
  });

  it('refuses a lock file that names no holder, with the command to clear it', () => {
    const dir = tmp();
    writeFileSync(join(dir, RUN_LOCK_FILE), '');
    expect(() => acquireRunLock(dir)).toThrow(new RegExp(`does not name its holder.*rm ${join(dir, RUN_LOCK_FILE)}`));
  });

  it('does not remove a lock that is no longer its own', () => {
    const dir = tmp();
    const lock = acquireRunLock(dir);
    writeLock(dir, { pid: process.pid, host: hostname(), since: 'later', token: 'someone-else' });
    lock.release();
    expect(JSON.parse(readFileSync(join(dir, RUN_LOCK_FILE), 'utf8')).token).toBe('someone-else');
  });
});
