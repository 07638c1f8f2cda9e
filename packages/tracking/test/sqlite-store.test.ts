import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { AlreadyExistsError, InvalidParameterError, locationOfDir, NotFoundError, SqliteStore, TrackingError } from '../src/index.js';
import { tempDir } from './temp.js';

let dir: string;
let store: SqliteStore;

beforeEach(() => {
  dir = tempDir('tracking-store-');
  store = new SqliteStore(locationOfDir(dir));
});
afterEach(async () => {
  await store.close();
});

async function newRun(name = 'r', experiment = 'exp') {
  const experimentId = await store.ensureExperiment(experiment);
  return store.createRun({ experimentId, runName: name, startTime: 1000 });
}

describe('SqliteStore experiments', () => {
  it('has the Default experiment with id 0 and creates others with increasing ids', async () => {
    expect((await store.getExperiment('0')).name).toBe('Default');
    const a = await store.createExperiment('a', { owner: 'ana' });
    const b = await store.createExperiment('b');
    expect(Number(b)).toBe(Number(a) + 1);
    const e = await store.getExperimentByName('a');
    expect(e).toMatchObject({ experimentId: a, name: 'a', artifactLocation: `mlflow-artifacts:/${a}`, lifecycleStage: 'active', tags: { owner: 'ana' } });
    expect(await store.getExperimentByName('missing')).toBeUndefined();
  });

  it('rejects a duplicate name and an unknown id with typed errors', async () => {
    await store.createExperiment('dup');
    await expect(store.createExperiment('dup')).rejects.toBeInstanceOf(AlreadyExistsError);
    await expect(store.getExperiment('99')).rejects.toBeInstanceOf(NotFoundError);
    expect(await store.ensureExperiment('dup')).toBe((await store.getExperimentByName('dup'))!.experimentId);
  });

  it('filters and sorts experiments', async () => {
    await store.createExperiment('scaling-dit', { owner: 'ana' });
    await store.createExperiment('scaling-unet', { owner: 'bo' });
    await store.createExperiment('pruning');
    const names = async (filter: string, orderBy?: string[]) => (await store.searchExperiments({ filter, orderBy })).items.map((e) => e.name);
    expect(await names("name LIKE 'scaling%'", ['name DESC'])).toEqual(['scaling-unet', 'scaling-dit']);
    expect(await names("tags.owner = 'ana'")).toEqual(['scaling-dit']);
    expect(await names("name ILIKE '%PRUN%'")).toEqual(['pruning']);
  });
});

