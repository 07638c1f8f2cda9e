import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { listPresets, resolvePerPreset, stageOrder, type PresetRef, type Stage, type StageCode, type Study, type Unit } from '@difflab/studies';

/** A target as Nx's project configuration spells it (the subset this plugin writes). */
export interface TargetConfig {
  executor: 'nx:run-commands';
  cache: true;
  inputs: (string | { dependentTasksOutputFiles: string; transitive: false } | { env: string })[];
  outputs: string[];
  dependsOn: (string | { projects: string[]; target: string })[];
  options: { cwd: '{workspaceRoot}'; command: string };
  metadata: { description: string };
}

export interface ProjectConfig {
  name: string;
  root: string;
  projectType: 'application';
  tags: string[];
  implicitDependencies: string[];
  targets: Record<string, TargetConfig>;
}

/**
 * The nx.json named input of the code a stage's result follows. Not `^production`: a study project depends on
 * no package by package.json, so a tracker, fitter or benchmark change does not touch its tasks.
 */
export const CODE_INPUT: Record<StageCode, string> = { training: 'trainingCode', evaluation: 'evalCode', analysis: 'analysisCode' };
/** Every study stage also runs the study runner (packages/studies, the `study` command) and the study's own files. */
export const RUNNER_INPUT = 'studyRunner';

const CLI = 'node apps/cli/bin/difflab.js';
/** The native backend every stage computes with: built first, by the one project that owns it. */
const NATIVE = { projects: ['@difflab/core-tensor'], target: 'build-native' };

export interface StudyFiles {
  /** The study's directory relative to the workspace root, posix (e.g. experiments/unet-pruning). */
  studyDir: string;
  workspaceRoot: string;
  /** Projects each code input covers, for implicitDependencies (so `nx affected` follows the same code). */
  codeProjects: Record<StageCode, string[]>;
}

export const presetProjectName = (study: Study, preset: string) => `${study.name}-${preset}`;
export const unitProjectName = (study: Study, preset: string, unit: Unit) => `${study.name}-${preset}-${unit.id}`;

/** One Nx project per preset (targets: its stages) and, for a fan-out study, one per unit (targets: the unit stages). */
export function studyProjects(study: Study, f: StudyFiles): ProjectConfig[] {
  const abs = (rel: string) => posix.join(f.workspaceRoot, rel);
  const projects: ProjectConfig[] = [];
  for (const preset of listPresets(study, abs(f.studyDir))) {
    const presetRoot = posix.join(f.studyDir, 'presets', preset.name);
    const ref: PresetRef = { studyDir: abs(f.studyDir), preset: preset.name, presetDir: abs(presetRoot) };
    const units = study.fanOut ? study.fanOut.units(ref.studyDir, preset.name) : [];
    const unitNames = units.map((u) => unitProjectName(study, preset.name, u));
    for (const unit of units) {
      const stages = study.fanOut!.stages;
      projects.push({
        name: unitProjectName(study, preset.name, unit),
        root: posix.join(presetRoot, unit.id),
        projectType: 'application',
        tags: ['type:study', `study:${study.name}`, `preset:${preset.name}`],
        implicitDependencies: implicitDeps(Object.values(stages), f),
        targets: Object.fromEntries(
          stageOrder(stages).map((name) => [name, target(study, f, ref, name, stages[name]!, `--unit ${unit.id}${fp(unit.fingerprints?.[name])}`, unit.id, [])]),
        ),
      });
    }
    projects.push({
      name: presetProjectName(study, preset.name),
      root: presetRoot,
      projectType: 'application',
      tags: ['type:study', `study:${study.name}`, `preset:${preset.name}`],
      implicitDependencies: implicitDeps(Object.values(study.stages), f),
      targets: Object.fromEntries(stageOrder(study.stages).map((name) => [name, target(study, f, ref, name, study.stages[name]!, fp(preset.fingerprint).trim(), undefined, unitNames)])),
    });
  }
  return projects;
}

const fp = (f: string | undefined) => (f === undefined ? '' : ` --fingerprint ${f}`);

function implicitDeps(stages: Stage[], f: StudyFiles): string[] {
  return [...new Set(stages.flatMap((s) => f.codeProjects[s.code]))].sort();
}

function target(study: Study, f: StudyFiles, p: PresetRef, name: string, s: Stage, extraArgs: string, unit: string | undefined, unitProjects: string[]): TargetConfig {
  const fill = (path: string) => path.replaceAll('{preset}', p.preset).replaceAll('{unit}', unit ?? '{unit}');
  const presetRel = posix.join(f.studyDir, 'presets', p.preset);
  const dependsOn: TargetConfig['dependsOn'] = [];
  for (const d of s.dependsOn ?? []) {
    if (d.startsWith('each:')) {
      if (unitProjects.length) dependsOn.push({ projects: unitProjects, target: d.slice(5) });
    } else dependsOn.push(d);
  }
  for (const n of resolvePerPreset(s.needs, p, [])) dependsOn.push({ projects: [n.project], target: n.target });
  dependsOn.push(NATIVE);
  return {
    executor: 'nx:run-commands',
    cache: true,
    inputs: [
      ...(s.inputs ?? []).map((file) => `{workspaceRoot}/${posix.join(presetRel, file)}`),
      ...resolvePerPreset(s.workspaceInputs, p, []).map((file) => `{workspaceRoot}/${file}`),
      ...resolvePerPreset(s.dependencyOutputs, p, []).map((glob) => ({ dependentTasksOutputFiles: glob, transitive: false as const })),
      CODE_INPUT[s.code],
      RUNNER_INPUT,
      `{workspaceRoot}/${posix.join(f.studyDir, 'study.ts')}`,
      `{workspaceRoot}/${posix.join(f.studyDir, 'src')}/**/*`,
      { env: 'DIFFLAB_BACKEND' },
    ],
    outputs: (s.outputs ?? []).map((o) => `{workspaceRoot}/${posix.join(f.studyDir, fill(o))}`),
    dependsOn,
    options: { cwd: '{workspaceRoot}', command: `${CLI} study ${study.name} ${name} --preset ${p.preset}${extraArgs ? ` ${extraArgs.trim()}` : ''}` },
    metadata: { description: s.summary },
  };
}

type NamedInputs = Record<string, unknown[]>;

const PROJECT_GLOB = /^\{workspaceRoot\}\/((?:packages|apps|tools)\/[^/]+)\/\*\*\/\*$/;

/**
 * The projects whose files each code input takes whole (`{workspaceRoot}/packages/x/**\/*`, following the
 * named inputs it includes), as implicitDependencies, so `nx affected` follows the same code as the hashes.
 */
export function codeProjects(namedInputs: NamedInputs, workspaceRoot: string): Record<StageCode, string[]> {
  const of = (name: string, seen = new Set<string>()): string[] => {
    if (seen.has(name)) return [];
    seen.add(name);
    return (namedInputs[name] ?? []).flatMap((e) => {
      if (typeof e !== 'string') return [];
      if (e in namedInputs) return of(e, seen);
      const m = PROJECT_GLOB.exec(e);
      return m ? [(JSON.parse(readFileSync(posix.join(workspaceRoot, m[1]!, 'package.json'), 'utf8')) as { name: string }).name] : [];
    });
  };
  const all = (name: string) => [...new Set([...of(name), ...of(RUNNER_INPUT)])].sort();
  return { training: all(CODE_INPUT.training), evaluation: all(CODE_INPUT.evaluation), analysis: all(CODE_INPUT.analysis) };
}
