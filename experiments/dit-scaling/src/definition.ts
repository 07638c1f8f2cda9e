import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { budgetLabel, logSpacedBudgets, sizesAt } from './ids.js';

/** The sweep definition is unreadable or inconsistent; the message names the field and the fix. */
export class SweepDefinitionError extends Error {
  override name = 'SweepDefinitionError';
}

/** The model fields a size sets; what a run's config and fingerprint hold. */
export interface ModelSize {
  hiddenSize: number;
  depth: number;
  numHeads: number;
}

export interface SweepSize extends ModelSize {
  /**
   * The budgets (nominal FLOPs, inclusive) this size runs at; absent bounds are open. A window per size keeps
   * each budget's runs near its optimum, as Chinchilla's isoFLOP profiles do, instead of training every size
   * at every budget (the small sizes at the largest budgets cost the most steps and sit far from the optimum).
   */
  budgets?: { min?: number; max?: number };
}

export interface SweepPreset {
  /** Log-spaced training budgets in FLOPs (C = 3·F_fwd·examples): `count` values from `min` to `max`. */
  budgets: { min: number; max: number; count: number };
  sizes: SweepSize[];
  /** Deep-merged over `base` for this preset's runs (e.g. fewer held-out examples for the smoke preset). */
  overrides: JsonObject;
  /** Bootstrap resamples for the fits. */
  bootstrap: number;
  /**
   * `false` (default): a failed isoFLOP or parametric fit (or held-out prediction) fails the table target.
   * `true` records the failure in the results instead — for presets too small for every budget to show a
   * loss minimum (smoke).
   */
  isoflopMayFail: boolean;
  /**
   * FID-FMNIST samples per class for each run's `evaluate` target (10 classes). FID is biased
   * upwards by roughly 1/n, so FIDs compare only between runs scored with the same n, and gather
   * records the real-vs-real floor at that n (floor.json) for every FID to be read against.
   */
  fidSamplesPerClass: number;
}

export interface SweepDefinition {
  /** Tracker experiment prefix and the `sweep` tag of every run. */
  name: string;
  /** Trainer config shared by every run; the sweep sets model size, steps, lr and warm-up. */
  base: JsonObject;
  /**
   * lr = lr.value · lr.referenceWidth / hiddenSize (wider models get a proportionally smaller step);
   * { value: 0.0015, referenceWidth: 96 } is the main job's 1.5e-3 at its width 96.
   */
  lr: { value: number; referenceWidth: number };
  /** warmupSteps = round(warmupFraction · steps). */
  warmupFraction: number;
  /** Runs with fewer steps than this are a definition error (the budget is too small for the size). */
  minSteps: number;
  presets: Record<string, SweepPreset>;
}

export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

const NAME = /^[a-z0-9][a-z0-9-]*$/;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const positiveInt = z.number().int().positive();
const jsonObject = (what: string) => z.custom<JsonObject>(isObject, `expected an object (${what})`);

const sizeSchema = z
  .object({
    hiddenSize: positiveInt,
    depth: positiveInt,
    numHeads: positiveInt,
    budgets: z.object({ min: z.number().positive().optional(), max: z.number().positive().optional() }).strict().optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.hiddenSize % s.numHeads !== 0) ctx.addIssue({ code: 'custom', message: `hiddenSize ${s.hiddenSize} is not divisible by numHeads ${s.numHeads}` });
  });

