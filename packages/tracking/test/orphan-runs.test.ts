import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { openTracker, processAlive, repairOrphanRuns } from '../src/index.js';
import { tempDir } from './temp.js';

/** A pid that existed a moment ago and is gone now (spawnSync has reaped it). */
const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid!;

describe('repairOrphanRuns', () => {
  it('ends RUNNING runs of this host whose process is gone, and only those', async () => {
    const tracker = openTracker({ uri: tempDir('orphans-') });
    const gone = deadPid();
    expect(processAlive(gone)).toBe(false);
    expect(processAlive(process.pid)).toBe(true);
    const tags = (pid: number, host = hostname()) => ({ 'difflab.pid': String(pid), 'difflab.host': host });
    const orphan = await tracker.startRun({ experimentName: 'a', runName: 'orphan', tags: tags(gone) });
    const lastMetricAt = Date.now() + 60_000;
    orphan.logMetrics([{ key: 'loss', value: 1, step: 1, timestamp: lastMetricAt }]);
    await orphan.flush();
    const otherExperiment = await tracker.startRun({ experimentName: 'b', runName: 'orphan-b', tags: tags(gone) });
    const live = await tracker.startRun({ experimentName: 'a', runName: 'live', tags: tags(process.pid) });
    const otherHost = await tracker.startRun({ experimentName: 'a', runName: 'other-host', tags: tags(gone, 'gpu-node-7') });
    const untagged = await tracker.startRun({ experimentName: 'a', runName: 'untagged' });
    const finished = await tracker.startRun({ experimentName: 'a', runName: 'finished', tags: tags(gone) });
    await finished.end('FINISHED');
    const excepted = await tracker.startRun({ experimentName: 'a', runName: 'excepted', tags: tags(gone) });

    const status = async (id: string) => (await tracker.getRun(id)).info.status;
    const expA = (await tracker.getExperimentByName('a'))!.experimentId;
    const scoped = await repairOrphanRuns(tracker.store, { experimentIds: [expA], except: [excepted.runId] });
    expect(scoped.map((r) => r.runName)).toEqual(['orphan']);
    const repaired = await tracker.getRun(orphan.runId);
    expect(repaired.info.status).toBe('KILLED');
    // It ended when it was last heard of, not when it was found.
    expect(repaired.info.endTime).toBe(lastMetricAt);
    expect(repaired.data.tags['difflab.repaired']).toBe(`orphaned: process ${gone} gone`);
    for (const r of [live, otherHost, untagged, excepted, otherExperiment]) expect(await status(r.runId)).toBe('RUNNING');
    expect(await status(finished.runId)).toBe('FINISHED');

    // Without experimentIds: every experiment.
    const all = await repairOrphanRuns(tracker.store);
    expect(all.map((r) => r.runName).sort()).toEqual(['excepted', 'orphan-b']);
    expect(await repairOrphanRuns(tracker.store)).toEqual([]);
    await tracker.close();
  });
});
