import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, serveFreshStore, type Served } from './helpers.js';
import { tempDir } from './temp.js';

let s: Served;
let outside: string;
let experimentId: string;
let runId: string;
let runDir: string;
const SECRET = 'TOP-SECRET-19';

beforeAll(async () => {
  s = await serveFreshStore('tracker-hardening-');
  outside = tempDir('tracker-outside-');
  writeFileSync(join(outside, 'secret.txt'), SECRET);
  experimentId = await s.store.createExperiment('hardening');
  const run = await s.store.createRun({ experimentId, runName: 'r', startTime: 1_700_000_000_000 });
  runId = run.info.runId;
  await s.store.putArtifact(runId, 'kept.txt', new TextEncoder().encode('kept'));
  runDir = join(s.dir, 'store', 'artifacts', experimentId, runId, 'artifacts');
});
afterAll(async () => {
  await s.close();
});

/** A raw request: the path goes out exactly as written (fetch would resolve '..' and re-encode). */
function raw(method: string, path: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${s.server.url}${path.startsWith('/') ? '' : '/'}`, { method, path, headers: body ? { 'Content-Type': 'application/json' } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** No response may name where the server keeps its files, or carry what lies outside the store. */
function expectContained(text: string): void {
  expect(text).not.toContain(s.dir);
  expect(text).not.toContain(outside);
  expect(text).not.toContain(SECRET);
}

const proxy = (path: string) => `/api/2.0/mlflow-artifacts/artifacts/${experimentId}/${runId}/artifacts/${path}`;

describe('artifact store containment over HTTP', () => {
  it('never serves, lists or zips a symbolic link leading out of the run, on any route', async () => {
    symlinkSync(join(outside, 'secret.txt'), join(runDir, 'leak.txt'));
    symlinkSync(outside, join(runDir, 'elsewhere'));
    for (const path of [
      `/get-artifact?run_id=${runId}&path=leak.txt`,
      `/get-artifact?run_id=${runId}&path=elsewhere/secret.txt`,
      `/runs/${runId}/artifacts?path=leak.txt`,
      `/runs/${runId}/artifacts?path=elsewhere`,
      proxy('leak.txt'),
      proxy('elsewhere/secret.txt'),
      `/api/2.0/mlflow-artifacts/artifacts?path=${experimentId}/${runId}/artifacts/elsewhere`,
    ]) {
      const res = await raw('GET', path);
      expect(res.status, path).toBe(400);
      expect(res.text, path).toMatch(/not served: .*leading outside/);
      expectContained(res.text);
    }
    const zip = await raw('GET', `/get-artifact-archive?run_id=${runId}`);
    expect(zip.status).toBe(200);
    expectContained(zip.text);
    const list = await call(s.server.url, 'GET', 'artifacts/list', { run_id: runId });
    expect(list.body.files).toEqual([{ path: 'kept.txt', is_dir: false, file_size: 4 }]);
    const page = await raw('GET', `/runs/${runId}/artifacts`);
    expect(page.status).toBe(200);
    expect(page.text).toMatch(/leak\.txt <span class="muted">— not served: symbolic link leading outside the artifact folder/);
    expectContained(page.text);
  });

  it('never writes through a folder link leading out (artifact proxy PUT)', async () => {
    const res = await raw('PUT', proxy('elsewhere/planted.txt'), 'payload');
    expect(res.status).toBe(400);
    expectContained(res.text);
    expect(existsSync(join(outside, 'planted.txt'))).toBe(false);
    expect((await raw('PUT', proxy('inside/ok.txt'), 'payload')).status).toBe(200);
    expect((await raw('GET', proxy('inside/ok.txt'))).text).toBe('payload');
  });

  it('lists a folder holding a dangling link (no 500, no server path)', async () => {
    mkdirSync(join(runDir, 'with-dangling'));
    writeFileSync(join(runDir, 'with-dangling', 'ok.txt'), 'ok');
    symlinkSync(join(runDir, 'with-dangling', 'gone.txt'), join(runDir, 'with-dangling', 'dangling.txt'));
    for (const path of [`/runs/${runId}`, `/runs/${runId}/artifacts?path=with-dangling`, `/get-artifact-archive?run_id=${runId}&path=with-dangling`]) {
      const res = await raw('GET', path);
      expect(res.status, path).toBe(200);
      expectContained(res.text);
    }
    const list = await call(s.server.url, 'GET', 'artifacts/list', { run_id: runId, path: 'with-dangling' });
    expect(list).toEqual({ status: 200, body: { root_uri: `mlflow-artifacts:/${experimentId}/${runId}/artifacts`, files: [{ path: 'with-dangling/ok.txt', is_dir: false, file_size: 2 }] } });
    const proxyList = await raw('GET', `/api/2.0/mlflow-artifacts/artifacts?path=${experimentId}/${runId}/artifacts/with-dangling`);
    expect(JSON.parse(proxyList.text)).toEqual({ files: [{ path: 'ok.txt', is_dir: false, file_size: 2 }] });
    const missing = await raw('GET', `/get-artifact?run_id=${runId}&path=with-dangling/dangling.txt`);
    expect(missing.status).toBe(404);
    expectContained(missing.text);
  });
});

describe('malformed URLs are the client’s error (400), on every route', () => {
  it('answers a malformed percent-escape in the path with 400', async () => {
    for (const path of ['/runs/%E0%A4%A', '/experiments/%', `/runs/${runId}/artifacts/%ZZ`, '/compare/%E0', '/api/2.0/mlflow-artifacts/artifacts/%E0%A4%A', '/%']) {
      const res = await raw('GET', path);
      expect(res.status, path).toBe(400);
      expect(res.text, path).toMatch(/malformed percent-escape/);
    }
    expect((await raw('PUT', '/api/2.0/mlflow-artifacts/artifacts/%E0%A4%A', 'x')).status).toBe(400);
    // The server is still up and well.
    expect((await raw('GET', '/')).status).toBe(200);
  });

  it('answers an unparsable request target with 400 and keeps serving', async () => {
    expect((await raw('GET', '//[')).status).toBe(400);
    expect((await raw('GET', '/')).status).toBe(200);
  });

  it("does not take Object's members for routes, endpoints or axes", async () => {
    expect((await raw('GET', '/static/constructor')).status).toBe(404);
    expect((await raw('GET', '/static/__proto__')).status).toBe(404);
    expect((await raw('POST', '/api/2.0/mlflow/constructor', '{}')).status).toBe(404);
    expect((await raw('GET', `/compare?run=${runId}&x=constructor`)).status).toBe(400);
  });
});

describe('every value the API accepts can be rendered', () => {
  it('refuses a start time the UI cannot show, and / and the experiment page stay up', async () => {
    const res = await call(s.server.url, 'POST', 'runs/create', { experiment_id: experimentId, start_time: 1e17 });
    expect(res).toMatchObject({ status: 400, body: { error_code: 'INVALID_PARAMETER_VALUE', message: expect.stringMatching(/'start_time': expected integer milliseconds since the epoch in \[0, 8640000000000000\]/) } });
    for (const [field, value] of [
      ['start_time', '1.5'],
      ['start_time', 2 ** 53],
      ['start_time', -1],
    ] as const) {
      expect((await call(s.server.url, 'POST', 'runs/create', { experiment_id: experimentId, [field]: value })).status, `${field}=${value}`).toBe(400);
    }
    // Within int64 and a JS number's exact range, but past the last date: the store's own check answers.
    const late = await call(s.server.url, 'POST', 'runs/create', { experiment_id: experimentId, start_time: 9e15 });
    expect(late).toMatchObject({ status: 400, body: { message: expect.stringMatching(/start_time must be integer milliseconds since the epoch in \[0, 8640000000000000\]/) } });
    const metric = await call(s.server.url, 'POST', 'runs/log-metric', { run_id: runId, key: 'loss', value: 1, timestamp: 9e15, step: 0 });
    expect(metric).toMatchObject({ status: 400, body: { error_code: 'INVALID_PARAMETER_VALUE', message: expect.stringMatching(/metric 'loss' timestamp must be integer milliseconds/) } });
    expect((await raw('GET', '/')).status).toBe(200);
    expect((await raw('GET', `/experiments/${experimentId}`)).status).toBe(200);
  });

  it('renders times a store already holds beyond the calendar (written before this check, or by hand)', async () => {
    const run = await s.store.createRun({ experimentId, runName: 'from-the-far-future', startTime: 1 });
    await s.store.logBatch(run.info.runId, { metrics: [{ key: 'loss', value: 0.5, step: 1, timestamp: 2 }] });
    const db = new Database(join(s.dir, 'store', 'mlruns.db'));
    db.prepare('UPDATE runs SET start_time = ?, end_time = ? WHERE run_uuid = ?').run(1e300, -1e300, run.info.runId);
    db.prepare('UPDATE metrics SET timestamp = ? WHERE run_uuid = ?').run(1e300, run.info.runId);
    db.close();
    for (const path of ['/', `/experiments/${experimentId}`, `/experiments/${experimentId}/runs.csv`, `/runs/${run.info.runId}`, `/compare?run=${run.info.runId}&run=${runId}&x=wall`, `/compare.json?run=${run.info.runId}`]) {
      const res = await raw('GET', path);
      expect(res.status, path).toBe(200);
    }
    expect((await raw('GET', `/runs/${run.info.runId}`)).text).toContain('1e+300 ms since 1970 (beyond the calendar)');
  });

  it('refuses a param or tag value that is not a string (instead of storing [object Object])', async () => {
    const batch = await call(s.server.url, 'POST', 'runs/log-batch', { run_id: runId, params: [{ key: 'ok', value: 'fine' }, { key: 'cfg', value: { lr: 0.1 } }] });
    expect(batch).toMatchObject({ status: 400, body: { error_code: 'INVALID_PARAMETER_VALUE', message: expect.stringMatching(/'params\[1\]\.value'.*params and tags are strings/) } });
    for (const [endpoint, body] of [
      ['runs/log-parameter', { run_id: runId, key: 'cfg', value: { lr: 0.1 } }],
      ['runs/log-parameter', { run_id: runId, key: 'n', value: 3 }],
      ['runs/set-tag', { run_id: runId, key: 't', value: ['a'] }],
      ['runs/log-batch', { run_id: runId, tags: [{ key: 't', value: true }] }],
      ['runs/create', { experiment_id: experimentId, tags: [{ key: 't', value: { a: 1 } }] }],
      ['experiments/set-experiment-tag', { experiment_id: experimentId, key: 't', value: { a: 1 } }],
    ] as const) {
      const res = await call(s.server.url, 'POST', endpoint, body);
      expect(res, endpoint).toMatchObject({ status: 400, body: { error_code: 'INVALID_PARAMETER_VALUE', message: expect.stringMatching(/value.*strings/) } });
    }
    const run = await call(s.server.url, 'GET', 'runs/get', { run_id: runId });
    const data = (run.body.run as { data: { params?: unknown[]; tags: { value: string }[] } }).data;
    expect(data.params ?? []).toEqual([]);
    expect(JSON.stringify(data)).not.toContain('[object Object]');
  });

  it('stores and shows NaN and ±Infinity metric values as MLflow sends them', async () => {
    const body = `{"run_id":"${runId}","metrics":[{"key":"odd","value":NaN,"timestamp":1,"step":0},{"key":"odd","value":Infinity,"timestamp":2,"step":1},{"key":"low","value":"-Infinity","timestamp":3,"step":0}]}`;
    expect((await raw('POST', '/api/2.0/mlflow/runs/log-batch', body)).status).toBe(200);
    const history = await raw('GET', `/api/2.0/mlflow/metrics/get-history?run_id=${runId}&metric_key=odd`);
    expect(history.text).toBe('{"metrics":[{"key":"odd","value":NaN,"timestamp":1,"step":0},{"key":"odd","value":Infinity,"timestamp":2,"step":1}]}');
    const table = await raw('GET', `/experiments/${experimentId}?cols=metrics.odd&cols=metrics.odd:min&cols=metrics.low`);
    expect(table.status).toBe(200);
    expect(table.text).toMatch(/<td class="num">Infinity<\/td>/);
    expect(table.text).toMatch(/<td class="num">-Infinity<\/td>/);
    for (const path of [`/runs/${runId}`, `/compare?run=${runId}&metric=odd&metric=low`, `/compare.json?run=${runId}&metric=odd`]) {
      expect((await raw('GET', path)).status, path).toBe(200);
    }
  });
});
