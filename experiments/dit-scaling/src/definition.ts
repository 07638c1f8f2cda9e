import { readFileSync } from 'node:fs';

/** The sweep definition is unreadable or inconsistent; the message names the field and the fix. */
export class SweepDefinitionError extends Error {
  override name = 'SweepDefinitionError';
}

export interface SweepSize {
  hiddenSize: number;
  depth: number;
  numHeads: number;
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
   * `false` (default): a failed isoFLOP fit fails the table target. `true` records the failure in
   * the results instead — for presets too small for every budget to show a loss minimum (smoke).
   */
  isoflopMayFail: boolean;
  /**
   * FID-FMNIST samples per class for each run's `evaluate` target (10 classes). FID is biased
   * upwards by roughly 1/n, so FIDs compare only between runs scored with the same n.
   */
  fidSamplesPerClass: number;
}

export interface SweepDefinition {
  /** Tracker experiment prefix and the `sweep` tag of every run. */
  name: string;
  /** Trainer config shared by every run; the sweep sets model size, steps, lr and warm-up. */
  base: JsonObject;
  /** lr = lr.value · lr.referenceWidth / hiddenSize (wider models get a proportionally smaller step). */
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

function fail(source: string, field: string, problem: string): never {
  throw new SweepDefinitionError(`${source}: ${field}: ${problem}`);
}

function positive(source: string, field: string, v: unknown, integer = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    fail(source, field, `expected a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function onlyKeys(source: string, field: string, o: JsonObject, allowed: string[]): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) fail(source, `${field}.${k}`, `unknown field; allowed: ${allowed.join(', ')}`);
  }
}

function parseSize(source: string, field: string, v: unknown): SweepSize {
  if (!isObject(v)) fail(source, field, 'expected an object { hiddenSize, depth, numHeads }');
  onlyKeys(source, field, v, ['hiddenSize', 'depth', 'numHeads']);
  const hiddenSize = positive(source, `${field}.hiddenSize`, v.hiddenSize, true);
  const depth = positive(source, `${field}.depth`, v.depth, true);
  const numHeads = positive(source, `${field}.numHeads`, v.numHeads, true);
  if (hiddenSize % numHeads !== 0) fail(source, field, `hiddenSize ${hiddenSize} is not divisible by numHeads ${numHeads}`);
  return { hiddenSize, depth, numHeads };
}

function parsePreset(source: string, field: string, v: unknown): SweepPreset {
  if (!isObject(v)) fail(source, field, 'expected an object { budgets, sizes, … }');
  onlyKeys(source, field, v, ['budgets', 'sizes', 'overrides', 'bootstrap', 'isoflopMayFail', 'fidSamplesPerClass']);
  const b = v.budgets;
  if (!isObject(b)) fail(source, `${field}.budgets`, 'expected { min, max, count } (FLOPs, log-spaced)');
  onlyKeys(source, `${field}.budgets`, b, ['min', 'max', 'count']);
  const budgets = {
    min: positive(source, `${field}.budgets.min`, b.min),
    max: positive(source, `${field}.budgets.max`, b.max),
    count: positive(source, `${field}.budgets.count`, b.count, true),
  };
  if (budgets.count < 3) fail(source, `${field}.budgets.count`, `an isoFLOP fit needs at least 3 budgets, got ${budgets.count}`);
  if (!(budgets.max > budgets.min)) fail(source, `${field}.budgets`, `max (${budgets.max.toExponential()}) must exceed min (${budgets.min.toExponential()})`);
  if (!Array.isArray(v.sizes) || v.sizes.length < 3) fail(source, `${field}.sizes`, 'expected at least 3 model sizes (a parabola in log N needs 3 points per budget)');
  const sizes = v.sizes.map((s, i) => parseSize(source, `${field}.sizes[${i}]`, s));
  const keys = sizes.map((s) => `w${s.hiddenSize}-d${s.depth}`);
  const dup = keys.find((k, i) => keys.indexOf(k) !== i);
  if (dup) fail(source, `${field}.sizes`, `size ${dup} appears twice; each (hiddenSize, depth) once`);
  if (v.overrides !== undefined && !isObject(v.overrides)) fail(source, `${field}.overrides`, 'expected an object (a partial trainer config)');
  if (v.isoflopMayFail !== undefined && typeof v.isoflopMayFail !== 'boolean') fail(source, `${field}.isoflopMayFail`, 'expected true or false');
  return {
    budgets,
    sizes,
    overrides: v.overrides ?? {},
    bootstrap: v.bootstrap === undefined ? 1000 : positive(source, `${field}.bootstrap`, v.bootstrap, true),
    isoflopMayFail: v.isoflopMayFail ?? false,
    fidSamplesPerClass: v.fidSamplesPerClass === undefined ? 100 : positive(source, `${field}.fidSamplesPerClass`, v.fidSamplesPerClass, true),
  };
}

/** Validates a parsed sweep definition; `source` names it in errors. */
export function parseSweepDefinition(raw: unknown, source = 'sweep definition'): SweepDefinition {
  if (!isObject(raw)) fail(source, '(top level)', 'expected a JSON object');
  onlyKeys(source, '(top level)', raw, ['$comment', 'name', 'base', 'lr', 'warmupFraction', 'minSteps', 'presets']);
  if (typeof raw.name !== 'string' || !NAME.test(raw.name)) fail(source, 'name', 'expected lowercase letters, digits and "-" (it names tracker experiments and tags)');
  if (!isObject(raw.base)) fail(source, 'base', 'expected a trainer config object (without model size, train.steps, train.lr)');
  const base = raw.base;
  if (!isObject(base.train) || typeof base.train.batchSize !== 'number') fail(source, 'base.train.batchSize', 'required: the batch size sets steps = budget / (3·F_fwd·batchSize)');
  for (const [section, key] of [['train', 'steps'], ['train', 'lr'], ['train', 'warmupSteps'], ['model', 'hiddenSize'], ['model', 'depth'], ['model', 'numHeads']] as const) {
    const s = base[section];
    if (isObject(s) && key in s) fail(source, `base.${section}.${key}`, 'set by the sweep for each run; remove it from base');
  }
  if (base.name !== undefined) fail(source, 'base.name', 'set by the sweep (<name>-<preset>); remove it');
  if (!isObject(raw.lr)) fail(source, 'lr', 'expected { value, referenceWidth }: lr = value · referenceWidth / hiddenSize');
  onlyKeys(source, 'lr', raw.lr, ['value', 'referenceWidth']);
  const lr = { value: positive(source, 'lr.value', raw.lr.value), referenceWidth: positive(source, 'lr.referenceWidth', raw.lr.referenceWidth, true) };
  const warmupFraction = raw.warmupFraction ?? 0;
  if (typeof warmupFraction !== 'number' || !(warmupFraction >= 0 && warmupFraction < 1)) fail(source, 'warmupFraction', `expected a number in [0, 1), got ${JSON.stringify(warmupFraction)}`);
  const minSteps = raw.minSteps === undefined ? 10 : positive(source, 'minSteps', raw.minSteps, true);
  if (!isObject(raw.presets) || Object.keys(raw.presets).length === 0) fail(source, 'presets', 'expected at least one preset, e.g. { "full": {…}, "smoke": {…} }');
  const presets: Record<string, SweepPreset> = {};
  for (const [name, p] of Object.entries(raw.presets)) {
    if (!NAME.test(name)) fail(source, `presets.${name}`, 'preset names use lowercase letters, digits and "-" (they become Nx target names)');
    presets[name] = parsePreset(source, `presets.${name}`, p);
  }
  return { name: raw.name, base, lr, warmupFraction, minSteps, presets };
}

export function loadSweepDefinition(path: string): SweepDefinition {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new SweepDefinitionError(`cannot read sweep definition ${path}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new SweepDefinitionError(`sweep definition ${path} is not valid JSON: ${(e as Error).message}`);
  }
  return parseSweepDefinition(raw, path);
}
