import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../src/index.js';

describe('writeFileAtomic', () => {
  it('creates missing directories, replaces existing content, leaves no temp files', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'wfa-'));
    const file = path.join(dir, 'a', 'b', 'out.json');
    await writeFileAtomic(file, '{"v":1}');
    await writeFileAtomic(file, new Uint8Array([0x7b, 0x7d]));
    expect(await readFile(file, 'utf8')).toBe('{}');
    expect(await readdir(path.dirname(file))).toEqual(['out.json']);
  });

  it('on failure keeps the old file and removes the temp file', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'wfa-'));
    const target = path.join(dir, 'taken');
    await writeFile(path.join(dir, 'keep.txt'), 'old');
    // Renaming a file over a non-empty directory fails after the temp file was written.
    await writeFileAtomic(path.join(target, 'x'), 'inner');
    await expect(writeFileAtomic(target, 'new')).rejects.toThrow();
    expect((await readdir(dir)).sort()).toEqual(['keep.txt', 'taken']);
    expect(await readFile(path.join(dir, 'keep.txt'), 'utf8')).toBe('old');
  });
});
