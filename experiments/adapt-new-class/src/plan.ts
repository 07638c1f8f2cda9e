import { AdaptDefinitionError, type AdaptStudyDefinition } from './definition.js';
import { setConfigPath } from '@difflab/studies';

// Planning needs no model code: the Nx plugin reads the study's units through this module (study.ts).

type Json = Record<string, unknown>;

export interface AdaptUnit {
  /** `<method>-k<k>-s<seed>`. */
  id: string;
  method: string;
  k: number;
  seed: number;
  /** The fine-tune trainer config as JSON, before validation; init.from is relative to the workspace root. */
  config: Json;
}

/** Where a preset's base run lives, relative to the workspace root (the adaptation configs' init.from). */
export const baseRunPath = (preset: string) => `experiments/adapt-new-class/runs/${preset}/base`;

/** The nine labels the base trains on: every Fashion-MNIST label but the held-out one. */
export const oldClasses = (def: AdaptStudyDefinition) => Array.from({ length: 10 }, (_, c) => c).filter((c) => c !== def.heldOutClass);

const setPath = (root: Json, path: string, value: unknown): void => setConfigPath(root, path, value, (message) => new AdaptDefinitionError(message));

function presetOf(def: AdaptStudyDefinition, preset: string) {
  const p = def.presets[preset];
  if (!p) throw new AdaptDefinitionError(`unknown preset '${preset}'; presets: ${Object.keys(def.presets).join(', ')}`);
  return p;
}

/** The base run of a preset: a plain run on the nine old classes. */
export function baseConfig(def: AdaptStudyDefinition, preset: string): Json {
  const p = presetOf(def, preset);
  const cfg = structuredClone(def.base) as Json;
  for (const [k, v] of Object.entries(p.set)) setPath(cfg, k, v);
  setPath(cfg, 'data.classes', oldClasses(def));
  setPath(cfg, 'train.steps', p.baseSteps);
  cfg.seed = def.baseSeed;
  cfg.name = `${def.name}-base`;
  return cfg;
}

/** Every adaptation of a preset: method × k × seed, all at the preset's adaptSteps. */
export function planUnits(def: AdaptStudyDefinition, preset: string): AdaptUnit[] {
  const p = presetOf(def, preset);
  const methods = p.methods.map((id) => def.methods.find((m) => m.id === id)!);
  return methods.flatMap((m) =>
    p.ks.flatMap((k) =>
      p.seeds.map((seed) => {
        const cfg = structuredClone(def.base) as Json;
        for (const [key, v] of Object.entries(p.set)) setPath(cfg, key, v);
        for (const [key, v] of Object.entries(def.adapt)) setPath(cfg, key, v);
        cfg.init = { from: baseRunPath(preset) };
        cfg.finetune = { ...m.finetune, newClass: def.heldOutClass };
        setPath(cfg, 'data.classes', [def.heldOutClass]);
        setPath(cfg, 'data.perClass', k);
        setPath(cfg, 'train.steps', p.adaptSteps);
        setPath(cfg, 'train.batchSize', Math.min(p.adaptBatchSize, k));
        setPath(cfg, 'train.lr', m.lr);
        cfg.seed = seed;
        cfg.name = def.name;
        return { id: `${m.id}-k${k}-s${seed}`, method: m.id, k, seed, config: cfg };
      }),
    ),
  );
}
