import { dirname, posix } from 'node:path';
import type { SweepDefinition } from './definition.js';
import { budgetLabel } from './ids.js';
import type { SweepRun } from './plan.js';

/** Where a sweep's produced files live, relative to the workspace root. */
export interface SweepLayout {
  sweepPath: string;
  projectDir: string;
  runDir(run: Pick<SweepRun, 'preset' | 'id'>): string;
  resultsDir(preset: string): string;
}

export function sweepLayout(sweepPath: string): SweepLayout {
  const projectDir = posix.normalize(dirname(sweepPath));
  return {
    sweepPath: posix.normalize(sweepPath),
    projectDir,
    runDir: (r) => posix.join(projectDir, 'runs', r.preset, r.id),
    resultsDir: (preset) => posix.join(projectDir, 'results', preset),
  };
}

/**
 * The Nx project of one run, e.g. `dit-scaling-full-c1e13-w64-d2` (targets train, evaluate), inferred by the
 * Nx plugin tools/nx-studies from the study's fan-out. Each run is its own project because Nx hashes a
 * project's whole target configuration into every task of the project.
 */
export const runProjectName = (def: Pick<SweepDefinition, 'name'>, run: Pick<SweepRun, 'preset' | 'id'>) => `${def.name}-${run.preset}-${run.id}`;
/** The Nx project of a preset (targets gather, table), e.g. `dit-scaling-smoke`. */
export const presetProjectName = (def: Pick<SweepDefinition, 'name'>, preset: string) => `${def.name}-${preset}`;
/** The Nx project whose `train` target makes the Fashion-MNIST feature network behind FID-FMNIST. */
export const FEATURE_NET_PROJECT = 'fmnist-featurenet';

/** The tracker tags of a run beside study/preset/stage: which sweep, budget and size it belongs to. */
export function runTags(def: Pick<SweepDefinition, 'name'>, run: { budget: number; sizeLabel: string }): Record<string, string> {
  return { sweep: def.name, budget: budgetLabel(run.budget), size: run.sizeLabel };
}

/** Where `evaluate` writes a run's FID table: `<runDir>/eval/metrics.parquet`. */
export const evalTablePath = (runDir: string) => posix.join(runDir, 'eval', 'metrics.parquet');
