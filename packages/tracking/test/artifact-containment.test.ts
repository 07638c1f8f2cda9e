import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidParameterError, locationOfDir, NotFoundError, SqliteStore, type Run } from '../src/index.js';
import { tempDir } from './temp.js';

let dir: string;
let outside: string;
let store: SqliteStore;
let run: Run;
/** The run's artifact folder on disk, where a user (or another tool) could put links by hand. */
let runDir: string;

beforeEach(async () => {
  dir = tempDir('tracking-contain-');
  outside = tempDir('tracking-outside-');
  writeFileSync(join(outside, 'secret.txt'), 'TOP SECRET');
  store = new SqliteStore(locationOfDir(dir));
  run = await store.createRun({ experimentId: '0', runName: 'r', startTime: 1000 });
  await store.putArtifact(run.info.runId, 'kept.txt', new TextEncoder().encode('kept'));
  runDir = join(dir, 'artifacts', '0', run.info.runId, 'artifacts');
});
afterEach(async () => {
  await store.close();
});

/** Every error of these calls must name paths relative to the run, never where the store lives. */
async function errorOf(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  expect(err, 'expected the call to fail').toBeInstanceOf(Error);
  expect(err!.message).not.toContain(dir);
  expect(err!.message).not.toContain(outside);
  return err!;
}

describe('artifact containment: symbolic links out of a run are refused', () => {
  it('does not read, list or archive a file link leading outside the run folder', async () => {
    symlinkSync(join(outside, 'secret.txt'), join(runDir, 'leak.txt'));
    const err = await errorOf(store.readArtifact(run.info.runId, 'leak.txt'));
    expect(err).toBeInstanceOf(InvalidParameterError);
    expect(err.message).toMatch(/artifact 'leak.txt' of run [0-9a-f]{32} is not served: .*leading outside the artifact folder/);
    expect(await store.listArtifacts(run.info.runId)).toEqual([{ path: 'kept.txt', isDir: false, fileSize: 4 }]);
    expect((await store.artifactListing(run.info.runId)).refused).toEqual([{ path: 'leak.txt', reason: 'symbolic link leading outside the artifact folder' }]);
  });

  it('does not read, list or write through a folder link leading outside', async () => {
    symlinkSync(outside, join(runDir, 'elsewhere'));
    await errorOf(store.readArtifact(run.info.runId, 'elsewhere/secret.txt'));
    await errorOf(store.listArtifacts(run.info.runId, 'elsewhere'));
    const write = await errorOf(store.putArtifact(run.info.runId, 'elsewhere/planted.txt', new Uint8Array([1])));
    expect(write.message).toMatch(/'elsewhere', a parent of 'elsewhere\/planted.txt', is a symbolic link leading outside/);
    expect(existsSync(join(outside, 'planted.txt'))).toBe(false);
    const deeper = await errorOf(store.putArtifact(run.info.runId, 'elsewhere/new/planted.txt', new Uint8Array([1])));
    expect(deeper).toBeInstanceOf(InvalidParameterError);
    expect(existsSync(join(outside, 'new'))).toBe(false);
  });

  it('refuses a run whose whole artifact folder is a link out of the store', async () => {
    const other = await store.createRun({ experimentId: '0', runName: 'moved', startTime: 1000 });
    mkdirSync(join(dir, 'artifacts', '0', other.info.runId), { recursive: true });
    symlinkSync(outside, join(dir, 'artifacts', '0', other.info.runId, 'artifacts'));
    await errorOf(store.readArtifact(other.info.runId, 'secret.txt'));
    await errorOf(store.listArtifacts(other.info.runId));
    await errorOf(store.putArtifact(other.info.runId, 'x.txt', new Uint8Array([1])));
    expect(existsSync(join(outside, 'x.txt'))).toBe(false);
  });

  it('follows links whose target stays inside the run folder', async () => {
    mkdirSync(join(runDir, 'samples'));
    writeFileSync(join(runDir, 'samples', 'step-1.png'), 'png');
    symlinkSync('samples/step-1.png', join(runDir, 'latest.png'));
    symlinkSync('samples', join(runDir, 'current'));
    expect(new TextDecoder().decode(await store.readArtifact(run.info.runId, 'latest.png'))).toBe('png');
    expect(await store.listArtifacts(run.info.runId, 'current')).toEqual([{ path: 'current/step-1.png', isDir: false, fileSize: 3 }]);
    // Writing through an inside link lands inside.
    await store.putArtifact(run.info.runId, 'current/step-2.png', new Uint8Array([7]));
    expect([...readFileSync(join(runDir, 'samples', 'step-2.png'))]).toEqual([7]);
  });

  it('a link to another run of the same store is outside this run', async () => {
    const other = await store.createRun({ experimentId: '0', runName: 'other', startTime: 1000 });
    await store.putArtifact(other.info.runId, 'private.txt', new TextEncoder().encode('theirs'));
    symlinkSync(join(dir, 'artifacts', '0', other.info.runId, 'artifacts', 'private.txt'), join(runDir, 'theirs.txt'));
    await expect(store.readArtifact(run.info.runId, 'theirs.txt')).rejects.toBeInstanceOf(InvalidParameterError);
  });
});

describe('artifact containment: broken links and odd entries never break a listing', () => {
  it('lists past a dangling link and a link loop, and reports them as refused', async () => {
    symlinkSync(join(runDir, 'gone.txt'), join(runDir, 'dangling.txt'));
    symlinkSync(join(runDir, 'loop-b'), join(runDir, 'loop-a'));
    symlinkSync(join(runDir, 'loop-a'), join(runDir, 'loop-b'));
    const listing = await store.artifactListing(run.info.runId);
    expect(listing.files).toEqual([{ path: 'kept.txt', isDir: false, fileSize: 4 }]);
    expect(listing.refused).toEqual([
      { path: 'dangling.txt', reason: 'dangling symbolic link' },
      { path: 'loop-a', reason: 'symbolic-link loop' },
      { path: 'loop-b', reason: 'symbolic-link loop' },
    ]);
    expect(await errorOf(store.readArtifact(run.info.runId, 'dangling.txt'))).toBeInstanceOf(NotFoundError);
    await errorOf(store.readArtifact(run.info.runId, 'loop-a'));
  });

  it('refuses to write a file where a folder is, or under a file', async () => {
    mkdirSync(join(runDir, 'folder'));
    await expect(errorOf(store.putArtifact(run.info.runId, 'folder', new Uint8Array([1])))).resolves.toMatchObject({ message: expect.stringMatching(/is a folder/) });
    await expect(errorOf(store.putArtifact(run.info.runId, 'kept.txt/inner', new Uint8Array([1])))).resolves.toMatchObject({ message: expect.stringMatching(/'kept.txt' of run .* is a file, so it cannot hold/) });
  });
});
