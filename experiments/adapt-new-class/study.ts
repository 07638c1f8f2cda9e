import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FMNIST_FEATURE_NET, defineStudy, fingerprint, type StageContext } from '@difflab/studies';
import { definitionPath, loadAdaptDefinition } from './src/definition.js';
import { baseConfig, planUnits } from './src/plan.js';

/**
 * Adapting a 9-class DiT to the held-out tenth class from k images (issue #20 item 2): per method × k × seed,
 * trainable parameters and adapter bytes, new-class accuracy, drift on the old classes (FID against their test
 * images, class accuracy, base vs adapted on the same x_T), copying of the k images, and adaptation wall time.
 * Stages: `base` per preset; `adapt`, `evaluate` per unit (its own Nx project); `table` per preset.
 * Only light modules are imported here: the Nx plugin reads this file.
 */
const code = () => import('./src/stages.js');
const NAME = 'adapt-new-class';
const def = (studyDir: string) => loadAdaptDefinition(definitionPath(studyDir));

function presetContext(ctx: StageContext) {
  return { def: def(ctx.studyDir), preset: ctx.preset, workspaceRoot: ctx.workspaceRoot, featureNet: join(ctx.workspaceRoot, FMNIST_FEATURE_NET.file), log: ctx.log };
}

function unitContext(ctx: StageContext) {
  const c = presetContext(ctx);
  const unit = planUnits(c.def, ctx.preset).find((u) => u.id === ctx.unit!.id)!;
  return { ...c, unit, runDir: join(ctx.studyDir, 'runs', ctx.preset, unit.id) };
}

/** The base task of the same preset: every adaptation starts from its run (a unit stage cannot depend on a preset stage by name). */
const baseTask = (preset: string) => ({ project: `${NAME}-${preset}`, target: 'base' });

export default defineStudy({
  name: NAME,
  summary: 'a DiT pre-trained on 9 Fashion-MNIST classes adapted to the 10th from k images per method (full, LoRA, Houlsby, prefix, SVDiff): params, bytes, new-class accuracy, old-class drift, copying, wall time',
  presets: (studyDir) => {
    const d = def(studyDir);
    return Object.keys(d.presets).map((name) => ({ name, fingerprint: fingerprint({ base: baseConfig(d, name), preset: d.presets[name], methods: d.methods, adapt: d.adapt }) }));
  },
  fanOut: {
    noun: 'adaptation',
    units(studyDir, preset) {
      const d = def(studyDir);
      const p = d.presets[preset]!;
      const base = fingerprint({ base: baseConfig(d, preset), samplesPerClass: p.samplesPerClass });
      return planUnits(d, preset).map((u) => ({
        id: u.id,
        fingerprints: { adapt: fingerprint({ config: u.config, base }), evaluate: fingerprint({ samplesPerClass: p.samplesPerClass, base }) },
        tags: { method: u.method, k: String(u.k), seed: String(u.seed) },
      }));
    },
    stages: {
      adapt: {
        summary: 'fine-tune the preset\'s base on the held-out class from its first k training images (newClass trains its label row) → runs/<preset>/<unit>/ (adapter.safetensors, eval.json, study-adapt.json: wall time)',
        // The base's record (written last, with its settings' fingerprint) and weights: what adapt reads of the base task.
        dependencyOutputs: ['**/study-base.json', '**/*.safetensors'],
        outputs: ['runs/{preset}/{unit}'],
        code: 'training',
        workspaceInputs: [FMNIST_FEATURE_NET.file],
        needs: (p) => [baseTask(p.preset), FMNIST_FEATURE_NET.needs],
        async run(ctx) {
          await (await code()).adaptUnit(unitContext(ctx));
        },
      },
      evaluate: {
        summary: 'new-class accuracy, copying (nearest train vs held-out image, features and pixels), old-class FID (9-class reference, floor at N), accuracy and pixel change vs the base on the same x_T → runs/<preset>/<unit>/study-eval/',
        dependsOn: ['adapt'],
        dependencyOutputs: ['**/*.safetensors', '**/*.json', '**/*.f32'],
        workspaceInputs: [FMNIST_FEATURE_NET.file],
        needs: (p) => [baseTask(p.preset), FMNIST_FEATURE_NET.needs],
        outputs: ['runs/{preset}/{unit}/study-eval'],
        code: 'evaluation',
        async run(ctx) {
          await (await code()).evaluateUnit(unitContext(ctx));
        },
      },
    },
  },
  stages: {
    base: {
      summary: 'train the DiT on the nine old classes and score its old-class samples (FID against their test images, floor, class accuracy) → runs/<preset>/base/',
      workspaceInputs: [FMNIST_FEATURE_NET.file],
      needs: [FMNIST_FEATURE_NET.needs],
      outputs: ['runs/{preset}/base'],
      code: 'evaluation',
      async run(ctx) {
        await (await code()).ensureBase(presetContext(ctx));
      },
    },
    table: {
      summary: 'every adaptation of the preset → results/<preset>/{table.md, units.parquet, grid-<method>-k<k>.png, new-class-accuracy-vs-k.svg/png}',
      dependsOn: ['base', 'each:evaluate'],
      dependencyOutputs: ['**/scores.json', '**/new-class.f32'],
      outputs: ['results/{preset}'],
      code: 'analysis',
      async run(ctx) {
        const m = await code();
        const d = def(ctx.studyDir);
        const units = planUnits(d, ctx.preset).map((unit) => ({ unit, runDir: join(ctx.studyDir, 'runs', ctx.preset, unit.id) }));
        const dir = join(ctx.studyDir, 'results', ctx.preset);
        await m.writeResults(dir, d, ctx.preset, units, ctx.log);
        ctx.log(`adapt-new-class table of ${units.length} adaptations → ${join(dir, 'table.md')} (files: ${readdirSync(dir).join(', ')})`);
      },
    },
  },
});
