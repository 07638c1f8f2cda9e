import { parseArgs } from 'node:util';
import { basename, join, resolve } from 'node:path';
import { openTracker, type RunHandle } from '@difflab/tracking';
import { ConfigError, formatNumber, loadTrainConfigWithOverrides, TrackerSink } from '@difflab/runs';
import { NonFiniteLossError, train, type TrainResult } from '@difflab/training';
import { checkResumeConfig } from './resume-check.js';
import { trackerLocation, trackerSummaryLines, watchRuns } from './tracker-report.js';

export const summary = 'train a class-conditional DiT on Fashion-MNIST from a JSON config';

const usage = `usage: difflab train <config.json> [--set KEY=VALUE]… [--out DIR] [--resume]
                     [--run-name NAME] [--experiment NAME] [--no-track] [--tag KEY=VALUE]…

  --set K=V          override one config field by its dotted path (repeatable), validated like the
                     file: --set train.lr=3e-4 --set model.depth=4 --set sample.sampler=ddpm
                     (V is parsed as JSON when it is JSON, else taken as text)
  --out DIR          run directory (default runs/<config name>)
  --resume           continue the run in --out from its latest checkpoint (bit-exact), and its tracker
                     run; give the same --set overrides as at the start, or the run's own DIR/config.json
  --run-name NAME    tracker run name (default: the run directory's name)
  --experiment NAME  tracker experiment (default: the config's name)
  --no-track         do not log to the tracker (default: MLFLOW_TRACKING_URI, else $DIFFLAB_TRACKING_DIR,
                     else .difflab/tracking at the workspace root)
  --tag K=V          tag the tracker run (repeatable), e.g. --tag sweep=dit-scaling --tag budget=1e13

Writes DIR/config.json (with the overrides applied), checkpoints/ (each with SHA256SUMS), metrics.parquet,
samples/*.png, eval.json and tracker-run.json. DIR/run.lock keeps a second writer out while it runs.
Ctrl-C writes a checkpoint and stops; --resume continues from it (also after kill -9).`;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      set: { type: 'string', multiple: true },
      out: { type: 'string' },
      resume: { type: 'boolean', default: false },
      'run-name': { type: 'string' },
      experiment: { type: 'string' },
      'no-track': { type: 'boolean', default: false },
      tag: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (positionals.length !== 1) {
    console.error(usage);
    return 2;
  }
  const configPath = positionals[0]!;
  const sets = values.set ?? [];
  const tags = parseTags(values.tag ?? []);
  for (const flag of ['run-name', 'experiment'] as const) {
    if (values[flag] !== undefined && values[flag].trim() === '') throw new ConfigError(`--${flag} needs a non-empty name`);
  }
  const cfg = loadTrainConfigWithOverrides(configPath, sets);
  const runDir = resolve(values.out ?? join('runs', cfg.name));
  if (values.resume) checkResumeConfig(runDir, cfg, configPath, sets);
  // The overrides are already in the config (config.json, config hash, params); the tag keeps what was typed.
  if (sets.length > 0) tags['difflab.overrides'] = JSON.stringify(sets);
  const experiment = values.experiment ?? cfg.name;
  const runName = values['run-name'] ?? basename(runDir);

  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) process.exit(130);
    console.error('\ndifflab: interrupted; writing a checkpoint (Ctrl-C again to quit at once)');
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const location = values['no-track'] ? undefined : trackerLocation();
  let trackerRun: RunHandle | undefined;
  const tracker = location
    ? watchRuns(openTracker(), (r, continued) => {
        trackerRun = r;
        const what = continued ? 'continuing tracker run' : 'tracking run';
        console.error(`difflab: ${what} ${r.runId} (experiment '${experiment}', name '${runName}') in ${location.store}`);
      })
    : undefined;
  const sinks = tracker ? [new TrackerSink(tracker, experiment, runName, runDir, tags)] : [];
  let result: TrainResult;
  try {
    result = await train(cfg, { runDir, resume: values.resume, signal: controller.signal, sinks });
  } catch (e) {
    if (e instanceof NonFiniteLossError) {
      console.error(`difflab: ${e.message}`);
      return 3;
    }
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await tracker?.close();
  }
  const trackerLines = location && trackerRun ? trackerSummaryLines(location, trackerRun, experiment, runName) : [];
  if (result.status === 'KILLED') {
    const again = [configPath, ...sets.flatMap((s) => ['--set', s]), '--out', runDir, '--resume'];
    console.error([`difflab: stopped at step ${result.step}; resume with: difflab train ${again.map(shellWord).join(' ')}`, ...trackerLines].join('\n'));
    return 130;
  }
  console.log(
    [
      `run finished: ${result.step} steps, final train loss ${formatNumber(result.finalLoss)}, held-out loss ${result.heldOutLoss === undefined ? 'n/a' : formatNumber(result.heldOutLoss)}`,
      `  run directory  ${runDir}`,
      `  samples        ${result.samplePath}`,
      `  metrics        ${join(runDir, 'metrics.parquet')}`,
      `  evaluation     ${join(runDir, 'eval.json')}`,
      ...trackerLines,
    ].join('\n'),
  );
  return 0;
}

/** Quotes a word for a shell only when it needs it, so the printed resume command pastes as is. */
function shellWord(word: string): string {
  return /^[\w./=:+@%,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function parseTags(specs: string[]): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    if (eq <= 0) throw new Error(`--tag ${spec}: expected KEY=VALUE, e.g. --tag budget=1e13`);
    tags[spec.slice(0, eq)] = spec.slice(eq + 1);
  }
  return tags;
}
