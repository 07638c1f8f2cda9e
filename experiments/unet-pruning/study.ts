import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FMNIST_FEATURE_NET, SPOKEN_DIGITS_EMBEDDER, defineStudy, type PresetRef, type StageContext } from '@difflab/studies';

/**
 * The U-Net pruning study: baseline → score → apply → retrain → eval → table, per preset in presets/<preset>/
 * (baseline.json, score.json, variants.json, eval.json). The stage code is in src/ and is imported only when a
 * stage runs, so the Nx plugin reads this file without loading the tensor runtime.
 */
const code = () => import('./src/index.js');
const layout = async (ctx: StageContext) => (await code()).studyLayout(ctx.studyDir, ctx.preset);
const opts = (ctx: StageContext) => ({ ...(ctx.tracker ? { tracker: ctx.tracker } : {}), log: ctx.log });
const str = (v: string | boolean | undefined) => (typeof v === 'string' ? v : undefined);

/**
 * An audio preset (spectrograms of the spoken-digits corpus, scored by FAD) needs that corpus and its embedder;
 * an image preset needs the Fashion-MNIST feature network. Read from baseline.json's data.dataset, as the
 * eval stage decides it (src/quality.ts modalityOf); the file is validated when the stage runs.
 */
function isAudio(p: PresetRef): boolean {
  try {
    return (JSON.parse(readFileSync(join(p.presetDir, 'baseline.json'), 'utf8')) as { data?: { dataset?: unknown } }).data?.dataset === 'spoken-digits-mel';
  } catch {
    return false;
  }
}
const qualityNetwork = (p: PresetRef) => (isAudio(p) ? SPOKEN_DIGITS_EMBEDDER : FMNIST_FEATURE_NET);

// A stage reads its preset file and the files of the stages before it that it names (weights, configs, scores).
const weightsAndJson = ['**/*.safetensors', '**/*.json'];

export default defineStudy({
  name: 'unet-pruning',
  summary: 'U-Net pruning (images: FID, spectrograms: FAD): BK-SDM block removal + distillation, LD-Pruner operator scores',
  options: {
    variant: { type: 'string', description: 'retrain: only this variant of variants.json' },
    'feature-net': { type: 'string', description: "eval, image study: the FID feature network (default: fmnist-featurenet's artifact)" },
    embedder: { type: 'string', description: "eval, audio study: the FAD embedder (default: spoken-digits' train-embedder artifact)" },
  },
  stages: {
    baseline: {
      summary: 'train the unpruned U-Net from baseline.json → runs/<preset>/baseline/',
      inputs: ['baseline.json'],
      // The audio baseline trains on the synthesized corpus: its manifest lists every clip and its hash.
      needs: (p) => (isAudio(p) ? [{ project: 'spoken-digits', target: 'synthesize' }] : []),
      dependencyOutputs: (p) => (isAudio(p) ? ['**/manifest.jsonl'] : []),
      outputs: ['runs/{preset}/baseline'],
      code: 'training',
      async run(ctx) {
        await (await code()).baselineStage(await layout(ctx), opts(ctx));
      },
    },
    score: {
      summary: 'LD-Pruner operator scores and BK-SDM block importance (score.json) → results/<preset>/scores/',
      dependsOn: ['baseline'],
      inputs: ['score.json'],
      dependencyOutputs: ['**/*.safetensors', '**/config.json'],
      outputs: ['results/{preset}/scores'],
      code: 'evaluation',
      async run(ctx) {
        await (await code()).scoreStage(await layout(ctx), opts(ctx));
      },
    },
    apply: {
      summary: 'prune each variant of variants.json; write its retraining config → runs/<preset>/{configs,pruned}/',
      dependsOn: ['score', 'baseline'],
      inputs: ['variants.json', 'baseline.json'],
      dependencyOutputs: weightsAndJson,
      outputs: ['runs/{preset}/configs', 'runs/{preset}/pruned'],
      code: 'training',
      async run(ctx) {
        await (await code()).applyStage(await layout(ctx), opts(ctx));
      },
    },
    retrain: {
      summary: 'distil (BK-SDM) or finetune / train from scratch (LD-Pruner) → runs/<preset>/retrained/<id>/',
      dependsOn: ['apply', 'baseline'],
      dependencyOutputs: weightsAndJson,
      outputs: ['runs/{preset}/retrained'],
      code: 'training',
      async run(ctx) {
        const only = str(ctx.options.variant);
        await (await code()).retrainStage(await layout(ctx), { ...opts(ctx), ...(only !== undefined ? { only } : {}) });
      },
    },
    eval: {
      summary: "FID-FMNIST (image) or FAD (audio) before/after, params, MACs, latency (eval.json); the baseline's data.dataset picks the metric",
      dependsOn: ['retrain', 'apply', 'baseline'],
      inputs: ['eval.json'],
      dependencyOutputs: weightsAndJson,
      workspaceInputs: (p) => [qualityNetwork(p).file],
      needs: (p) => [qualityNetwork(p).needs],
      outputs: ['runs/{preset}/eval'],
      code: 'evaluation',
      async run(ctx) {
        const featureNet = str(ctx.options['feature-net']);
        const embedder = str(ctx.options.embedder);
        await (await code()).evalStage(await layout(ctx), { ...opts(ctx), ...(featureNet ? { featureNet } : {}), ...(embedder ? { embedder } : {}) });
      },
    },
    table: {
      summary: 'Markdown + Parquet table and plots → results/<preset>/',
      dependsOn: ['eval'],
      dependencyOutputs: ['**/*.json'],
      outputs: ['results/{preset}/table.md', 'results/{preset}/table.parquet', 'results/{preset}/*-vs-*.svg', 'results/{preset}/*-vs-*.png'],
      code: 'analysis',
      async run(ctx) {
        console.log((await (await code()).tableStage(await layout(ctx))).markdown);
      },
    },
  },
});