describe('SqliteStore runs', () => {
  it('creates a RUNNING run with MLflow ids, run-name tag and artifact URI, and ends it', async () => {
    const run = await newRun('first');
    expect(run.info.runId).toMatch(/^[0-9a-f]{32}$/);
    expect(run.info).toMatchObject({ runName: 'first', status: 'RUNNING', startTime: 1000, endTime: null, lifecycleStage: 'active' });
    expect(run.info.artifactUri).toBe(`mlflow-artifacts:/${run.info.experimentId}/${run.info.runId}/artifacts`);
    expect(run.data.tags['mlflow.runName']).toBe('first');
    const info = await store.updateRun(run.info.runId, { status: 'FAILED', endTime: 2000 });
    expect(info).toMatchObject({ status: 'FAILED', endTime: 2000 });
    await expect(store.updateRun(run.info.runId, { status: 'DONE' as never })).rejects.toThrow(/invalid run status 'DONE'/);
  });

  it('keeps params immutable but allows re-logging the same value', async () => {
    const { info } = await newRun();
    await store.logBatch(info.runId, { params: { lr: '0.1' } });
    await store.logBatch(info.runId, { params: { lr: '0.1' } });
    await expect(store.logBatch(info.runId, { params: { lr: '0.2' } })).rejects.toThrow(/param 'lr' .* is already '0.1'/);
    // The failed batch is one transaction: nothing of it is stored.
    await expect(store.logBatch(info.runId, { params: { lr: '0.3', other: 'x' } })).rejects.toBeInstanceOf(InvalidParameterError);
    expect((await store.getRun(info.runId)).data.params).toEqual({ lr: '0.1' });
  });

  it('overwrites tags, and the mlflow.runName tag renames the run', async () => {
    const { info } = await newRun('old');
    await store.logBatch(info.runId, { tags: { a: '1' } });
    await store.logBatch(info.runId, { tags: { a: '2', 'mlflow.runName': 'new' } });
    const run = await store.getRun(info.runId);
    expect(run.data.tags.a).toBe('2');
    expect(run.info.runName).toBe('new');
  });

  it('stores metric history, latest value by (step, timestamp, value), and identical rows once', async () => {
    const { info } = await newRun();
    const id = info.runId;
    await store.logBatch(id, {
      metrics: [
        { key: 'loss', value: 3, step: 2, timestamp: 10 },
        { key: 'loss', value: 5, step: 1, timestamp: 99 },
        { key: 'loss', value: 4, step: 2, timestamp: 10 },
        { key: 'loss', value: 3, step: 2, timestamp: 10 },
      ],
    });
    const history = await store.getMetricHistory(id, 'loss');
    expect(history.map((m) => [m.step, m.value])).toEqual([
      [1, 5],
      [2, 3],
      [2, 4],
    ]);
    // Hand-computed: the largest step is 2 (timestamp 10 for both); the larger value 4 wins.
    expect((await store.getRun(id)).data.metrics).toEqual([{ key: 'loss', value: 4, step: 2, timestamp: 10 }]);
  });

  it('round-trips NaN and infinite metric values', async () => {
    const { info } = await newRun();
    await store.logBatch(info.runId, {
      metrics: [
        { key: 'm', value: Number.NaN, step: 0, timestamp: 1 },
        { key: 'm', value: Number.POSITIVE_INFINITY, step: 1, timestamp: 1 },
        { key: 'm', value: Number.NEGATIVE_INFINITY, step: 2, timestamp: 1 },
      ],
    });
    expect((await store.getMetricHistory(info.runId, 'm')).map((m) => m.value)).toEqual([Number.NaN, Infinity, -Infinity]);
  });

  it('searches runs with MLflow filters, ordering and pages', async () => {
    const experimentId = await store.ensureExperiment('search');
    const specs = [
      { name: 'a', model: 'DiT-S/2', loss: 0.04 },
      { name: 'b', model: 'DiT-S/2', loss: 0.2 },
      { name: 'c', model: 'DiT-B/4', loss: 0.01 },
      { name: 'd', model: 'DiT-S/2', loss: undefined },
    ];
    for (const [i, s] of specs.entries()) {
      const run = await store.createRun({ experimentId, runName: s.name, startTime: 100 + i });
      await store.logBatch(run.info.runId, {
        params: { model: s.model },
        metrics: s.loss === undefined ? [] : [{ key: 'loss', value: s.loss, step: 0, timestamp: 1 }],
      });
    }
    const names = async (filter: string, orderBy?: string[]) =>
      (await store.searchRuns({ experimentIds: [experimentId], filter, orderBy })).items.map((r) => r.info.runName);
    expect(await names("params.model = 'DiT-S/2' and metrics.loss < 0.05")).toEqual(['a']);
    expect(await names('', ['metrics.loss ASC'])).toEqual(['c', 'a', 'b', 'd']);
    expect(await names('', ['metrics.loss DESC'])).toEqual(['b', 'a', 'c', 'd']);
    expect(await names('')).toEqual(['d', 'c', 'b', 'a']);
    expect(await names("attributes.run_name IN ('a', 'c')", ['attributes.run_name'])).toEqual(['a', 'c']);
    expect(await names("params.model != 'DiT-S/2'")).toEqual(['c']);
    expect(await names('attributes.start_time >= 102', ['attributes.start_time ASC'])).toEqual(['c', 'd']);
    const first = await store.searchRuns({ experimentIds: [experimentId], maxResults: 3 });
    expect(first.items).toHaveLength(3);
    const second = await store.searchRuns({ experimentIds: [experimentId], maxResults: 3, pageToken: first.nextPageToken });
    expect(second.items.map((r) => r.info.runName)).toEqual(['a']);
    expect(second.nextPageToken).toBeUndefined();
    await expect(store.searchRuns({ experimentIds: [experimentId], pageToken: 'garbage' })).rejects.toThrow(/invalid page_token/);
    await expect(store.searchRuns({ experimentIds: [experimentId], maxResults: 0 })).rejects.toThrow(/max_results/);
  });

  it('hides deleted runs unless asked and refuses to log to them', async () => {
    const { info } = await newRun();
    await store.deleteRun(info.runId);
    expect((await store.searchRuns({ experimentIds: [info.experimentId] })).items).toHaveLength(0);
    expect((await store.searchRuns({ experimentIds: [info.experimentId], runViewType: 'ALL' })).items).toHaveLength(1);
    await expect(store.logBatch(info.runId, { tags: { a: 'b' } })).rejects.toThrow(/is deleted/);
  });

  it('rejects bad run ids, keys and values with errors naming the problem', async () => {
    const { info } = await newRun();
    await expect(store.getRun('nope')).rejects.toMatchObject({ errorCode: 'RESOURCE_DOES_NOT_EXIST', message: expect.stringMatching(/no run with id "nope"/) });
    await expect(store.getRun('0'.repeat(32))).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.logBatch(info.runId, { params: { 'a/../b': '1' } })).rejects.toThrow(/would resolve to the path 'b'/);
    await expect(store.logBatch(info.runId, { params: { 'bad!': '1' } })).rejects.toThrow(/invalid param key 'bad!'/);
    await expect(store.logBatch(info.runId, { params: { big: 'x'.repeat(6001) } })).rejects.toThrow(/6001 characters; the limit is 6000/);
    await expect(store.logBatch(info.runId, { tags: { t: 'x'.repeat(8001) } })).rejects.toThrow(/limit is 8000/);
    await expect(store.logBatch(info.runId, { metrics: [{ key: 'm', value: 1, step: 0.5, timestamp: 1 }] })).rejects.toThrow(/step must be an integer/);
    const many = Array.from({ length: 1001 }, (_, i) => ({ key: 'm', value: i, step: i, timestamp: 1 }));
    await expect(store.logBatch(info.runId, { metrics: many })).rejects.toThrow(/at most 1000 metrics/);
  });
});

