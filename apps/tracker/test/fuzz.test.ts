import { symlinkSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MLFLOW_ENDPOINTS } from '../src/index.js';
import { serveFreshStore, type Served } from './helpers.js';
import { tempDir } from './temp.js';

/**
 * Property-based fuzz of the server (issue #19): random REST calls (paths, methods, JSON bodies of
 * random shape, strings with unicode, percent-escapes, '..' and NUL) and random UI routes against a
 * real server on 127.0.0.1 over a temp store that holds, among real runs, artifact links leading out
 * of the store and a dangling link. Properties: never a 5xx; no response names the store's (or the
 * temp folder's) absolute path or carries a byte from outside the store; and afterwards `/`, the
 * experiment page and the run page still render. Seeded and bounded: a failure replays with its seed.
 */

const SEED = 19;
const REST_RUNS = 1500;
const UI_RUNS = 1000;
const SECRET = 'OUTSIDE-THE-STORE-4f1c';

let s: Served;
let outside: string;
let experimentId: string;
let runId: string;
/** Runs with edge-of-range times go here, an experiment the random calls do not name (so do not delete). */
let timesExperimentId: string;
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

/** A run of the times experiment whose end time the fuzz sets. */
let timedRunId: string;

beforeAll(async () => {
  s = await serveFreshStore('tracker-fuzz-');
  outside = tempDir('tracker-fuzz-outside-');
  writeFileSync(join(outside, 'secret.txt'), SECRET);
  experimentId = await s.store.createExperiment('fuzz');
  timesExperimentId = await s.store.createExperiment('fuzz-times');
  const run = await s.store.createRun({ experimentId, runName: 'seed-run', startTime: 1_700_000_000_000 });
  runId = run.info.runId;
  timedRunId = (await s.store.createRun({ experimentId: timesExperimentId, runName: 'timed', startTime: 1 })).info.runId;
  await s.store.logBatch(runId, {
    params: { lr: '0.001', 'model.preset': 'DiT-FMNIST-S/4' },
    tags: { budget: '1e13', size: 'w64-d2' },
    metrics: [
      { key: 'loss', value: 0.5, step: 1, timestamp: 1_700_000_000_100 },
      { key: 'loss', value: Number.NaN, step: 2, timestamp: 1_700_000_000_200 },
      { key: 'heldout_loss', value: Number.POSITIVE_INFINITY, step: 2, timestamp: 1_700_000_000_200 },
    ],
  });
  await s.store.putArtifact(runId, 'samples/step-0000001.png', new Uint8Array([137, 80, 78, 71]));
  await s.store.putArtifact(runId, 'notes.txt', new TextEncoder().encode('inside'));
  const runDir = join(s.dir, 'store', 'artifacts', experimentId, runId, 'artifacts');
  symlinkSync(join(outside, 'secret.txt'), join(runDir, 'leak.txt'));
  symlinkSync(outside, join(runDir, 'samples', 'elsewhere'));
  symlinkSync(join(runDir, 'gone'), join(runDir, 'dangling'));
});
afterAll(async () => {
  agent.destroy();
  await s.close();
});

interface Reply {
  status: number;
  text: string;
}

