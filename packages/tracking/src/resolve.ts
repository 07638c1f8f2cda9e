import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TrackingError } from './errors.js';
import { locationOfDir, type LocalStoreLocation } from './sqlite-store.js';

export const DEFAULT_TRACKING_DIR = '.difflab/tracking';

export type TrackingTarget = { kind: 'mlflow'; url: string } | { kind: 'local'; location: LocalStoreLocation };

function declaresWorkspaces(packageJson: string): boolean {
  try {
    return (JSON.parse(readFileSync(packageJson, 'utf8')) as { workspaces?: unknown }).workspaces !== undefined;
  } catch {
    return false;
  }
}

/**
 * The workspace root above `from`: the nearest directory whose package.json declares `workspaces`
 * (an npm-workspaces monorepo root), else the nearest one holding `.git`, else `from` itself.
 * Found by walking up, so a run started in any subfolder lands in the same store.
 */
export function workspaceRoot(from: string = process.cwd()): string {
  let gitRoot: string | undefined;
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && declaresWorkspaces(join(dir, 'package.json'))) return dir;
    if (gitRoot === undefined && existsSync(join(dir, '.git'))) gitRoot = dir;
    if (dirname(dir) === dir) return gitRoot ?? resolve(from);
  }
}

/** The local store directory: DIFFLAB_TRACKING_DIR, else `.difflab/tracking` under the workspace root of the cwd. */
export function localTrackingDir(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string {
  if (env.DIFFLAB_TRACKING_DIR) return resolve(cwd, env.DIFFLAB_TRACKING_DIR);
  return join(workspaceRoot(cwd), DEFAULT_TRACKING_DIR);
}

/**
 * Chooses the backend: `uri` (else MLFLOW_TRACKING_URI) as an http(s) URL → an MLflow server;
 * `sqlite:///rel.db` / `sqlite:////abs.db` → that database file with `artifacts/` beside it;
 * `file://dir` or a plain path → a store directory; nothing → the local store directory.
 */
export function resolveTrackingTarget(uri: string | undefined, env: NodeJS.ProcessEnv = process.env): TrackingTarget {
  const u = uri ?? env.MLFLOW_TRACKING_URI;
  if (!u) return { kind: 'local', location: locationOfDir(localTrackingDir(env)) };
  if (/^https?:\/\//i.test(u)) return { kind: 'mlflow', url: u };
  if (u.startsWith('sqlite:///')) {
    const dbPath = resolve(u.slice('sqlite:///'.length) || '.');
    return { kind: 'local', location: { dbPath, artifactRoot: join(dirname(dbPath), 'artifacts') } };
  }
  if (u.startsWith('file:')) return { kind: 'local', location: locationOfDir(fileURLToPath(u)) };
  if (/^[a-z][a-z0-9+.-]*:/i.test(u) && !/^[a-z]:[\\/]/i.test(u)) {
    throw new TrackingError(
      `unsupported tracking URI '${u}': use an http(s):// MLflow server URL, sqlite:///path.db, or a directory path`,
      'INVALID_PARAMETER_VALUE',
    );
  }
  return { kind: 'local', location: locationOfDir(u) };
}

/** MLflow's client auth variables, as request headers. */
export function mlflowAuthHeaders(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  if (env.MLFLOW_TRACKING_TOKEN) return { Authorization: `Bearer ${env.MLFLOW_TRACKING_TOKEN}` };
  if (env.MLFLOW_TRACKING_USERNAME && env.MLFLOW_TRACKING_PASSWORD) {
    const basic = Buffer.from(`${env.MLFLOW_TRACKING_USERNAME}:${env.MLFLOW_TRACKING_PASSWORD}`).toString('base64');
    return { Authorization: `Basic ${basic}` };
  }
  return {};
}
