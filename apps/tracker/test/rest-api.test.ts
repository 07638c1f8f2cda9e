import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MlflowRestStore, openTracker } from '@difflab/tracking';
import { call, serveFreshStore, type Served } from './helpers.js';
import { tempDir } from './temp.js';

let s: Served;
let base: string;
beforeAll(async () => {
  s = await serveFreshStore('tracker-rest-');
  base = s.server.url;
});
afterAll(async () => {
  await s.close();
});

describe('MLflow REST API 2.0 over the local store (requests shaped as in the MLflow docs)', () => {
  it('runs the experiment → run → log → read cycle an MLflow client performs', async () => {
    const missing = await call(base, 'GET', 'experiments/get-by-name', { experiment_name: 'rest' });
    expect(missing).toEqual({ status: 404, body: { error_code: 'RESOURCE_DOES_NOT_EXIST', message: "Could not find experiment with name 'rest'" } });

    const created = await call(base, 'POST', 'experiments/create', { name: 'rest', tags: [{ key: 'owner', value: 'ana' }] });
    expect(created.status).toBe(200);
    const experimentId = created.body.experiment_id as string;
    expect(typeof experimentId).toBe('string');
    const again = await call(base, 'POST', 'experiments/create', { name: 'rest' });
    expect(again.status).toBe(400);
    expect(again.body.error_code).toBe('RESOURCE_ALREADY_EXISTS');

    const byName = await call(base, 'GET', 'experiments/get-by-name', { experiment_name: 'rest' });
    expect(byName.body.experiment).toMatchObject({ experiment_id: experimentId, name: 'rest', lifecycle_stage: 'active', tags: [{ key: 'owner', value: 'ana' }] });

    const run = await call(base, 'POST', 'runs/create', {
      experiment_id: experimentId,
      start_time: 1700000000000,
      run_name: 'r1',
      tags: [{ key: 'mlflow.user', value: 'ana' }],
    });
    const info = (run.body.run as { info: Record<string, unknown> }).info;
    expect(info).toMatchObject({ experiment_id: experimentId, run_name: 'r1', status: 'RUNNING', start_time: 1700000000000, lifecycle_stage: 'active' });
    const runId = info.run_id as string;
    expect(info.run_uuid).toBe(runId);
    expect(info.artifact_uri).toBe(`mlflow-artifacts:/${experimentId}/${runId}/artifacts`);

    expect(
      await call(base, 'POST', 'runs/log-batch', {
        run_id: runId,
        metrics: [
          { key: 'loss', value: 0.5, timestamp: 1700000000001, step: 0 },
          { key: 'loss', value: 0.25, timestamp: '1700000000002', step: '1' },
        ],
        params: [{ key: 'lr', value: '0.01' }],
        tags: [{ key: 'phase', value: 'train' }],
      }),
    ).toEqual({ status: 200, body: {} });
    expect((await call(base, 'POST', 'runs/log-metric', { run_id: runId, key: 'acc', value: 0.9, timestamp: 1700000000003, step: 1 })).status).toBe(200);
    expect((await call(base, 'POST', 'runs/log-parameter', { run_id: runId, key: 'model', value: 'DiT-S/2' })).status).toBe(200);
    expect((await call(base, 'POST', 'runs/set-tag', { run_id: runId, key: 'note', value: 'ok' })).status).toBe(200);
    const conflict = await call(base, 'POST', 'runs/log-parameter', { run_id: runId, key: 'lr', value: '0.02' });
    expect(conflict.status).toBe(400);
    expect(conflict.body.error_code).toBe('INVALID_PARAMETER_VALUE');

    const history = await call(base, 'GET', 'metrics/get-history', { run_id: runId, metric_key: 'loss' });
    expect(history.body.metrics).toEqual([
      { key: 'loss', value: 0.5, timestamp: 1700000000001, step: 0 },
      { key: 'loss', value: 0.25, timestamp: 1700000000002, step: 1 },
    ]);
    const tooMany = await call(base, 'GET', 'metrics/get-history', { run_id: runId, metric_key: 'loss', max_results: 25001 });
    expect(tooMany).toMatchObject({ status: 400, body: { error_code: 'INVALID_PARAMETER_VALUE' } });
    const paged = await call(base, 'GET', 'metrics/get-history', { run_id: runId, metric_key: 'loss', max_results: 1 });
    expect(paged.body.metrics).toHaveLength(1);
    const rest = await call(base, 'GET', 'metrics/get-history', { run_id: runId, metric_key: 'loss', max_results: 1, page_token: paged.body.next_page_token as string });
    expect(rest.body).toEqual({ metrics: [{ key: 'loss', value: 0.25, timestamp: 1700000000002, step: 1 }] });

    const updated = await call(base, 'POST', 'runs/update', { run_id: runId, status: 'FINISHED', end_time: 1700000000100 });
    expect(updated.body.run_info).toMatchObject({ run_id: runId, status: 'FINISHED', end_time: 1700000000100 });

    const got = await call(base, 'GET', 'runs/get', { run_id: runId });
    const data = (got.body.run as { data: Record<string, { key: string }[]> }).data;
    expect(data.metrics!.map((m) => m.key).sort()).toEqual(['acc', 'loss']);
    expect(data.params).toEqual([
      { key: 'lr', value: '0.01' },
      { key: 'model', value: 'DiT-S/2' },
    ]);
    expect(data.tags!.map((t) => t.key).sort()).toEqual(['mlflow.runName', 'mlflow.user', 'note', 'phase']);

    const search = await call(base, 'POST', 'runs/search', {
      experiment_ids: [experimentId],
      filter: "params.model = 'DiT-S/2' and metrics.loss < 0.3",
      run_view_type: 'ACTIVE_ONLY',
      max_results: 10,
      order_by: ['metrics.loss ASC'],
    });
    expect((search.body.runs as { info: { run_id: string } }[]).map((r) => r.info.run_id)).toEqual([runId]);
    const none = await call(base, 'POST', 'runs/search', { experiment_ids: [experimentId], filter: 'metrics.loss > 0.3' });
    expect(none.body).toEqual({ runs: [] });

    const experiments = await call(base, 'POST', 'experiments/search', { max_results: 10, filter: "name = 'rest'" });
    expect((experiments.body.experiments as { name: string }[]).map((e) => e.name)).toEqual(['rest']);
  });

  it('answers bad requests with MLflow error codes and statuses', async () => {
    const badFilter = await call(base, 'POST', 'runs/search', { experiment_ids: ['0'], filter: 'metrics.loss < x' });
    expect(badFilter.status).toBe(400);
    expect(badFilter.body.error_code).toBe('INVALID_PARAMETER_VALUE');
    const noRun = await call(base, 'GET', 'runs/get', { run_id: 'f'.repeat(32) });
    expect(noRun).toMatchObject({ status: 404, body: { error_code: 'RESOURCE_DOES_NOT_EXIST' } });
    // An id that is not even hex is just as unknown: MLflow answers 404, not 400.
    const notAnId = await call(base, 'GET', 'runs/get', { run_id: 'no-such-run' });
    expect(notAnId).toMatchObject({ status: 404, body: { error_code: 'RESOURCE_DOES_NOT_EXIST' } });
    const missingField = await call(base, 'POST', 'runs/log-batch', {});
    expect(missingField).toEqual({ status: 400, body: { error_code: 'INVALID_PARAMETER_VALUE', message: "Missing value for required parameter 'run_id'." } });
    const unknown = await call(base, 'GET', 'model-versions/get');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error_code).toBe('ENDPOINT_NOT_FOUND');
    const malformed = await fetch(`${base}/api/2.0/mlflow/runs/create`, { method: 'POST', body: '{nope' });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { error_code: string }).error_code).toBe('BAD_REQUEST');
    const wrongMethod = await fetch(`${base}/api/2.0/mlflow/runs/create`);
    expect(wrongMethod.status).toBe(405);
  });

  it('deletes run tags, tags, renames, deletes and restores experiments (MLflow 2.x semantics)', async () => {
    const experimentId = (await call(base, 'POST', 'experiments/create', { name: 'lifecycle' })).body.experiment_id as string;
    const run = await call(base, 'POST', 'runs/create', { experiment_id: experimentId, tags: [{ key: 'keep', value: '1' }, { key: 'drop', value: '2' }] });
    const runId = (run.body.run as { info: { run_id: string } }).info.run_id;
    const tagsOf = async () => ((await call(base, 'GET', 'runs/get', { run_id: runId })).body.run as { data: { tags: { key: string }[] } }).data.tags.map((t) => t.key);

    expect(await call(base, 'POST', 'runs/delete-tag', { run_id: runId, key: 'drop' })).toEqual({ status: 200, body: {} });
    expect(await tagsOf()).toContain('keep');
    expect(await tagsOf()).not.toContain('drop');
    expect(await call(base, 'POST', 'runs/delete-tag', { run_id: runId, key: 'drop' })).toMatchObject({ status: 404, body: { error_code: 'RESOURCE_DOES_NOT_EXIST' } });

    expect(await call(base, 'POST', 'experiments/set-experiment-tag', { experiment_id: experimentId, key: 'owner', value: 'ana' })).toEqual({ status: 200, body: {} });
    expect(await call(base, 'POST', 'experiments/set-experiment-tag', { experiment_id: experimentId, key: 'owner', value: 'bo' })).toEqual({ status: 200, body: {} });
    const exp = async () => (await call(base, 'GET', 'experiments/get', { experiment_id: experimentId })).body.experiment as { name: string; lifecycle_stage: string; tags: unknown };
    expect((await exp()).tags).toEqual([{ key: 'owner', value: 'bo' }]);

    expect(await call(base, 'POST', 'experiments/update', { experiment_id: experimentId, new_name: 'lifecycle-renamed' })).toEqual({ status: 200, body: {} });
    expect((await exp()).name).toBe('lifecycle-renamed');
    await call(base, 'POST', 'experiments/create', { name: 'taken' });
    expect(await call(base, 'POST', 'experiments/update', { experiment_id: experimentId, new_name: 'taken' })).toMatchObject({ status: 400, body: { error_code: 'RESOURCE_ALREADY_EXISTS' } });

    // Deleting an experiment deletes its runs with it; restoring brings both back.
    expect(await call(base, 'POST', 'experiments/delete', { experiment_id: experimentId })).toEqual({ status: 200, body: {} });
    expect((await exp()).lifecycle_stage).toBe('deleted');
    const runStage = async () => ((await call(base, 'GET', 'runs/get', { run_id: runId })).body.run as { info: { lifecycle_stage: string } }).info.lifecycle_stage;
    expect(await runStage()).toBe('deleted');
    const active = await call(base, 'POST', 'experiments/search', { view_type: 'ACTIVE_ONLY' });
    expect((active.body.experiments as { name: string }[]).map((e) => e.name)).not.toContain('lifecycle-renamed');
    expect(await call(base, 'POST', 'experiments/set-experiment-tag', { experiment_id: experimentId, key: 'x', value: 'y' })).toMatchObject({ status: 400, body: { message: expect.stringContaining('restore it first') } });
    expect(await call(base, 'POST', 'experiments/restore', { experiment_id: experimentId })).toEqual({ status: 200, body: {} });
    expect((await exp()).lifecycle_stage).toBe('active');
    expect(await runStage()).toBe('active');
    expect(await call(base, 'POST', 'experiments/delete', { experiment_id: '99999' })).toMatchObject({ status: 404, body: { error_code: 'RESOURCE_DOES_NOT_EXIST' } });
  });

  it('accepts NaN metrics the way the Python client sends them', async () => {
    const run = await call(base, 'POST', 'runs/create', { experiment_id: '0' });
    const runId = (run.body.run as { info: { run_id: string } }).info.run_id;
    const res = await fetch(`${base}/api/2.0/mlflow/runs/log-batch`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: `{"run_id": "${runId}", "metrics": [{"key": "g", "value": NaN, "timestamp": 1, "step": 0}]}`,
    });
    expect(res.status).toBe(200);
    const text = await (await fetch(`${base}/api/2.0/mlflow/metrics/get-history?run_id=${runId}&metric_key=g`)).text();
    expect(text).toBe('{"metrics":[{"key":"g","value":NaN,"timestamp":1,"step":0}]}');
  });

  it('proxies artifacts like `mlflow server --serve-artifacts`', async () => {
    const run = await call(base, 'POST', 'runs/create', { experiment_id: '0' });
    const info = (run.body.run as { info: { run_id: string; artifact_uri: string } }).info;
    const root = info.artifact_uri.replace('mlflow-artifacts:/', '');
    const put = await fetch(`${base}/api/2.0/mlflow-artifacts/artifacts/${root}/plots/a%20b.png`, { method: 'PUT', body: new Uint8Array([137, 80, 78, 71]) });
    expect(put.status).toBe(200);
    const list = await call(base, 'GET', 'artifacts/list', { run_id: info.run_id, path: 'plots' });
    expect(list.body).toEqual({ root_uri: info.artifact_uri, files: [{ path: 'plots/a b.png', is_dir: false, file_size: 4 }] });
    const proxyList = await (await fetch(`${base}/api/2.0/mlflow-artifacts/artifacts?path=${root}`)).json();
    expect(proxyList).toEqual({ files: [{ path: 'plots', is_dir: true }] });
    const get = await fetch(`${base}/api/2.0/mlflow-artifacts/artifacts/${root}/plots/a%20b.png`);
    expect(get.headers.get('content-type')).toBe('image/png');
    expect(get.headers.get('content-disposition')).toBe(`inline; filename="a b.png"; filename*=UTF-8''a%20b.png`);
    expect([...new Uint8Array(await get.arrayBuffer())]).toEqual([137, 80, 78, 71]);
    const escape = await fetch(`${base}/api/2.0/mlflow-artifacts/artifacts/${root}/..%2F..%2F..%2Fx`, { method: 'PUT', body: 'x' });
    expect(escape.status).toBe(400);
  });
});

