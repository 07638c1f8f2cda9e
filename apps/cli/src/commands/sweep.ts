import { parseArgs } from 'node:util';
import { mkdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { writeFileAtomic } from '@difflab/core-tensor';
import { findStudy, run as study, WORKSPACE_ROOT } from './study.js';

export const summary = 'the scaling sweep (study dit-scaling): plan runs, gather, fit, submit to Slurm';

const usage = `usage: difflab sweep <command> [--preset P] [options]   (the study experiments/dit-scaling)

  plan --preset P       print each run: budget, size, params, FLOPs/example, steps, lr
  gather --preset P     = difflab study dit-scaling gather --preset P
  fit --preset P        = difflab study dit-scaling table --preset P
  submit --preset P --slurm [--partition X] [--time MIN] [--cpus N] [--dry-run]
                        sbatch a job array (one task per run, each \`nx run dit-scaling-P-<run>:evaluate\`,
                        which trains the run first) and a table job that waits for it (afterok:
                        \`nx run dit-scaling-P:table\`); the workspace must be on storage every node mounts.
                        --dry-run writes the scripts only.

A sweep.json path after the command is accepted for old scripts (it must be the study's).
The runs are Nx projects inferred from sweep.json by tools/nx-studies (no generated files):
  npx nx run dit-scaling-<preset>:table      every run, then gather and fits
See docs/scaling-sweep.md.`;

/** What this alias uses of the sweep study's code (experiments/dit-scaling/src/index.ts), typed here so the CLI imports no study. */
interface SweepDefinition {
  name: string;
  presets: Record<string, unknown>;
}
interface SweepModule {
  loadSweep(path: string): SweepDefinition;
  planPreset(def: SweepDefinition, preset: string): { id: string; budget: number; sizeLabel: string; modelParams: number; flopsFwd: number; steps: number; lr: number }[];
  budgetLabel(budget: number): string;
  sweepLayout(path: string): object;
  slurmScripts(def: SweepDefinition, preset: string, layout: object, o: { workspaceRoot: string; partition?: string; cpusPerTask: number; timeMinutes?: number }): { array: string; table: string; projects: string[]; logDir: string };
}

/** The sweep study's own code, loaded by path like every study (the CLI does not depend on it). */
async function sweepCode() {
  const { loc } = await findStudy('dit-scaling');
  const m = (await import(pathToFileURL(join(loc.dir, 'src', 'index.ts')).href)) as SweepModule;
  const path = relative(WORKSPACE_ROOT, join(loc.dir, 'sweep.json'));
  return { m, path };
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      preset: { type: 'string' },
      slurm: { type: 'boolean', default: false },
      partition: { type: 'string' },
      time: { type: 'string' },
      cpus: { type: 'string', default: '2' },
      'dry-run': { type: 'boolean', default: false },
      'no-track': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const [sub, file, ...rest] = positionals;
  if (rest.length > 0 || !sub) {
    console.error(usage);
    return 2;
  }
  if (sub === 'generate') {
    throw new Error('sweep generate is gone: the Nx plugin tools/nx-studies infers each run\'s project from sweep.json, and each run\'s config is computed from it when the run trains; delete experiments/dit-scaling/configs if it is still there');
  }
  const { m, path } = await sweepCode();
  if (file !== undefined && relative(WORKSPACE_ROOT, join(process.cwd(), file)) !== path) throw new Error(`${file}: the sweep is ${path} (the study dit-scaling); other sweep files are not supported`);
  const def = m.loadSweep(path);
  if (!values.preset) throw new Error(`--preset is required; the sweep defines: ${Object.keys(def.presets).join(', ')}`);
  const preset = values.preset;
  if (!def.presets[preset]) throw new Error(`unknown preset '${preset}'; the sweep defines: ${Object.keys(def.presets).join(', ')}`);
  if (sub === 'gather' || sub === 'fit') {
    return study(['dit-scaling', sub === 'gather' ? 'gather' : 'table', '--preset', preset, ...(values['no-track'] ? ['--no-track'] : [])]);
  }
  if (sub === 'plan') {
    console.log('run\tbudget\tsize\tparams\tflops_fwd\tsteps\tlr');
    for (const r of m.planPreset(def, preset)) {
      console.log([r.id, m.budgetLabel(r.budget), r.sizeLabel, r.modelParams, r.flopsFwd.toExponential(4), r.steps, r.lr.toPrecision(4)].join('\t'));
    }
    return 0;
  }
  if (sub === 'submit') {
    if (!values.slurm) throw new Error('sweep submit needs an engine: --slurm (the only one so far)');
    const layout = m.sweepLayout(path);
    const cpus = Number(values.cpus);
    if (!Number.isInteger(cpus) || cpus <= 0) throw new Error(`--cpus ${values.cpus}: expected a positive integer`);
    const timeMinutes = values.time === undefined ? undefined : Number(values.time);
    if (timeMinutes !== undefined && !(Number.isInteger(timeMinutes) && timeMinutes > 0)) throw new Error(`--time ${values.time}: expected whole minutes > 0`);
    const scripts = m.slurmScripts(def, preset, layout, { workspaceRoot: WORKSPACE_ROOT, partition: values.partition, cpusPerTask: cpus, timeMinutes });
    mkdirSync(scripts.logDir, { recursive: true });
    const arrayPath = join(scripts.logDir, 'train-array.sh');
    const tablePath = join(scripts.logDir, 'table.sh');
    await writeFileAtomic(arrayPath, scripts.array);
    await writeFileAtomic(tablePath, scripts.table);
    if (values['dry-run']) {
      console.log(`wrote ${arrayPath} (${scripts.projects.length} array tasks) and ${tablePath}; not submitted (--dry-run)`);
      return 0;
    }
    const arrayJob = (await execa('sbatch', ['--parsable', arrayPath])).stdout.trim().split(';')[0]!;
    const tableJob = (await execa('sbatch', ['--parsable', `--dependency=afterok:${arrayJob}`, tablePath])).stdout.trim().split(';')[0]!;
    console.log(`submitted job array ${arrayJob} (${scripts.projects.length} runs) and table job ${tableJob} (after the array succeeds)`);
    console.log(`  logs     ${scripts.logDir}`);
    console.log(`  watch    squeue -j ${arrayJob},${tableJob}`);
    return 0;
  }
  throw new Error(`unknown sweep command '${sub}'\n${usage}`);
}
