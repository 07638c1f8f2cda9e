import { LadderDefinitionError, type LadderDefinition } from './definition.js';
import { setConfigPath } from '@difflab/studies';

// Planning needs no model code: the Nx plugin reads the ladder's units through this module (study.ts).

export type Column = 'steps' | 'time';

export interface LadderUnit {
  /** `<row>-s<seed>` (equal steps) or `<row>-s<seed>-time` (equal wall-clock). */
  id: string;
  row: string;
  /** Position of the row in the ladder (0 = the baseline). */
  rank: number;
  seed: number;
  column: Column;
  /** The trainer config as JSON, before validation (parseTrainConfig validates it when the unit trains). */
  config: Record<string, unknown>;
}

type Json = Record<string, unknown>;

const setPath = (root: Json, path: string, value: unknown): void => setConfigPath(root, path, value, (message) => new LadderDefinitionError(message));

function getPath(root: Json, path: string): unknown {
  return path.split('.').reduce<unknown>((node, k) => (node && typeof node === 'object' ? (node as Json)[k] : undefined), root);
}

/** The trainer config of ladder row `rank` in `preset`: base, then the preset's settings, then every row up to this one. */
export function rowConfig(def: LadderDefinition, preset: string, rank: number, seed: number): Json {
  const p = def.presets[preset];
  if (!p) throw new LadderDefinitionError(`unknown preset '${preset}'; presets: ${Object.keys(def.presets).join(', ')}`);
  const cfg = structuredClone(def.base) as Json;
  for (const [k, v] of Object.entries(p.set)) setPath(cfg, k, v);
  for (const row of def.rows.slice(0, rank + 1)) {
    for (const [k, v] of Object.entries(row.set)) setPath(cfg, k, v);
    for (const [k, f] of Object.entries(row.scale)) {
      const v = getPath(cfg, k);
      if (typeof v !== 'number') throw new LadderDefinitionError(`rows.${row.id}.scale: '${k}' is ${JSON.stringify(v)} in the config, not a number to scale`);
      // Integer fields (batch size, steps) stay integers.
      setPath(cfg, k, Number.isInteger(v) ? Math.round(v * f) : v * f);
    }
  }
  cfg.seed = seed;
  cfg.name = def.name;
  return cfg;
}

/** Every run of a preset: each row × seed at equal steps, and again at equal wall-clock when the preset has that column. */
export function planUnits(def: LadderDefinition, preset: string): LadderUnit[] {
  const p = def.presets[preset];
  if (!p) throw new LadderDefinitionError(`unknown preset '${preset}'; presets: ${Object.keys(def.presets).join(', ')}`);
  const chosen = p.rows ?? def.rows.map((r) => r.id);
  const columns: Column[] = p.wallClockSeconds > 0 ? ['steps', 'time'] : ['steps'];
  return def.rows.flatMap((row, rank) =>
    !chosen.includes(row.id)
      ? []
      : columns.flatMap((column) =>
          p.seeds.map((seed) => ({
            id: `${row.id}-s${seed}${column === 'time' ? '-time' : ''}`,
            row: row.id,
            rank,
            seed,
            column,
            config: rowConfig(def, preset, rank, seed),
          })),
        ),
  );
}
