import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openTracker, type Tracker } from '@difflab/tracking';
import type { MetricsRow } from '../src/metrics-table.js';
import { TrackerSink } from '../src/tracker-sink.js';
import { TRACKER_RECORD_FILE } from '../src/tracker-record.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'sink-resume-'));
const PARAMS = { seed: 3, 'train.lr': 0.002 };

/** The metric row of `step` as the trainer makes it (deterministic values). */
function row(step: number): MetricsRow {
  return { step, loss: 1 / step, lr: 0.002, grad_norm: step / 10, examples_per_sec: 100, wall_time: step };
}
const values = (step: number) => {
  const { step: _s, ...v } = row(step);
  return v;
};

/** A tracker whose buffered metrics are sent only when asked: what a process killed between flushes leaves behind. */
const killable = (store: string) => openTracker({ uri: store, flushIntervalMs: 1e9 });

/** Every step of every key of the only run of experiment `tiny`, and that run. */
async function history(tracker: Tracker) {
  const exp = await tracker.getExperimentByName('tiny');
  const { items } = await tracker.searchRuns({ experimentIds: [exp!.experimentId] });
  expect(items).toHaveLength(1);
  const run = items[0]!;
  const steps: Record<string, number[]> = {};
  for (const key of ['loss', 'lr', 'grad_norm', 'examples_per_sec', 'wall_time']) {
    steps[key] = (await tracker.getMetricHistory(run.info.runId, key)).map((m) => m.step).sort((a, b) => a - b);
  }
  return { run, steps };
}

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

