import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openTracker } from '@difflab/tracking';
import { trackerLocation, watchRuns } from '../src/tracker-report.js';

describe('trackerLocation', () => {
  it('names a store directory as the --store that difflab tracker takes, and the run page under it', () => {
    const loc = trackerLocation({ DIFFLAB_TRACKING_DIR: '/data/store' });
    expect(loc.store).toBe('/data/store');
    expect(loc.open('abc123', '0')).toBe('npx difflab tracker --store /data/store  then open http://127.0.0.1:5000/runs/abc123');
  });

  it('names a lone database file as sqlite:///', () => {
    const loc = trackerLocation({ MLFLOW_TRACKING_URI: 'sqlite:////data/t.db' });
    expect(loc.store).toBe('sqlite:////data/t.db');
    expect(loc.open('r1', '0')).toContain('--store sqlite:////data/t.db ');
  });

  it("gives an MLflow server's run URL", () => {
    const loc = trackerLocation({ MLFLOW_TRACKING_URI: 'http://mlflow.lan:5000/' });
    expect(loc.store).toBe('http://mlflow.lan:5000');
    expect(loc.open('r1', '7')).toBe('http://mlflow.lan:5000/#/experiments/7/runs/r1');
  });

  it('defaults to .difflab/tracking at the workspace root', () => {
    expect(trackerLocation({}).store).toMatch(/[/\\]\.difflab[/\\]tracking$/);
  });
});

describe('watchRuns', () => {
  it('reports the handle of every run started through it and delegates the rest', async () => {
    const env = { DIFFLAB_TRACKING_DIR: mkdtempSync(join(tmpdir(), 'watch-')) };
    const seen: string[] = [];
    const tracker = watchRuns(openTracker({ env }), (run) => seen.push(run.runId));
    try {
      const run = await tracker.startRun({ experimentName: 'e', runName: 'n' });
      await run.end('FINISHED');
      expect(seen).toEqual([run.runId]);
      expect((await tracker.getRun(run.runId)).info.runName).toBe('n');
      expect(tracker.kind).toBe('local');
    } finally {
      await tracker.close();
    }
  });
});
