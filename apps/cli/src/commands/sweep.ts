import { parseArgs } from 'node:util';
import { mkdirSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { execa } from 'execa';
import { writeFileAtomic } from '@difflab/core-tensor';
import { assertSweepInSync, budgetLabel, fitPreset, gatherPreset, loadSweepDefinition, planPreset, slurmScripts, sweepLayout, writeSweepFiles, type SweepDefinition } from '../../../../experiments/dit-scaling/src/index.js';
import { parseTrainConfig } from '@difflab/runs';

export const summary = 'scaling sweeps: generate per-run configs and Nx targets, gather run artifacts, fit';

const usage = `usage: difflab sweep <command> <sweep.json> [options]   (run from the workspace root)

  generate <sweep.json> [--check]   write configs/<preset>/<run>.json and project.json from the definition;
                                     --check only reports whether they are up to date (exit 1 if not)
  plan <sweep.json> --preset P      print each run: budget, size, params, FLOPs/example, steps, lr
  gather <sweep.json> --preset P    read every run dir (training artifacts and eval/metrics.parquet) into
                                     results/P/runs.parquet, frontier.parquet, frontier-fid.parquet, runs.md
  fit <sweep.json> --preset P       isoFLOP fit of the held-out loss (all runs), power fits of loss and FID
                                     (best run per budget) into results/P/isoflop, power, power-fid
  submit <sweep.json> --preset P --slurm [--partition X] [--time MIN] [--cpus N] [--dry-run]
                                     sbatch a job array (one task per run, each \`nx run <run>:evaluate\`,
                                     which trains the run first) and
                                     a table job that waits for it (afterok); the workspace must be on
                                     storage every node mounts. --dry-run writes the scripts only.

The Nx targets call these; run a whole preset with: npx nx run <project>:table-<preset>
See docs/scaling-sweep.md.`;

function load(path: string | undefined): { def: SweepDefinition; path: string } {
  if (!path) throw new Error(`a sweep definition path is required\n${usage}`);
  const rel = isAbsolute(path) ? relative(process.cwd(), path) : path;
  if (rel.startsWith('..')) throw new Error(`${path}: the sweep definition must be inside the current directory (run from the workspace root)`);
  const def = loadSweepDefinition(rel);
  for (const preset of Object.keys(def.presets)) {
    for (const run of planPreset(def, preset)) parseTrainConfig(run.config, `${rel} (preset ${preset}, run ${run.id})`);
  }
  return { def, path: rel };
}

function presetOf(def: SweepDefinition, preset: string | undefined): string {
  if (!preset) throw new Error(`--preset is required; the sweep defines: ${Object.keys(def.presets).join(', ')}`);
  if (!def.presets[preset]) throw new Error(`unknown preset '${preset}'; the sweep defines: ${Object.keys(def.presets).join(', ')}`);
  return preset;
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      preset: { type: 'string' },
      check: { type: 'boolean', default: false },
      slurm: { type: 'boolean', default: false },
      partition: { type: 'string' },
      time: { type: 'string' },
      cpus: { type: 'string', default: '2' },
      'dry-run': { type: 'boolean', default: false },
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
  const root = process.cwd();
  if (sub === 'generate') {
    const { def, path } = load(file);
    const layout = sweepLayout(path);
    if (values.check) {
      assertSweepInSync(def, layout, root);
      console.log(`${path}: generated files are up to date`);
      return 0;
    }
    const { written, removed } = await writeSweepFiles(def, layout, root);
    console.log(`${path}: ${written.length} files written, ${removed.length} stale configs removed`);
    for (const p of written) console.log(`  wrote ${p}`);
    for (const p of removed) console.log(`  removed ${p}`);
    return 0;
  }
  if (sub === 'plan') {
    const { def } = load(file);
    const preset = presetOf(def, values.preset);
    console.log('run\tbudget\tsize\tparams\tflops_fwd\tsteps\tlr');
    for (const r of planPreset(def, preset)) {
      console.log([r.id, budgetLabel(r.budget), r.sizeLabel, r.modelParams, r.flopsFwd.toExponential(4), r.steps, r.lr.toPrecision(4)].join('\t'));
    }
    return 0;
  }
  if (sub === 'gather' || sub === 'fit') {
    const { def, path } = load(file);
    const preset = presetOf(def, values.preset);
    const layout = sweepLayout(path);
    assertSweepInSync(def, layout, root);
    if (sub === 'gather') {
      const rows = await gatherPreset(def, preset, layout, root);
      console.log(`gathered ${rows.length} runs into ${layout.resultsDir(preset)}/runs.parquet`);
    } else {
      await fitPreset(def, preset, layout, root);
      console.log(`fits written to ${layout.resultsDir(preset)}/{isoflop,power,power-fid}`);
    }
    return 0;
  }
  if (sub === 'submit') {
    const { def, path } = load(file);
    const preset = presetOf(def, values.preset);
    if (!values.slurm) throw new Error('sweep submit needs an engine: --slurm (the only one so far)');
    const layout = sweepLayout(path);
    assertSweepInSync(def, layout, root);
    const cpus = Number(values.cpus);
    if (!Number.isInteger(cpus) || cpus <= 0) throw new Error(`--cpus ${values.cpus}: expected a positive integer`);
    const timeMinutes = values.time === undefined ? undefined : Number(values.time);
    if (timeMinutes !== undefined && !(Number.isInteger(timeMinutes) && timeMinutes > 0)) throw new Error(`--time ${values.time}: expected whole minutes > 0`);
    const scripts = slurmScripts(def, preset, layout, { workspaceRoot: root, partition: values.partition, cpusPerTask: cpus, timeMinutes });
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
