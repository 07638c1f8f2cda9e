import { createReadStream, createWriteStream, renameSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { ARTIFACT_TEMP_MARK, httpStatusOf, stringifyMlflowJson, TrackingError, type SqliteStore } from '@difflab/tracking';
import { fieldsOf, MLFLOW_ENDPOINTS } from './rest-api.js';
import { decodePathSegments } from './url-path.js';
import { renderUi } from './ui/routes.js';
import { contentDispositionOf, contentTypeOf } from './ui/content-type.js';

export interface TrackerServerOptions {
  store: SqliteStore;
  /** Default 127.0.0.1: the API has no authentication, so exposing it is an explicit choice. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
}

export interface TrackerServer {
  /** e.g. http://127.0.0.1:5000 */
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

const MAX_JSON_BODY = 32 * 1024 * 1024;
const API_PREFIX = '/api/2.0/mlflow/';
const ARTIFACTS_PREFIX = '/api/2.0/mlflow-artifacts/artifacts';

const require = createRequire(import.meta.url);
/** The browser bundles sit beside each package's entry point (its `build/`), which `exports` does not expose. */
const bundle = (pkg: string, file: string) => join(dirname(require.resolve(pkg)), file);
/** Vega libraries come from node_modules, never a CDN. */
const STATIC_FILES: Record<string, string> = {
  'vega.min.js': bundle('vega', 'vega.min.js'),
  'vega-lite.min.js': bundle('vega-lite', 'vega-lite.min.js'),
  'vega-embed.min.js': bundle('vega-embed', 'vega-embed.min.js'),
  'metric-charts.js': fileURLToPath(new URL('./ui/client/metric-charts.js', import.meta.url)),
};

function sendJson(res: ServerResponse, status: number, body: object): void {
  const text = stringifyMlflowJson(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, err: unknown): void {
  if (err instanceof TrackingError) {
    sendJson(res, httpStatusOf(err.errorCode), { error_code: err.errorCode, message: err.message });
  } else {
    // Unexpected errors (file system, SQLite) carry the server's absolute paths: they go to the
    // server's log, and the client gets a message without them.
    console.error(`difflab tracker: internal error: ${(err as Error)?.stack ?? String(err)}`);
    sendJson(res, 500, { error_code: 'INTERNAL_ERROR', message: `internal error (${(err as Error)?.name ?? 'unknown'}); the tracker server's log has the details` });
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_JSON_BODY) throw new TrackingError(`request body exceeds ${MAX_JSON_BODY} bytes`, 'BAD_REQUEST');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function handleApi(store: SqliteStore, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const name = url.pathname.slice(API_PREFIX.length);
  // Own keys only: 'constructor' or '__proto__' name no endpoint.
  const endpoint = Object.hasOwn(MLFLOW_ENDPOINTS, name) ? MLFLOW_ENDPOINTS[name] : undefined;
  if (!endpoint) {
    sendJson(res, 404, { error_code: 'ENDPOINT_NOT_FOUND', message: `No endpoint ${url.pathname}; difflab serves ${Object.keys(MLFLOW_ENDPOINTS).join(', ')}` });
    return;
  }
  // MLflow accepts GET search endpoints too; anything else must use the documented method.
  const method = req.method ?? 'GET';
  if (method !== endpoint.method && !(method === 'GET' && name.endsWith('/search'))) {
    sendJson(res, 405, { error_code: 'BAD_REQUEST', message: `${url.pathname} expects ${endpoint.method}, got ${method}` });
    return;
  }
  const fields = fieldsOf(method, url.searchParams, method === 'GET' ? '' : await readBody(req));
  sendJson(res, 200, await endpoint.handle(store, fields));
}

/**
 * MLflow's artifact proxy: `PUT|GET .../artifacts/<exp>/<run>/artifacts/<path>` and `GET .../artifacts?path=`
 * listings. Paths are confined like the store's own artifact calls (see SqliteStore.proxyArtifact):
 * a symbolic link leading out of the run's folder is neither read, listed nor written through.
 */
async function handleArtifacts(store: SqliteStore, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const rel = decodePathSegments(url.pathname.slice(ARTIFACTS_PREFIX.length)).join('/');
  if (rel === '' && req.method === 'GET') {
    const { folder, path } = store.proxyArtifact(url.searchParams.get('path') ?? '');
    // MLflow's proxy lists names relative to the folder asked for; refused entries are left out.
    const strip = path ? path.length + 1 : 0;
    const files = folder.list(path).files.map((f) => (f.isDir ? { path: f.path.slice(strip), is_dir: true } : { path: f.path.slice(strip), is_dir: false, file_size: f.fileSize ?? 0 }));
    sendJson(res, 200, { files });
    return;
  }
  const { folder, path } = store.proxyArtifact(rel);
  if (req.method === 'PUT') {
    const file = folder.fileToWrite(path);
    const tmp = `${file}${ARTIFACT_TEMP_MARK}${randomUUID().slice(0, 8)}`;
    try {
      await pipeline(req, createWriteStream(tmp));
      renameSync(tmp, file);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    sendJson(res, 200, {});
  } else if (req.method === 'GET') {
    const { file, size } = folder.fileToRead(path);
    // Artifacts are user data: never let one run script in the tracker's origin.
    res.writeHead(200, { 'Content-Type': contentTypeOf(path), 'Content-Length': size, 'Content-Security-Policy': 'sandbox', 'Content-Disposition': contentDispositionOf(path) });
    await pipeline(createReadStream(file), res);
  } else {
    sendJson(res, 405, { error_code: 'BAD_REQUEST', message: `${req.method} is not supported on ${ARTIFACTS_PREFIX}` });
  }
}

function handleStatic(res: ServerResponse, name: string): void {
  const file = Object.hasOwn(STATIC_FILES, name) ? STATIC_FILES[name] : undefined;
  if (!file) {
    res.writeHead(404).end('not found');
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'max-age=3600' });
  createReadStream(file).pipe(res);
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/**
 * Refuses requests a web page could forge against a local server: a loopback-bound server only
 * answers to loopback Host names (DNS rebinding), and writes must not come from another origin.
 */
function forbiddenReason(req: IncomingMessage, loopbackOnly: boolean): string | undefined {
  const host = req.headers.host ?? '';
  const hostname = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0]!;
  if (loopbackOnly && !LOOPBACK_NAMES.has(hostname.toLowerCase())) return `Host '${host}' is not a loopback name; use http://127.0.0.1:<port>`;
  const origin = req.headers.origin;
  if (origin && req.method !== 'GET' && req.method !== 'HEAD') {
    let originHost = '';
    try {
      originHost = new URL(origin).host;
    } catch {
      // an unparsable Origin never matches
    }
    if (originHost !== host) return `cross-origin ${req.method} from ${origin} refused`;
  }
  return undefined;
}

/** Serves the MLflow REST subset, the artifact proxy and the web UI over one local store. */
export async function startTrackerServer(opts: TrackerServerOptions): Promise<TrackerServer> {
  const { store } = opts;
  const host = opts.host ?? '127.0.0.1';
  const loopbackOnly = LOOPBACK_NAMES.has(host) || host.startsWith('127.');
  const server = createServer((req, res) => {
    const forbidden = forbiddenReason(req, loopbackOnly);
    if (forbidden) {
      sendJson(res, 403, { error_code: 'PERMISSION_DENIED', message: forbidden });
      return;
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      // e.g. '//[' reads as a URL with an invalid host
      sendJson(res, 400, { error_code: 'BAD_REQUEST', message: `malformed request target ${JSON.stringify(req.url)}` });
      return;
    }
    const work = async () => {
      if (url.pathname.startsWith(API_PREFIX)) return handleApi(store, req, res, url);
      if (url.pathname.startsWith(ARTIFACTS_PREFIX)) return handleArtifacts(store, req, res, url);
      if (url.pathname === '/favicon.ico') {
        res.writeHead(204).end();
        return;
      }
      if (url.pathname === '/health') {
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end('OK');
        return;
      }
      if (url.pathname.startsWith('/static/')) return handleStatic(res, url.pathname.slice('/static/'.length));
      const page = await renderUi(store, url);
      res.writeHead(page.status, { ...page.headers, 'Content-Type': page.contentType });
      res.end(page.body);
    };
    work().catch((err: unknown) => {
      if (res.headersSent) res.destroy(err as Error);
      else sendError(res, err);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new Error(`port ${opts.port} on ${host} is already in use; choose another with --port`) : err),
    );
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
