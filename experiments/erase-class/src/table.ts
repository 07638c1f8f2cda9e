import type { EraseStudyDefinition } from './definition.js';
import { mean, meanPlusMinus as pm } from '@difflab/studies';

/** How one model (the base or an erased one) scores: the base's study-base.json and each unit's part of scores.json. */
export interface ModelScores {
  /** Samples conditioned on the erased label, read by the FID network: mean p(erased), mean entropy (nats), argmax accuracy. */
  n_erased: number;
  erased_probability: number;
  erased_entropy: number;
  erased_accuracy: number;
  /** The same read by the second network (null without it). */
  erased_probability_b: number | null;
  erased_accuracy_b: number | null;
  /** The other nine labels' samples: class accuracy, FID-FMNIST against their test images with the floor at N, precision, recall. */
  n_kept: number;
  kept_class_accuracy: number;
  kept_class_accuracy_b: number | null;
  kept_fid: number;
  kept_fid_floor: number;
  kept_precision: number;
  kept_recall: number;
  /** Which network reads the attacks' success: the second network, or (without it) the attacked FID network itself. */
  attack_scorer: 'second network' | 'attacked network';
  /** Fraction classified as the erased class before the attack (its starting point) and after it, by attack_scorer. */
  attack_embedding_before: number;
  attack_embedding_success: number;
  /** After the attack, by the network it optimised against (an upper bound: it can fit that network's quirks). */
  attack_embedding_success_attacked_net: number;
  attack_embedding_final_loss: number;
  attack_embedding_seconds: number;
  attack_noise_before: number;
  attack_noise_success: number;
  attack_noise_success_attacked_net: number;
  attack_noise_final_loss: number;
  attack_noise_seconds: number;
}

/** One ESD run's scores: runs/<preset>/<unit>/study-eval/scores.json, one row of results/<preset>/units.parquet. */
export interface UnitScores extends ModelScores {
  unit: string;
  variant: string;
  eta: number;
  seed: number;
  steps: number;
  /** Wall seconds of the ESD run's train() call. */
  esd_seconds: number;
  /** Weights ESD trained (the variant's subset), from the run's eval.json. */
  trainable_params: number | null;
  /** The unerased base's numbers on the same x_T, for the before → after columns. */
  base_erased_probability: number;
  base_kept_class_accuracy: number;
  base_kept_fid: number;
}


/** The study's table: the unerased base, then one row per variant × η (mean ± sd over seeds). */
export function unitsMarkdown(def: EraseStudyDefinition, preset: string, base: ModelScores, rows: UnitScores[], machine: string, date: string): string {
  const p = def.presets[preset]!;
  const c = def.erasedClass;
  const head = '| model | lr | η | trained params | p(erased) | entropy (nats) | erased acc. | erased acc. (2nd net) | other nine acc. | other nine FID | embedding attack: before → after | noise attack: before → after | ESD s |';
  const lines = [
    `# Erasing class ${c} with ESD — preset ${preset}`,
    '',
    `${date}, ${machine}.`,
    `Base: a DiT trained ${p.baseSteps} steps on all ten Fashion-MNIST classes. Each ESD run fine-tunes it ${p.esdSteps} steps (batch ${p.esdBatchSize}) to erase class ${c}, training the variant's subset;`,
    `seeds ${p.seeds.join(', ')} per cell (the ESD run's seed; one base), mean ± sd over seeds. Every model is sampled from the same x_T: N = ${base.n_erased} samples of label ${c},`,
    `N = ${base.n_kept} of the other nine (FID-FMNIST against their test images; floor at that N ${base.kept_fid_floor.toFixed(2)}).`,
    `Attacks: ${p.attack.steps} Adam steps each against the FID network (embedding: batch ${p.attack.batch}, lr ${p.attack.embeddingLr}, scored on ${p.attack.evalImages} new x_T; noise: ${p.attack.batch} x_T, lr ${p.attack.noiseLr});`,
    `success = the fraction of the attacked images the ${base.attack_scorer} classifies as class ${c}.`,
    '',
    head,
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    `| base (unerased) | | | | ${base.erased_probability.toFixed(3)} | ${base.erased_entropy.toFixed(3)} | ${base.erased_accuracy.toFixed(3)} | ${base.erased_accuracy_b?.toFixed(3) ?? '—'} | ${base.kept_class_accuracy.toFixed(3)} | ${base.kept_fid.toFixed(2)} | ${base.attack_embedding_before.toFixed(3)} → ${base.attack_embedding_success.toFixed(3)} | ${base.attack_noise_before.toFixed(3)} → ${base.attack_noise_success.toFixed(3)} | |`,
  ];
  for (const v of def.variants.filter((x) => rows.some((r) => r.variant === x.id))) {
    for (const eta of [...new Set(rows.filter((r) => r.variant === v.id).map((r) => r.eta))].sort((a, b) => a - b)) {
      const rs = rows.filter((r) => r.variant === v.id && r.eta === eta);
      const col = (f: keyof UnitScores) => rs.map((r) => Number(r[f]));
      const b = rs.every((r) => r.erased_accuracy_b !== null) ? pm(col('erased_accuracy_b'), 3) : '—';
      lines.push(
        `| ${v.id} (${v.train}) | ${v.lr} | ${eta} | ${Math.round(mean(col('trainable_params'))).toLocaleString('en')} | ${pm(col('erased_probability'), 3)} | ${pm(col('erased_entropy'), 3)} | ${pm(col('erased_accuracy'), 3)} | ${b} | ${pm(col('kept_class_accuracy'), 3)} | ${pm(col('kept_fid'), 2)} | ${pm(col('attack_embedding_before'), 3)} → ${pm(col('attack_embedding_success'), 3)} | ${pm(col('attack_noise_before'), 3)} → ${pm(col('attack_noise_success'), 3)} | ${pm(col('esd_seconds'), 1)} |`,
      );
    }
  }
  lines.push(
    '',
    `p(erased), entropy, erased acc.: the FID network's softmax on the samples conditioned on label ${c} (mean probability of class ${c}, mean entropy with ln 10 = 2.303 for "no idea", fraction classified ${c}); the 2nd net: the same fraction by the second network.`,
    'other nine acc./FID: the samples of the other labels. Targets (issue #20): p(erased) ≤ 0.1 with the other nine\'s accuracy within 0.05 of the base\'s.',
    'Grids: grid-erased.png (label-c samples), grid-embedding.png and grid-noise.png (attacked images); first row the base, then one row per variant × η of the first seed.',
    '',
  );
  return lines.join('\n');
}
