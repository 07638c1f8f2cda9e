import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext } from 'playwright-core';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readParquet } from '@difflab/data';
import { openTracker } from '@difflab/tracking';
import { tinyDiTRuns, type TinyDiTRun } from './fixtures/tiny-dit.js';
import { affineFit, launchChromium, serveFreshStore, trackerOnlyPage, waitForChart, type Served } from './helpers.js';

const OUT = fileURLToPath(new URL('../test-output/', import.meta.url));
const EXPERIMENT = 'tiny-dit';
const LRS = [0.002, 0.004];
const STEPS = 4;

let served: Served;
let context: BrowserContext;
let runs: TinyDiTRun[];
const offsite: string[] = [];

const openPage = () => trackerOnlyPage(context, served.server.url, offsite);


/** The vertices of an SVG path made of M/L commands, as Vega draws a linear line mark. */
function vertices(d: string): [number, number][] {
  return [...d.matchAll(/[ML](-?[\d.e-]+),(-?[\d.e-]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
}

/** Param keys whose values differ between the runs, and those equal in all, from the run directories' params.json. */
function paramSplit(): { differing: string[]; equal: string[] } {
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r.params)))].sort();
  const differs = (k: string) => new Set(runs.map((r) => String(r.params[k]))).size > 1;
  return { differing: keys.filter(differs), equal: keys.filter((k) => !differs(k)) };
}

beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  // The server is up while the trainer logs through its own connection to the same store, as with `difflab tracker` beside `difflab train`.
  served = await serveFreshStore('tracker-dit-');
  // Chromium starts while the runs train; afterAll closes it even if training fails.
  const browser = launchChromium();
  const tracker = openTracker({ uri: join(served.dir, 'store') });
  try {
    runs = await tinyDiTRuns(tracker, EXPERIMENT, served.dir, LRS, STEPS);
  } finally {
    await tracker.close();
    context = await browser;
  }
});

afterAll(async () => {
  await context?.close();
  await served?.close();
});

