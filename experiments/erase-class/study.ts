import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FMNIST_FEATURE_NET, FMNIST_FEATURE_NET_S1, defineStudy, fingerprint, type StageContext } from '@difflab/studies';
import { definitionPath, loadEraseDefinition } from './src/definition.js';
import { baseConfig, planUnits, presetOf } from './src/plan.js';

/**
 * Erasing one class from a class-conditional DiT with ESD (issue #20 item 3): the conditioning path (ESD-x's
 * analogue) vs every other weight (ESD-u's), η swept, seeds; per model the erased label's probability and entropy
 * under the FID network, the other nine's accuracy and FID, and two attacks (a label embedding, the initial noise)
 * against the same budget for the unerased base. Stages: `base` per preset; `erase`, `evaluate` per unit; `table`.
 * Only light modules are imported here: the Nx plugin reads this file.
 */
const code = () => import('./src/stages.js');
const NAME = 'erase-class';
const def = (studyDir: string) => loadEraseDefinition(definitionPath(studyDir));

/** The networks a preset scores with: the FID network (also the attacks' target), and the second one where asked. */
const scorers = (studyDir: string, preset: string) => (presetOf(def(studyDir), preset).secondScorer ? [FMNIST_FEATURE_NET, FMNIST_FEATURE_NET_S1] : [FMNIST_FEATURE_NET]);

function presetContext(ctx: StageContext) {
  const d = def(ctx.studyDir);
  const second = presetOf(d, ctx.preset).secondScorer ? join(ctx.workspaceRoot, FMNIST_FEATURE_NET_S1.file) : null;
  return { def: d, preset: ctx.preset, workspaceRoot: ctx.workspaceRoot, featureNet: join(ctx.workspaceRoot, FMNIST_FEATURE_NET.file), secondNet: second, log: ctx.log };
}

function unitContext(ctx: StageContext) {
  const c = presetContext(ctx);
  const unit = planUnits(c.def, ctx.preset).find((u) => u.id === ctx.unit!.id)!;
  return { ...c, unit, runDir: join(ctx.studyDir, 'runs', ctx.preset, unit.id) };
}

/** The base task of the same preset: every ESD run starts from its run (a unit stage cannot depend on a preset stage by name). */
const baseTask = (preset: string) => ({ project: `${NAME}-${preset}`, target: 'base' });
const scorerFiles = (p: { studyDir: string; preset: string }) => scorers(p.studyDir, p.preset).map((s) => s.file);
const scorerTasks = (p: { studyDir: string; preset: string }) => scorers(p.studyDir, p.preset).map((s) => s.needs);

export default defineStudy({
  name: NAME,
  summary: 'ESD erasure of one Fashion-MNIST class (conditioning path vs the rest, η swept, seeds): the erased label\'s probability and entropy, the other nine\'s accuracy and FID, and embedding/noise attacks against the unerased base\'s',
  presets: (studyDir) => {
    const d = def(studyDir);
    return Object.keys(d.presets).map((name) => ({ name, fingerprint: fingerprint({ base: baseConfig(d, name), preset: d.presets[name], variants: d.variants, esd: d.esd, erased: d.erasedClass }) }));
  },
  fanOut: {
    noun: 'erasure',
    units(studyDir, preset) {
      const d = def(studyDir);
      const p = presetOf(d, preset);
      const base = fingerprint({ base: baseConfig(d, preset), samplesPerClass: p.samplesPerClass, attack: p.attack, secondScorer: p.secondScorer });
      return planUnits(d, preset).map((u) => ({
        id: u.id,
        fingerprints: { erase: fingerprint({ config: u.config, base }), evaluate: fingerprint({ samplesPerClass: p.samplesPerClass, attack: p.attack, secondScorer: p.secondScorer, base }) },
        tags: { variant: u.variant, eta: String(u.eta), seed: String(u.seed) },
      }));
    },
    stages: {
      erase: {
        summary: 'ESD fine-tune of the preset\'s base (the unit\'s variant, η, seed) → runs/<preset>/<unit>/ (checkpoints, eval.json, study-erase.json: wall time)',
        // The base's record (written last, with its settings' fingerprint) and weights: what erase reads of the base task.
        dependencyOutputs: ['**/study-base.json', '**/*.safetensors'],
        outputs: ['runs/{preset}/{unit}'],
        code: 'training',
        workspaceInputs: scorerFiles,
        needs: (p) => [baseTask(p.preset), ...scorerTasks(p)],
        async run(ctx) {
          await (await code()).eraseUnit(unitContext(ctx));
        },
      },
      evaluate: {
        summary: 'the erased label\'s probability, entropy and accuracy; the other nine\'s accuracy and FID (floor at N); embedding and noise attacks → runs/<preset>/<unit>/study-eval/',
        dependsOn: ['erase'],
        dependencyOutputs: ['**/*.safetensors', '**/*.json', '**/*.f32'],
        workspaceInputs: scorerFiles,
        needs: (p) => [baseTask(p.preset), ...scorerTasks(p)],
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
      summary: 'train the ten-class DiT and score it as the erased models are (erased label, other nine, both attacks) → runs/<preset>/base/',
      workspaceInputs: scorerFiles,
      needs: scorerTasks,
      outputs: ['runs/{preset}/base'],
      code: 'evaluation',
      async run(ctx) {
        await (await code()).ensureBase(presetContext(ctx));
      },
    },
    table: {
      summary: 'every erasure of the preset → results/<preset>/{table.md, units.parquet, grid-{erased,embedding,noise}.png, plots vs η}',
      dependsOn: ['base', 'each:evaluate'],
      dependencyOutputs: ['**/scores.json', '**/study-base.json', '**/*.f32'],
      outputs: ['results/{preset}'],
      code: 'analysis',
      async run(ctx) {
        const c = presetContext(ctx);
        const units = planUnits(c.def, ctx.preset).map((unit) => ({ unit, runDir: join(ctx.studyDir, 'runs', ctx.preset, unit.id) }));
        const dir = join(ctx.studyDir, 'results', ctx.preset);
        await (await code()).writeResults(c, dir, units);
        ctx.log(`erase-class table of ${units.length} erasures → ${join(dir, 'table.md')} (files: ${readdirSync(dir).join(', ')})`);
      },
    },
  },
});
