import { mkdirSync, rmSync } from 'node:fs';
import { join, posix } from 'node:path';
import { writeFileAtomic } from '@difflab/core-tensor';
import { FitError, runFitCommand } from '@difflab/scaling-laws';
import { readParquet, tableToRows } from '@difflab/data';
import { holdoutMarkdown, holdoutPrediction, type HoldoutRow } from './holdout.js';
import type { SweepDefinition } from './definition.js';
import { deepMerge, isObject } from './ids.js';
import { presetProjectName, type SweepLayout } from './targets.js';
import { readFloor } from './floor.js';
import { writeLossFid, type LossFidRow } from './loss-fid.js';
import { exponentsMarkdown, ourExponents, readFitOutput, studySetup } from './exponents.js';

/**
 * Fits a gathered preset into results/<preset>/isoflop (Chinchilla approach 2 over all runs, grouped
 * by nominal budget), results/<preset>/power (held-out loss of the best run per budget vs C),
 * results/<preset>/power-fid (FID-FMNIST of the best run per budget by FID vs C) and
 * results/<preset>/parametric (approach 3, L(N, D) over all runs); then prediction.md (holdout.ts),
 * loss-vs-fid.{svg,png,md} (loss-fid.ts) and exponents.md (exponents.ts) from those outputs.
 */
export async function fitPreset(def: SweepDefinition, preset: string, layout: SweepLayout, workspaceRoot: string, log: (s: string) => void = console.log): Promise<void> {
  const p = def.presets[preset]!;
  const results = layout.resultsDir(preset);
  const abs = (rel: string) => join(workspaceRoot, rel);
  const common = ['--bootstrap', String(p.bootstrap), '--seed', '0'];
  const runsPath = abs(posix.join(results, 'runs.parquet'));
  const dir = { isoflop: posix.join(results, 'isoflop'), power: posix.join(results, 'power'), fid: posix.join(results, 'power-fid'), parametric: posix.join(results, 'parametric') };
  for (const d of Object.values(dir)) rmSync(abs(d), { recursive: true, force: true });
  const table = `npx nx run ${presetProjectName(def, preset)}:table`;

  /** A fit the preset's runs may be too few or too short for: with isoflopMayFail its FitError is recorded in fit.md. */
  const mayFail = async (name: string, outDir: string, args: string[]) => {
    try {
      await runFitCommand([...args, ...common, '--out', abs(outDir)], log);
    } catch (e) {
      if (!(e instanceof FitError) || !p.isoflopMayFail) throw e;
      mkdirSync(abs(outDir), { recursive: true });
      await writeFileAtomic(abs(posix.join(outDir, 'fit.md')), `# ${name} fit — preset ${preset}\n\nNo fit: ${e.message}\n\n(presets.${preset}.isoflopMayFail is true, so this does not fail the target.)\n`);
      log(`${name} fit failed (allowed for preset ${preset}): ${e.message}`);
    }
  };
  await mayFail('isoFLOP', dir.isoflop, ['isoflop', '--in', runsPath, '--n-col', 'N', '--c-col', 'budget', '--d-col', 'D', '--y-col', 'heldout_loss']);
  await runFitCommand(['power', '--in', abs(posix.join(results, 'frontier.parquet')), '--c-col', 'C', '--y-col', 'heldout_loss', ...common, '--out', abs(dir.power)], log);
  await writePrediction(abs(results), preset, p, log);
  await runFitCommand(['power', '--in', abs(posix.join(results, 'frontier-fid.parquet')), '--c-col', 'C', '--y-col', 'fid', ...common, '--out', abs(dir.fid)], log);
  // C (FLOPs spent) beside N and D gives the fitter k in C = k·N·D, the same convention as the isoFLOP fit's.
  await mayFail('parametric', dir.parametric, ['parametric', '--in', runsPath, '--n-col', 'N', '--d-col', 'D', '--c-col', 'C', '--y-col', 'heldout_loss']);

  const rows = tableToRows(readParquet(runsPath)) as unknown as Array<LossFidRow & { N: number; D: number }>;
  const floor = readFloor(abs(posix.join(results, 'floor.json')), `npx nx run ${presetProjectName(def, preset)}:gather`);
  await writeLossFid(abs(results), rows, floor, preset);

  const fits = {
    isoflop: readFitOutput(abs(dir.isoflop), 'isoFLOP', table),
    parametric: readFitOutput(abs(dir.parametric), 'parametric', table),
    power: readFitOutput(abs(dir.power), 'power', table),
  };
  const merged = deepMerge(def.base, p.overrides);
  const diffusion = isObject(merged.diffusion) ? merged.diffusion : {};
  const setup = studySetup(typeof diffusion.process === 'string' ? diffusion.process : 'ddpm', rows);
  await writeFileAtomic(abs(posix.join(results, 'exponents.md')), exponentsMarkdown(preset, ourExponents(fits, table), setup));
}

/** results/<preset>/prediction.md: the largest budget predicted from the others (holdout.ts). */
async function writePrediction(resultsDir: string, preset: string, p: SweepDefinition['presets'][string], log: (s: string) => void): Promise<void> {
  const rows = tableToRows(await readParquet(join(resultsDir, 'runs.parquet'))) as unknown as HoldoutRow[];
  const path = join(resultsDir, 'prediction.md');
  try {
    const prediction = holdoutPrediction(rows, { resamples: p.bootstrap, seed: 0 });
    await writeFileAtomic(path, holdoutMarkdown(prediction, preset));
    log(`held-out budget ${prediction.heldOutBudget}: best loss predicted ${prediction.predictedLoss.value.toPrecision(4)}, measured ${prediction.measuredBestLoss.toPrecision(4)} (${(100 * prediction.lossError).toFixed(2)} %) → ${path}`);
  } catch (e) {
    if (!(e instanceof FitError) || !p.isoflopMayFail) throw e;
    await writeFileAtomic(path, `# Held-out budget prediction — preset ${preset}\n\nNo prediction: ${e.message}\n\n(presets.${preset}.isoflopMayFail is true, so this does not fail the target.)\n`);
    log(`held-out prediction failed (allowed for preset ${preset}): ${e.message}`);
  }
}
