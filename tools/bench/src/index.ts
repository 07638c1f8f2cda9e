export { runPeer, PeerError, PEER_PYTHON } from './python-peer.js';
export { createDiTTrainer, tfjsTrainStep, torchTrainStep, type DiTTrainer, type EngineResult, type StepBudget, type TrainStepCase } from './train-step.js';
export { gemmBench, type GemmReport, type GemmResult } from './gemm.js';
export {
  ENGINES, LARGE_CONFIG, SMALL_CONFIG, formatTrainStepReport, runTrainStepBench,
  type CaseReport, type Engine, type TrainStepBenchOptions, type TrainStepBenchReport,
} from './train-step-bench.js';
export { profileTrainStep, formatProfile, type KernelProfile } from './profile.js';
export { FID_ENGINES, formatFidReport, randomFidStats, runFidBench, type FidBenchCase, type FidBenchOptions, type FidBenchReport, type FidEngine, type FidEngineResult } from './fid-bench.js';
export { run as runBenchCommand } from './cli.js';