describe('SqliteStore search loads what the page shows', () => {
  it('returns whole runs when the filter and order read only some keys, and counts runs per experiment', async () => {
    const experimentId = await store.ensureExperiment('two-phase');
    for (const [i, lr] of ['0.1', '0.2', '0.3'].entries()) {
      const run = await store.createRun({ experimentId, runName: `r${i}`, startTime: 1000 + i, tags: { phase: 'train' } });
      await store.logBatch(run.info.runId, { params: { lr, seed: String(i) }, metrics: [{ key: 'loss', value: 1 / (i + 1), step: 1, timestamp: 1 }, { key: 'acc', value: i, step: 1, timestamp: 1 }] });
    }
    const found = await store.searchRuns({ experimentIds: [experimentId], filter: 'metrics.loss < 0.9', orderBy: ['params.lr DESC'], maxResults: 1 });
    expect(found.items.map((r) => r.info.runName)).toEqual(['r2']);
    expect(found.items[0]!.data).toEqual({
      params: { lr: '0.3', seed: '2' },
      tags: { phase: 'train', 'mlflow.runName': 'r2' },
      metrics: [
        { key: 'acc', value: 2, step: 1, timestamp: 1 },
        { key: 'loss', value: 1 / 3, step: 1, timestamp: 1 },
      ],
    });
    const next = await store.searchRuns({ experimentIds: [experimentId], filter: 'metrics.loss < 0.9', orderBy: ['params.lr DESC'], maxResults: 1, pageToken: found.nextPageToken });
    expect(next.items.map((r) => r.info.runName)).toEqual(['r1']);
    expect(next.nextPageToken).toBeUndefined();
    expect(store.runSummary().get(experimentId)).toEqual({ runs: 3, lastStartTime: 1002 });
  });
});

describe('SqliteStore artifacts', () => {
  it('writes, lists and reads artifacts under the run root', async () => {
    const { info } = await newRun();
    await store.putArtifact(info.runId, 'samples/grid.png', new Uint8Array([1, 2, 3]));
    await store.putArtifact(info.runId, 'config.json', new TextEncoder().encode('{}'));
    expect(await store.listArtifacts(info.runId)).toEqual([
      { path: 'config.json', isDir: false, fileSize: 2 },
      { path: 'samples', isDir: true },
    ]);
    expect(await store.listArtifacts(info.runId, 'samples')).toEqual([{ path: 'samples/grid.png', isDir: false, fileSize: 3 }]);
    expect([...(await store.readArtifact(info.runId, 'samples/grid.png'))]).toEqual([1, 2, 3]);
    await expect(store.readArtifact(info.runId, 'missing.png')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('refuses paths that escape the run directory', async () => {
    const { info } = await newRun();
    await expect(store.putArtifact(info.runId, '../../evil', new Uint8Array([1]))).rejects.toThrow(/without '\.\.' segments/);
    await expect(store.putArtifact(info.runId, '/etc/passwd', new Uint8Array([1]))).rejects.toThrow(/invalid artifact path/);
    await expect(store.listArtifacts(info.runId, 'a/../../..')).rejects.toThrow(/invalid artifact path/);
    // Staying inside the artifact root is not enough: a path must not leave its own run.
    expect(() => store.artifactFile(`${info.artifactUri}/../../x`)).toThrow(/without '\.\.' segments/);
    expect(store.artifactFile(info.artifactUri, 'a/b.png')).toBe(join(dir, 'artifacts', info.experimentId, info.runId, 'artifacts', 'a', 'b.png'));
  });
});

describe('SqliteStore file', () => {
  it('uses WAL journaling', () => {
    const db = new Database(join(dir, 'mlruns.db'), { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('refuses a database created by MLflow itself', () => {
    const file = join(dir, 'mlflow.db');
    const db = new Database(file);
    db.exec('CREATE TABLE alembic_version (version_num TEXT)');
    db.close();
    expect(() => new SqliteStore({ dbPath: file, artifactRoot: join(dir, 'a') })).toThrow(TrackingError);
    expect(() => new SqliteStore({ dbPath: file, artifactRoot: join(dir, 'a') })).toThrow(/mlflow server --backend-store-uri/);
  });

  it('is not a database → a clear error', () => {
    const file = join(dir, 'junk.db');
    writeFileSync(file, 'not sqlite at all, definitely not sqlite at all, not even close..........');
    expect(() => new SqliteStore({ dbPath: file, artifactRoot: join(dir, 'a') })).toThrow(/junk.db is not a SQLite database/);
  });
});
