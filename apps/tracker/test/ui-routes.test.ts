import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flattenParams } from '@difflab/tracking';
import { tinyDiTConfig } from './fixtures/tiny-dit.js';
import { serveFreshStore, type Served } from './helpers.js';
import { tempDir } from './temp.js';

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

  it('shows the progress and ETA of a running run and refreshes the table while one runs', async () => {
    const experimentId = await s.store.createExperiment('in-progress');
    const run = await s.store.createRun({ experimentId, runName: 'halfway', startTime: Date.now() - 60_000 });
    await s.store.logBatch(run.info.runId, { params: { 'train.steps': '400' }, metrics: [{ key: 'loss', value: 0.5, step: 100, timestamp: Date.now() }] });
    const html = (await get(`/experiments/${experimentId}`)).text;
    expect(html).toContain('<progress max="400" value="100"></progress>');
    // 100 steps in 60 s leave 300 steps: about 3 minutes.
    expect(html).toMatch(/step 100\/400 · ETA 3\.0 min/);
    expect(html).toContain('data-refresh-ms="15000"');
    await s.store.updateRun(run.info.runId, { status: 'FINISHED', endTime: Date.now() });
    const done = (await get(`/experiments/${experimentId}`)).text;
    expect(done).not.toContain('<progress');
    expect(done).not.toContain('data-refresh-ms');
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
    expect(await get('/compare')).toMatchObject({ status: 400, text: expect.stringContaining('No runs selected: tick one or more runs') });
    expect(await get(`/compare?run=${runId}&x=sideways`)).toMatchObject({ status: 400, text: expect.stringContaining('x must be one of step, wall, relative') });
    // MLflow: any unknown run id, well-formed or not, is 404 RESOURCE_DOES_NOT_EXIST.
    expect(await get('/runs/not-a-run')).toMatchObject({ status: 404, text: expect.stringContaining('no run with id &quot;not-a-run&quot;') });
    expect(await get(`/runs/${'0'.repeat(32)}`)).toMatchObject({ status: 404, text: expect.stringContaining('no run with id') });
    expect(await get(`/runs/${runId}/artifacts?path=missing.png`)).toMatchObject({ status: 404 });
    expect(await get('/experiments/12345')).toMatchObject({ status: 404 });
    expect(await get('/nowhere')).toMatchObject({ status: 404 });
    expect((await get('/static/vega.min.js')).status).toBe(200);
    expect((await get('/static/jquery.js')).status).toBe(404);
  });

  it('gives every error page a way back: to the runs table the form came from, else the experiments', async () => {
    const fromTable = await get('/compare?experiment=7');
    expect(fromTable.text).toMatch(/<a id="back" href="\/experiments\/7">/);
    expect((await get('/runs/not-a-run')).text).toMatch(/<a id="back" href="\/">/);
    expect((await get('/nowhere')).text).toMatch(/<a id="back" href="\/">/);
  });

  it('names downloaded artifacts after the file (Content-Disposition)', async () => {
    await s.store.putArtifact(runId, 'samples/step-0000500.png', new Uint8Array([137, 80, 78, 71]));
    const res = await fetch(`${s.server.url}/get-artifact?run_id=${runId}&path=samples/step-0000500.png&download=1`);
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="step-0000500.png"; filename*=UTF-8''step-0000500.png`);
    const inline = await fetch(`${s.server.url}/get-artifact?run_id=${runId}&path=page.html`);
    expect(inline.headers.get('content-disposition')).toBe(`inline; filename="page.html"; filename*=UTF-8''page.html`);
  });

  it('suggests a filter over a param key the trainer really logs, and the suggestion finds such a run', async () => {
    const experimentId = await s.store.createExperiment('placeholder');
    const trainerParams = flattenParams(tinyDiTConfig(0.001, 4));
    const run = await s.store.createRun({ experimentId, runName: 'as-trained' });
    await s.store.logBatch(run.info.runId, {
      params: Object.fromEntries(Object.entries(trainerParams).map(([k, v]) => [k, String(v)])),
      metrics: [{ key: 'heldout_loss', value: 0.05, step: 4, timestamp: 1 }],
    });
    const html = (await get(`/experiments/${experimentId}`)).text;
    const placeholder = html.match(/id="filter" name="filter" value="" placeholder="([^"]*)"/)![1]!.replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
    const [, key, value] = placeholder.match(/^params\.`([^`]+)` = '([^']+)'/)!;
    expect(trainerParams[key!]).toBe(value);
    const found = await s.store.searchRuns({ experimentIds: [experimentId], filter: placeholder });
    expect(found.items.map((r) => r.info.runId)).toEqual([run.info.runId]);
  });

  it('downloads an artifact folder as a .zip that Debian unzip reads back byte for byte', async () => {
    const text = 'step,loss\n'.repeat(500);
    const bytes = new Uint8Array(Array.from({ length: 3000 }, (_, i) => (i * 7919) % 256));
    await s.store.putArtifact(runId, 'bundle/log.csv', new TextEncoder().encode(text));
    await s.store.putArtifact(runId, 'bundle/deep/grid é.png', bytes);
    const res = await fetch(`${s.server.url}/get-artifact-archive?run_id=${runId}&path=bundle`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/zip');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="bundle.zip"; filename*=UTF-8''bundle.zip`);
    const zip = join(tempDir('tracker-zip-'), 'bundle.zip');
    const body = Buffer.from(await res.arrayBuffer());
    writeFileSync(zip, body);
    // The CSV compresses (deflated), the pseudo-random bytes do not (stored): both methods are exercised.
    expect(body.length).toBeLessThan(text.length + bytes.length);
    // unzip prints names in the locale's charset: a UTF-8 locale shows the UTF-8 flag was honoured.
    const utf8 = { ...process.env, LC_ALL: 'C.UTF-8' };
    expect(execFileSync('unzip', ['-Z1', zip], { encoding: 'utf8', env: utf8 }).trim().split('\n').sort()).toEqual(['deep/grid é.png', 'log.csv']);
    expect(execFileSync('unzip', ['-tq', zip], { encoding: 'utf8' })).toContain('No errors detected');
    expect(execFileSync('unzip', ['-p', zip, 'log.csv'], { encoding: 'utf8' })).toBe(text);
    expect([...execFileSync('unzip', ['-p', zip, 'deep/grid é.png'], { env: utf8 })]).toEqual([...bytes]);
    expect((await get(`/get-artifact-archive?run_id=${runId}&path=nothing-here`)).status).toBe(404);
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
