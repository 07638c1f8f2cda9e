import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScalingData, ScalingPoint } from '../src/ui/scaling-data.js';
import { serveFreshStore, type Served } from './helpers.js';

let s: Served;
let sweepId: string;
let plainId: string;

/** A finished sweep run as `difflab sweep` logs it: budget/size tags, the compute params, one metric value at its last step. */
async function sweepRun(name: string, budget: string, size: string, perExample: number, batch: number, step: number, loss: number, startTime: number, extra: Record<string, number> = {}) {
  const run = await s.store.createRun({ experimentId: sweepId, runName: name, startTime, tags: { sweep: 'toy', budget, size } });
  const params: Record<string, string> = { 'train.batchSize': String(batch) };
  if (perExample > 0) params.flops_train_per_example = String(perExample);
  await s.store.logBatch(run.info.runId, {
    params,
    metrics: [
      { key: 'heldout_loss', value: loss, step, timestamp: startTime + 1 },
      ...Object.entries(extra).map(([key, value]) => ({ key, value, step, timestamp: startTime + 2 })),
    ],
  });
  return run.info.runId;
}

beforeAll(async () => {
  s = await serveFreshStore('tracker-scaling-');
  sweepId = await s.store.createExperiment('toy-sweep');
  // Two sizes × two budgets; w64 is better at the larger budget only.
  // The trainer also logs its lr, speed and clock: logged, but not results to plot against compute.
  await sweepRun('c1e9-w32', '1e9', 'w32', 3000, 4, 100, 0.5, 1000, { fid_fmnist: 90, lr: 0.001, wall_time: 12, examples_per_sec: 300, grad_norm: 1.5 });
  await sweepRun('c1e9-w64', '1e9', 'w64', 9000, 4, 30, 0.6, 1001, { fid_fmnist: 80 });
  await sweepRun('c1e10-w32', '1e10', 'w32', 3000, 4, 1000, 0.3, 1002);
  // An older run of c1e10-w64 (a rerun of the sweep logged the newer one below): not plotted.
  await sweepRun('c1e10-w64', '1e10', 'w64', 9000, 4, 300, 0.9, 1003);
  await sweepRun('c1e10-w64', '1e10', 'w64', 9000, 4, 300, 0.25, 2000);
  // Not plottable: no compute params; a zero value on log axes.
  await sweepRun('c1e11-w32', '1e11', 'w32', 0, 4, 10, 0.2, 1005);
  await sweepRun('c1e11-w64', '1e11', 'w64', 9000, 4, 10, 0, 1006);
  // A run without sweep tags is not part of the plot at all.
  const loose = await s.store.createRun({ experimentId: sweepId, runName: 'loose', startTime: 1007 });
  await s.store.logBatch(loose.info.runId, { metrics: [{ key: 'heldout_loss', value: 0.01, step: 1, timestamp: 1008 }] });
  plainId = await s.store.createExperiment('no-sweep');
  await s.store.createRun({ experimentId: plainId, runName: 'r' });
});
afterAll(async () => {
  await s.close();
});

const get = async (path: string) => {
  const res = await fetch(`${s.server.url}${path}`);
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
};

describe('scaling plot data (/experiments/<id>/scaling.json)', () => {
  it('places each sweep run at compute = flops_train_per_example · batch · step, newest run per name, frontier = best per budget', async () => {
    const r = await get(`/experiments/${sweepId}/scaling.json`);
    expect(r.status).toBe(200);
    expect(r.type).toBe('application/json');
    const d = JSON.parse(r.text) as ScalingData;
    expect(d.metric).toBe('heldout_loss');
    expect(d.metrics).toEqual(['fid_fmnist', 'heldout_loss']);
    const brief = (p: ScalingPoint) => [p.runName, p.compute, p.value];
    // 3000·4·100 = 1.2e6, 3000·4·1000 = 1.2e7, 9000·4·30 = 1.08e6, 9000·4·300 = 1.08e7; sorted by size, then compute.
    expect(d.points.map(brief)).toEqual([
      ['c1e9-w32', 1.2e6, 0.5],
      ['c1e10-w32', 1.2e7, 0.3],
      ['c1e9-w64', 1.08e6, 0.6],
      ['c1e10-w64', 1.08e7, 0.25],
    ]);
    expect(d.frontier.map(brief)).toEqual([
      ['c1e9-w32', 1.2e6, 0.5],
      ['c1e10-w64', 1.08e7, 0.25],
    ]);
    expect(d.skipped.map((x) => `${x.runName}: ${x.reason}`).sort()).toEqual([
      'c1e10-w64: older run of c1e10-w64',
      'c1e11-w32: params flops_train_per_example and train.batchSize are needed for its compute',
      'c1e11-w64: heldout_loss = 0 at step 10 cannot be drawn on log axes',
    ]);
  });

  it('plots another metric on request; runs without it are listed as skipped', async () => {
    const d = JSON.parse((await get(`/experiments/${sweepId}/scaling.json?metric=fid_fmnist`)).text) as ScalingData;
    expect(d.points.map((p) => [p.runName, p.value])).toEqual([['c1e9-w32', 90], ['c1e9-w64', 80]]);
    expect(d.frontier.map((p) => p.runName)).toEqual(['c1e9-w64']);
    expect(d.skipped).toHaveLength(5);
  });

  it('rejects an unknown metric, an experiment without sweep runs and an unknown experiment with JSON errors', async () => {
    const bad = await get(`/experiments/${sweepId}/scaling.json?metric=accuracy`);
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text)).toEqual({ error_code: 'INVALID_PARAMETER_VALUE', message: "metric 'accuracy' is not logged by this experiment's sweep runs; choose one of: fid_fmnist, heldout_loss" });
    const lr = await get(`/experiments/${sweepId}/scaling.json?metric=lr`);
    expect(lr.status).toBe(400);
    expect(JSON.parse(lr.text).message).toBe("'lr' is the learning-rate schedule, not a result of training: it has no meaning against compute; choose one of: fid_fmnist, heldout_loss");
    const menu = (await get(`/experiments/${sweepId}/scaling`)).text.match(/<option value="[^"]*"/g)!.map((o) => o.slice(15, -1));
    expect(menu).toEqual(['fid_fmnist', 'heldout_loss']);
    const plain = await get(`/experiments/${plainId}/scaling.json`);
    expect(plain.status).toBe(400);
    expect(JSON.parse(plain.text).message).toMatch(/has no sweep runs \(runs tagged budget and size/);
    const missing = await get('/experiments/999999/scaling.json');
    expect(missing.status).toBe(404);
    expect(missing.type).toBe('application/json');
  });

  it('links the scaling page from a sweep experiment only; the page shows the error for a bad metric', async () => {
    expect((await get(`/experiments/${sweepId}`)).text).toContain(`href="/experiments/${sweepId}/scaling"`);
    expect((await get(`/experiments/${plainId}`)).text).not.toContain('id="scaling-link"');
    const page = await get(`/experiments/${sweepId}/scaling?metric=%3Cb%3E`);
    expect(page.status).toBe(400);
    expect(page.text).toContain('metric &#39;&lt;b&gt;&#39; is not logged');
  });
});
