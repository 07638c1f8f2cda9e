export { defineStudy, stageOrder, StudyDefinitionError, type Study, type Stage, type StageCode, type StageContext, type FanOut, type Unit, type PresetInfo, type StudyOption, type PresetRef, type PerPreset, resolvePerPreset } from './study.js';
export { listPresets, presetDir } from './presets.js';
export { findStudies, loadStudy, STUDIES_DIR, STUDY_FILE, type StudyLocation } from './discover.js';
export { runStudy, StudyRunError, type RunStudyOptions } from './run.js';
export { taggedTracker } from './tagged-tracker.js';
export { canonicalJson, fingerprint } from './fingerprint.js';
export { FMNIST_FEATURE_NET, FMNIST_FEATURE_NET_S1, SPOKEN_DIGITS_EMBEDDER } from './quality-networks.js';
export { setConfigPath } from './config-path.js';
export { mean, meanPlusMinus, sampleSd } from './seed-spread.js';
