import { dirname, join, posix, relative } from 'node:path';
import type { JsonObject, SweepDefinition } from './definition.js';
import { budgetLabel, planPreset, type SweepRun } from './plan.js';

/** Where a sweep's generated and produced files live, relative to the workspace root. */
export interface SweepLayout {
  sweepPath: string;
  projectDir: string;
  configPath(run: Pick<SweepRun, 'preset' | 'id'>): string;
  runDir(run: Pick<SweepRun, 'preset' | 'id'>): string;
  resultsDir(preset: string): string;
}

export function sweepLayout(sweepPath: string): SweepLayout {
  const projectDir = posix.normalize(dirname(sweepPath));
  return {
    sweepPath: posix.normalize(sweepPath),
    projectDir,
    configPath: (r) => posix.join(projectDir, 'configs', r.preset, `${r.id}.json`),
    runDir: (r) => posix.join(projectDir, 'runs', r.preset, r.id),
    resultsDir: (preset) => posix.join(projectDir, 'results', preset),
  };
}

export const trainTarget = (run: Pick<SweepRun, 'preset' | 'id'>) => `train-${run.preset}-${run.id}`;
export const gatherTarget = (preset: string) => `gather-${preset}`;
export const tableTarget = (preset: string) => `table-${preset}`;

const CLI = 'node apps/cli/bin/difflab.js';

/** The tracker tags of a run: which sweep, preset, budget and size it belongs to. */
export function runTags(def: SweepDefinition, run: SweepRun): Record<string, string> {
  return { sweep: def.name, preset: run.preset, budget: budgetLabel(run.budget), size: run.sizeLabel };
}

/**
 * The Nx project of a sweep. A train target's inputs are its own generated config file (not the
 * sweep definition), so editing one run's settings reruns that run only; gather hashes the run
 * artifacts it reads (`dependentTasksOutputFiles`), so it reruns exactly when a run changed.
 */
export function projectJson(def: SweepDefinition, layout: SweepLayout): JsonObject {
  const root = '{projectRoot}';
  const local = (p: string) => posix.join(root, posix.relative(layout.projectDir, p));
  const targets: JsonObject = {};
  for (const preset of Object.keys(def.presets)) {
    const runs = planPreset(def, preset);
    for (const run of runs) {
      const tags = Object.entries(runTags(def, run)).map(([k, v]) => `--tag ${k}=${v}`).join(' ');
      targets[trainTarget(run)] = {
        executor: 'nx:run-commands',
        cache: true,
        inputs: [local(layout.configPath(run)), '^production', { env: 'DIFFLAB_BACKEND' }],
        outputs: [local(layout.runDir(run))],
        options: {
          cwd: '{workspaceRoot}',
          command: `rm -rf ${layout.runDir(run)} && ${CLI} train ${layout.configPath(run)} --out ${layout.runDir(run)} ${tags}`,
        },
        dependsOn: ['^build-native'],
      };
    }
    const results = layout.resultsDir(preset);
    targets[gatherTarget(preset)] = {
      executor: 'nx:run-commands',
      cache: true,
      inputs: [
        local(layout.sweepPath),
        local(posix.join(layout.projectDir, 'configs', preset, '*.json')),
        ...['eval.json', 'params.json', 'metrics.parquet'].map((f) => ({ dependentTasksOutputFiles: `**/${f}`, transitive: false })),
        '^production',
      ],
      outputs: [local(posix.join(results, 'runs.parquet')), local(posix.join(results, 'runs.md')), local(posix.join(results, 'frontier.parquet'))],
      options: { cwd: '{workspaceRoot}', command: `${CLI} sweep gather ${layout.sweepPath} --preset ${preset}` },
      dependsOn: runs.map(trainTarget),
    };
    targets[tableTarget(preset)] = {
      executor: 'nx:run-commands',
      cache: true,
      inputs: [local(layout.sweepPath), local(posix.join(results, '*.parquet')), '^production'],
      outputs: [local(posix.join(results, 'isoflop')), local(posix.join(results, 'power'))],
      options: { cwd: '{workspaceRoot}', command: `${CLI} sweep fit ${layout.sweepPath} --preset ${preset}` },
      dependsOn: [gatherTarget(preset)],
    };
  }
  if (def.presets.full) targets.table = { executor: 'nx:noop', dependsOn: [tableTarget('full')] };
  targets.generate = {
    executor: 'nx:run-commands',
    cache: false,
    options: { cwd: '{workspaceRoot}', command: `${CLI} sweep generate ${layout.sweepPath}` },
  };
  return {
    name: def.name,
    $schema: posix.join(relative(join('/', layout.projectDir), '/'), 'node_modules/nx/schemas/project-schema.json'),
    projectType: 'application',
    targets,
  };
}

/** Every file `difflab sweep generate` writes: per-run configs and project.json, path → text. */
export function generatedFiles(def: SweepDefinition, layout: SweepLayout): Map<string, string> {
  const files = new Map<string, string>();
  for (const preset of Object.keys(def.presets)) {
    for (const run of planPreset(def, preset)) files.set(layout.configPath(run), `${JSON.stringify(run.config, null, 2)}\n`);
  }
  files.set(posix.join(layout.projectDir, 'project.json'), `${JSON.stringify(projectJson(def, layout), null, 2)}\n`);
  return files;
}
