import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { locationOfDir, openTracker, SqliteStore } from '@difflab/tracking';
import { startTrackerServer, type TrackerServer } from '../src/index.js';
import { A, B, loss, tinyTraining, type TinyRun } from './fixtures/tiny-training.js';
import { launchChromium, trackerOnlyPage, waitForChart } from './helpers.js';
import { tempDir } from './temp.js';

const OUT = fileURLToPath(new URL('../test-output/', import.meta.url));

let store: SqliteStore;
let server: TrackerServer;
let context: BrowserContext;
let runs: TinyRun[];
const offsite: string[] = [];

/** The least-squares optimum from the normal equations AᵀA w = Aᵀb, solved by Cramer's rule. */
function optimumLoss(): number {
  const M = [0, 1, 2].map((i) => [0, 1, 2].map((j) => A.reduce((s, r) => s + r[i]! * r[j]!, 0)));
  const v = [0, 1, 2].map((i) => A.reduce((s, r, k) => s + r[i]! * B[k]!, 0));
  const det = (m: number[][]) =>
    m[0]![0]! * (m[1]![1]! * m[2]![2]! - m[1]![2]! * m[2]![1]!) -
    m[0]![1]! * (m[1]![0]! * m[2]![2]! - m[1]![2]! * m[2]![0]!) +
    m[0]![2]! * (m[1]![0]! * m[2]![1]! - m[1]![1]! * m[2]![0]!);
  const d = det(M);
  const w = [0, 1, 2].map((c) => det(M.map((row, r) => row.map((x, j) => (j === c ? v[r]! : x)))) / d);
  return loss(w);
}

const openPage = () => trackerOnlyPage(context, server.url, offsite);

const lineCount = (page: Page) => page.locator('#chart svg [aria-roledescription="line mark"]').count();

beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  const dir = join(tempDir('tracker-ui-'), 'store');
  const tracker = openTracker({ uri: dir });
  runs = await tinyTraining(tracker, 'tiny-lsq', [0.3, 1.2]);
  await tracker.close();
  store = new SqliteStore(locationOfDir(dir));
  server = await startTrackerServer({ store, port: 0 });
  context = await launchChromium();
});

afterAll(async () => {
  await context?.close();
  await server?.close();
  await store?.close();
});

describe('the fixture is a real optimisation', () => {
  it('logs losses that start at ½·mean(b²), decrease, and stay above the closed-form optimum', async () => {
    const fStar = optimumLoss();
    const start = B.reduce((s, b) => s + b * b, 0) / (2 * B.length);
    for (const run of runs) {
      const history = await store.getMetricHistory(run.runId, 'loss');
      expect(history).toHaveLength(40);
      expect(history[0]!.value).toBeCloseTo(start, 12);
      for (let i = 1; i < history.length; i++) expect(history[i]!.value).toBeLessThan(history[i - 1]!.value);
      expect(history[39]!.value).toBeGreaterThan(fStar);
    }
    // The larger stable step size gets closer to the optimum in the same number of steps.
    const last = (r: TinyRun) => r.losses[r.losses.length - 1]! - fStar;
    expect(last(runs[1]!)).toBeLessThan(last(runs[0]!));
  });
});

