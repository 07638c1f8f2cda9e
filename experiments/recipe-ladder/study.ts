import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FMNIST_FEATURE_NET, defineStudy, fingerprint, type StageContext } from '@difflab/studies';
import { loadLadderDefinition } from './src/definition.js';
import { planUnits } from './src/plan.js';

/**
 * LightningDiT's training-recipe ladder in miniature: each row of ladder.json adds one change to the row
 * above; every row trains at equal steps and (when the preset has a wall-clock budget) at equal wall-clock,
 * for each seed. Fan-out: one Nx project per run with `train` and `evaluate`; `table` per preset.
 * Only light modules are imported here: the Nx plugin reads this file.
 */
const LADDER = 'ladder.json';
const ladderPath = (studyDir: string) => join(studyDir, LADDER);
const code = () => import('./src/stages.js');
const runDir = (ctx: StageContext, unit: string) => join(ctx.studyDir, 'runs', ctx.preset, unit);

function unitContext(ctx: StageContext) {
  const def = loadLadderDefinition(ladderPath(ctx.studyDir));
  const unit = planUnits(def, ctx.preset).find((u) => u.id === ctx.unit!.id)!;
  return { def, preset: ctx.preset, unit, runDir: runDir(ctx, unit.id), log: ctx.log, ...(ctx.tracker ? { tracker: ctx.tracker } : {}) };
}

export default defineStudy({
  name: 'recipe-ladder',
  summary: "LightningDiT's recipe ladder in miniature: one change per row, equal steps and equal wall-clock, seeds per row, FID with its floor, class accuracy, precision/recall",
  presets: (studyDir) => {
    const def = loadLadderDefinition(ladderPath(studyDir));
    return Object.keys(def.presets).map((name) => ({ name, fingerprint: fingerprint({ rows: def.rows, preset: def.presets[name] }) }));
  },
  fanOut: {
    noun: 'run',
    units(studyDir, preset) {
      const def = loadLadderDefinition(ladderPath(studyDir));
      const p = def.presets[preset]!;
      return planUnits(def, preset).map((u) => ({
        id: u.id,
        fingerprints: {
          train: fingerprint({ config: u.config, column: u.column, ...(u.column === 'time' ? { wallClockSeconds: p.wallClockSeconds } : {}) }),
          evaluate: fingerprint({ fidSamplesPerClass: p.fidSamplesPerClass }),
        },
        tags: { ladder: def.name, row: u.row, seed: String(u.seed), column: u.column },
      }));
    },
    stages: {
      train: {
        summary: 'train one row × seed (equal steps, or steps = wall-clock budget × measured steps/s) → runs/<preset>/<run>/',
        outputs: ['runs/{preset}/{unit}'],
        code: 'training',
        async run(ctx) {
          const c = unitContext(ctx);
          const { rmSync } = await import('node:fs');
          rmSync(c.runDir, { recursive: true, force: true });
          await (await code()).trainUnit(c);
        },
      },
      evaluate: {
        summary: 'FID-FMNIST with its floor at N, class accuracy, precision and recall of the EMA weights → runs/<preset>/<run>/eval/',
        dependsOn: ['train'],
        dependencyOutputs: ['**/*.safetensors', '**/*.json'],
        workspaceInputs: [FMNIST_FEATURE_NET.file],
        needs: [FMNIST_FEATURE_NET.needs],
        outputs: ['runs/{preset}/{unit}/eval'],
        code: 'evaluation',
        async run(ctx) {
          await (await code()).evaluateUnit(unitContext(ctx));
        },
      },
    },
  },
  stages: {
    table: {
      summary: 'every run of the preset → results/<preset>/{runs.parquet, table.md, ladder.svg, ladder.png}',
      dependsOn: ['each:train', 'each:evaluate'],
      dependencyOutputs: ['**/metrics.parquet', '**/config.json'],
      outputs: ['results/{preset}'],
      code: 'analysis',
      async run(ctx) {
        const m = await code();
        const def = loadLadderDefinition(ladderPath(ctx.studyDir));
        const results = planUnits(def, ctx.preset).map((u) => m.readUnit(u, runDir(ctx, u.id)));
        const dir = join(ctx.studyDir, 'results', ctx.preset);
        const { mkdirSync } = await import('node:fs');
        mkdirSync(dir, { recursive: true });
        await m.writeResults(dir, def, ctx.preset, results);
        ctx.log(`ladder table of ${results.length} runs → ${join(dir, 'table.md')} (files: ${readdirSync(dir).join(', ')})`);
      },
    },
  },
});
