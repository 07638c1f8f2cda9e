import { rmSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { FMNIST_FEATURE_NET, defineStudy, fingerprint, type StageContext } from '@difflab/studies';
import { loadSweepDefinition, type SweepDefinition } from './src/definition.js';
import { budgetLabel, deepMerge, presetGrid, runId } from './src/ids.js';

/**
 * The DiT scaling sweep: budgets × model sizes from sweep.json, one training run each (fan-out: each run is
 * its own Nx project with train and evaluate), then gather and table (fits) per preset. The presets live in
 * sweep.json, so a preset and each run are cached on a fingerprint of exactly the settings that define them
 * (no generated files). Only light modules are imported here: the Nx plugin reads this file.
 */
const SWEEP = 'sweep.json';
const sweepPath = (studyDir: string) => join(studyDir, SWEEP);
const code = () => import('./src/index.js');

/** The settings of a preset shared by all its runs: what gather and table are cached on. */
function presetSettings(def: SweepDefinition, preset: string) {
  const { name, base, lr, warmupFraction, minSteps } = def;
  return { name, preset, base, lr, warmupFraction, minSteps, settings: def.presets[preset]! };
}

/** Everything that decides what one run trains (its trainer config follows from these and the model code). */
function runSettings(def: SweepDefinition, preset: string, budget: number, size: object) {
  const { name, base, lr, warmupFraction, minSteps } = def;
  return { name, preset, config: deepMerge(base, def.presets[preset]!.overrides), lr, warmupFraction, minSteps, budget, size };
}

/** The run a fan-out stage trains or evaluates, planned from the validated sweep (trainer configs included). */
async function plannedRun(ctx: StageContext) {
  const m = await code();
  const path = relative(ctx.workspaceRoot, sweepPath(ctx.studyDir));
  const def = m.loadSweep(path);
  const run = m.planPreset(def, ctx.preset).find((r) => r.id === ctx.unit!.id)!;
  return { m, def, run, layout: m.sweepLayout(path) };
}

export default defineStudy({
  name: 'dit-scaling',
  summary: 'DiT scaling sweep on Fashion-MNIST: budgets × sizes trained and scored (FID), gathered, isoFLOP and power-law fits',
  presets: (studyDir) => {
    const def = loadSweepDefinition(sweepPath(studyDir));
    // The Nx projects are named after the study, the Slurm scripts and gather hints after the sweep: one name.
    if (def.name !== 'dit-scaling') throw new Error(`${sweepPath(studyDir)}: name: expected 'dit-scaling' (the study's name, which names its Nx projects), got '${def.name}'`);
    return Object.keys(def.presets).map((name) => ({ name, fingerprint: fingerprint(presetSettings(def, name)) }));
  },
  fanOut: {
    noun: 'run',
    units(studyDir, preset) {
      const def = loadSweepDefinition(sweepPath(studyDir));
      const p = def.presets[preset]!;
      return presetGrid(p).map(({ budget, size }) => ({
        id: runId(budget, size),
        fingerprints: {
          train: fingerprint(runSettings(def, preset, budget, size)),
          // evaluate also reads the trained weights (its dependency outputs); this is its own setting.
          evaluate: fingerprint({ fidSamplesPerClass: p.fidSamplesPerClass }),
        },
        tags: { sweep: def.name, budget: budgetLabel(budget), size: `w${size.hiddenSize}-d${size.depth}` },
      }));
    },
    stages: {
      train: {
        summary: 'train the run (trainer config = base + preset overrides + size, steps, lr) → runs/<preset>/<run>/',
        outputs: ['runs/{preset}/{unit}'],
        code: 'training',
        async run(ctx) {
          const { def, run, layout } = await plannedRun(ctx);
          const { parseTrainConfig, TrackerSink } = await import('@difflab/runs');
          const { train } = await import('@difflab/training');
          const cfg = parseTrainConfig(run.config, `${layout.sweepPath} (preset ${ctx.preset}, run ${run.id})`);
          const runDir = join(ctx.workspaceRoot, layout.runDir(run));
          rmSync(runDir, { recursive: true, force: true });
          const sinks = ctx.tracker ? [new TrackerSink(ctx.tracker, cfg.name, basename(runDir), runDir)] : [];
          const result = await train(cfg, { runDir, sinks });
          ctx.log(`${run.id} (${def.name}): ${result.step} steps, held-out loss ${result.heldOutLoss?.toFixed(4)} → ${runDir}`);
        },
      },
      evaluate: {
        // Its own cached task, so a new evaluation setting re-scores runs without retraining them.
        // Raw weights, as the held-out loss: the sweep's runs are too short for an EMA to catch up.
        summary: 'FID-FMNIST and class accuracy of the raw weights → runs/<preset>/<run>/eval/',
        dependsOn: ['train'],
        dependencyOutputs: ['**/*.safetensors', '**/*.json'],
        workspaceInputs: [FMNIST_FEATURE_NET.file],
        needs: [FMNIST_FEATURE_NET.needs],
        outputs: ['runs/{preset}/{unit}/eval'],
        code: 'evaluation',
        async run(ctx) {
          const { def, run, layout } = await plannedRun(ctx);
          const { evaluate } = await import('@difflab/evaluation');
          const r = await evaluate(join(ctx.workspaceRoot, layout.runDir(run)), {
            weights: 'raw',
            samplesPerClass: def.presets[ctx.preset]!.fidSamplesPerClass,
            ...(ctx.tracker ? { tracker: ctx.tracker } : {}),
            log: ctx.log,
          });
          ctx.log(`${run.id}: fid_fmnist ${r.fid.toFixed(3)} from ${r.samples.count} samples`);
        },
      },
    },
  },
  stages: {
    gather: {
      summary: 'read every run of the preset into results/<preset>/runs.parquet, frontier.parquet, frontier-fid.parquet, floor.json (FID floor at the runs\' N), runs.md',
      // Both: Nx hashes only direct dependencies' outputs (train: eval.json, params.json, metrics.parquet; evaluate: eval/metrics.parquet).
      dependsOn: ['each:train', 'each:evaluate'],
      dependencyOutputs: ['**/eval.json', '**/params.json', '**/metrics.parquet'],
      outputs: ['results/{preset}/runs.parquet', 'results/{preset}/runs.md', 'results/{preset}/frontier.parquet', 'results/{preset}/frontier-fid.parquet', 'results/{preset}/floor.json'],
      code: 'analysis',
      async run(ctx) {
        const m = await code();
        const path = relative(ctx.workspaceRoot, sweepPath(ctx.studyDir));
        const layout = m.sweepLayout(path);
        const rows = await m.gatherPreset(m.loadSweep(path), ctx.preset, layout, ctx.workspaceRoot);
        ctx.log(`gathered ${rows.length} runs into ${layout.resultsDir(ctx.preset)}/runs.parquet`);
      },
    },
    table: {
      summary: 'isoFLOP and parametric fits of the held-out loss, power fits of loss and FID (best run per budget), the largest budget predicted from the others, loss vs FID, exponents beside the papers\' → results/<preset>/{isoflop,parametric,power,power-fid,prediction.md,loss-vs-fid.*,exponents.md}',
      dependsOn: ['gather'],
      // floor.json: the loss-vs-FID plot draws the floor every FID is read against.
      dependencyOutputs: ['**/*.parquet', '**/floor.json'],
      outputs: [
        'results/{preset}/isoflop',
        'results/{preset}/parametric',
        'results/{preset}/power',
        'results/{preset}/power-fid',
        'results/{preset}/prediction.md',
        'results/{preset}/loss-vs-fid.svg',
        'results/{preset}/loss-vs-fid.png',
        'results/{preset}/loss-vs-fid.md',
        'results/{preset}/exponents.md',
      ],
      code: 'analysis',
      async run(ctx) {
        const m = await code();
        const path = relative(ctx.workspaceRoot, sweepPath(ctx.studyDir));
        const layout = m.sweepLayout(path);
        await m.fitPreset(m.loadSweep(path), ctx.preset, layout, ctx.workspaceRoot, ctx.log);
        ctx.log(`fits written to ${layout.resultsDir(ctx.preset)}/{isoflop,parametric,power,power-fid}; loss-vs-fid.md, exponents.md, prediction.md beside them`);
      },
    },
  },
});
