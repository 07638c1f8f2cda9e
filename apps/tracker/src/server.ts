import { createReadStream, createWriteStream, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { readdirSync } from 'node:fs';
import { httpStatusOf, stringifyMlflowJson, TrackingError, type SqliteStore } from '@difflab/tracking';
import { fieldsOf, MLFLOW_ENDPOINTS } from './rest-api.js';
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
    sendJson(res, 500, { error_code: 'INTERNAL_ERROR', message: (err as Error)?.message ?? String(err) });
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
  const endpoint = MLFLOW_ENDPOINTS[name];
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

/** MLflow's artifact proxy: `PUT|GET .../artifacts/<exp>/<run>/artifacts/<path>` and `GET .../artifacts?path=` listings. */
async function handleArtifacts(store: SqliteStore, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const rel = decodeURIComponent(url.pathname.slice(ARTIFACTS_PREFIX.length).replace(/^\/+/, ''));
  if (rel === '' && req.method === 'GET') {
    const dir = store.artifactFile(`mlflow-artifacts:/${url.searchParams.get('path') ?? ''}`);
    let names: string[] = [];
    try {
      names = readdirSync(dir).filter((n) => !n.includes('.tmp-')).sort();
    } catch {
      // a missing directory lists as empty, like MLflow
    }
    const files = names.map((n) => {
      const st = statSync(join(dir, n));
      return st.isDirectory() ? { path: n, is_dir: true } : { path: n, is_dir: false, file_size: st.size };
    });
    sendJson(res, 200, { files });
    return;
  }
  const file = store.artifactFile(`mlflow-artifacts:/${rel}`);
  if (req.method === 'PUT') {
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${randomUUID().slice(0, 8)}`;
    try {
      await pipeline(req, createWriteStream(tmp));
      renameSync(tmp, file);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    sendJson(res, 200, {});
  } else if (req.method === 'GET') {
    let size: number;
    try {
      const st = statSync(file);
      if (!st.isFile()) throw new Error('not a file');
      size = st.size;
    } catch {
      throw new TrackingError(`No artifact '${rel}'`, 'RESOURCE_DOES_NOT_EXIST');
    }
    // Artifacts are user data: never let one run script in the tracker's origin.
    res.writeHead(200, { 'Content-Type': contentTypeOf(file), 'Content-Length': size, 'Content-Security-Policy': 'sandbox', 'Content-Disposition': contentDispositionOf(rel) });
    await pipeline(createReadStream(file), res);
  } else {
    sendJson(res, 405, { error_code: 'BAD_REQUEST', message: `${req.method} is not supported on ${ARTIFACTS_PREFIX}` });
  }
}

function handleStatic(res: ServerResponse, name: string): void {
  const file = STATIC_FILES[name];
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
    const url = new URL(req.url ?? '/', 'http://localhost');
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
