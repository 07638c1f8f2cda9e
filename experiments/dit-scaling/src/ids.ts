import type { JsonObject, JsonValue, SweepSize } from './definition.js';

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

/** `c<budget>-w<hiddenSize>-d<depth>`, with "." spelled "p" so the id is a plain Nx project name segment. */
export function runId(budget: number, size: SweepSize): string {
  return `c${budgetLabel(budget).replace('.', 'p')}-w${size.hiddenSize}-d${size.depth}`;
}
