export {
  SweepDefinitionError,
  parseSweepDefinition,
  loadSweepDefinition,
  sweepSchema,
  type SweepDefinition,
  type SweepPreset,
  type SweepSize,
  type JsonObject,
  type JsonValue,
} from './definition.js';
export { planPreset, logSpacedBudgets, budgetLabel, type SweepRun } from './plan.js';
export { sweepLayout, runTags, runProjectName, presetProjectName, evalTablePath, FEATURE_NET_PROJECT, type SweepLayout } from './targets.js';
export { deepMerge, runId } from './ids.js';
export { SweepGatherError, gatherRun, gatherPreset, frontier, rowsToTable, type SweepRow } from './gather.js';
export { fitPreset } from './fit.js';
export { SweepFloorError, presetFloor, readRunFloor, readFloor, type PresetFloor, type RunFloor } from './floor.js';
export { spearman, lossFidPlotSpec, lossFidMarkdown, writeLossFid, type LossFidRow } from './loss-fid.js';
export { ExponentsInputError, readFitOutput, ourExponents, exponentsMarkdown, studySetup, type FitOutput, type OurExponents } from './exponents.js';
export { PUBLISHED, allocationExponents, type PublishedExponents } from './papers.js';
export { loadSweep } from './load.js';
export { slurmScripts, type SlurmOptions, type SlurmScripts } from './slurm.js';
