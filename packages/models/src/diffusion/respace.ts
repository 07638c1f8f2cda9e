import { ModelConfigError } from '../errors.js';
import { withPosterior, type NoiseSchedule } from './schedule.js';

/**
 * A schedule restricted to some of its base schedule's timesteps (DiT/ADM's `SpacedDiffusion`).
 * Index k runs over the kept steps; `timestepMap[k]` is the base timestep the model is evaluated at.
 */
export interface SpacedSchedule extends NoiseSchedule {
  readonly timestepMap: readonly number[];
}

/**
 * Keeps ᾱ at the `used` timesteps (ascending) and derives everything else from it:
 * β'_k = 1 − ᾱ_{t_k} / ᾱ_{t_{k−1}} (ᾱ before the first kept step = 1), so the respaced forward
 * process has exactly the base marginals q(x_t | x_0) at the kept steps. Nothing is recomputed
 * from a β schedule: ᾱ is copied, not re-multiplied, so it is bit-identical to the base's.
 */
export function respaceSchedule(base: NoiseSchedule, used: readonly number[]): SpacedSchedule {
  const k = used.length;
  if (k < 2) throw new ModelConfigError(`a respaced schedule needs at least 2 timesteps, got ${k}`);
  used.forEach((t, i) => {
    if (!Number.isInteger(t) || t < 0 || t >= base.numTimesteps || (i > 0 && t <= used[i - 1]!)) {
      throw new ModelConfigError(`respaced timesteps must be ascending integers in [0, ${base.numTimesteps}), got [${used.join(', ')}]`);
    }
  });
  const betas = new Float64Array(k);
  const ac = new Float64Array(k);
  const acPrev = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    ac[i] = base.alphasCumprod[used[i]!]!;
    acPrev[i] = i === 0 ? 1 : base.alphasCumprod[used[i - 1]!]!;
    betas[i] = 1 - ac[i]! / acPrev[i]!;
  }
  return { ...withPosterior(betas, ac, acPrev), timestepMap: [...used] };
}