/** One request exactly as generated: raw path and method, optional body. */
function send(method: string, path: string, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = body === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) };
    const req = request(s.server.url, { method, path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString('latin1') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function expectSafe(r: Reply, what: string): void {
  if (r.status >= 500) throw new Error(`${what} → ${r.status}: ${r.text.slice(0, 500)}`);
  for (const forbidden of [s.dir, outside, SECRET]) {
    if (r.text.includes(forbidden)) throw new Error(`${what} → ${r.status} leaks '${forbidden}': ${r.text.slice(0, 500)}`);
  }
}

// ---- arbitraries -------------------------------------------------------------------------------

/** Strings that have broken servers: traversal, bad escapes, NUL, Object's members, huge numbers. */
const NASTY = ['..', '../..', '.', '%', '%E0%A4%A', '%00', '\0', '/', '//', '%2e%2e', '%2F', 'constructor', '__proto__', 'toString', '0', '-1', '1e400', 'NaN', 'Infinity', 'a'.repeat(300), 'é', '🎲', '\ud800', "'", '"', '<script>', '`'];

const text = (): fc.Arbitrary<string> =>
  fc.oneof(
    fc.constantFrom(...NASTY),
    fc.string({ unit: 'binary', maxLength: 16 }),
    fc.stringMatching(/^[\w%./ -]{0,12}$/),
    fc.constant('RUN_ID'),
    fc.constant('EXP_ID'),
  );

/** Placeholders become the ids of real entities when the request is built, so deep code is reached. */
const fill = (v: string) => v.replace(/RUN_ID/g, runId).replace(/EXP_ID/g, experimentId);

/** A path segment as a client might write it: percent-encoded, or raw (URL-safe characters and stray '%'). */
const segment = (): fc.Arbitrary<string> =>
  fc.oneof(
    text().map((t) => encodeURIComponent(fill(t).replace(/[\ud800-\udfff]/g, '?'))),
    fc.stringMatching(/^[\w%.~-]{0,10}$/),
    fc.constantFrom('%E0%A4%A', '%', '%ZZ', '..', '.', '%2e%2e', 'RUN_ID').map(fill),
  );

/** An int64-ish field: integers at and past every edge, fractions, strings, the odd object. */
const int64ish = (): fc.Arbitrary<unknown> =>
  fc.oneof(
    fc.integer(),
    fc.constantFrom(0, -1, 8.64e15, 8.64e15 + 1, 2 ** 53 - 1, 2 ** 53, -(2 ** 53), 1e17, 1e300, 1.5, '17', '1e3', ' 1', '0x10', '9223372036854775807'),
    fc.double(),
    text(),
    fc.constant({ n: 1 }),
  );

const jsonish = (): fc.Arbitrary<unknown> => fc.oneof({ weight: 3, arbitrary: text() }, { weight: 2, arbitrary: int64ish() }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) });

const keyValue = () => fc.record({ key: fc.oneof(text(), fc.constantFrom('lr', 'mlflow.runName', 'constructor')), value: jsonish() }, { requiredKeys: [] });
const metric = () =>
  fc.record(
    {
      key: fc.oneof(fc.constantFrom('loss', 'acc', 'heldout_loss'), text()),
      value: fc.oneof(fc.double(), fc.constantFrom('NaN', 'Infinity', '-Infinity', 'x'), jsonish()),
      timestamp: int64ish(),
      step: int64ish(),
    },
    { requiredKeys: [] },
  );

/** A body with the fields MLflow endpoints read, each of random type and value, plus random extra keys. */
const fieldsBody = () =>
  fc.record(
    {
      run_id: fc.oneof(fc.constant('RUN_ID'), text()),
      run_uuid: text(),
      experiment_id: fc.oneof(fc.constant('EXP_ID'), text(), int64ish()),
      experiment_ids: fc.oneof(fc.array(fc.oneof(fc.constant('EXP_ID'), text()), { maxLength: 3 }), jsonish()),
      name: jsonish(),
      new_name: jsonish(),
      run_name: jsonish(),
      key: fc.oneof(fc.constantFrom('loss', 'lr'), jsonish()),
      value: jsonish(),
      start_time: int64ish(),
      end_time: int64ish(),
      timestamp: int64ish(),
      step: int64ish(),
      status: fc.oneof(fc.constantFrom('FINISHED', 'RUNNING', 'KILLED'), text()),
      filter: fc.oneof(fc.constantFrom("params.lr = '0.001'", 'metrics.loss < 1', "tags.`a b` LIKE '%x'", 'attributes.start_time > 0 and'), text()),
      order_by: fc.oneof(fc.array(fc.oneof(fc.constantFrom('metrics.loss DESC', 'params.lr', 'attributes.start_time ASC'), text()), { maxLength: 2 }), jsonish()),
      max_results: int64ish(),
      page_token: jsonish(),
      view_type: fc.oneof(fc.constantFrom('ALL', 'DELETED_ONLY'), jsonish()),
      run_view_type: fc.oneof(fc.constantFrom('ALL', 'DELETED_ONLY'), jsonish()),
      metrics: fc.oneof(fc.array(metric(), { maxLength: 4 }), jsonish()),
      params: fc.oneof(fc.array(keyValue(), { maxLength: 3 }), jsonish()),
      tags: fc.oneof(fc.array(keyValue(), { maxLength: 3 }), jsonish()),
      path: text(),
      metric_key: fc.oneof(fc.constant('loss'), text()),
    },
    { requiredKeys: [] },
  );

