import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { PresetInfo, Study } from './study.js';

/** A study's presets: its own list, or else the directories of `<studyDir>/presets/`, sorted. */
export function listPresets(study: Study, studyDir: string): PresetInfo[] {
  if (study.presets) return study.presets(studyDir);
  const dir = join(studyDir, 'presets');
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => ({ name: e.name }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** `<studyDir>/presets/<preset>`: where a preset's files live (a study with its own preset list may have none there). */
export const presetDir = (studyDir: string, preset: string) => join(studyDir, 'presets', preset);
