import { parseArgs } from 'node:util';
import { localTrackingDir, mlflowAuthHeaders, repairOrphanRuns, resolveTrackingTarget, SqliteStore, syncSpool } from '@difflab/tracking';
import { startTrackerServer } from '@difflab/tracker';

export const summary = 'Serve the tracker UI + MLflow REST API, or sync spooled runs to MLflow';

const HELP = `usage: difflab tracker [--port N] [--host H] [--store DIR|sqlite:///FILE]
       difflab tracker sync [--store DIR]

  (no subcommand)  serve the web UI and the MLflow REST API 2.0 over the local store;
                   point MLflow clients at it with MLFLOW_TRACKING_URI=http://HOST:PORT
  sync             push runs spooled while an MLflow server was unreachable to that
                   server; safe to repeat (nothing is sent twice)

options:
  --port N     port to listen on (default 5000; 0 = any free port)
  --host H     address to bind (default 127.0.0.1; the API has no authentication)
  --store S    local store: a directory or sqlite:///file.db (default: MLFLOW_TRACKING_URI
               if it is not an http URL, else $DIFFLAB_TRACKING_DIR, else .difflab/tracking
               at the workspace root, so runs trained from any subfolder are all served)
  -h, --help   show this help`;

/** --store, else a non-http MLFLOW_TRACKING_URI (the store runs log to), else the local store directory. */
function openLocal(store: string | undefined): SqliteStore {
  const fromEnv = process.env.MLFLOW_TRACKING_URI;
  const target = resolveTrackingTarget(store ?? (fromEnv && !/^https?:\/\//i.test(fromEnv) ? fromEnv : localTrackingDir()));
  if (target.kind !== 'local') throw new Error(`--store must be a local directory or sqlite:/// URI, got '${store}'`);
  return new SqliteStore(target.location);
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      store: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const [sub, ...extra] = positionals;
  if (extra.length > 0 || (sub !== undefined && sub !== 'sync')) {
    throw new Error(`unexpected argument '${sub === 'sync' ? extra[0] : sub}'; see 'difflab tracker --help'`);
  }
  const port = values.port === undefined ? 5000 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be an integer in [0, 65535], got '${values.port}'`);
  const store = openLocal(values.store);
  // A training process killed with -9 leaves its run RUNNING; end those whose process is gone on this host.
  for (const r of await repairOrphanRuns(store)) {
    console.error(`difflab tracker: run ${r.runId} ('${r.runName}') was RUNNING but its process ${r.pid} is gone; marked it KILLED`);
  }
  if (sub === 'sync') {
    try {
      const report = await syncSpool(store, { headers: mlflowAuthHeaders() });
      console.log(`synced ${report.synced} run(s), ${report.metricsPushed} metric value(s); ${report.pending} run(s) still pending`);
      for (const e of report.errors) console.error(`  run ${e.runId}: ${e.message}`);
      return report.errors.length > 0 ? 1 : 0;
    } finally {
      await store.close();
    }
  }
  const server = await startTrackerServer({ store, port, host: values.host });
  console.log(`difflab tracker: ${server.url}  (store ${store.uri})`);
  console.log(`  MLflow clients: MLFLOW_TRACKING_URI=${server.url}`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  await store.close();
  return 0;
}