describe('tracker web UI in Chromium', () => {
  it('compares two selected runs: chart with one line per run, and the param diff', async () => {
    const page = await openPage();
    await page.goto(server.url);
    await page.click('text=tiny-lsq');
    await expect.poll(() => page.locator('#runs tbody tr').count()).toBe(2);
    await page.screenshot({ path: join(OUT, 'runs-table.png'), fullPage: true });
    for (const box of await page.locator('#runs input[name=run]').all()) await box.check();
    await page.click('#compare');
    await waitForChart(page);
    expect(await lineCount(page)).toBe(2);
    const legend = await page.locator('#chart svg .role-legend').textContent();
    expect(legend).toContain('gd-lr0.3');
    expect(legend).toContain('gd-lr1.2');
    expect(await page.locator('#chart svg .role-axis-title').allTextContents()).toEqual(['step']);

    const lrRow = page.locator('#param-diff tr[data-key="lr"]');
    expect(await lrRow.getAttribute('class')).toBe('differs');
    expect((await lrRow.locator('td').allTextContents()).sort()).toEqual(['0.3', '1.2']);
    expect(await page.locator('#param-diff tr[data-key="model"]').count()).toBe(0);
    expect(await page.locator('text=4 identical params hidden').count()).toBe(1);
    await page.screenshot({ path: join(OUT, 'compare-step.png'), fullPage: true });

    await page.click('text=show all');
    expect(await page.locator('#param-diff tr[data-key="model"]').getAttribute('class')).toBe('same');

    await page.check('input[name=metric][value=grad_norm]');
    await page.selectOption('select[name=x]', 'wall');
    await page.click('#chart-form button[type=submit]');
    await waitForChart(page);
    expect(page.url()).toContain('x=wall');
    expect(await lineCount(page)).toBe(4);
    expect(await page.locator('#chart svg .role-axis-title').allTextContents()).toContain('wall time');
    await page.screenshot({ path: join(OUT, 'compare-wall-time.png'), fullPage: true });

    // The URL alone restores the view.
    const deepLink = page.url();
    const fresh = await openPage();
    await fresh.goto(deepLink);
    await waitForChart(fresh);
    expect(await lineCount(fresh)).toBe(4);
    expect(await fresh.locator('input[name=metric][value=grad_norm]').isChecked()).toBe(true);
    await fresh.close();
    await page.close();
  });

  it('filters with MLflow syntax and sorts by a metric column', async () => {
    const page = await openPage();
    const experimentId = (await store.getExperimentByName('tiny-lsq'))!.experimentId;
    await page.goto(`${server.url}/experiments/${experimentId}`);
    await page.fill('#filter', "params.lr = '0.3' and metrics.loss < 1");
    await page.click('text=Search');
    expect(await page.locator('#runs tbody tr').count()).toBe(1);
    expect(await page.locator('#runs tbody tr a').first().textContent()).toBe('gd-lr0.3');
    expect(page.url()).toContain('filter=');

    await page.fill('#filter', 'metrics.loss < oops');
    await page.click('text=Search');
    expect(await page.locator('#filter-error').textContent()).toMatch(/expected a number or a quoted string/);

    await page.goto(`${server.url}/experiments/${experimentId}`);
    await page.click('th >> text=metrics.loss');
    const names = await page.locator('#runs tbody tr td:nth-child(2)').allTextContents();
    expect(names).toEqual(['gd-lr1.2', 'gd-lr0.3']);
    await page.click('th >> text=metrics.loss');
    expect(await page.locator('#runs tbody tr td:nth-child(2)').allTextContents()).toEqual(['gd-lr0.3', 'gd-lr1.2']);
    await page.screenshot({ path: join(OUT, 'runs-sorted.png'), fullPage: true });
    await page.close();
  });

  it('shows artifacts: the sample image and the Parquet table', async () => {
    const page = await openPage();
    const run = runs[0]!;
    await page.goto(`${server.url}/runs/${run.runId}`);
    await page.click('#artifacts >> text=samples/');
    await page.click('text=samples/fit.png');
    const size = await page.locator('#artifact-image').evaluate(async (img: HTMLImageElement) => {
      await img.decode();
      return [img.naturalWidth, img.naturalHeight];
    });
    expect(size).toEqual([128, 64]);
    await page.screenshot({ path: join(OUT, 'artifact-image.png'), fullPage: true });

    await page.goto(`${server.url}/runs/${run.runId}`);
    await page.click('#artifacts >> text=metrics.parquet');
    const headers = await page.locator('#parquet-table thead th').allTextContents();
    expect(headers.map((h) => h.replace(/(Int32|Float64)$/, ''))).toEqual(['step', 'loss']);
    expect(await page.locator('#parquet-table tbody tr').count()).toBe(40);
    const firstRow = await page.locator('#parquet-table tbody tr').first().locator('td').allTextContents();
    expect(firstRow[0]).toBe('0');
    expect(Number(firstRow[1])).toBeCloseTo(run.losses[0]!, 6);
    await page.screenshot({ path: join(OUT, 'artifact-parquet.png'), fullPage: true });

    await page.goto(`${server.url}/runs/${run.runId}/artifacts?path=config.json`);
    expect(JSON.parse((await page.locator('#artifact-text').textContent())!)).toEqual({ lr: 0.3, steps: 40 });
    await page.close();
  });

  it('loaded nothing from outside the tracker', () => {
    expect(offsite).toEqual([]);
  });
});
