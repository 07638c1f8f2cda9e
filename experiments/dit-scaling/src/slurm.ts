import { posix } from 'node:path';
import type { SweepDefinition } from './definition.js';
import { planPreset } from './plan.js';
import { presetProjectName, runProjectName, type SweepLayout } from './targets.js';

export interface SlurmOptions {
  /** Absolute path of the workspace on storage every node mounts (the Nx cache and run dirs live there). */
  workspaceRoot: string;
  partition?: string;
  cpusPerTask: number;
  /** Wall-time limit per task, minutes. */
  timeMinutes?: number;
}

export interface SlurmScripts {
  /** The job array: task i runs the evaluate target of run project i, which trains it first (Nx, so cached runs are skipped). */
  array: string;
  /** Runs after the whole array succeeded: gather and fit through Nx (every train task is a cache hit by then). */
  table: string;
  /** Run projects in array-index order. */
  projects: string[];
  logDir: string;
}

function header(name: string, o: SlurmOptions, logDir: string, extra: string[]): string[] {
  return [
    '#!/bin/bash',
    `#SBATCH --job-name=${name}`,
    ...extra,
    `#SBATCH --cpus-per-task=${o.cpusPerTask}`,
    ...(o.partition ? [`#SBATCH --partition=${o.partition}`] : []),
    ...(o.timeMinutes ? [`#SBATCH --time=${o.timeMinutes}`] : []),
    `#SBATCH --chdir=${o.workspaceRoot}`,
    'set -euo pipefail',
    // One Nx daemon per node would race on the shared workspace; each task runs Nx in-process.
    'export NX_DAEMON=false',
    // The native backend would otherwise start one thread per core of the node, not per CPU of the task.
    'export DIFFLAB_NATIVE_THREADS=${DIFFLAB_NATIVE_THREADS:-$SLURM_CPUS_PER_TASK}',
  ];
}

/** sbatch scripts for one preset: a job array of evaluate (hence train) targets and a table job that waits for it. */
export function slurmScripts(def: SweepDefinition, preset: string, layout: SweepLayout, o: SlurmOptions): SlurmScripts {
  const projects = planPreset(def, preset).map((r) => runProjectName(def, r));
  const logDir = posix.join(o.workspaceRoot, layout.projectDir, 'runs', 'slurm', preset);
  const array = [
    ...header(`${def.name}-${preset}`, o, logDir, [`#SBATCH --array=0-${projects.length - 1}`, `#SBATCH --output=${logDir}/train-%A_%a.out`]),
    `PROJECTS=(${projects.join(' ')})`,
    'P=${PROJECTS[$SLURM_ARRAY_TASK_ID]}',
    // Start and end in the log: the wall time per run (and so per budget) without Slurm accounting.
    'echo "[difflab] $P started $(date -u +%FT%TZ)"',
    'npx nx run "$P:evaluate" --outputStyle=stream',
    'echo "[difflab] $P finished $(date -u +%FT%TZ)"',
    '',
  ].join('\n');
  const table = [
    ...header(`${def.name}-${preset}-table`, o, logDir, [`#SBATCH --output=${logDir}/table-%j.out`]),
    `exec npx nx run ${presetProjectName(def, preset)}:table --outputStyle=stream`,
    '',
  ].join('\n');
  return { array, table, projects, logDir };
}
