export { FitError, FitInputError } from './errors.js';
export { fitLine, fitParabola, quantile, huber, type Line, type Parabola } from './stats.js';
export { bootstrapDraws, percentileEstimate, type BootstrapOptions, type BootstrapInfo, type Estimate } from './bootstrap.js';
export {
  fitPowerLaw,
  fitOffsetPowerLaw,
  offsetPowerObjective,
  runPowerFit,
  evalPower,
  evalOffsetPower,
  type PowerLaw,
  type OffsetPowerLaw,
  type PowerFitOptions,
  type PowerFitReport,
} from './power.js';
export { groupBudgets, fitProfile, fitIsoflopLaw, runIsoflopFit, type IsoflopProfile, type IsoflopLaw, type IsoflopFitOptions, type IsoflopFitReport } from './isoflop.js';
export {
  parametricObjective,
  chinchillaInitGrid,
  fitParametric,
  runParametricFit,
  evalParametric,
  computeOptimal,
  toLaw,
  type ParametricLaw,
  type ParametricFitResult,
  type ParametricFitOptions,
  type ParametricFitReport,
} from './parametric.js';
export { readRunTable, parseCsv, positiveColumn, type RunTable } from './table.js';
export { formatNumber, toMarkdown, toJson, writeTables, type FitSummary } from './report.js';
export { powerPlotSpec, isoflopPlotSpec, nOptPlotSpec, parametricPlotSpec, renderSvg, svgToPng, writePlot } from './plots.js';
export { runFitCommand, FIT_SUMMARY, FIT_USAGE } from './fit-command.js';
