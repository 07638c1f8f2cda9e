import type { Tracker } from '@difflab/tracking';

/**
 * A study is named stages run per preset: `experiments/<study>/study.ts` exports one as its default
 * export. The Nx plugin (tools/nx-studies) turns each preset into one Nx project whose targets are the
 * stages, and `difflab study <name> <stage|all> --preset P` runs them. The definition must stay cheap to
 * import (the plugin imports it on every project-graph build): keep heavy imports inside `run`.
 */
export interface Study {
  /** The study's name: its CLI name, its Nx project prefix and the `study` tracker tag. */
  name: string;
  summary: string;
  /** Stages run once per preset, in dependency order. */
  stages: Record<string, Stage>;
  /** Optional fan-out: stages run once per unit (e.g. per training run of a sweep), each unit its own Nx project. */
  fanOut?: FanOut;
  /**
   * The study's presets. Default: the directories of `<studyDir>/presets/`. A study whose presets live in one
   * file (the scaling sweep's sweep.json) lists them here and gives each a fingerprint instead of input files.
   */
  presets?(studyDir: string): PresetInfo[];
  /** Extra command-line flags its stages read from `ctx.options` (e.g. `--variant`). */
  options?: Record<string, StudyOption>;
}

export interface Stage {
  summary: string;
  /**
   * Stages that must run first. In a preset stage, `each:<stage>` names that stage of every fan-out unit;
   * in a unit stage, a plain name is a stage of the same unit.
   */
  dependsOn?: string[];
  /** Files this stage reads, relative to the preset directory: a change to them reruns it (and what follows). */
  inputs?: string[];
  /** Files of other projects it reads, relative to the workspace root (e.g. a feature network artifact). */
  workspaceInputs?: PerPreset<string[]>;
  /** Files of the tasks it depends on that it reads (globs over their outputs, e.g. `**\/*.safetensors`). */
  dependencyOutputs?: PerPreset<string[]>;
  /** What it writes, relative to the study directory; `{preset}` and `{unit}` are substituted. Nx caches these. */
  outputs?: string[];
  /** Which code its result follows (an Nx named input): training, evaluation, or analysis (tables, fits, plots). */
  code: StageCode;
  /** Tasks of other Nx projects that must have run first (e.g. the feature network's training). */
  needs?: PerPreset<{ project: string; target: string }[]>;
  run(ctx: StageContext): Promise<unknown>;
}

export type StageCode = 'training' | 'evaluation' | 'analysis';

/** The preset a per-preset stage setting is asked about; it may read the preset's files (synchronously, cheaply). */
export interface PresetRef {
  studyDir: string;
  preset: string;
  presetDir: string;
}

/** A stage setting that is the same for every preset, or depends on the preset (e.g. on its dataset). */
export type PerPreset<T> = T | ((p: PresetRef) => T);

export function resolvePerPreset<T>(value: PerPreset<T> | undefined, p: PresetRef, fallback: T): T {
  if (value === undefined) return fallback;
  return typeof value === 'function' ? (value as (p: PresetRef) => T)(p) : value;
}

export interface FanOut {
  /** What one unit is called in help texts and errors, e.g. "run". */
  noun: string;
  units(studyDir: string, preset: string): Unit[];
  stages: Record<string, Stage>;
}

export interface Unit {
  /** Unique within its preset; part of its Nx project name, so letters, digits and "-". */
  id: string;
  /**
   * Per stage: a digest of the settings that define that stage's work for this unit, hashed into its Nx task
   * in place of a settings file of its own (see fingerprint()).
   */
  fingerprints?: Record<string, string>;
  /** Extra tracker tags of the unit's runs (e.g. budget and size of a sweep run). */
  tags?: Record<string, string>;
}

export interface PresetInfo {
  name: string;
  /** Digest of the preset's settings when they are not files of their own (see Study.presets). */
  fingerprint?: string;
}

export interface StudyOption {
  type: 'string' | 'boolean';
  description: string;
}

/** What a stage gets: where it is, what it may read, and a tracker whose runs carry the study's tags. */
export interface StageContext {
  study: string;
  preset: string;
  stage: string;
  /** The unit a fan-out stage runs for. */
  unit?: Unit;
  /** Absolute paths. */
  workspaceRoot: string;
  studyDir: string;
  presetDir: string;
  /** `study`, `preset`, `stage` (and `unit` plus the unit's own tags): every tracker run of the stage carries them. */
  tags: Readonly<Record<string, string>>;
  /** Undefined with --no-track. Its startRun adds `tags`; stages never set those three themselves. */
  tracker?: Tracker;
  options: Readonly<Record<string, string | boolean | undefined>>;
  log(line: string): void;
}

/** A study definition is wrong (a stage depends on an unknown stage, a cycle, a bad name); says which and where. */
export class StudyDefinitionError extends Error {
  override name = 'StudyDefinitionError';
}

const NAME = /^[a-z0-9][a-z0-9-]*$/;

/** Checks a study's names and dependencies once, where it is defined, so a typo fails at load and not mid-chain. */
export function defineStudy(study: Study): Study {
  const where = `study '${study.name}'`;
  if (!NAME.test(study.name)) throw new StudyDefinitionError(`${where}: name must be lowercase letters, digits and "-" (it prefixes Nx project names)`);
  const unitStages = study.fanOut?.stages ?? {};
  for (const [name, s] of Object.entries(study.stages)) {
    checkName(where, name);
    for (const d of s.dependsOn ?? []) {
      const each = d.startsWith('each:') ? d.slice(5) : undefined;
      if (each !== undefined ? !(each in unitStages) : !(d in study.stages)) {
        throw new StudyDefinitionError(`${where}: stage '${name}' depends on unknown stage '${d}'; known: ${[...Object.keys(study.stages), ...Object.keys(unitStages).map((u) => `each:${u}`)].join(', ')}`);
      }
    }
  }
  for (const [name, s] of Object.entries(unitStages)) {
    checkName(where, name);
    if (name in study.stages) throw new StudyDefinitionError(`${where}: '${name}' is both a preset stage and a ${study.fanOut!.noun} stage; rename one`);
    for (const d of s.dependsOn ?? []) {
      if (!(d in unitStages)) throw new StudyDefinitionError(`${where}: ${study.fanOut!.noun} stage '${name}' depends on unknown stage '${d}'; known: ${Object.keys(unitStages).join(', ')}`);
    }
  }
  stageOrder(study.stages, where);
  stageOrder(unitStages, where);
  return study;
}

function checkName(where: string, name: string): void {
  if (!NAME.test(name) || name === 'all') throw new StudyDefinitionError(`${where}: stage name '${name}' must be lowercase letters, digits and "-" and not 'all'`);
}

/** Stage names in an order where each comes after its dependencies (`each:` dependencies are outside the group). */
export function stageOrder(stages: Record<string, Stage>, where = 'study'): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: string[]) => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') throw new StudyDefinitionError(`${where}: stages depend on each other in a cycle: ${[...path, name].join(' → ')}`);
    state.set(name, 'visiting');
    for (const d of stages[name]!.dependsOn ?? []) if (!d.startsWith('each:')) visit(d, [...path, name]);
    state.set(name, 'done');
    order.push(name);
  };
  for (const name of Object.keys(stages)) visit(name, []);
  return order;
}