describe('tracker UI over two real DiT trainings (Chromium)', () => {
  it('the fixture runs differ in the learning rate only, and logged every step', () => {
    const { differing } = paramSplit();
    // config_hash is derived from the config, so it differs with it.
    expect(differing).toEqual(['config_hash', 'train.lr']);
    for (const run of runs) expect(run.rows.map((r) => r.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
  });

  it('selects the two runs and compares them: one loss line per run through the logged points, and the param diff', async () => {
    const page = await openPage();
    await page.goto(served.server.url);
    await page.click(`text=${EXPERIMENT}`);
    await expect.poll(() => page.locator('#runs tbody tr').count()).toBe(runs.length);
    for (const run of runs) await page.check(`#runs input[aria-label="select ${run.runName}"]`);
    await page.screenshot({ path: join(OUT, 'dit-runs-selected.png'), fullPage: true });
    await page.click('#compare');
    await waitForChart(page);
    expect(new URL(page.url()).searchParams.getAll('run').sort()).toEqual(runs.map((r) => r.runId).sort());

    // Vega labels every mark with its data; a line's label is its first point's.
    const lines = page.locator('#chart svg path[aria-roledescription="line mark"]');
    expect(await lines.count()).toBe(runs.length);
    const drawn = await lines.evaluateAll((paths) => paths.map((p) => ({ label: p.getAttribute('aria-label')!, d: p.getAttribute('d')! })));
    const pointLabels = await page.locator('#chart svg path[aria-roledescription="point"]').evaluateAll((ps) => ps.map((p) => p.getAttribute('aria-label')!));
    const losses: number[] = [];
    const ys: number[] = [];
    const steps: number[] = [];
    const xs: number[] = [];
    for (const run of runs) {
      const line = drawn.filter((l) => l.label.endsWith(`run: ${run.runName}`));
      expect(line).toHaveLength(1);
      const vs = vertices(line[0]!.d);
      expect(vs).toHaveLength(run.rows.length);
      const points = pointLabels
        .filter((l) => l.endsWith(`run: ${run.runName}`))
        .map((l) => /^step: (\d+); value: ([-\d.e]+);/.exec(l)!)
        .map((m) => ({ step: Number(m[1]), value: Number(m[2]) }));
      expect(points.map((p) => p.step)).toEqual(run.rows.map((r) => r.step));
      points.forEach((p, i) => expect(p.value).toBeCloseTo(run.rows[i]!.loss, 9));
      vs.forEach(([x, y], i) => {
        xs.push(x);
        ys.push(y);
        steps.push(run.rows[i]!.step);
        losses.push(run.rows[i]!.loss);
      });
    }
    // Both lines share one panel: every vertex sits where the shared linear scales put its (step, loss).
    const xFit = affineFit(steps, xs);
    const yFit = affineFit(losses, ys);
    expect(xFit.slope).toBeGreaterThan(0);
    expect(yFit.slope).toBeLessThan(0);
    expect(xFit.maxResidual).toBeLessThan(0.01);
    expect(yFit.maxResidual).toBeLessThan(0.01);
    const legend = await page.locator('#chart svg .role-legend').textContent();
    for (const run of runs) expect(legend).toContain(run.runName);

    // Param diff: exactly the params that differ in the runs' params.json are shown, each run's value in its column.
    const { differing, equal } = paramSplit();
    const columns = (await page.locator('#param-diff tr').first().locator('th').allTextContents()).slice(1);
    expect([...columns].sort()).toEqual(runs.map((r) => r.runName).sort());
    const shownKeys = await page.locator('#param-diff tr[data-key]').evaluateAll((rows) => rows.map((r) => [r.getAttribute('data-key'), r.className]));
    expect(shownKeys).toEqual(differing.map((k) => [k, 'differs']));
    const lrCells = await page.locator('#param-diff tr[data-key="train.lr"] td').allTextContents();
    expect(lrCells).toEqual(columns.map((name) => String(runs.find((r) => r.runName === name)!.params['train.lr'])));
    expect(await page.locator('#diff + p').textContent()).toContain(`${equal.length} identical params hidden`);

    // The latest-metrics table shows each run's held-out loss from its eval.json.
    const heldout = await page.locator('#metric-diff tr[data-key="heldout_loss"] td').allTextContents();
    columns.forEach((name, i) => {
      const evalJson = JSON.parse(readFileSync(join(runs.find((r) => r.runName === name)!.runDir, 'eval.json'), 'utf8')) as { heldout_loss: number };
      expect(Number(heldout[i])).toBeCloseTo(evalJson.heldout_loss, 5);
    });
    await page.screenshot({ path: join(OUT, 'dit-compare.png'), fullPage: true });

    await page.click('text=show all');
    await page.waitForURL(/params=all/);
    expect(await page.locator('#param-diff tr[data-key]').count()).toBe(differing.length + equal.length);
    expect(await page.locator('#param-diff tr.same').count()).toBe(equal.length);
    await page.close();
  });

  it("opens a run's sample grid: the PNG the trainer wrote, pixel for pixel", async () => {
    const page = await openPage();
    const run = runs[0]!;
    const expected = PNG.sync.read(readFileSync(run.samplePath));
    await page.goto(`${served.server.url}/runs/${run.runId}`);
    await page.click('#artifacts >> text=samples/');
    await page.click(`text=samples/${basename(run.samplePath)}`);
    const shown = await page.locator('#artifact-image').evaluate(async (img: HTMLImageElement) => {
      await img.decode();
      const canvas = document.createElement('canvas');
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      const ctx = canvas.getContext('2d')!;
      ctx.drawImage(img, 0, 0);
      const rgba = ctx.getImageData(0, 0, img.naturalWidth, img.naturalHeight).data;
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', rgba));
      return { width: img.naturalWidth, height: img.naturalHeight, sha256: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('') };
    });
    expect([shown.width, shown.height]).toEqual([expected.width, expected.height]);
    expect(shown.sha256).toBe(createHash('sha256').update(expected.data).digest('hex'));
    await page.screenshot({ path: join(OUT, 'dit-sample-grid.png'), fullPage: true });
    await page.close();
  });

  it("opens a run's metrics.parquet as a table with the trainer's columns and values", async () => {
    const page = await openPage();
    const run = runs[1]!;
    const columns = readParquet(join(run.runDir, 'metrics.parquet')).schema.fields.map((f) => f.name);
    await page.goto(`${served.server.url}/runs/${run.runId}`);
    await page.click('#artifacts >> text=metrics.parquet');
    const headers = await page.locator('#parquet-table thead th').evaluateAll((ths) => ths.map((th) => th.firstChild!.textContent));
    expect(headers).toEqual(columns);
    const cells = await page.locator('#parquet-table tbody tr').evaluateAll((trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => Number(td.textContent))));
    expect(cells).toHaveLength(run.rows.length);
    cells.forEach((row, i) =>
      columns.forEach((c, j) => {
        const v = run.rows[i]![c]!;
        // The table shows 7 significant digits.
        expect(Math.abs(row[j]! - v)).toBeLessThanOrEqual(5e-7 * Math.abs(v));
      }),
    );
    await page.screenshot({ path: join(OUT, 'dit-metrics-parquet.png'), fullPage: true });
    await page.close();
  });

  it('loaded nothing from outside the tracker', () => {
    expect(offsite).toEqual([]);
  });
});
