import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTracker } from '@difflab/tracking';
import { parseTrainConfig, TrackerSink } from '@difflab/runs';
import { train } from '@difflab/training';
import { affineFit, launchChromium, serveFreshStore, trackerOnlyPage, type Served } from './helpers.js';

const OUT = fileURLToPath(new URL('../test-output/', import.meta.url));
const EXPERIMENT = 'tiny-sweep';
const SIZES = [
  { hiddenSize: 16, depth: 1, numHeads: 2 },
  { hiddenSize: 32, depth: 2, numHeads: 2 },
];
/** Training lengths standing in for the sweep's budgets (the tag is just a label to the tracker). */
const BUDGET_STEPS = [2, 4, 8];
const BATCH = 8;

interface SweepRunFiles {
  runName: string;
  budget: string;
  size: string;
  /** From the run directory, independently of the tracker: flops_train_per_example · batch · step. */
  compute: number;
  /** eval.json heldout_loss. */
  value: number;
}

let served: Served;
let context: BrowserContext;
const runs: SweepRunFiles[] = [];
const offsite: string[] = [];
const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;

beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  served = await serveFreshStore('tracker-scaling-ui-');
  const browser = launchChromium();
  const tracker = openTracker({ uri: join(served.dir, 'store') });
  try {
    // A real (tiny) sweep: every size at every length, tagged as `difflab sweep` tags its runs.
    for (const steps of BUDGET_STEPS) {
      for (const size of SIZES) {
        const budget = `b${steps}`;
        const sizeLabel = `w${size.hiddenSize}-d${size.depth}`;
        const runName = `${budget}-${sizeLabel}`;
        const runDir = join(served.dir, runName);
        const cfg = parseTrainConfig({
          name: EXPERIMENT,
          seed: 3,
          model: { preset: 'DiT-FMNIST-S/4', patchSize: 8, ...size },
          diffusion: { timesteps: 100 },
          train: { steps, batchSize: BATCH, lr: 0.003, warmupSteps: 1 },
          checkpoint: { every: steps },
          eval: { heldoutExamples: 20 },
          sample: { steps: 2, perClass: 1, useEma: false },
        });
        const sink = new TrackerSink(tracker, EXPERIMENT, runName, runDir, { sweep: EXPERIMENT, budget, size: sizeLabel });
        const result = await train(cfg, { runDir, sinks: [sink], progressStream: quiet });
        if (result.status !== 'FINISHED') throw new Error(`fixture run ${runName} ended ${result.status}`);
        const params = JSON.parse(readFileSync(join(runDir, 'params.json'), 'utf8')) as { flops_train_per_example: number };
        const ev = JSON.parse(readFileSync(join(runDir, 'eval.json'), 'utf8')) as { step: number; heldout_loss: number };
        runs.push({ runName, budget, size: sizeLabel, compute: params.flops_train_per_example * BATCH * ev.step, value: ev.heldout_loss });
      }
    }
  } finally {
    await tracker.close();
    context = await browser;
  }
}, 180_000);

afterAll(async () => {
  await context?.close();
  await served?.close();
});

