import type { AdaptStudyDefinition } from './definition.js';
import { mean, meanPlusMinus as pm } from '@difflab/studies';

/** One adaptation's scores: runs/<preset>/<unit>/study-eval/scores.json, one row of results/<preset>/units.parquet. */
export interface UnitScores {
  unit: string;
  method: string;
  k: number;
  seed: number;
  steps: number;
  /** From the run's eval.json finetune section: trained tensors' element count and adapter.safetensors' bytes. */
  trainable_params: number;
  adapter_bytes: number;
  /** Wall seconds of the adaptation's train() call (SVDiff's SVD and the held-out loss included). */
  adapt_seconds: number;
  /** New-class samples scored, and the fraction the feature network classifies as the held-out class. */
  n_new: number;
  new_class_accuracy: number;
  /** Copying (src/copying.ts) in the feature network's features and in pixels. */
  copy_ratio_features: number;
  copy_closer_features: number;
  copy_ratio_pixels: number;
  copy_closer_pixels: number;
  /** Old-class samples scored (N of their FID), against the test images of the nine old classes. */
  n_old: number;
  old_class_accuracy: number;
  old_fid: number;
  old_fid_floor: number;
  old_precision: number;
  old_recall: number;
  /** The base's scores on the same old-class x_T draws. */
  base_old_class_accuracy: number;
  base_old_fid: number;
  /** RMS pixel difference (in [0, 1] units) between each old-class sample and the base's sample from the same x_T. */
  old_rms_change: number;
}


/** The study's table: one row per method × k, mean ± sd over seeds. */
export function unitsMarkdown(def: AdaptStudyDefinition, preset: string, rows: UnitScores[], machine: string, date: string): string {
  const p = def.presets[preset]!;
  const r0 = rows[0];
  const lines = [
    `# Adapting to a new class — preset ${preset}`,
    '',
    `${date}, ${machine}.`,
    `Base: a DiT trained ${p.baseSteps} steps on the nine Fashion-MNIST classes other than ${def.heldOutClass}; each method then adapts it to class ${def.heldOutClass} from its first k training images,`,
    `${p.adaptSteps} steps for every method and k (batch min(${p.adaptBatchSize}, k)). Seeds ${p.seeds.join(', ')} per cell (the adaptation's seed; one base). Mean ± sd over seeds.`,
    r0
      ? `New class: N = ${r0.n_new} samples per run. Old classes: N = ${r0.n_old} samples (same x_T for base and adapted), FID-FMNIST against the test images of the nine old classes; the real-vs-real floor at N = ${r0.n_old} is ${mean(rows.map((r) => r.old_fid_floor)).toFixed(2)}.`
      : 'No runs.',
    '',
    '| method | lr | k | trainable params | adapter bytes | new-class acc. | old-class acc. base → adapted | old-class FID base → adapted | old Δpixel RMS | copy ratio (features) | closer to train (features) | copy ratio (pixels) | adapt s |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const m of def.methods.filter((x) => rows.some((r) => r.method === x.id))) {
    for (const k of [...new Set(rows.filter((r) => r.method === m.id).map((r) => r.k))].sort((a, b) => a - b)) {
      const rs = rows.filter((r) => r.method === m.id && r.k === k);
      const col = (f: keyof UnitScores) => rs.map((r) => Number(r[f]));
      lines.push(
        `| ${m.id} | ${m.lr} | ${k} | ${Math.round(mean(col('trainable_params'))).toLocaleString('en')} | ${Math.round(mean(col('adapter_bytes'))).toLocaleString('en')} | ${pm(col('new_class_accuracy'), 3)} | ${mean(col('base_old_class_accuracy')).toFixed(3)} → ${pm(col('old_class_accuracy'), 3)} | ${mean(col('base_old_fid')).toFixed(2)} → ${pm(col('old_fid'), 2)} | ${pm(col('old_rms_change'), 3)} | ${pm(col('copy_ratio_features'), 3)} | ${pm(col('copy_closer_features'), 2)} | ${pm(col('copy_ratio_pixels'), 3)} | ${pm(col('adapt_seconds'), 1)} |`,
      );
    }
  }
  lines.push(
    '',
    'new-class acc.: fraction of the new class\'s samples the feature network classifies as that class. old-class acc./FID: the samples of the nine old classes (class accuracy over them; FID against their test images), the base\'s on the same x_T first.',
    'old Δpixel RMS: per old-class sample, the RMS pixel difference ([0, 1] scale) to the base\'s sample from the same x_T, averaged: 0 = untouched.',
    'copy ratio: per new-class sample, distance to the nearest of the k training images ÷ distance to the nearest of k held-out test images of the class, averaged (≈ 1 generalises, → 0 copies); closer to train: the fraction of samples with the former smaller.',
    'adapt s: wall time of the adaptation run on this machine, under whatever else ran. Grids: grid-<method>-k<k>.png (one row per seed, new-class samples).',
    '',
  );
  return lines.join('\n');
}
