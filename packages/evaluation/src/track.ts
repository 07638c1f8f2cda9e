import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Run, Tracker } from '@difflab/tracking';

export const RUN_DIR_TAG = 'difflab.run_dir';

/** The newest run, in any experiment, whose `difflab.run_dir` tag is runDir (the trainer sets it). */
export async function findRunByDir(tracker: Tracker, runDir: string): Promise<Run | undefined> {
  const experimentIds: string[] = [];
  let pageToken: string | undefined;
  do {
    const page = await tracker.store.searchExperiments(pageToken ? { pageToken } : {});
    experimentIds.push(...page.items.map((e) => e.experimentId));
    pageToken = page.nextPageToken;
  } while (pageToken);
  if (experimentIds.length === 0) return undefined;
  // The filter grammar has no escapes: quote with whichever quote the path does not contain.
  const quoted = runDir.includes("'") ? `"${runDir}"` : `'${runDir}'`;
  const { items } = await tracker.searchRuns({
    experimentIds,
    filter: `tags.\`${RUN_DIR_TAG}\` = ${quoted}`,
    orderBy: ['attributes.start_time DESC'],
    maxResults: 1,
  });
  return items[0];
}

export interface TrackedEval {
  runId: string;
  /** True when the training run was found; false when the evaluator started a run of its own. */
  attached: boolean;
}

/**
 * Logs the evaluation to the training run of runDir (found by tag) so its metrics sit beside the
 * training curves; without one (e.g. trained with --no-track), starts a run tagged with runDir.
 */
export async function logEvaluation(
  tracker: Tracker,
  opts: { runDir: string; experimentName: string; step: number; metrics: Record<string, number>; tablePath: string },
): Promise<TrackedEval> {
  const timestamp = Date.now();
  const metrics = Object.entries(opts.metrics).map(([key, value]) => ({ key, value, step: opts.step, timestamp }));
  const existing = await findRunByDir(tracker, opts.runDir);
  if (existing) {
    const runId = existing.info.runId;
    await tracker.store.logBatch(runId, { metrics });
    await tracker.store.putArtifact(runId, `eval/${basename(opts.tablePath)}`, readFileSync(opts.tablePath));
    return { runId, attached: true };
  }
  const run = await tracker.startRun({ experimentName: opts.experimentName, runName: `eval-${basename(opts.runDir)}`, tags: { [RUN_DIR_TAG]: opts.runDir } });
  run.logMetrics(metrics);
  await run.logArtifact(opts.tablePath, 'eval');
  await run.end('FINISHED');
  return { runId: run.runId, attached: false };
}
