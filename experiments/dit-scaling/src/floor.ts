import { existsSync, readFileSync } from 'node:fs';
import { readParquet, tableToRows } from '@difflab/data';
import { writeFileAtomic } from '@difflab/core-tensor';

/**
 * The FID floor of a preset: FID-FMNIST of N real training images (N/10 per class) against the same test-split
 * reference the runs are scored against, at the runs' own N. `difflab eval` (@difflab/evaluation scoreSamples)
 * already computes it beside every run's FID and writes it as the `fid_fmnist_floor` row of eval/metrics.parquet;
 * it does not depend on the run (the same real images, the same network), so gather checks that every run
 * reports the same value and records it once, in floor.json, for every FID of the preset to be read against.
 */
export class SweepFloorError extends Error {
  override name = 'SweepFloorError';
}

/** One run's `fid_fmnist_floor` row. */
export interface RunFloor {
  run: string;
  value: number;
  nSamples: number;
  featureNetSha256: string;
}

/** floor.json */
export interface PresetFloor {
  preset: string;
  /** Mean over the runs (they agree to `maxRelativeSpread`). */
  fid_floor: number;
  /** N: real images behind the floor = generated images behind each run's FID. */
  n_samples: number;
  feature_net_sha256: string;
  runs: number;
  /** max |floor_run − mean| / mean: float noise between machines, not a difference in what was measured. */
  max_relative_spread: number;
  definition: string;
}

/** Runs scored on different machines may differ in the last float digits; a different N or network differs far more. */
export const FLOOR_TOLERANCE = 1e-3;

const DEFINITION =
  'FID-FMNIST of N real Fashion-MNIST training images (the first N/10 of each class) against the test-split reference, ' +
  'N = the samples behind each run\'s FID: what a perfect generator scores at this N (the fid_fmnist_floor row of each run\'s eval/metrics.parquet).';

/** The `fid_fmnist_floor` row of one run's eval table; `rerun` is the command that rewrites the table. */
export function readRunFloor(evalTable: string, run: string, wantedSamples: number, rerun: string): RunFloor {
  const row = tableToRows(readParquet(evalTable)).find((r) => r.name === 'fid_fmnist_floor') as Record<string, unknown> | undefined;
  if (!row) throw new SweepFloorError(`${evalTable}: no 'fid_fmnist_floor' row (scored by an evaluator that did not record the real-vs-real floor); rerun: ${rerun}`);
  const value = row.value;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new SweepFloorError(`${evalTable}: 'fid_fmnist_floor' is ${JSON.stringify(value)}, expected a finite number; rerun: ${rerun}`);
  if (row.n_samples !== wantedSamples) throw new SweepFloorError(`${evalTable}: the floor is from ${String(row.n_samples)} real images, but the run's FID is from ${wantedSamples} samples; rerun: ${rerun}`);
  return { run, value, nSamples: wantedSamples, featureNetSha256: String(row.feature_net_sha256) };
}

/** One floor for the preset; refuses runs whose floors disagree (another feature network or N), naming them. */
export function presetFloor(preset: string, floors: readonly RunFloor[]): PresetFloor {
  if (floors.length === 0) throw new SweepFloorError(`preset ${preset}: no runs to take the FID floor from`);
  const first = floors[0]!;
  const otherNet = floors.find((f) => f.featureNetSha256 !== first.featureNetSha256);
  if (otherNet) {
    throw new SweepFloorError(
      `preset ${preset}: runs ${first.run} and ${otherNet.run} were scored with different feature networks (sha256 ${first.featureNetSha256.slice(0, 12)}… and ${otherNet.featureNetSha256.slice(0, 12)}…); rerun the evaluate target of the stale one so every FID of the preset is in one network's units`,
    );
  }
  // Summed as offsets from the first run, so identical floors (one machine) record exactly that value.
  const mean = first.value + floors.reduce((s, f) => s + (f.value - first.value), 0) / floors.length;
  const spread = Math.max(...floors.map((f) => Math.abs(f.value - mean) / mean));
  if (spread > FLOOR_TOLERANCE) {
    const lo = floors.reduce((a, b) => (b.value < a.value ? b : a));
    const hi = floors.reduce((a, b) => (b.value > a.value ? b : a));
    throw new SweepFloorError(`preset ${preset}: the FID floor differs between runs (${lo.run}: ${lo.value}, ${hi.run}: ${hi.value}), more than float noise; rerun their evaluate targets with one evaluator version`);
  }
  return { preset, fid_floor: mean, n_samples: first.nSamples, feature_net_sha256: first.featureNetSha256, runs: floors.length, max_relative_spread: spread, definition: DEFINITION };
}

/** The line under runs.md's table. */
export function floorFootnote(f: PresetFloor): string {
  return `FID floor at the same N = ${f.n_samples}: ${f.fid_floor.toFixed(2)} (N real training images, N/10 per class, against the same test reference; floor.json). Read every FID against it.`;
}

export async function writeFloor(path: string, f: PresetFloor): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(f, null, 2)}\n`);
}

/** floor.json as gather wrote it; `rerun` is the command that writes it. */
export function readFloor(path: string, rerun: string): PresetFloor {
  if (!existsSync(path)) throw new SweepFloorError(`${path} is missing (written by the preset's gather stage); run: ${rerun}`);
  const f = JSON.parse(readFileSync(path, 'utf8')) as Partial<PresetFloor>;
  if (typeof f.fid_floor !== 'number' || typeof f.n_samples !== 'number') throw new SweepFloorError(`${path}: expected numbers fid_floor and n_samples; run: ${rerun}`);
  return f as PresetFloor;
}
