import { parseArgs } from 'node:util';
import { basename, join, resolve } from 'node:path';
import { openTracker } from '@difflab/tracking';
import { loadTrainConfig, TrackerSink } from '@difflab/runs';
import { NonFiniteLossError, train, type TrainResult } from '@difflab/training';

export const summary = 'train a class-conditional DiT on Fashion-MNIST from a JSON config';

const usage = `usage: difflab train <config.json> [--out DIR] [--resume] [--no-track] [--tag KEY=VALUE]…

  --out DIR     run directory (default runs/<config name>)
  --resume      continue the run in --out from its latest checkpoint (bit-exact)
  --no-track    do not log to the tracker (default: MLFLOW_TRACKING_URI, else .difflab/tracking)
  --tag K=V     tag the tracker run (repeatable), e.g. --tag sweep=dit-scaling --tag budget=1e13

Writes DIR/config.json, checkpoints/, metrics.parquet, samples/*.png and eval.json.
Ctrl-C writes a checkpoint and stops; --resume continues from it.`;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      resume: { type: 'boolean', default: false },
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
  const tags = parseTags(values.tag ?? []);
  const cfg = loadTrainConfig(positionals[0]!);
  const runDir = resolve(values.out ?? join('runs', cfg.name));
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) process.exit(130);
    console.error('\ndifflab: interrupted; writing a checkpoint (Ctrl-C again to quit at once)');
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const tracker = values['no-track'] ? undefined : openTracker();
  const sinks = tracker ? [new TrackerSink(tracker, cfg.name, basename(runDir), runDir, tags)] : [];
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
  if (result.status === 'KILLED') {
    console.error(`difflab: stopped at step ${result.step}; resume with: difflab train ${positionals[0]} --out ${runDir} --resume`);
    return 130;
  }
  console.log(
    [
      `run finished: ${result.step} steps, final train loss ${result.finalLoss.toFixed(4)}, held-out loss ${result.heldOutLoss?.toFixed(4)}`,
      `  run directory  ${runDir}`,
      `  samples        ${result.samplePath}`,
      `  metrics        ${join(runDir, 'metrics.parquet')}`,
      `  evaluation     ${join(runDir, 'eval.json')}`,
      tracker ? `  tracker        ${tracker.kind === 'local' ? 'npx difflab tracker  (then open the URL it prints)' : process.env.MLFLOW_TRACKING_URI}` : '',
    ]
      .filter(Boolean)
      .join('\n'),
  );
  return 0;
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