/** A request body as text: the fields as JSON (sometimes in MLflow's NaN dialect), random JSON, or garbage. */
const bodyText = (): fc.Arbitrary<string | undefined> =>
  fc.oneof(
    { weight: 6, arbitrary: fieldsBody().map((b) => fill(JSON.stringify(b))) },
    { weight: 1, arbitrary: fieldsBody().map((b) => fill(JSON.stringify(b)).replace(/null/g, 'NaN').replace(/0\.5/g, '-Infinity')) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'] as const;
const QUERY_KEYS = ['run', 'run_id', 'run_uuid', 'path', 'metric', 'metric_key', 'x', 'y', 'filter', 'order_by', 'cols', 'params', 'smooth', 'xscale', 'sample_step', 'experiment', 'experiment_id', 'experiment_ids', 'experiment_name', 'max_results', 'page_token', 'view_type', 'download', '__proto__', 'constructor'];

const query = (): fc.Arbitrary<string> =>
  fc
    .array(fc.tuple(fc.constantFrom(...QUERY_KEYS), fc.oneof(text().map((t) => encodeURIComponent(fill(t).replace(/[\ud800-\udfff]/g, '?'))), fc.constantFrom('%E0%A4%A', '%', 'RUN_ID', 'EXP_ID', 'log', 'wall', 'all').map(fill))), { maxLength: 4 })
    .map((pairs) => (pairs.length ? `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}` : ''));

const restPath = (): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom(...Object.keys(MLFLOW_ENDPOINTS)).map((e) => `/api/2.0/mlflow/${e}`) },
    { weight: 1, arbitrary: fc.array(segment(), { maxLength: 3 }).map((segs) => `/api/2.0/mlflow/${segs.join('/')}`) },
    {
      weight: 2,
      arbitrary: fc.array(segment(), { maxLength: 4 }).map((segs) => `/api/2.0/mlflow-artifacts/artifacts/${[experimentId, runId, 'artifacts', ...segs].join('/')}`),
    },
    { weight: 1, arbitrary: fc.array(segment(), { maxLength: 4 }).map((segs) => `/api/2.0/mlflow-artifacts/artifacts/${segs.join('/')}`) },
  );

/** Keys MLflow accepts, including the awkward ones (Object's member names, slashes, spaces). */
const validKey = () => fc.oneof(fc.stringMatching(/^[\w.\- :]{1,16}$/), fc.constantFrom('loss', 'constructor', '__proto__', 'toString', 'a/b', 'train.lr'));
/** Values MLflow accepts but a careless server mishandles: any unicode, huge/edge numbers, NaN and ±Infinity. */
const validTime = () => fc.oneof(fc.constantFrom(0, 8.64e15, 1_700_000_000_000), fc.double({ min: 0, max: 8.64e15, noNaN: true }).map(Math.floor));
const validStep = () => fc.oneof(fc.constantFrom(0, 2 ** 53 - 1, -(2 ** 53 - 1)), fc.integer());
const validMetric = () => fc.record({ key: validKey(), value: fc.double(), timestamp: validTime(), step: validStep() });
const validKeyValue = () => fc.record({ key: validKey(), value: fc.string({ unit: 'grapheme', maxLength: 12 }) });

/** A request every endpoint would accept: the fuzz then changes a few fields, so most calls reach the store. */
const BASE_FIELDS = (): Record<string, unknown> => ({
  run_id: runId,
  run_uuid: runId,
  experiment_id: experimentId,
  experiment_ids: [experimentId],
  experiment_name: 'fuzz',
  name: 'fuzz-new',
  key: 'loss',
  value: 'v',
  timestamp: 1_700_000_000_000,
  step: 1,
  start_time: 1_700_000_000_000,
  metric_key: 'loss',
  max_results: 10,
});

