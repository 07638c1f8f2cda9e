import { parseArgs } from 'node:util';
import { openTracker } from '@difflab/tracking';
import { applyStage, baselineStage, evalStage, retrainStage, scoreStage, studyLayout, tableStage } from '../../../../experiments/unet-pruning/src/index.js';

export const summary = 'U-Net pruning study (images: FID, spectrograms: FAD): baseline → score → apply → retrain → eval → table (BK-SDM, LD-Pruner)';

const STAGES = ['baseline', 'score', 'apply', 'retrain', 'eval', 'table', 'all'] as const;
type Stage = (typeof STAGES)[number];

const usage = `usage: difflab prune <stage> --preset NAME [--study DIR] [--variant ID] [--no-track] [--feature-net PATH | --embedder PATH]

Stages (each reads the previous one's files; Nx targets of experiments/unet-pruning run them in order):
  baseline   train the unpruned U-Net from presets/NAME/baseline.json          → runs/NAME/baseline/
  score      LD-Pruner operator scores + BK-SDM block importance (score.json)  → results/NAME/scores/
  apply      prune each variant of variants.json; write its retraining config → runs/NAME/{configs,pruned}/
  retrain    distil (BK-SDM) or finetune / train from scratch (LD-Pruner)      → runs/NAME/retrained/<id>/
  eval       FID-FMNIST (image) or FAD (audio) before/after, params, MACs,
             latency (eval.json); the baseline's data.dataset picks the metric → runs/NAME/eval/
  table      Markdown + Parquet table and plots                                → results/NAME/
  all        every stage in order

  --study DIR        the study directory (default experiments/unet-pruning)
  --preset NAME      presets/NAME/ of the study (e.g. smoke, full, audio-smoke, audio)
  --variant ID       retrain: only this variant
  --no-track         do not log to the tracker
  --feature-net PATH eval, image study: the FID feature network (default: fmnist-featurenet's artifact)
  --embedder PATH    eval, audio study: the FAD embedder (default: spoken-digits' train-embedder artifact)`;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      study: { type: 'string', default: 'experiments/unet-pruning' },
      preset: { type: 'string' },
      variant: { type: 'string' },
      'no-track': { type: 'boolean', default: false },
      'feature-net': { type: 'string' },
      embedder: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const stage = positionals[0] as Stage | undefined;
  if (positionals.length !== 1 || !stage || !STAGES.includes(stage)) {
    console.error(positionals.length ? `difflab prune: unknown stage '${positionals.join(' ')}'; stages: ${STAGES.join(', ')}\n\n${usage}` : usage);
    return 2;
  }
  if (!values.preset) throw new Error('prune: --preset is required (e.g. --preset smoke)');
  if (values.variant !== undefined && stage !== 'retrain') throw new Error('prune: --variant applies to the retrain stage only');
  for (const flag of ['feature-net', 'embedder'] as const) {
    if (values[flag] !== undefined && stage !== 'eval' && stage !== 'all') throw new Error(`prune: --${flag} applies to the eval stage only`);
  }
  const layout = studyLayout(values.study, values.preset);
  const tracker = values['no-track'] ? undefined : openTracker();
  const opts = { tracker, log: (line: string) => console.error(`difflab prune: ${line}`) };
  const t0 = performance.now();
  try {
    const run = async (s: Exclude<Stage, 'all'>) => {
      const start = performance.now();
      if (s === 'baseline') await baselineStage(layout, opts);
      else if (s === 'score') await scoreStage(layout, opts);
      else if (s === 'apply') await applyStage(layout, opts);
      else if (s === 'retrain') await retrainStage(layout, { ...opts, ...(values.variant !== undefined ? { only: values.variant } : {}) });
      else if (s === 'eval') {
        await evalStage(layout, { ...opts, ...(values['feature-net'] ? { featureNet: values['feature-net'] } : {}), ...(values.embedder ? { embedder: values.embedder } : {}) });
      }
      else console.log((await tableStage(layout)).markdown);
      console.error(`difflab prune: ${s} done in ${((performance.now() - start) / 1000).toFixed(1)} s`);
    };
    if (stage === 'all') for (const s of STAGES.filter((x): x is Exclude<Stage, 'all'> => x !== 'all')) await run(s);
    else await run(stage);
  } finally {
    await tracker?.close();
  }
  if (stage === 'all') console.error(`difflab prune: chain done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return 0;
}