/** The vertices of an SVG path made of M/L commands, as Vega draws a linear line mark. */
function vertices(d: string): [number, number][] {
  return [...d.matchAll(/[ML](-?[\d.e-]+),(-?[\d.e-]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
}


describe('scaling plot of a real sweep (Chromium)', () => {
  it('opens from the experiment page and draws one log-log line per size through the runs, and the best-per-budget frontier', async () => {
    for (const r of runs) expect(Number.isFinite(r.value) && r.value > 0).toBe(true);
    const page = await trackerOnlyPage(context, served.server.url, offsite);
    await page.goto(served.server.url);
    await page.click(`text=${EXPERIMENT}`);
    await page.click('#scaling-link');
    await page.waitForSelector('#chart[data-rendered=true]', { timeout: 30_000 });
    expect(await page.locator('#chart-error').isHidden()).toBe(true);
    const paths = await page.locator('#chart svg [aria-roledescription="line mark"] path, #chart svg path[aria-roledescription="line mark"]').evaluateAll((els) =>
      els.map((e) => ({ d: e.getAttribute('d') ?? '', dashed: (e.getAttribute('stroke-dasharray') ?? '') !== '' })),
    );
    await page.screenshot({ path: join(OUT, 'scaling-plot.png'), fullPage: true });
    const lines = paths.filter((p) => !p.dashed).map((p) => vertices(p.d));
    const frontier = paths.filter((p) => p.dashed).map((p) => vertices(p.d));
    expect(lines).toHaveLength(SIZES.length);
    expect(frontier).toHaveLength(1);

    // Size lines in legend order (w16-d1, w32-d2), each through its runs in order of compute; both axes logarithmic:
    // pixel x is affine in log C and pixel y in log value, with one scale shared by every vertex.
    const expected = SIZES.map((s) => runs.filter((r) => r.size === `w${s.hiddenSize}-d${s.depth}`).sort((a, b) => a.compute - b.compute));
    const drawn = lines.sort((a, b) => a[0]![0] - b[0]![0]);
    const byFirstX = expected.sort((a, b) => a[0]!.compute - b[0]!.compute);
    const allV = drawn.flat();
    const allR = byFirstX.flat();
    expect(allV).toHaveLength(allR.length);
    const fx = affineFit(allR.map((r) => Math.log(r.compute)), allV.map((v) => v[0]));
    const fy = affineFit(allR.map((r) => Math.log(r.value)), allV.map((v) => v[1]));
    expect(fx.slope).toBeGreaterThan(0);
    expect(fy.slope).toBeLessThan(0);
    expect(fx.maxResidual).toBeLessThan(0.5);
    expect(fy.maxResidual).toBeLessThan(0.5);

    // The frontier: the lowest held-out loss of each budget, in order of compute, at that run's vertex.
    const best = BUDGET_STEPS.map((s) => runs.filter((r) => r.budget === `b${s}`).reduce((a, b) => (b.value < a.value ? b : a))).sort((a, b) => a.compute - b.compute);
    const at = (r: SweepRunFiles) => allV[allR.indexOf(r)]!;
    expect(frontier[0]).toHaveLength(best.length);
    frontier[0]!.forEach(([x, y], i) => {
      expect(Math.abs(x - at(best[i]!)[0])).toBeLessThan(0.01);
      expect(Math.abs(y - at(best[i]!)[1])).toBeLessThan(0.01);
    });
    // The frontier is drawn under the size lines (a size coinciding with it stays visible), as a wide translucent band.
    const order = await page.locator('#chart svg path[aria-roledescription="line mark"]').evaluateAll((els) =>
      els.map((e) => ({ dashed: (e.getAttribute('stroke-dasharray') ?? '') !== '', width: Number(e.getAttribute('stroke-width') ?? 1), opacity: Number(e.getAttribute('opacity') ?? e.getAttribute('stroke-opacity') ?? 1) })),
    );
    expect(order[0]!.dashed).toBe(true);
    expect(order.slice(1).every((p) => !p.dashed && p.width < order[0]!.width)).toBe(true);
    expect(order[0]!.opacity).toBeLessThan(0.5);
    // The x axis spans the data (not whole extra decades) with short labels.
    // (A log axis leaves the labels of minor ticks empty.)
    const xLabels = (await page.locator('#chart svg g[aria-label^="X-axis"] .role-axis-label text').allTextContents()).filter((l) => l !== '');
    const computes = runs.map((r) => r.compute);
    expect(xLabels.length).toBeGreaterThan(0);
    for (const label of xLabels) {
      expect(label).not.toContain(',');
      expect(label.length).toBeLessThanOrEqual(7);
      expect(Number(label)).toBeGreaterThanOrEqual(Math.min(...computes) / 1.5);
      expect(Number(label)).toBeLessThanOrEqual(Math.max(...computes) * 1.5);
    }
    // The metric menu offers results only: the trainer's lr, clock and throughput are not plotted against compute.
    const options = await page.locator('select[name=metric] option').allTextContents();
    expect(options).toContain('heldout_loss');
    for (const notResult of ['lr', 'wall_time', 'examples_per_sec']) expect(options).not.toContain(notResult);
    const table = await page.locator('#frontier tr td:nth-child(2)').allTextContents();
    expect(table).toEqual(best.map((r) => r.runName));
    expect(offsite).toEqual([]);
    await page.close();
  });
});