const FIELD_NAMES = ['run_id', 'experiment_id', 'experiment_ids', 'experiment_name', 'name', 'new_name', 'run_name', 'user_id', 'key', 'value', 'timestamp', 'step', 'start_time', 'end_time', 'status', 'filter', 'order_by', 'max_results', 'page_token', 'view_type', 'run_view_type', 'metrics', 'params', 'tags', 'path', 'metric_key'] as const;

/** A field value: valid-but-odd most of the time, else anything. */
const fieldValue = () =>
  fc.oneof(
    { weight: 3, arbitrary: fc.oneof(fc.string({ unit: 'grapheme', maxLength: 12 }), validTime(), validStep(), fc.array(validMetric(), { maxLength: 5 }), fc.array(validKeyValue(), { maxLength: 3 }), fc.constantFrom('FINISHED', 'KILLED', 'ALL', "params.lr = '0.001'", 'metrics.loss DESC')) },
    { weight: 2, arbitrary: jsonish() },
    { weight: 1, arbitrary: fc.array(metric(), { maxLength: 3 }) },
  );

/** A query string holding these fields (lists as repeated keys, objects as JSON). */
function queryOf(fields: Record<string, unknown>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) {
    for (const item of Array.isArray(v) ? v : [v]) q.append(k, typeof item === 'string' ? item.replace(/[\ud800-\udfff]/g, '?') : JSON.stringify(item) ?? '');
  }
  const text = q.toString();
  return text ? `?${text}` : '';
}

interface Call {
  method: string;
  target: string;
  body?: string;
  /** After a 200, `/`, the experiment page and the run page must still render. */
  thenRender?: boolean;
}

/** An MLflow endpoint called mostly with its own method and a nearly valid request, 0–3 fields changed. */
const endpointCall = (): fc.Arbitrary<Call> =>
  fc
    .tuple(
      fc.constantFrom(...Object.keys(MLFLOW_ENDPOINTS)),
      fc.oneof({ weight: 6, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom(...METHODS) }),
      fc.dictionary(fc.constantFrom(...FIELD_NAMES), fieldValue(), { maxKeys: 3 }),
      fc.oneof({ weight: 8, arbitrary: fc.constant('json') }, { weight: 1, arbitrary: fc.constant('nan-dialect') }, { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) }),
    )
    .map(([endpoint, forced, changes, encoding]) => {
      const method = forced ?? MLFLOW_ENDPOINTS[endpoint]!.method;
      const fields = { ...BASE_FIELDS(), ...changes };
      const path = `/api/2.0/mlflow/${endpoint}`;
      if (method === 'GET' || method === 'HEAD') return { method, target: path + queryOf(fields) };
      const json = JSON.stringify(fields);
      const body = encoding === 'json' ? json : encoding === 'nan-dialect' ? json.replace(/null/g, 'NaN').replace(/"value":0/g, '"value":-Infinity') : encoding;
      return { method, target: path, body };
    });

/** Run times at and past the edges of what can be stored and shown (the defect that took `/` down). */
const timeCall = (): fc.Arbitrary<Call> =>
  fc
    .tuple(fc.boolean(), fc.oneof(fc.constantFrom(8.64e15, 8.64e15 + 1, 2 ** 53 - 1, 2 ** 53, -1, -(2 ** 53 - 1), 1e300, '8640000000000001'), fc.maxSafeInteger(), fc.maxSafeInteger().map(String)))
    .map(([create, t]) => ({
      method: 'POST',
      target: `/api/2.0/mlflow/runs/${create ? 'create' : 'update'}`,
      body: JSON.stringify(create ? { experiment_id: timesExperimentId, run_name: 'timed', start_time: t } : { run_id: timedRunId, end_time: t }),
      thenRender: true,
    }));

