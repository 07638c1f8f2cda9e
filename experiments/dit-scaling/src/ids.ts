import type { JsonObject, JsonValue, ModelSize, SweepPreset, SweepSize } from './definition.js';

// The parts of planning that need no model code: run ids and budgets. The Nx plugin reads the sweep's runs
// through these (study.ts), so building the project graph never loads the tensor runtime.

export function deepMerge(a: JsonObject, b: JsonObject): JsonObject {
  const out: JsonObject = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = isObject(prev) && isObject(v) ? deepMerge(prev, v) : v;
  }
  return out;
}

export function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Rounded to 2 significant digits so budget labels are short and runs of one budget agree exactly. */
export function logSpacedBudgets(min: number, max: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => Number((min * (max / min) ** (i / (count - 1))).toPrecision(2)));
}

/** 2e10 → "2e10", 4.6e11 → "4.6e11" (no "+", the shortest exact form). */
export function budgetLabel(budget: number): string {
  return budget.toExponential().replace('e+', 'e');
}

/** The sizes whose budget window holds `budget` (relative slack 1e-9: budgets are rounded to 2 digits). */
export function sizesAt<S extends SweepSize>(sizes: readonly S[], budget: number): S[] {
  return sizes.filter((s) => !(s.budgets?.min !== undefined && budget < s.budgets.min * (1 - 1e-9)) && !(s.budgets?.max !== undefined && budget > s.budgets.max * (1 + 1e-9)));
}

/** The model fields only: a run's config and fingerprint do not change when a size's window does. */
function modelSize(s: SweepSize): ModelSize {
  return { hiddenSize: s.hiddenSize, depth: s.depth, numHeads: s.numHeads };
}

/** A preset's runs as (budget, model size) pairs in plan order: each budget × the sizes whose window holds it. */
export function presetGrid(p: Pick<SweepPreset, 'budgets' | 'sizes'>): { budget: number; size: ModelSize }[] {
  return logSpacedBudgets(p.budgets.min, p.budgets.max, p.budgets.count).flatMap((budget) => sizesAt(p.sizes, budget).map((s) => ({ budget, size: modelSize(s) })));
}

/** `c<budget>-w<hiddenSize>-d<depth>`, with "." spelled "p" so the id is a plain Nx project name segment. */
export function runId(budget: number, size: ModelSize): string {
  return `c${budgetLabel(budget).replace('.', 'p')}-w${size.hiddenSize}-d${size.depth}`;
}
