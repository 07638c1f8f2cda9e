import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FMNIST_FEATURE_NET, FMNIST_FEATURE_NET_S1, defineStudy, fingerprint, type StageContext } from '@difflab/studies';
import { definitionPath, loadRepaDefinition } from './src/definition.js';
import { planUnits } from './src/plan.js';

/**
 * REPA in miniature (issue #17): vanilla against representation alignment toward each in-repo teacher
 * (experiments/repa-encoders), iREPA, a HASTE-style early stop and a random-encoder control, each arm × seed.
 * Fan-out: one Nx project per run with `train` and `evaluate`; `table` per preset.
 * Only light modules are imported here: the Nx plugin reads this file.
 */
const code = () => import('./src/stages.js');
const runDir = (ctx: StageContext, unit: string) => join(ctx.studyDir, 'runs', ctx.preset, unit);

function unitContext(ctx: StageContext) {
  const def = loadRepaDefinition(definitionPath(ctx.studyDir));
  const unit = planUnits(def, ctx.preset).find((u) => u.id === ctx.unit!.id)!;
  return { def, preset: ctx.preset, unit, runDir: runDir(ctx, unit.id), workspaceRoot: ctx.workspaceRoot, log: ctx.log, ...(ctx.tracker ? { tracker: ctx.tracker } : {}) };
}

/** The networks that score a preset's samples: the FID network, and the second one where the preset asks for it. */
function scorers(studyDir: string, preset: string) {
  const p = loadRepaDefinition(definitionPath(studyDir)).presets[preset]!;
  return p.secondScorer ? [FMNIST_FEATURE_NET, FMNIST_FEATURE_NET_S1] : [FMNIST_FEATURE_NET];
}

/** The teachers' token caches of a preset's scale, and the repa-encoders task that makes them. */
function teachers(studyDir: string, preset: string) {
  const p = loadRepaDefinition(definitionPath(studyDir)).presets[preset]!;
  // The caches' small files stand for them (hashing 3 × 250 MB of tokens per task would cost seconds): a new
  // report.json (probe, spatial score, timing) is written exactly when the tokens are.
  return { files: ['mae', 'classifier', 'random'].flatMap((e) => [`${p.encoders}/${e}/tokens.json`, `${p.encoders}/${e}/report.json`]), needs: { project: 'repa-encoders', target: p.encodersTask } };
}

export default defineStudy({
  name: 'repa',
  summary: 'REPA in miniature: vanilla vs alignment toward in-repo teachers (MAE, supervised CNN), iREPA, early stop, random-encoder control; FID over training, steps to vanilla\'s final FID, seeds per arm',
  presets: (studyDir) => {
    const def = loadRepaDefinition(definitionPath(studyDir));
    return Object.keys(def.presets).map((name) => ({ name, fingerprint: fingerprint({ arms: def.arms, base: def.base, preset: def.presets[name] }) }));
  },
  fanOut: {
    noun: 'run',
    units(studyDir, preset) {
      const def = loadRepaDefinition(definitionPath(studyDir));
      const p = def.presets[preset]!;
      return planUnits(def, preset).map((u) => ({
        id: u.id,
        fingerprints: { train: fingerprint({ config: u.config, evalSteps: p.evalSteps }), evaluate: fingerprint({ fidSamplesPerClass: p.fidSamplesPerClass, evalSteps: p.evalSteps, secondScorer: p.secondScorer }), probe: fingerprint({ probe: p.probe, evalSteps: p.evalSteps, encoders: p.encoders }) },
        tags: { arm: u.arm, seed: String(u.seed), encoder: u.encoder ?? 'none' },
      }));
    },
    stages: {
      train: {
        summary: 'train one arm × seed → runs/<preset>/<run>/, keeping the checkpoint at each of the preset\'s evalSteps in snapshots/step-N/ (the projector in its checkpoints, never sampled)',
        outputs: ['runs/{preset}/{unit}'],
        code: 'training',
        workspaceInputs: (p) => teachers(p.studyDir, p.preset).files,
        needs: (p) => [teachers(p.studyDir, p.preset).needs],
        async run(ctx) {
          const c = unitContext(ctx);
          const { rmSync } = await import('node:fs');
          rmSync(c.runDir, { recursive: true, force: true });
          await (await code()).trainUnit(c);
        },
      },
      evaluate: {
        summary: 'each kept checkpoint: FID-FMNIST with its floor at N, class accuracy, precision and recall of the EMA weights → runs/<preset>/<run>/eval/{step-N/, curve.parquet}',
        dependsOn: ['train'],
        dependencyOutputs: ['**/*.safetensors', '**/*.json'],
        workspaceInputs: (p) => scorers(p.studyDir, p.preset).map((n) => n.file),
        needs: (p) => scorers(p.studyDir, p.preset).map((n) => n.needs),
        outputs: ['runs/{preset}/{unit}/eval'],
        code: 'evaluation',
        async run(ctx) {
          await (await code()).evaluateUnit(unitContext(ctx));
        },
      },
      probe: {
        summary: "each kept checkpoint: every block's linear-probe top-1 and CKNNA to each teacher's tokens on noised training images → runs/<preset>/<run>/probe/probe.parquet",
        dependsOn: ['train'],
        dependencyOutputs: ['**/*.safetensors', '**/*.json'],
        workspaceInputs: (p) => teachers(p.studyDir, p.preset).files,
        needs: (p) => [teachers(p.studyDir, p.preset).needs],
        outputs: ['runs/{preset}/{unit}/probe'],
        code: 'evaluation',
        async run(ctx) {
          await (await code()).probeUnit(unitContext(ctx));
        },
      },
    },
  },
  stages: {
    table: {
      summary: 'every run of the preset → results/<preset>/{table.md (speed-up to vanilla\'s final FID with its bootstrap interval, FID over steps), runs.parquet, curve.parquet, fid-vs-steps.svg/png}',
      dependsOn: ['each:train', 'each:evaluate', 'each:probe'],
      dependencyOutputs: ['**/metrics.parquet', '**/curve.parquet', '**/probe.parquet', '**/config.json'],
      outputs: ['results/{preset}'],
      code: 'analysis',
      async run(ctx) {
        const m = await code();
        const def = loadRepaDefinition(definitionPath(ctx.studyDir));
        const results = planUnits(def, ctx.preset).map((u) => m.readUnit(u, runDir(ctx, u.id)));
        const dir = join(ctx.studyDir, 'results', ctx.preset);
        const { mkdirSync } = await import('node:fs');
        mkdirSync(dir, { recursive: true });
        await m.writeResults(dir, def, ctx.preset, results);
        ctx.log(`REPA table of ${results.length} runs → ${join(dir, 'table.md')} (files: ${readdirSync(dir).join(', ')})`);
      },
    },
  },
});
