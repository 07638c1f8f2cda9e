import type * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@difflab/core-tensor';
import type { DiT } from '../dit/dit.js';
import { type PeftAdapter, PeftConfigError } from './adapter.js';
import { type HoulsbyOptions, createHoulsbyAdapters } from './houlsby.js';
import { type LoraOptions, createLora } from './lora.js';
import { type PrefixOptions, createPrefixTuning } from './prefix.js';
import { type SvdiffOptions, createSvdiff } from './svdiff.js';

// One fine-tuning method per run: full fine-tuning (no adapter: the base params train) or one of the
// parameter-efficient methods. Combining several adapters on one forward is not supported here.

export type FineTuneSpec =
  | { method: 'full' }
  | ({ method: 'lora' } & LoraOptions)
  | ({ method: 'houlsby' } & HoulsbyOptions)
  | ({ method: 'prefix' } & PrefixOptions)
  | ({ method: 'svdiff' } & SvdiffOptions);

export type FineTuneMethod = FineTuneSpec['method'];
export const FINE_TUNE_METHODS: readonly FineTuneMethod[] = ['full', 'lora', 'houlsby', 'prefix', 'svdiff'];

/**
 * The adapter `spec` describes, attached to `dit`, or null for full fine-tuning. `rng` draws the
 * random initial values (LoRA's A, Houlsby's down projections, the prefixes; SVDiff draws nothing).
 */
export function createAdapter(dit: DiT, spec: FineTuneSpec, rng: Rng): PeftAdapter | null {
  switch (spec.method) {
    case 'full':
      return null;
    case 'lora':
      return createLora(dit, spec, rng);
    case 'houlsby':
      return createHoulsbyAdapters(dit, spec, rng);
    case 'prefix':
      return createPrefixTuning(dit, spec, rng);
    case 'svdiff':
      return createSvdiff(dit, spec);
    default:
      throw new PeftConfigError(
        `unknown fine-tuning method ${JSON.stringify((spec as { method?: unknown }).method)}; use one of ${FINE_TUNE_METHODS.join(', ')}`,
      );
  }
}

/**
 * The variables a run trains, keyed by the names they are saved under: the adapter's params, or
 * every DiT param for full fine-tuning (adapter null). Pass Object.values(...) as tf.variableGrads's
 * varList so that nothing else receives a gradient.
 */
export function trainableParams(dit: DiT, adapter: PeftAdapter | null): Record<string, tf.Variable> {
  return adapter ? adapter.params : dit.params;
}
