import { EvalError } from '@difflab/evaluation';

/** The noise level to probe at: a discrete timestep, or a fraction of the schedule's length T. */
export type TimestepSpec = { timestep: number } | { fraction: number };

/**
 * Command-line form: text with a decimal point is a fraction of T in [0, 1] ("0.25", "1.0"),
 * anything else an integer timestep ("250"); so "1" is timestep 1 and "1.0" is the noisiest step.
 */
export function parseTimestepSpec(text: string): TimestepSpec {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v)) throw new EvalError(`--t must be a fraction of T like 0.25 or an integer timestep like 250, got '${text}'`);
  return text.includes('.') ? { fraction: v } : { timestep: v };
}

/** Timestep index in [0, T): fraction f maps to round(f·(T − 1)), so 0 is the cleanest and 1 the noisiest step. */
export function resolveTimestep(spec: TimestepSpec, numTimesteps: number): number {
  if ('fraction' in spec) {
    const f = spec.fraction;
    if (!(f >= 0 && f <= 1)) throw new EvalError(`t as a fraction of T must be in [0, 1], got ${f}`);
    return Math.round(f * (numTimesteps - 1));
  }
  const t = spec.timestep;
  if (!Number.isInteger(t) || t < 0 || t >= numTimesteps) {
    throw new EvalError(`timestep t must be an integer in [0, ${numTimesteps - 1}] (the run's diffusion has ${numTimesteps} steps), got ${t}; or give a fraction of T such as 0.25`);
  }
  return t;
}
