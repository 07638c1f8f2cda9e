import { writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { locationOfDir, MlflowRestStore, openTracker, SqliteStore, syncSpool } from '@difflab/tracking';
import { serveFreshStore, type Served } from './helpers.js';
import { tempDir } from './temp.js';

type Mode = 'pass' | 'fail' | 'hang' | 'budget';

/** A proxy in front of a healthy tracker that can pass, fail (503), hang, or pass only `budget` requests. */
async function controllableProxy(target: string) {
  const state = { mode: 'pass' as Mode, budget: 0, requests: 0 };
  const server: Server = createServer((req, res) => {
    state.requests++;
    if (state.mode === 'hang') return;
    if (state.mode === 'fail' || (state.mode === 'budget' && state.budget-- <= 0)) {
      res.writeHead(503).end('down for maintenance');
      return;
    }
    const up = request(new URL(req.url!, target), { method: req.method, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode!, upRes.headers);
      upRes.pipe(res);
    });
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    state,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

const retry = { retries: 2, baseDelayMs: 10, maxDelayMs: 40, timeoutMs: 250 };
let healthy: Served;
let proxy: Awaited<ReturnType<typeof controllableProxy>>;
let remote: MlflowRestStore;

beforeAll(async () => {
  healthy = await serveFreshStore('tracker-healthy-');
  proxy = await controllableProxy(healthy.server.url);
  remote = new MlflowRestStore(healthy.server.url);
});
afterAll(async () => {
  proxy.close();
  await healthy.close();
});

async function remoteRuns(experimentName: string) {
  const e = await remote.getExperimentByName(experimentName);
  return e ? (await remote.searchRuns({ experimentIds: [e.experimentId] })).items : [];
}

describe('a remote tracker that is down or slow does not stop training', () => {
  it('spools a run started while the server is down, and sync pushes it exactly once', async () => {
    const spoolDir = tempDir('spool-');
    const warnings: string[] = [];
    proxy.state.mode = 'fail';
    const tracker = openTracker({ uri: proxy.url, spoolDir, retry, warn: (m) => warnings.push(m) });
    const run = await tracker.startRun({ experimentName: 'down-at-start', runName: 'spooled', tags: { k: 'v' } });
    expect(run.spooled).toBe(true);
    expect(warnings[0]).toMatch(/unavailable: .*failed 3 times; last problem: HTTP 503.*Logging this run to the local store .*difflab tracker sync/);
    await run.logParams({ lr: 0.1 });
    run.logMetrics(Array.from({ length: 2500 }, (_, step) => ({ key: 'loss', value: 1 / (step + 1), step, timestamp: 1 + step })));
    const file = join(spoolDir, 'grid.png');
    writeFileSync(file, 'grid');
    await run.logArtifact(file, 'samples');
    await run.end('FINISHED');
    await tracker.close();
    expect(await remoteRuns('down-at-start')).toHaveLength(0);

    proxy.state.mode = 'pass';
    const spool = new SqliteStore(locationOfDir(spoolDir));
    const first = await syncSpool(spool, { retry });
    expect(first).toEqual({ synced: 1, pending: 0, metricsPushed: 2500, errors: [] });
    const second = await syncSpool(spool, { retry });
    expect(second).toEqual({ synced: 0, pending: 0, metricsPushed: 0, errors: [] });
    await spool.close();

    const runs = await remoteRuns('down-at-start');
    expect(runs).toHaveLength(1);
    const [pushed] = runs;
    expect(pushed!.info).toMatchObject({ runName: 'spooled', status: 'FINISHED' });
    expect(pushed!.data.params).toEqual({ lr: '0.1' });
    expect(pushed!.data.tags.k).toBe('v');
    const history = await remote.getMetricHistory(pushed!.info.runId, 'loss');
    expect(history.map((m) => m.step)).toEqual(Array.from({ length: 2500 }, (_, s) => s));
    expect(Buffer.from(await remote.readArtifact(pushed!.info.runId, 'samples/grid.png')).toString()).toBe('grid');
  });

  it('moves a run to the spool when the server hangs mid-run, and sync completes the remote run', async () => {
    const spoolDir = tempDir('spool-');
    proxy.state.mode = 'pass';
    const tracker = openTracker({ uri: proxy.url, spoolDir, retry, warn: () => undefined });
    const run = await tracker.startRun({ experimentName: 'hang-mid-run', runName: 'half' });
    await run.logParams({ seed: 7 });
    run.logMetrics(Array.from({ length: 100 }, (_, step) => ({ key: 'loss', value: step, step, timestamp: 1 })));
    await run.flush();
    expect(run.spooled).toBe(false);

    proxy.state.mode = 'hang';
    const started = Date.now();
    run.logMetrics(Array.from({ length: 100 }, (_, i) => ({ key: 'loss', value: 100 + i, step: 100 + i, timestamp: 1 })));
    await run.flush();
    run.logMetrics([{ key: 'loss', value: 200, step: 200, timestamp: 1 }]);
    await run.end('KILLED');
    // One failed request (3 attempts × 250 ms timeout + backoff), then local writes only.
    expect(Date.now() - started).toBeLessThan(3000);
    expect(run.spooled).toBe(true);
    await tracker.close();

    const [partial] = await remoteRuns('hang-mid-run');
    expect(partial!.info.status).toBe('RUNNING');
    expect(await remote.getMetricHistory(partial!.info.runId, 'loss')).toHaveLength(100);

    proxy.state.mode = 'pass';
    const spool = new SqliteStore(locationOfDir(spoolDir));
    expect(await syncSpool(spool, { retry })).toMatchObject({ synced: 1, metricsPushed: 101 });
    await spool.close();
    const runs = await remoteRuns('hang-mid-run');
    expect(runs).toHaveLength(1);
    expect(runs[0]!.info.status).toBe('KILLED');
    expect(runs[0]!.data.params).toEqual({ seed: '7' });
    const steps = (await remote.getMetricHistory(runs[0]!.info.runId, 'loss')).map((m) => m.step);
    expect(steps).toEqual(Array.from({ length: 201 }, (_, s) => s));
  });

  it('resumes an interrupted sync without creating a second run or duplicate metrics', async () => {
    const spoolDir = tempDir('spool-');
    proxy.state.mode = 'fail';
    const tracker = openTracker({ uri: proxy.url, spoolDir, retry, warn: () => undefined });
    const run = await tracker.startRun({ experimentName: 'interrupted', runName: 'twice' });
    run.logMetrics(Array.from({ length: 3000 }, (_, step) => ({ key: 'loss', value: step, step, timestamp: 1 })));
    await run.end('FINISHED');
    await tracker.close();

    // The server dies after a few requests: the run exists remotely, metrics are partly sent.
    proxy.state.mode = 'budget';
    proxy.state.budget = 5;
    const spool = new SqliteStore(locationOfDir(spoolDir));
    const broken = await syncSpool(spool, { retry });
    expect(broken.synced).toBe(0);
    expect(broken.pending).toBe(1);
    expect(broken.errors[0]!.message).toMatch(/unavailable/);

    proxy.state.mode = 'pass';
    const resumed = await syncSpool(spool, { retry });
    expect(resumed.synced).toBe(1);
    expect(broken.metricsPushed + resumed.metricsPushed).toBe(3000);
    await spool.close();
    const runs = await remoteRuns('interrupted');
    expect(runs).toHaveLength(1);
    const steps = (await remote.getMetricHistory(runs[0]!.info.runId, 'loss')).map((m) => m.step);
    expect(steps).toEqual(Array.from({ length: 3000 }, (_, s) => s));
  });
});
