import { dirname, join, posix, relative } from 'node:path';
import type { JsonObject, SweepDefinition } from './definition.js';
import { budgetLabel, planPreset, type SweepRun } from './plan.js';

/** Where a sweep's generated and produced files live, relative to the workspace root. */
export interface SweepLayout {
  sweepPath: string;
  projectDir: string;
  /** The directory of a run's own Nx project: its config.json and project.json. */
  runProjectDir(run: Pick<SweepRun, 'preset' | 'id'>): string;
  configPath(run: Pick<SweepRun, 'preset' | 'id'>): string;
  runDir(run: Pick<SweepRun, 'preset' | 'id'>): string;
  resultsDir(preset: string): string;
}

export function sweepLayout(sweepPath: string): SweepLayout {
  const projectDir = posix.normalize(dirname(sweepPath));
  const runProjectDir = (r: Pick<SweepRun, 'preset' | 'id'>) => posix.join(projectDir, 'configs', r.preset, r.id);
  return {
    sweepPath: posix.normalize(sweepPath),
    projectDir,
    runProjectDir,
    configPath: (r) => posix.join(runProjectDir(r), 'config.json'),
    runDir: (r) => posix.join(projectDir, 'runs', r.preset, r.id),
    resultsDir: (preset) => posix.join(projectDir, 'results', preset),
  };
}

/** The Nx project of one run, e.g. `dit-scaling-full-c1e13-w64-d2`; its target is `train`. */
export const runProjectName = (def: Pick<SweepDefinition, 'name'>, run: Pick<SweepRun, 'preset' | 'id'>) => `${def.name}-${run.preset}-${run.id}`;
/** The Nx project whose `train` target makes the Fashion-MNIST feature network behind FID-FMNIST. */
export const FEATURE_NET_PROJECT = 'fmnist-featurenet';
export const gatherTarget = (preset: string) => `gather-${preset}`;
export const tableTarget = (preset: string) => `table-${preset}`;

const CLI = 'node apps/cli/bin/difflab.js';

/** The tracker tags of a run: which sweep, preset, budget and size it belongs to. */
export function runTags(def: SweepDefinition, run: SweepRun): Record<string, string> {
  return { sweep: def.name, preset: run.preset, budget: budgetLabel(run.budget), size: run.sizeLabel };
}

function schemaPath(dir: string): string {
  return posix.join(relative(join('/', dir), '/'), 'node_modules/nx/schemas/project-schema.json');
}

/** Where `difflab eval` writes a run's FID table: `<runDir>/eval/metrics.parquet`. */
export const evalTablePath = (runDir: string) => posix.join(runDir, 'eval', 'metrics.parquet');

/**
 * One run's Nx project. Each run is its own project because Nx hashes a project's whole target
 * configuration into every task of the project: were the runs targets of one project, adding a
 * budget would rerun every run. This file depends only on the run's id, so the run's hash changes
 * only with its config.json or the code (the CLI and everything it imports, `^production`).
 */
export function runProjectJson(def: SweepDefinition, layout: SweepLayout, run: SweepRun): JsonObject {
  const dir = layout.runProjectDir(run);
  const tags = Object.entries(runTags(def, run)).map(([k, v]) => `--tag ${k}=${v}`).join(' ');
  return {
    name: runProjectName(def, run),
    $schema: schemaPath(dir),
    projectType: 'application',
    tags: [`sweep:${def.name}`, `preset:${run.preset}`],
    implicitDependencies: ['@difflab/cli'],
    targets: {
      train: {
        executor: 'nx:run-commands',
        cache: true,
        inputs: ['{projectRoot}/config.json', '^production', { env: 'DIFFLAB_BACKEND' }],
        outputs: [`{workspaceRoot}/${layout.runDir(run)}`],
        options: {
          cwd: '{workspaceRoot}',
          command: `rm -rf ${layout.runDir(run)} && ${CLI} train ${layout.configPath(run)} --out ${layout.runDir(run)} ${tags}`,
        },
        dependsOn: ['^build-native'],
      },
      // Its own cached task, so a new evaluation setting re-scores runs without retraining them.
      // Raw weights, as the held-out loss: the sweep's runs are too short for an EMA to catch up.
      evaluate: {
        executor: 'nx:run-commands',
        cache: true,
        inputs: [
          '^production',
          { dependentTasksOutputFiles: '**/*.safetensors', transitive: false },
          { dependentTasksOutputFiles: '**/*.json', transitive: false },
          { env: 'DIFFLAB_BACKEND' },
        ],
        outputs: [`{workspaceRoot}/${posix.join(layout.runDir(run), 'eval')}`],
        options: {
          cwd: '{workspaceRoot}',
          command: `${CLI} eval ${layout.runDir(run)} --weights raw --samples-per-class ${def.presets[run.preset]!.fidSamplesPerClass}`,
        },
        dependsOn: ['train', { projects: [FEATURE_NET_PROJECT], target: 'train' }],
      },
    },
  };
}

/**
 * The sweep's own Nx project: gather and table targets per preset. Gather hashes the run
 * artifacts it reads (`dependentTasksOutputFiles`), so it reruns exactly when a run changed.
 */
export function projectJson(def: SweepDefinition, layout: SweepLayout): JsonObject {
  const local = (p: string) => posix.join('{projectRoot}', posix.relative(layout.projectDir, p));
  const targets: JsonObject = {};
  for (const preset of Object.keys(def.presets)) {
    const runs = planPreset(def, preset);
    const results = layout.resultsDir(preset);
    targets[gatherTarget(preset)] = {
      executor: 'nx:run-commands',
      cache: true,
      inputs: [
        local(layout.sweepPath),
        ...['eval.json', 'params.json', 'metrics.parquet'].map((f) => ({ dependentTasksOutputFiles: `**/${f}`, transitive: false })),
        '^production',
      ],
      outputs: ['runs.parquet', 'runs.md', 'frontier.parquet', 'frontier-fid.parquet'].map((f) => local(posix.join(results, f))),
      options: { cwd: '{workspaceRoot}', command: `${CLI} sweep gather ${layout.sweepPath} --preset ${preset}` },
      // Both targets: dependentTasksOutputFiles sees only direct dependencies' outputs (train: eval.json,
      // params.json, metrics.parquet; evaluate: eval/metrics.parquet).
      dependsOn: ['train', 'evaluate'].map((target) => ({ target, projects: runs.map((r) => runProjectName(def, r)) })),
    };
    targets[tableTarget(preset)] = {
      executor: 'nx:run-commands',
      cache: true,
      inputs: [local(layout.sweepPath), local(posix.join(results, '*.parquet')), '^production'],
      outputs: ['isoflop', 'power', 'power-fid'].map((d) => local(posix.join(results, d))),
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
  return { name: def.name, $schema: schemaPath(layout.projectDir), projectType: 'application', targets };
}

/** Every file `difflab sweep generate` writes (per-run config.json + project.json, the sweep's project.json), path → text. */
export function generatedFiles(def: SweepDefinition, layout: SweepLayout): Map<string, string> {
  const files = new Map<string, string>();
  for (const preset of Object.keys(def.presets)) {
    for (const run of planPreset(def, preset)) {
      files.set(layout.configPath(run), `${JSON.stringify(run.config, null, 2)}\n`);
      files.set(posix.join(layout.runProjectDir(run), 'project.json'), `${JSON.stringify(runProjectJson(def, layout, run), null, 2)}\n`);
    }
  }
  files.set(posix.join(layout.projectDir, 'project.json'), `${JSON.stringify(projectJson(def, layout), null, 2)}\n`);
  return files;
}