describe('difflab MLflow client ↔ difflab server (real round trip)', () => {
  it('logs a run through openTracker(http://…) and reads it back through the REST store', async () => {
    const tracker = openTracker({ uri: base, spoolDir: tempDir('unused-spool-') });
    expect(tracker.kind).toBe('mlflow');
    const run = await tracker.startRun({ experimentName: 'roundtrip', runName: 'rt', tags: { t: '1' } });
    await run.logParams({ lr: 3e-4, model: 'DiT-S/2' });
    run.logMetrics(Array.from({ length: 1500 }, (_, step) => ({ key: 'loss', value: 1 / (step + 1), step, timestamp: 1000 + step })));
    const file = join(tempDir('rt-'), 'grid.png');
    writeFileSync(file, 'png-bytes');
    await run.logArtifact(file, 'samples');
    await run.end('FINISHED');
    expect(run.spooled).toBe(false);

    const client = new MlflowRestStore(base);
    const experiment = await client.getExperimentByName('roundtrip');
    const found = await client.searchRuns({ experimentIds: [experiment!.experimentId], filter: "params.lr = '0.0003'" });
    expect(found.items).toHaveLength(1);
    const stored = found.items[0]!;
    expect(stored.info).toMatchObject({ runName: 'rt', status: 'FINISHED' });
    expect(stored.data.tags.t).toBe('1');
    const history = await client.getMetricHistory(stored.info.runId, 'loss');
    expect(history).toHaveLength(1500);
    expect(history[1499]).toEqual({ key: 'loss', value: 1 / 1500, step: 1499, timestamp: 2499 });
    expect(await client.listArtifacts(stored.info.runId, 'samples')).toEqual([{ path: 'samples/grid.png', isDir: false, fileSize: 9 }]);
    expect(Buffer.from(await client.readArtifact(stored.info.runId, 'samples/grid.png')).toString()).toBe('png-bytes');
    await tracker.close();
  });
});