describe('TrackerSink across a resume', () => {
  it('continues the same tracker run and re-logs the rows the tracker missed from metrics.parquet', async () => {
    const store = tmp();
    const runDir = tmp();
    // First process: steps 1–2 reached the tracker (a checkpoint flushed them), step 3 was buffered when it died.
    const first = killable(store);
    const a = new TrackerSink(first, 'tiny', 'run', runDir, {}, { warn: () => undefined });
    await a.start(PARAMS, { fromStep: 0, recorded: [] });
    for (const s of [1, 2]) a.metrics(s, values(s), Date.now());
    await a.artifact(join(runDir, 'checkpoints', 'step-0000002'), 'checkpoint');
    a.metrics(3, values(3), Date.now());
    const record = JSON.parse(readFileSync(join(runDir, TRACKER_RECORD_FILE), 'utf8'));

    // Resume from the checkpoint at step 3 (metrics.parquet holds 1–3), run to step 5.
    const second = openTracker({ uri: store });
    const notices: string[] = [];
    const b = new TrackerSink(second, 'tiny', 'run', runDir, {}, { warn: (l) => notices.push(l) });
    await b.start(PARAMS, { fromStep: 3, recorded: [1, 2, 3].map(row) });
    for (const s of [4, 5]) b.metrics(s, values(s), Date.now());
    await b.end('FINISHED');

    const { run, steps } = await history(second);
    expect(run.info.runId).toBe(record.runId);
    expect(run.info.status).toBe('FINISHED');
    for (const key of Object.keys(steps)) expect(steps[key], key).toEqual(range(1, 5));
    expect((await second.getMetricHistory(run.info.runId, 'loss')).find((m) => m.step === 3)?.value).toBe(1 / 3);
    expect(run.data.tags['difflab.pid']).toBe(String(process.pid));
    expect(run.data.tags['difflab.host']).toBe(hostname());
    expect(run.data.tags['difflab.resumed_from_step']).toBe('3');
    expect(notices.join('\n')).toContain('re-logged 5 metric value(s)');
    await second.close();
    await first.close();
  });

  it('does not log a step twice when the tracker got further than the checkpoint, and continues a KILLED run', async () => {
    const store = tmp();
    const runDir = tmp();
    const first = killable(store);
    const a = new TrackerSink(first, 'tiny', 'run', runDir, {}, { warn: () => undefined });
    await a.start(PARAMS, { fromStep: 0, recorded: [] });
    for (const s of range(1, 5)) a.metrics(s, values(s), Date.now());
    // SIGTERM: the run ends KILLED after a checkpoint; here the tracker holds steps 1–5, the checkpoint 1–3.
    await a.end('KILLED');

    const second = openTracker({ uri: store });
    const b = new TrackerSink(second, 'tiny', 'run', runDir, {}, { warn: () => undefined });
    await b.start(PARAMS, { fromStep: 3, recorded: [1, 2, 3].map(row) });
    expect((await second.getRun(JSON.parse(readFileSync(join(runDir, TRACKER_RECORD_FILE), 'utf8')).runId)).info.status).toBe('RUNNING');
    for (const s of range(4, 6)) b.metrics(s, values(s), Date.now() + 1000);
    await b.end('FINISHED');

    const { run, steps } = await history(second);
    expect(run.info.status).toBe('FINISHED');
    for (const key of Object.keys(steps)) expect(steps[key], key).toEqual(range(1, 6));
    await second.close();
    await first.close();
  });

  it('logs only new params on resume and records a changed value (a new git commit) as a tag', async () => {
    const store = tmp();
    const runDir = tmp();
    const tracker = openTracker({ uri: store });
    const a = new TrackerSink(tracker, 'tiny', 'run', runDir, {}, { warn: () => undefined });
    await a.start({ ...PARAMS, git_commit: 'aaa' }, { fromStep: 0, recorded: [] });
    await a.end('KILLED');
    const b = new TrackerSink(tracker, 'tiny', 'run', runDir, {}, { warn: () => undefined });
    await b.start({ ...PARAMS, git_commit: 'bbb', added: 1 }, { fromStep: 1, recorded: [row(1)] });
    await b.end('FINISHED');
    const { run } = await history(tracker);
    expect(run.data.params.git_commit).toBe('aaa');
    expect(run.data.params.added).toBe('1');
    expect(JSON.parse(run.data.tags['difflab.resumed_with_params']!)).toEqual({ git_commit: 'bbb' });
    await tracker.close();
  });

  it('marks other RUNNING runs of the experiment whose process is gone KILLED, and leaves live ones alone', async () => {
    const store = tmp();
    const runDir = tmp();
    const tracker = openTracker({ uri: store });
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    const orphan = await tracker.startRun({ experimentName: 'tiny', runName: 'orphan', tags: { 'difflab.pid': String(dead), 'difflab.host': hostname() } });
    const live = await tracker.startRun({ experimentName: 'tiny', runName: 'live', tags: { 'difflab.pid': String(process.pid), 'difflab.host': hostname() } });
    const a = new TrackerSink(tracker, 'tiny', 'run', runDir, {}, { warn: () => undefined });
    await a.start(PARAMS, { fromStep: 0, recorded: [] });
    await a.end('KILLED');
    const notices: string[] = [];
    const b = new TrackerSink(tracker, 'tiny', 'run', runDir, {}, { warn: (l) => notices.push(l) });
    await b.start(PARAMS, { fromStep: 1, recorded: [row(1)] });
    const repaired = await tracker.getRun(orphan.runId);
    expect(repaired.info.status).toBe('KILLED');
    expect(repaired.data.tags['difflab.repaired']).toBe(`orphaned: process ${dead} gone`);
    expect((await tracker.getRun(live.runId)).info.status).toBe('RUNNING');
    expect(notices.join('\n')).toContain(`its process ${dead} is gone; marked it KILLED`);
    await b.end('FINISHED');
    await live.end('FINISHED');
    await tracker.close();
  });

  it('starts a new tracker run, saying why, when the recorded run is in another store', async () => {
    const runDir = tmp();
    const elsewhere = openTracker({ uri: tmp() });
    const a = new TrackerSink(elsewhere, 'tiny', 'run', runDir, {}, { warn: () => undefined });
    await a.start(PARAMS, { fromStep: 0, recorded: [] });
    await a.end('KILLED');
    await elsewhere.close();
    const here = openTracker({ uri: tmp() });
    const notices: string[] = [];
    const b = new TrackerSink(here, 'tiny', 'run', runDir, {}, { warn: (l) => notices.push(l) });
    await b.start(PARAMS, { fromStep: 2, recorded: [row(1), row(2)] });
    await b.end('FINISHED');
    expect(notices[0]).toMatch(/tracker run \w+ is in .*, not in .*; logging the resumed run \(from step 2\) as a new tracker run/);
    const { steps } = await history(here);
    expect(steps.loss).toEqual([1, 2]);
    await here.close();
  });
});
