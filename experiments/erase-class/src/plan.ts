import { EraseDefinitionError, type EraseStudyDefinition } from './definition.js';
import { setConfigPath } from '@difflab/studies';

// Planning needs no model code: the Nx plugin reads the study's units through this module (study.ts).

type Json = Record<string, unknown>;

export interface EraseUnit {
  /** `<variant>-eta<η>-s<seed>`, η's decimal point written as "p" (eta0p5). */
  id: string;
  variant: string;
  eta: number;
  seed: number;
  /** The ESD trainer config as JSON, before validation; init.from is relative to the workspace root. */
  config: Json;
}

/** Where a preset's base run lives, relative to the workspace root (the ESD configs' init.from). */
export const baseRunPath = (preset: string) => `experiments/erase-class/runs/${preset}/base`;

/** The nine labels that stay: every Fashion-MNIST label but the erased one. */
export const keptClasses = (def: EraseStudyDefinition) => Array.from({ length: 10 }, (_, c) => c).filter((c) => c !== def.erasedClass);

const setPath = (root: Json, path: string, value: unknown): void => setConfigPath(root, path, value, (message) => new EraseDefinitionError(message));

export function presetOf(def: EraseStudyDefinition, preset: string) {
  const p = def.presets[preset];
  if (!p) throw new EraseDefinitionError(`unknown preset '${preset}'; presets: ${Object.keys(def.presets).join(', ')}`);
  return p;
}

/** The base run of a preset: a plain class-conditional run on all ten classes. */
export function baseConfig(def: EraseStudyDefinition, preset: string): Json {
  const p = presetOf(def, preset);
  const cfg = structuredClone(def.base) as Json;
  for (const [k, v] of Object.entries(p.set)) setPath(cfg, k, v);
  setPath(cfg, 'train.steps', p.baseSteps);
  cfg.seed = def.baseSeed;
  cfg.name = `${def.name}-base`;
  return cfg;
}

const etaId = (eta: number) => String(eta).replace('.', 'p');

/** Every ESD run of a preset: variant × η × seed, all at the preset's esdSteps. */
export function planUnits(def: EraseStudyDefinition, preset: string): EraseUnit[] {
  const p = presetOf(def, preset);
  const variants = p.variants.map((id) => def.variants.find((v) => v.id === id)!);
  return variants.flatMap((v) =>
    p.etas.flatMap((eta) =>
      p.seeds.map((seed) => {
        const cfg = structuredClone(def.base) as Json;
        for (const [key, value] of Object.entries(p.set)) setPath(cfg, key, value);
        for (const [key, value] of Object.entries(def.esd)) setPath(cfg, key, value);
        cfg.init = { from: baseRunPath(preset) };
        cfg.finetune = { method: 'full' };
        setPath(cfg, 'esd.concept', def.erasedClass);
        setPath(cfg, 'esd.train', v.train);
        setPath(cfg, 'esd.eta', eta);
        setPath(cfg, 'train.steps', p.esdSteps);
        setPath(cfg, 'train.batchSize', p.esdBatchSize);
        setPath(cfg, 'train.lr', v.lr);
        cfg.seed = seed;
        cfg.name = def.name;
        return { id: `${v.id}-eta${etaId(eta)}-s${seed}`, variant: v.id, eta, seed, config: cfg };
      }),
    ),
  );
}
