import { join } from 'node:path';
import { locationOfDir, SqliteStore } from '@difflab/tracking';
import { startTrackerServer, type TrackerServer } from '../src/index.js';
import { tempDir } from './temp.js';

export interface Served {
  dir: string;
  store: SqliteStore;
  server: TrackerServer;
  close(): Promise<void>;
}

/** A tracker server on a free port over a fresh store directory. */
export async function serveFreshStore(prefix = 'tracker-'): Promise<Served> {
  const dir = tempDir(prefix);
  const store = new SqliteStore(locationOfDir(join(dir, 'store')));
  const server = await startTrackerServer({ store, port: 0 });
  return {
    dir,
    store,
    server,
    close: async () => {
      await server.close();
      await store.close();
    },
  };
}

/** One MLflow REST call as the MLflow docs describe it: GET with query parameters, POST with a JSON body. */
export async function call(base: string, method: 'GET' | 'POST', endpoint: string, fields: Record<string, unknown> = {}) {
  const url = new URL(`/api/2.0/mlflow/${endpoint}`, base);
  if (method === 'GET') for (const [k, v] of Object.entries(fields)) url.searchParams.set(k, String(v));
  const res = await fetch(url, method === 'POST' ? { method, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(fields) } : {});
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
