import { existsSync } from 'node:fs';
import { listPresets, presetDir } from './presets.js';
import { stageOrder, type Stage, type StageContext, type Study, type Unit } from './study.js';
import { taggedTracker } from './tagged-tracker.js';
import type { Tracker } from '@difflab/tracking';

/** A stage, preset, unit or fingerprint asked for does not exist or no longer matches; the message lists what does. */
export class StudyRunError extends Error {
  override name = 'StudyRunError';
}

export interface RunStudyOptions {
  workspaceRoot: string;
  studyDir: string;
  preset: string;
  /** A stage name, or `all`: every unit's stages, then every preset stage, each in dependency order. */
  stage: string;
  /** For a fan-out stage: the unit to run; default every unit of the preset. */
  unit?: string;
  /**
   * The fingerprint the Nx target was built with (of the unit, or of the preset for a preset stage); a mismatch
   * means the project graph is older than the settings, so the task would be cached under the wrong key.
   */
  fingerprint?: string;
  tracker?: Tracker;
  options?: Record<string, string | boolean | undefined>;
  log?: (line: string) => void;
}

/** Runs one stage (or all) of a study for one preset; returns the stages run, in order, with their seconds. */
export async function runStudy(study: Study, o: RunStudyOptions): Promise<{ stage: string; unit?: string; seconds: number }[]> {
  const log = o.log ?? (() => undefined);
  const presets = listPresets(study, o.studyDir);
  const preset = presets.find((p) => p.name === o.preset);
  if (!preset) throw new StudyRunError(`study '${study.name}' has no preset '${o.preset}'; presets: ${presets.map((p) => p.name).join(', ') || '(none)'}`);
  const unitStages = study.fanOut?.stages ?? {};
  const isUnitStage = o.stage in unitStages;
  if (o.stage !== 'all' && !isUnitStage && !(o.stage in study.stages)) {
    throw new StudyRunError(`study '${study.name}' has no stage '${o.stage}'; stages: ${[...Object.keys(unitStages), ...Object.keys(study.stages), 'all'].join(', ')}`);
  }
  const units = study.fanOut ? study.fanOut.units(o.studyDir, o.preset) : [];
  if (o.unit !== undefined && !isUnitStage) throw new StudyRunError(`--unit applies to ${study.fanOut ? `the ${study.fanOut.noun} stages (${Object.keys(unitStages).join(', ')})` : 'fan-out studies only'}`);
  const chosen = o.unit === undefined ? units : units.filter((u) => u.id === o.unit);
  if (o.unit !== undefined && chosen.length === 0) {
    throw new StudyRunError(`preset '${o.preset}' of study '${study.name}' has no ${study.fanOut!.noun} '${o.unit}'; ${study.fanOut!.noun}s: ${units.map((u) => u.id).join(', ')}`);
  }
  if (o.fingerprint !== undefined) {
    if (o.stage === 'all' || (isUnitStage && o.unit === undefined)) throw new StudyRunError('--fingerprint applies to one stage (and one unit of a fan-out stage)');
    const current = isUnitStage ? chosen[0]?.fingerprints?.[o.stage] : preset.fingerprint;
    if (current !== o.fingerprint) {
      throw new StudyRunError(`the Nx target was built for settings ${o.fingerprint}, but ${o.unit ?? `preset ${o.preset}`} is now ${current ?? '(no fingerprint)'}: the project graph is stale; rerun the nx command (with NX_DAEMON=false if the daemon lags)`);
    }
  }

  const dir = presetDir(o.studyDir, o.preset);
  const done: { stage: string; unit?: string; seconds: number }[] = [];
  const runOne = async (name: string, stage: Stage, unit?: Unit) => {
    const tags: Record<string, string> = { ...(unit?.tags ?? {}), study: study.name, preset: o.preset, stage: name, ...(unit ? { unit: unit.id } : {}) };
    const ctx: StageContext = {
      study: study.name,
      preset: o.preset,
      stage: name,
      ...(unit ? { unit } : {}),
      workspaceRoot: o.workspaceRoot,
      studyDir: o.studyDir,
      presetDir: dir,
      tags,
      ...(o.tracker ? { tracker: taggedTracker(o.tracker, tags) } : {}),
      options: o.options ?? {},
      log,
    };
    const t0 = performance.now();
    await stage.run(ctx);
    const seconds = (performance.now() - t0) / 1000;
    log(`${name}${unit ? ` ${unit.id}` : ''} done in ${seconds.toFixed(1)} s`);
    done.push({ stage: name, ...(unit ? { unit: unit.id } : {}), seconds });
  };
  if (!study.presets && !existsSync(dir)) throw new StudyRunError(`${dir} not found; presets live in ${o.studyDir}/presets/<name>/`);
  if (o.stage === 'all') {
    for (const unit of chosen) for (const name of stageOrder(unitStages)) await runOne(name, unitStages[name]!, unit);
    for (const name of stageOrder(study.stages)) await runOne(name, study.stages[name]!);
  } else if (isUnitStage) {
    for (const unit of chosen) await runOne(o.stage, unitStages[o.stage]!, unit);
  } else {
    await runOne(o.stage, study.stages[o.stage]!);
  }
  return done;
}
