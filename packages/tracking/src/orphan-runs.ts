import { hostname } from 'node:os';
import type { Run } from './entities.js';
import type { TrackingStore } from './store.js';

/** Tags a writer puts on a run it keeps RUNNING, so that another process can tell when it is gone. */
export const PID_TAG = 'difflab.pid';
export const HOST_TAG = 'difflab.host';
/** Set on a run this module ended: why, e.g. `orphaned: process 4242 gone`. */
export const REPAIRED_TAG = 'difflab.repaired';

/** The pid and host tags of the current process. */
export function processTags(): Record<string, string> {
  return { [PID_TAG]: String(process.pid), [HOST_TAG]: hostname() };
}

/** True while a process with this pid exists on this machine (EPERM: it exists but belongs to another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface OrphanRepair {
  runId: string;
  experimentId: string;
  runName: string;
  pid: number;
}

export interface RepairOrphanRunsOptions {
  /** Only these experiments (default: every active experiment). */
  experimentIds?: string[];
  /** Runs to leave alone, e.g. the one the caller is about to continue itself. */
  except?: readonly string[];
  /** Default: this machine's hostname. Runs of other hosts are never touched: their pids mean nothing here. */
  host?: string;
  isAlive?: (pid: number) => boolean;
}

/**
 * Ends every RUNNING run whose writer is gone: a run tagged with this host and a pid that no longer
 * exists (its process was killed -9, or the machine rebooted) becomes KILLED, with `difflab.repaired`
 * saying so and its end time at its last metric. Runs without the tags (other writers) are left alone.
 */
export async function repairOrphanRuns(store: TrackingStore, opts: RepairOrphanRunsOptions = {}): Promise<OrphanRepair[]> {
  const host = opts.host ?? hostname();
  const isAlive = opts.isAlive ?? processAlive;
  const except = new Set(opts.except ?? []);
  const experimentIds = opts.experimentIds ?? (await activeExperimentIds(store));
  const repaired: OrphanRepair[] = [];
  if (experimentIds.length === 0) return repaired;
  for (const run of await runningRuns(store, experimentIds)) {
    const { tags } = run.data;
    const pid = Number(tags[PID_TAG]);
    if (tags[HOST_TAG] !== host || !Number.isSafeInteger(pid) || pid <= 0 || except.has(run.info.runId) || isAlive(pid)) continue;
    await store.logBatch(run.info.runId, { tags: { [REPAIRED_TAG]: `orphaned: process ${pid} gone` } });
    await store.updateRun(run.info.runId, { status: 'KILLED', endTime: lastActivity(run) });
    repaired.push({ runId: run.info.runId, experimentId: run.info.experimentId, runName: run.info.runName, pid });
  }
  return repaired;
}

/** When the run was last heard of: its newest metric, else its start. */
function lastActivity(run: Run): number {
  return Math.max(run.info.startTime, ...run.data.metrics.map((m) => m.timestamp));
}

async function activeExperimentIds(store: TrackingStore): Promise<string[]> {
  const ids: string[] = [];
  let pageToken: string | undefined;
  do {
    const page = await store.searchExperiments({ maxResults: 1000, pageToken });
    ids.push(...page.items.map((e) => e.experimentId));
    pageToken = page.nextPageToken;
  } while (pageToken);
  return ids;
}

async function runningRuns(store: TrackingStore, experimentIds: string[]): Promise<Run[]> {
  const runs: Run[] = [];
  let pageToken: string | undefined;
  do {
    const page = await store.searchRuns({ experimentIds, filter: "attributes.status = 'RUNNING'", maxResults: 1000, pageToken });
    runs.push(...page.items);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return runs;
}
