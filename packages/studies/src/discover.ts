import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { StudyDefinitionError, type Study } from './study.js';

/** Where studies live: `experiments/<dir>/study.ts`, each exporting its Study as the default export. */
export const STUDIES_DIR = 'experiments';
export const STUDY_FILE = 'study.ts';

export interface StudyLocation {
  /** Absolute path of the study's directory. */
  dir: string;
  /** Absolute path of its study.ts. */
  file: string;
}

/** Every study file under `<workspaceRoot>/experiments/*`, in directory order (found by path, not by dependency). */
export function findStudies(workspaceRoot: string): StudyLocation[] {
  const root = join(workspaceRoot, STUDIES_DIR);
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(root, e.name, STUDY_FILE)))
    .map((e) => ({ dir: join(root, e.name), file: join(root, e.name, STUDY_FILE) }))
    .sort((a, b) => a.dir.localeCompare(b.dir));
}

/** Imports a study.ts (the caller runs under tsx, which compiles it) and checks that it exports a Study. */
export async function loadStudy(file: string): Promise<Study> {
  const mod = (await import(pathToFileURL(file).href)) as { default?: Partial<Study> };
  const s = mod.default;
  if (!s || typeof s.name !== 'string' || typeof s.stages !== 'object') {
    throw new StudyDefinitionError(`${file}: expected \`export default defineStudy({ name, summary, stages, … })\``);
  }
  return s as Study;
}
