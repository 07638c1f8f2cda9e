export {
  SweepDefinitionError,
  parseSweepDefinition,
  loadSweepDefinition,
  type SweepDefinition,
  type SweepPreset,
  type SweepSize,
  type JsonObject,
  type JsonValue,
} from './definition.js';
export { planPreset, logSpacedBudgets, budgetLabel, type SweepRun } from './plan.js';
export { sweepLayout, projectJson, runProjectJson, generatedFiles, runTags, runProjectName, gatherTarget, tableTarget, evalTablePath, FEATURE_NET_PROJECT, type SweepLayout } from './targets.js';
export { SweepOutOfDateError, sweepDrift, writeSweepFiles, assertSweepInSync } from './generate.js';
export { SweepGatherError, gatherRun, gatherPreset, frontier, rowsToTable, type SweepRow } from './gather.js';
export { fitPreset } from './fit.js';
export { slurmScripts, type SlurmOptions, type SlurmScripts } from './slurm.js';
