import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '@difflab/core-tensor';

/** Which tracker run a run directory logs to, so that `--resume` continues that run instead of starting a second. */
export const TRACKER_RECORD_FILE = 'tracker-run.json';

export interface TrackerRecord {
  runId: string;
  experimentId: string;
  experimentName: string;
  /** The tracker store's URI (a local database path or an MLflow server URL). */
  store: string;
  /** True when the run went to the local spool because the MLflow server was unreachable. */
  spooled: boolean;
}

/** The record, or a reason it cannot be used (missing, or not a record). */
export function readTrackerRecord(runDir: string): TrackerRecord | { unusable: string } {
  const path = join(runDir, TRACKER_RECORD_FILE);
  if (!existsSync(path)) return { unusable: `${path} does not exist` };
  try {
    const r = JSON.parse(readFileSync(path, 'utf8')) as Partial<TrackerRecord>;
    if (typeof r.runId === 'string' && typeof r.experimentId === 'string' && typeof r.experimentName === 'string' && typeof r.store === 'string' && typeof r.spooled === 'boolean') {
      return r as TrackerRecord;
    }
    return { unusable: `${path} lacks runId, experimentId, experimentName, store or spooled` };
  } catch (e) {
    return { unusable: `${path} is not valid JSON (${(e as Error).message})` };
  }
}

export async function writeTrackerRecord(runDir: string, record: TrackerRecord): Promise<void> {
  await writeFileAtomic(join(runDir, TRACKER_RECORD_FILE), `${JSON.stringify(record, null, 2)}\n`);
}
