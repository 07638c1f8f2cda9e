import { loadConfigFile, parseTrainConfig } from '@difflab/runs';
import { sweepSchema, type SweepDefinition } from './definition.js';
import { planPreset } from './plan.js';

/**
 * Loads a sweep for running it, through the one config loader (it names the file and every bad field), then
 * every run's trainer config (base deep-merged with its preset's overrides, plus the sweep's size, steps and lr)
 * through the trainer's own schema, so a bad `base` field fails here, naming the file, the preset, the run and
 * the field, before any run trains.
 */
export function loadSweep(path: string): SweepDefinition {
  const { $comment: _comment, ...def } = loadConfigFile(sweepSchema, path, 'sweep definition');
  for (const preset of Object.keys(def.presets)) {
    for (const run of planPreset(def, preset)) parseTrainConfig(run.config, `${path} (preset ${preset}, run ${run.id})`);
  }
  return def;
}
