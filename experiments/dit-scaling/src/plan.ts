import { countDiT, ditConfig, type DiTConfig } from '@difflab/models';
import { SweepDefinitionError, type JsonObject, type ModelSize, type SweepDefinition } from './definition.js';
import { budgetLabel, deepMerge, isObject, presetGrid, runId } from './ids.js';

export { budgetLabel, logSpacedBudgets } from './ids.js';

/** One training run of a sweep: its identity, its budget arithmetic and the trainer config it runs. */
export interface SweepRun {
  /** `c<budget>-w<hiddenSize>-d<depth>`, e.g. `c2e10-w64-d2`; unique within a preset. */
  id: string;
  preset: string;
  /** The nominal budget in FLOPs (2 significant digits); runs of one budget share this value exactly. */
  budget: number;
  size: ModelSize;
  /** `w<hiddenSize>-d<depth>` */
  sizeLabel: string;
  modelParams: number;
  /** Forward FLOPs per example (the DiT paper's Gflops × 1e9, from countDiT). */
  flopsFwd: number;
  steps: number;
  batchSize: number;
  lr: number;
  /** The trainer config this run trains with (what its Nx target hashes). */
  config: JsonObject;
}

function section(o: JsonObject, key: string): JsonObject {
  const v = o[key];
  return isObject(v) ? v : {};
}

/**
 * Every run of one preset: each budget × the sizes whose window holds it, each spending its budget: steps = round(budget / (3·F_fwd·batch)).
 * Throws SweepDefinitionError when a run would have fewer than `minSteps` steps.
 */
export function planPreset(def: SweepDefinition, preset: string): SweepRun[] {
  const p = def.presets[preset];
  if (!p) throw new SweepDefinitionError(`unknown preset '${preset}'; the sweep defines: ${Object.keys(def.presets).join(', ')}`);
  const merged = deepMerge(def.base, p.overrides);
  const model = section(merged, 'model');
  const train = section(merged, 'train');
  if (typeof model.preset !== 'string') throw new SweepDefinitionError(`presets.${preset}: base.model.preset is required (e.g. "DiT-FMNIST-S/4")`);
  const batchSize = train.batchSize;
  if (typeof batchSize !== 'number' || !Number.isInteger(batchSize) || batchSize <= 0) {
    throw new SweepDefinitionError(`presets.${preset}: train.batchSize must be a positive integer, got ${JSON.stringify(batchSize)}`);
  }
  const { preset: modelPreset, ...modelOverrides } = model;
  const runs: SweepRun[] = [];
  for (const { budget, size } of presetGrid(p)) {
    const dit: DiTConfig = { ...ditConfig(modelPreset), ...(modelOverrides as Partial<DiTConfig>), ...size };
    const count = countDiT(dit);
    const flopsFwd = count.gflops * 1e9;
    const steps = Math.round(budget / (3 * flopsFwd * batchSize));
    const id = runId(budget, size);
    if (steps < def.minSteps) {
      throw new SweepDefinitionError(
        `presets.${preset}: run ${id} gets ${steps} steps (budget ${budgetLabel(budget)} / (3 · ${flopsFwd.toExponential(3)} FLOPs · batch ${batchSize})), below minSteps ${def.minSteps}; raise budgets.min, drop the size, or lower minSteps`,
      );
    }
    const lr = (def.lr.value * def.lr.referenceWidth) / size.hiddenSize;
    const config = deepMerge(merged, {
      name: `${def.name}-${preset}`,
      model: { ...size },
      train: { steps, lr, warmupSteps: Math.round(def.warmupFraction * steps) },
    });
    runs.push({ id, preset, budget, size, sizeLabel: `w${size.hiddenSize}-d${size.depth}`, modelParams: count.params, flopsFwd, steps, batchSize, lr, config });
  }
  return runs;
}
