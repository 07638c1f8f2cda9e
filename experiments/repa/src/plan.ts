import { RepaDefinitionError, type RepaStudyDefinition } from './definition.js';
import { setConfigPath } from '@difflab/studies';

// Planning needs no model code: the Nx plugin reads the study's units through this module (study.ts).

export interface RepaUnit {
  /** `<arm>-s<seed>`. */
  id: string;
  arm: string;
  seed: number;
  /** The encoder the arm aligns to, or null (vanilla). */
  encoder: string | null;
  /** The trainer config as JSON, before validation; repa.encoder is relative to the workspace root. */
  config: Record<string, unknown>;
}

type Json = Record<string, unknown>;

const setPath = (root: Json, path: string, value: unknown): void => setConfigPath(root, path, value, (message) => new RepaDefinitionError(message));

/** Every run of a preset: each arm × seed, the arms at equal steps. */
export function planUnits(def: RepaStudyDefinition, preset: string): RepaUnit[] {
  const p = def.presets[preset];
  if (!p) throw new RepaDefinitionError(`unknown preset '${preset}'; presets: ${Object.keys(def.presets).join(', ')}`);
  const chosen = p.arms ?? def.arms.map((a) => a.id);
  return def.arms
    .filter((a) => chosen.includes(a.id))
    .flatMap((arm) =>
      p.seeds.map((seed) => {
        const cfg = structuredClone(def.base) as Json;
        for (const [k, v] of Object.entries(p.set)) setPath(cfg, k, v);
        if (arm.repa) {
          const steps = (cfg.train as Json | undefined)?.steps;
          if (arm.repa.stopFraction !== undefined && typeof steps !== 'number') throw new RepaDefinitionError(`arms.${arm.id}.repa.stopFraction needs train.steps in the base or preset`);
          cfg.repa = {
            encoder: `${p.encoders}/${arm.repa.encoder}`,
            block: p.repa.block,
            lambda: p.repa.lambda,
            ...(arm.repa.projector ? { projector: arm.repa.projector } : {}),
            ...(arm.repa.spatialNorm !== undefined ? { spatialNorm: arm.repa.spatialNorm } : {}),
            ...(arm.repa.stopFraction !== undefined ? { stopStep: Math.round(arm.repa.stopFraction * (steps as number)) + 1 } : {}),
          };
        }
        const steps = (cfg.train as Json | undefined)?.steps;
        if (p.evalSteps.at(-1) !== steps) throw new RepaDefinitionError(`presets.${preset}.evalSteps: the last step must be train.steps (${String(steps)}), so the final checkpoint is scored; it is ${p.evalSteps.at(-1)}`);
        cfg.seed = seed;
        cfg.name = def.name;
        return { id: `${arm.id}-s${seed}`, arm: arm.id, seed, encoder: arm.repa?.encoder ?? null, config: cfg };
      }),
    );
}