/** The artifact proxy on the seeded run: GET/PUT mostly, listings too. */
const proxyCall = (): fc.Arbitrary<Call> =>
  fc
    .tuple(fc.constantFrom('GET', 'GET', 'PUT', 'PUT', 'LIST', 'DELETE'), fc.array(fc.oneof(segment(), fc.constantFrom('leak.txt', 'samples', 'elsewhere', 'dangling', 'notes.txt')), { maxLength: 4 }), fc.string({ maxLength: 20 }))
    .map(([method, segs, body]) => {
      const inRun = [experimentId, runId, 'artifacts', ...segs].join('/');
      if (method === 'LIST') return { method: 'GET', target: `/api/2.0/mlflow-artifacts/artifacts?path=${inRun}` };
      return { method, target: `/api/2.0/mlflow-artifacts/artifacts/${inRun}`, ...(method === 'PUT' ? { body } : {}) };
    });

/** Anything at all under the API prefixes. */
const rawCall = (): fc.Arbitrary<Call> =>
  fc.tuple(fc.constantFrom(...METHODS), restPath(), query(), bodyText()).map(([method, path, q, body]) => ({ method, target: path + q, ...(method === 'GET' || method === 'HEAD' || body === undefined ? {} : { body }) }));

const uiPath = (): fc.Arbitrary<string> =>
  fc.oneof(
    fc.constantFrom('/', '/compare', '/compare.json', '/get-artifact', '/get-artifact-archive', '/health', '/favicon.ico', '/static/vega.min.js'),
    fc.constantFrom('/runs/RUN_ID', '/runs/RUN_ID/artifacts', '/experiments/EXP_ID', '/experiments/EXP_ID/runs.csv', '/experiments/EXP_ID/scaling', '/experiments/EXP_ID/scaling.json').map(fill),
    fc.tuple(fc.constantFrom('/runs/', '/experiments/', '/static/', '/', '/runs/RUN_ID/', '/experiments/EXP_ID/'), fc.array(segment(), { minLength: 1, maxLength: 3 })).map(([p, segs]) => fill(p) + segs.join('/')),
  );

const uiQueryFor = (path: string) =>
  path.startsWith('/compare')
    ? query().map((q) => `?run=${runId}&${q.slice(1)}`)
    : path.startsWith('/get-artifact') || path.endsWith('/artifacts')
    ? fc.oneof(query(), fc.constantFrom('leak.txt', 'dangling', 'samples/elsewhere', 'samples/elsewhere/secret.txt', 'samples', 'notes.txt', '../../../', '%2e%2e/%2e%2e').map((p) => `?run_id=${runId}&path=${p}`))
    : query();

// ---- properties --------------------------------------------------------------------------------

async function stillRenders(): Promise<void> {
  for (const path of ['/', `/experiments/${experimentId}`, `/runs/${runId}`]) {
    const r = await send('GET', path);
    expect(r.status, path).toBe(200);
  }
}

describe('fuzz: random requests never break the server or leak a path', () => {
  it('REST: random endpoints, methods and bodies', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof({ weight: 6, arbitrary: endpointCall() }, { weight: 1, arbitrary: timeCall() }, { weight: 2, arbitrary: proxyCall() }, { weight: 2, arbitrary: rawCall() }), async ({ method, target, body, thenRender }) => {
        const what = `${method} ${target} ${body?.slice(0, 300) ?? ''}`;
        const reply = await send(method, target, body);
        expectSafe(reply, what);
        if (!thenRender || reply.status !== 200) return;
        const created = /"run_id":"([0-9a-f]{32})"/.exec(reply.text)?.[1] ?? timedRunId;
        for (const page of ['/', `/experiments/${timesExperimentId}`, `/runs/${created}`]) {
          const r = await send('GET', page);
          expectSafe(r, `${page} after ${what}`);
          expect(r.status, `${page} after ${what}`).toBe(200);
        }
      }),
      { seed: SEED, numRuns: REST_RUNS, endOnFailure: true },
    );
    await stillRenders();
  });

  it('UI: random routes and query strings', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'GET', 'GET', 'HEAD', 'POST'),
        uiPath().chain((p) => uiQueryFor(p).map((q) => p + q)),
        async (method, target) => {
          expectSafe(await send(method, target, method === 'POST' ? '{}' : undefined), `${method} ${target}`);
        },
      ),
      { seed: SEED + 1, numRuns: UI_RUNS, endOnFailure: true },
    );
    await stillRenders();
  });
});
