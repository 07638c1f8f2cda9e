import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { flattenParams, InvalidParameterError, localTrackingDir, openTracker, resolveTrackingTarget, SqliteStore, TrackingError, workspaceRoot } from '../src/index.js';
import { tempDir } from './temp.js';

const tmp = () => tempDir('tracker-api-');

describe('resolveTrackingTarget', () => {
  it('maps URIs and environment to backends', () => {
    expect(resolveTrackingTarget('http://mlflow:5000')).toEqual({ kind: 'mlflow', url: 'http://mlflow:5000' });
    expect(resolveTrackingTarget(undefined, { MLFLOW_TRACKING_URI: 'https://x.org/mlflow' })).toEqual({ kind: 'mlflow', url: 'https://x.org/mlflow' });
    expect(resolveTrackingTarget('sqlite:////data/t.db')).toEqual({ kind: 'local', location: { dbPath: '/data/t.db', artifactRoot: '/data/artifacts' } });
    expect(resolveTrackingTarget('sqlite:///rel/t.db')).toEqual({ kind: 'local', location: { dbPath: resolve('rel/t.db'), artifactRoot: resolve('rel/artifacts') } });
    expect(resolveTrackingTarget('/srv/track')).toEqual({ kind: 'local', location: { dbPath: '/srv/track/mlruns.db', artifactRoot: '/srv/track/artifacts' } });
    expect(resolveTrackingTarget(undefined, { DIFFLAB_TRACKING_DIR: '/d' })).toEqual({ kind: 'local', location: { dbPath: '/d/mlruns.db', artifactRoot: '/d/artifacts' } });
    // This test runs in packages/tracking; the default store sits at the monorepo root, two levels up.
    expect(resolveTrackingTarget(undefined, {})).toEqual({
      kind: 'local',
      location: { dbPath: resolve('../../.difflab/tracking/mlruns.db'), artifactRoot: resolve('../../.difflab/tracking/artifacts') },
    });
    expect(() => resolveTrackingTarget('databricks://profile')).toThrow(TrackingError);
    expect(() => resolveTrackingTarget('databricks://profile')).toThrow(/unsupported tracking URI/);
  });
});

describe('one default store per workspace', () => {
  it('finds the workspace root from any subfolder: the package.json with workspaces, else .git, else the folder itself', () => {
    const ws = tmp();
    writeFileSync(join(ws, 'package.json'), JSON.stringify({ name: 'ws', workspaces: ['packages/*'] }));
    mkdirSync(join(ws, 'packages', 'sub', 'src'), { recursive: true });
    writeFileSync(join(ws, 'packages', 'sub', 'package.json'), JSON.stringify({ name: 'sub' }));
    expect(workspaceRoot(join(ws, 'packages', 'sub', 'src'))).toBe(ws);
    expect(localTrackingDir({}, join(ws, 'packages', 'sub'))).toBe(join(ws, '.difflab', 'tracking'));
    expect(localTrackingDir({ DIFFLAB_TRACKING_DIR: 'elsewhere' }, join(ws, 'packages'))).toBe(join(ws, 'packages', 'elsewhere'));

    const repo = tmp();
    mkdirSync(join(repo, '.git'));
    mkdirSync(join(repo, 'a', 'b'), { recursive: true });
    expect(workspaceRoot(join(repo, 'a', 'b'))).toBe(repo);
  });

  it('a run logged from a subfolder is in the store opened at the workspace root', async () => {
    const ws = tmp();
    writeFileSync(join(ws, 'package.json'), JSON.stringify({ name: 'ws', workspaces: ['apps/*'] }));
    mkdirSync(join(ws, 'apps', 'trainer'), { recursive: true });
    const cwd = process.cwd();
    try {
      process.chdir(join(ws, 'apps', 'trainer'));
      const tracker = openTracker({ env: {} });
      const run = await tracker.startRun({ experimentName: 'from-subfolder' });
      run.logMetrics([{ key: 'loss', value: 1, step: 0 }]);
      await run.end();
      await tracker.close();

      process.chdir(ws);
      const target = resolveTrackingTarget(undefined, {});
      if (target.kind !== 'local') throw new Error('expected the local store');
      expect(target.location.dbPath).toBe(join(ws, '.difflab', 'tracking', 'mlruns.db'));
      const store = new SqliteStore(target.location);
      const exp = await store.getExperimentByName('from-subfolder');
      expect((await store.searchRuns({ experimentIds: [exp!.experimentId] })).items.map((r) => r.info.runId)).toEqual([run.runId]);
      await store.close();
    } finally {
      process.chdir(cwd);
    }
  });
});

describe('flattenParams', () => {
  it('turns a nested config into dotted MLflow params', () => {
    expect(flattenParams({ model: { name: 'DiT-S/2', depth: 6, ada: { zero: true } }, lrs: [1e-4, 2e-4], ema: null, skip: undefined })).toEqual({
      'model.name': 'DiT-S/2',
      'model.depth': 6,
      'model.ada.zero': true,
      lrs: '[0.0001,0.0002]',
      ema: 'null',
    });
    expect(() => flattenParams({ f: () => 1 })).toThrow(/config value at 'f' is a function/);
  });
});