const presetSchema = z
  .object({
    budgets: z
      .object({ min: z.number().positive(), max: z.number().positive(), count: z.number().int().min(3, 'an isoFLOP fit needs at least 3 budgets') })
      .strict()
      .superRefine((b, ctx) => {
        if (!(b.max > b.min)) ctx.addIssue({ code: 'custom', message: `max (${b.max.toExponential()}) must exceed min (${b.min.toExponential()})` });
      }),
    sizes: z
      .array(sizeSchema)
      .min(3, 'expected at least 3 model sizes (a parabola in log N needs 3 points per budget)')
      .superRefine((sizes, ctx) => {
        const keys = sizes.map((s) => `w${s.hiddenSize}-d${s.depth}`);
        const dup = keys.find((k, i) => keys.indexOf(k) !== i);
        if (dup) ctx.addIssue({ code: 'custom', message: `size ${dup} appears twice; each (hiddenSize, depth) once` });
      }),
    overrides: jsonObject('a partial trainer config').default({}),
    bootstrap: positiveInt.default(1000),
    isoflopMayFail: z.boolean().default(false),
    fidSamplesPerClass: positiveInt.default(100),
  })
  .strict()
  .superRefine((p, ctx) => {
    const budgets = logSpacedBudgets(p.budgets.min, p.budgets.max, p.budgets.count);
    for (const budget of budgets) {
      const n = sizesAt(p.sizes, budget).length;
      if (n < 3) ctx.addIssue({ code: 'custom', path: ['sizes'], message: `budget ${budgetLabel(budget)} has ${n} size(s) inside their budget windows; a parabola in log N needs at least 3: widen the windows` });
    }
    p.sizes.forEach((s, i) => {
      if (!budgets.some((b) => sizesAt([s], b).length)) ctx.addIssue({ code: 'custom', path: ['sizes', i, 'budgets'], message: `w${s.hiddenSize}-d${s.depth} runs at none of the budgets (${budgets.map(budgetLabel).join(', ')}); fix or remove its window` });
    });
  });

/** Checks `base` as far as the sweep itself needs; the trainer's schema checks the rest per run (load.ts). */
const baseSchema = jsonObject('a trainer config without model size, train.steps, train.lr').superRefine((base, ctx) => {
  const train = base.train;
  if (!isObject(train) || typeof train.batchSize !== 'number') {
    ctx.addIssue({ code: 'custom', path: ['train', 'batchSize'], message: 'required: the batch size sets steps = budget / (3·F_fwd·batchSize)' });
  }
  for (const [section, key] of [['train', 'steps'], ['train', 'lr'], ['train', 'warmupSteps'], ['model', 'hiddenSize'], ['model', 'depth'], ['model', 'numHeads']] as const) {
    const sec = base[section];
    if (isObject(sec) && key in sec) ctx.addIssue({ code: 'custom', path: [section, key], message: 'set by the sweep for each run; remove it from base' });
  }
  if (base.name !== undefined) ctx.addIssue({ code: 'custom', path: ['name'], message: 'set by the sweep (<name>-<preset>); remove it' });
});

/** sweep.json: one schema, used by the run-time loader (loadSweep, through @difflab/runs' loadConfigFile) and the Nx plugin. */
export const sweepSchema = z
  .object({
    $comment: z.string().optional(),
    name: z.string().regex(NAME, 'expected lowercase letters, digits and "-" (it names tracker experiments and tags)'),
    base: baseSchema,
    lr: z.object({ value: z.number().positive(), referenceWidth: positiveInt }).strict(),
    warmupFraction: z.number().min(0).lt(1).default(0),
    minSteps: positiveInt.default(10),
    presets: z.record(z.string(), presetSchema).superRefine((p, ctx) => {
      if (Object.keys(p).length === 0) ctx.addIssue({ code: 'custom', message: 'expected at least one preset, e.g. { "full": {…}, "smoke": {…} }' });
      for (const name of Object.keys(p)) {
        if (!NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'preset names use lowercase letters, digits and "-" (they name Nx projects)' });
      }
    }),
  })
  .strict();

/** `presets.full.sizes[0]: …`, one line per issue. */
function issues(e: z.ZodError): string {
  const path = (p: PropertyKey[]) => p.map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i ? '.' : ''}${String(k)}`)).join('');
  return e.issues.map((i) => `  ${i.path.length ? path(i.path) : '(top level)'}: ${i.message}`).join('\n');
}

/**
 * Validates a parsed sweep definition; `source` names it in errors. The same schema as loadSweep's, without
 * importing @difflab/runs (3.5 s), because the Nx plugin calls this each time it builds the project graph.
 */
export function parseSweepDefinition(raw: unknown, source = 'sweep definition'): SweepDefinition {
  const r = sweepSchema.safeParse(raw);
  if (!r.success) throw new SweepDefinitionError(`invalid sweep definition ${source}:\n${issues(r.error)}`);
  const { $comment: _comment, ...def } = r.data;
  return def;
}

/** Reads and validates sweep.json for the project graph (see parseSweepDefinition); runs load it with loadSweep. */
export function loadSweepDefinition(path: string): SweepDefinition {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new SweepDefinitionError(`cannot read sweep definition ${path}: ${(e as Error).message}`);
  }
  return parseSweepDefinition(raw, path);
}
