import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, parseTrainConfig, type TrainConfig } from '@difflab/runs';
import { flattenParams } from '@difflab/tracking';

/**
 * Before `--resume`: the config given now (file + `--set`) must be the one the run was started with,
 * which the run keeps as config.json. Checked here, before any data is loaded, so that a forgotten or
 * changed `--set` fails at once with the fields that differ and both ways to fix it.
 */
export function checkResumeConfig(runDir: string, cfg: TrainConfig, configPath: string, sets: readonly string[]): void {
  const runConfigPath = join(runDir, 'config.json');
  if (!existsSync(runConfigPath)) return; // No config.json: the trainer reports the missing checkpoint itself.
  let started: TrainConfig;
  try {
    started = parseTrainConfig(JSON.parse(readFileSync(runConfigPath, 'utf8')), runConfigPath);
  } catch (e) {
    throw new ConfigError(`--resume: cannot read the run's config ${runConfigPath}: ${(e as Error).message}`);
  }
  const now = flattenParams(cfg);
  const then = flattenParams(started);
  const keys = [...new Set([...Object.keys(now), ...Object.keys(then)])].sort();
  const differing = keys.filter((k) => now[k] !== then[k]);
  if (differing.length === 0) return;
  const shown = differing.slice(0, 8).map((k) => `  ${k}: run has ${show(then[k])}, now ${show(now[k])}`);
  if (differing.length > shown.length) shown.push(`  … and ${differing.length - shown.length} more`);
  const given = sets.length > 0 ? `${configPath} with ${sets.map((s) => `--set ${s}`).join(' ')}` : configPath;
  throw new ConfigError(
    `--resume: ${runDir} was started with a different config than ${given}:\n${shown.join('\n')}\n` +
      `Resume with the same --set overrides the run was started with, or with the run's own config: ` +
      `difflab train ${runConfigPath} --out ${runDir} --resume`,
  );
}

function show(v: unknown): string {
  return v === undefined ? '(unset)' : JSON.stringify(v);
}
