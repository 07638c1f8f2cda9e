import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveFreshStore, type Served } from './helpers.js';

let s: Served;
let runId: string;
beforeAll(async () => {
  s = await serveFreshStore('tracker-ui-routes-');
  const experimentId = await s.store.createExperiment('<script>alert(1)</script>');
  const run = await s.store.createRun({ experimentId, runName: 'r"1' });
  runId = run.info.runId;
  await s.store.logBatch(runId, { params: { note: '<b>bold</b>' } });
  await s.store.putArtifact(runId, 'page.html', new TextEncoder().encode('<script>steal()</script>'));
  await s.store.putArtifact(runId, 'broken.parquet', new TextEncoder().encode('PAR1 but not really'));
});
afterAll(async () => {
  await s.close();
});

const get = async (path: string) => {
  const res = await fetch(`${s.server.url}${path}`);
  return { status: res.status, type: res.headers.get('content-type'), csp: res.headers.get('content-security-policy'), text: await res.text() };
};

describe('web UI pages over HTTP', () => {
  it('escapes user-controlled names and values', async () => {
    const home = await get('/');
    expect(home.status).toBe(200);
    expect(home.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(home.text).not.toContain('<script>alert(1)');
    const run = await get(`/runs/${runId}`);
    expect(run.text).toContain('&lt;b&gt;bold&lt;/b&gt;');
    expect(run.text).toContain('r&quot;1');
  });

  it('serves artifacts as inert data', async () => {
    const raw = await get(`/get-artifact?run_id=${runId}&path=page.html`);
    expect(raw.type).toBe('text/plain; charset=utf-8');
    expect(raw.csp).toBe('sandbox');
    const view = await get(`/runs/${runId}/artifacts?path=page.html`);
    expect(view.text).toContain('&lt;script&gt;steal()&lt;/script&gt;');
    const broken = await get(`/runs/${runId}/artifacts?path=broken.parquet`);
    expect(broken.status).toBe(200);
    expect(broken.text).toMatch(/<div class="error">broken.parquet: not a readable Parquet file/);
  });

  it('hides params equal in all runs unless asked, and thins very long lines', async () => {
    const experimentId = await s.store.createExperiment('columns');
    const ids: string[] = [];
    for (const lr of ['0.1', '0.2']) {
      const run = await s.store.createRun({ experimentId, runName: `lr${lr}` });
      ids.push(run.info.runId);
      await s.store.logBatch(run.info.runId, { params: { lr, model: 'same-model' } });
      for (let start = 0; start < 5000; start += 1000) {
        const metrics = Array.from({ length: 1000 }, (_, i) => ({ key: 'loss', value: 1 / (start + i + 1), step: start + i, timestamp: 1 }));
        await s.store.logBatch(run.info.runId, { metrics });
      }
    }
    const table = await get(`/experiments/${experimentId}`);
    expect(table.text).toContain('params.lr</a>');
    expect(table.text).not.toContain('params.model</a>');
    expect(table.text).toContain('1 param equal in all runs hidden');
    expect((await get(`/experiments/${experimentId}?params=all`)).text).toContain('params.model</a>');

    const compare = await get(`/compare?run=${ids[0]}&run=${ids[1]}`);
    // 5000 points at stride 3 keep steps 0, 3, …, 4998 (1667 points) plus the last step 4999.
    expect(compare.text).toContain('data-points="3336"');
    expect(compare.text).toContain('"step":4999');
    expect(compare.text).toContain('show every k-th point');
  });

  it('answers bad links with error pages that say what is wrong', async () => {
    expect(await get('/compare')).toMatchObject({ status: 400, text: expect.stringContaining('select at least one run') });
    expect(await get(`/compare?run=${runId}&x=sideways`)).toMatchObject({ status: 400, text: expect.stringContaining('x must be one of step, wall, relative') });
    expect(await get('/runs/not-a-run')).toMatchObject({ status: 400, text: expect.stringContaining('invalid run_id') });
    expect(await get(`/runs/${'0'.repeat(32)}`)).toMatchObject({ status: 404, text: expect.stringContaining('no run with id') });
    expect(await get(`/runs/${runId}/artifacts?path=missing.png`)).toMatchObject({ status: 404 });
    expect(await get('/experiments/12345')).toMatchObject({ status: 404 });
    expect(await get('/nowhere')).toMatchObject({ status: 404 });
    expect((await get('/static/vega.min.js')).status).toBe(200);
    expect((await get('/static/jquery.js')).status).toBe(404);
  });

  it('refuses DNS-rebinding Host names and cross-origin writes', async () => {
    const raw = (method: string, path: string, headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const req = request(`${s.server.url}${path}`, { method, headers }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on('error', reject);
        req.end(method === 'POST' ? '{"name": "x-origin"}' : undefined);
      });
    const port = new URL(s.server.url).port;
    expect(await raw('GET', '/', { Host: `evil.example:${port}` })).toBe(403);
    expect(await raw('GET', '/', { Host: `localhost:${port}` })).toBe(200);
    expect(await raw('POST', '/api/2.0/mlflow/experiments/create', { Origin: 'http://evil.example', 'Content-Type': 'application/json' })).toBe(403);
    expect(await s.store.getExperimentByName('x-origin')).toBeUndefined();
    expect(await raw('POST', '/api/2.0/mlflow/experiments/create', { Origin: s.server.url, 'Content-Type': 'application/json' })).toBe(200);
  });
});
