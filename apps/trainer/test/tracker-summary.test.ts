import { describe, expect, it } from 'vitest';
import { trackerLocation, trackerSummaryLines } from '../src/tracker-report.js';

describe('trackerSummaryLines', () => {
  const env = { MLFLOW_TRACKING_URI: 'http://mlflow.lan:5000', DIFFLAB_TRACKING_DIR: '/data/spool' };

  it('names only the spool and the sync command for a run that never reached the server', () => {
    const lines = trackerSummaryLines(trackerLocation(env), { runId: 'abc', experimentId: '1', spooled: true }, 'exp', 'name').join('\n');
    expect(lines).not.toContain('mlflow.lan');
    expect(lines).not.toContain('http');
    expect(lines).toContain('tracker spool  /data/spool');
    expect(lines).toContain('npx difflab tracker sync --store /data/spool');
  });

  it('names the server, the run and its URL for a run that reached it', () => {
    const lines = trackerSummaryLines(trackerLocation(env), { runId: 'abc', experimentId: '1', spooled: false }, 'exp', 'name');
    expect(lines).toEqual([
      '  tracker store  http://mlflow.lan:5000',
      "  tracker run    abc  (experiment 'exp', name 'name')",
      '  open it        http://mlflow.lan:5000/#/experiments/1/runs/abc',
    ]);
  });
});
