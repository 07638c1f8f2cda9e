import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';
import { writeFileAtomic } from '@difflab/core-tensor';
import type { SweepDefinition } from './definition.js';
import { generatedFiles, type SweepLayout } from './targets.js';

export class SweepOutOfDateError extends Error {
  override name = 'SweepOutOfDateError';
}

/** Generated files that differ from disk, and config files on disk the definition no longer produces. */
export function sweepDrift(def: SweepDefinition, layout: SweepLayout, workspaceRoot: string): { changed: string[]; stale: string[] } {
  const files = generatedFiles(def, layout);
  const changed = [...files].filter(([path, text]) => {
    const abs = join(workspaceRoot, path);
    return !existsSync(abs) || readFileSync(abs, 'utf8') !== text;
  }).map(([path]) => path);
  const configsDir = posix.join(layout.projectDir, 'configs');
  const stale = existsSync(join(workspaceRoot, configsDir))
    ? readdirSync(join(workspaceRoot, configsDir), { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => posix.join(relative(workspaceRoot, e.parentPath).split(sep).join('/'), e.name))
        .filter((path) => !files.has(path))
        .sort()
    : [];
  return { changed, stale };
}

/** Writes the per-run projects and the sweep's project.json; removes the files of runs the definition dropped. */
export async function writeSweepFiles(def: SweepDefinition, layout: SweepLayout, workspaceRoot: string): Promise<{ written: string[]; removed: string[] }> {
  const { changed, stale } = sweepDrift(def, layout, workspaceRoot);
  const files = generatedFiles(def, layout);
  for (const path of changed) {
    mkdirSync(dirname(join(workspaceRoot, path)), { recursive: true });
    await writeFileAtomic(join(workspaceRoot, path), files.get(path)!);
  }
  for (const path of stale) {
    rmSync(join(workspaceRoot, path));
    removeEmptyParents(dirname(join(workspaceRoot, path)), join(workspaceRoot, layout.projectDir, 'configs'));
  }
  return { written: changed, removed: stale };
}

/** Throws when the generated files on disk do not match the definition (so a stale target graph cannot run). */
export function assertSweepInSync(def: SweepDefinition, layout: SweepLayout, workspaceRoot: string): void {
  const { changed, stale } = sweepDrift(def, layout, workspaceRoot);
  if (changed.length === 0 && stale.length === 0) return;
  const list = [...changed.map((p) => `  out of date: ${p}`), ...stale.map((p) => `  no longer in the sweep: ${p}`)].join('\n');
  throw new SweepOutOfDateError(`${layout.sweepPath} and its generated files disagree:\n${list}\nrun: npx difflab sweep generate ${layout.sweepPath}`);
}

/** Removes `dir` and its parents up to (not including) `stop` while they are empty (a dropped run's project dir). */
function removeEmptyParents(dir: string, stop: string): void {
  for (let d = dir; d.startsWith(stop) && d !== stop && readdirSync(d).length === 0; d = dirname(d)) rmdirSync(d);
}