describe('Tracker on the local store', () => {
  it('records params, buffered metrics, tags, artifacts and the end status', async () => {
    const dir = tmp();
    const tracker = openTracker({ uri: join(dir, 'store'), flushEvery: 3 });
    const run = await tracker.startRun({ experimentName: 'api', runName: 'one', tags: { team: 'x' } });
    await run.logParams({ lr: 0.001, model: 'DiT-S/2', ema: true });
    run.logMetrics([{ key: 'loss', value: 2, step: 0, timestamp: 5 }]);
    run.logMetrics([{ key: 'loss', value: 1, step: 1 }]);
    await run.setTags({ phase: 'warmup' });
    const files = join(dir, 'files');
    mkdirSync(join(files, 'grids'), { recursive: true });
    writeFileSync(join(files, 'grids', 'a.png'), 'A');
    writeFileSync(join(files, 'grids', 'b.png'), 'BB');
    writeFileSync(join(files, 'metrics.parquet'), 'PQ');
    await run.logArtifact(join(files, 'grids'), 'samples');
    await run.logArtifact(join(files, 'metrics.parquet'));
    await run.end('KILLED');
    await run.end('FINISHED');

    const stored = await tracker.getRun(run.runId);
    expect(stored.info.status).toBe('KILLED');
    expect(stored.info.endTime).toBeGreaterThanOrEqual(stored.info.startTime);
    expect(stored.data.params).toEqual({ lr: '0.001', model: 'DiT-S/2', ema: 'true' });
    expect(stored.data.tags).toMatchObject({ team: 'x', phase: 'warmup', 'mlflow.runName': 'one' });
    const history = await tracker.getMetricHistory(run.runId, 'loss');
    expect(history.map((m) => [m.step, m.value])).toEqual([
      [0, 2],
      [1, 1],
    ]);
    expect(history[0]!.timestamp).toBe(5);
    expect((await tracker.listArtifacts(run.runId, 'samples/grids')).map((f) => [f.path, f.fileSize])).toEqual([
      ['samples/grids/a.png', 1],
      ['samples/grids/b.png', 2],
    ]);
    expect((await tracker.listArtifacts(run.runId)).map((f) => f.path)).toEqual(['metrics.parquet', 'samples']);
    await expect(run.logParams({ late: 1 })).rejects.toThrow(/has ended/);
    await tracker.close();
  });

  it('flushes automatically once flushEvery metrics wait', async () => {
    const tracker = openTracker({ uri: tmp(), flushEvery: 4, flushIntervalMs: 60_000 });
    const run = await tracker.startRun();
    run.logMetrics([1, 2, 3].map((step) => ({ key: 'm', value: step, step })));
    await new Promise((r) => setTimeout(r, 50));
    expect(await tracker.getMetricHistory(run.runId, 'm')).toHaveLength(0);
    run.logMetrics([{ key: 'm', value: 4, step: 4 }]);
    await new Promise((r) => setTimeout(r, 50));
    expect(await tracker.getMetricHistory(run.runId, 'm')).toHaveLength(4);
    await run.end();
    expect((await tracker.getRun(run.runId)).info.experimentId).toBe('0');
    await tracker.close();
  });

  it('reports a batch the store rejected in the background at the next call', async () => {
    const tracker = openTracker({ uri: tmp(), flushEvery: 1 });
    const run = await tracker.startRun();
    await (tracker.store as SqliteStore).deleteRun(run.runId);
    run.logMetrics([{ key: 'm', value: 1 }]);
    await new Promise((r) => setTimeout(r, 50));
    expect(() => run.logMetrics([{ key: 'm', value: 2 }])).toThrow(/is deleted; restore it/);
    await tracker.close();
  });

  it('rejects bad input when it is logged, not later', async () => {
    const tracker = openTracker({ uri: tmp() });
    const run = await tracker.startRun({ experimentName: 'bad' });
    expect(() => run.logMetrics([{ key: 'bad key!', value: 1 }])).toThrow(InvalidParameterError);
    expect(() => run.logMetrics([{ key: 'm', value: 1, step: 1.5 }])).toThrow(/step must be an integer/);
    await expect(run.logParams({ nested: { a: 1 } as never })).rejects.toThrow(/flatten objects into dotted keys/);
    await expect(run.logParams({ long: 'x'.repeat(6001) })).rejects.toThrow(/Log long values .* as an artifact/);
    await run.logParams({ lr: 0.1 });
    await expect(run.logParams({ lr: 0.2 })).rejects.toThrow(/params cannot change/);
    await expect(run.logArtifact('/nonexistent/file.png')).rejects.toThrow(/does not exist/);
    await expect(tracker.startRun({ tags: { 'a//b': 'x' } })).rejects.toThrow(/invalid tag key/);
    await run.end('FAILED');
    expect((await tracker.getRun(run.runId)).info.status).toBe('FAILED');
    await tracker.close();
  });
});
