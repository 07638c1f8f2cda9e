import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fashionMnistClassNames } from '@difflab/data';
import { GRID_STEPS, lossAt, manyRuns, STEPS } from './fixtures/many-runs.js';
import { affineFit, launchChromium, serveFreshStore, trackerOnlyPage, waitForChart, type Served } from './helpers.js';

const OUT = fileURLToPath(new URL('../test-output/', import.meta.url));
const WIDTH = 1400;
const RUNS = 12;

let served: Served;
let context: BrowserContext;
let experimentId: string;
let runIds: string[];
const offsite: string[] = [];

beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  served = await serveFreshStore('tracker-views-');
  const browser = launchChromium();
  ({ experimentId, runIds } = await manyRuns(served.store, 'twelve-variants', RUNS));
  context = await browser;
});

afterAll(async () => {
  await context?.close();
  await served?.close();
});

async function openPage(width = WIDTH): Promise<Page> {
  const page = await trackerOnlyPage(context, served.server.url, offsite);
  await page.setViewportSize({ width, height: 900 });
  return page;
}

const pageWidth = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth);
const lineMarks = (page: Page) => page.locator('#chart svg path[aria-roledescription="line mark"]');
const compareUrl = (ids: string[], extra = '') => `${served.server.url}/compare?${ids.map((id) => `run=${id}`).join('&')}${extra}`;

/** The x pixel of each vertex of an SVG path drawn with M/L commands. */
function xs(d: string): number[] {
  return [...d.matchAll(/[ML](-?[\d.e-]+),(-?[\d.e-]+)/g)].map((m) => Number(m[1]));
}
/** The aria-label of each x axis, which names its scale ("X-axis titled 'step' for a linear scale …"). */
const xAxes = (page: Page) => page.locator('#chart svg g[aria-label^="X-axis"]').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')));

/** The y pixel of each vertex of an SVG path drawn with M/L commands. */
function ys(d: string): number[] {
  return [...d.matchAll(/[ML](-?[\d.e-]+),(-?[\d.e-]+)/g)].map((m) => Number(m[2]));
}
const totalVariation = (v: number[]) => v.slice(1).reduce((s, y, i) => s + Math.abs(y - v[i]!), 0);

describe('compare page with 12 runs (Chromium, 1400 px)', () => {
  it('draws a metric logged once as dots while the 500-point lines stay plain, in 12 distinct colours, within the window', async () => {
    const page = await openPage();
    await page.goto(compareUrl(runIds, '&metric=loss&metric=heldout_loss'));
    await waitForChart(page);
    // heldout_loss has one value per run: each of the 12 must be drawn (as a dot), loss lines get none.
    expect(await page.locator('#chart svg path[aria-roledescription="point"]').count()).toBe(RUNS);
    const strokes = await lineMarks(page).evaluateAll((els) => els.map((e) => e.getAttribute('stroke')));
    expect(new Set(strokes).size).toBe(RUNS);
    expect(await pageWidth(page)).toBeLessThanOrEqual(WIDTH);
    await page.screenshot({ path: join(OUT, 'compare-12-runs.png'), fullPage: true });
    await page.close();
  });

  it('highlights a run from the legend', async () => {
    const page = await openPage();
    await page.goto(compareUrl(runIds.slice(0, 3)));
    await waitForChart(page);
    await page.locator('#chart svg .role-legend-label text', { hasText: 'variant-01' }).click();
    await expect
      .poll(async () => (await lineMarks(page).evaluateAll((els) => els.map((e) => Number(e.getAttribute('opacity') ?? 1)))).sort())
      .toEqual([0.12, 0.12, 1]);
    await page.close();
  });

  it('smooths with the slider (EMA, raw drawn faintly behind) and keeps the weight in the URL', async () => {
    const page = await openPage();
    await page.goto(compareUrl(runIds.slice(0, 1)));
    await waitForChart(page);
    const raw = ys((await lineMarks(page).first().getAttribute('d'))!);
    await page.locator('#smoothing').fill('0.9');
    await expect.poll(() => page.locator('#chart').getAttribute('data-smoothing')).toBe('0.9');
    expect(page.url()).toContain('smooth=0.9');
    const paths = await lineMarks(page).evaluateAll((els) => els.map((e) => ({ d: e.getAttribute('d') ?? '', opacity: Number(e.getAttribute('opacity') ?? 1) })));
    expect(paths).toHaveLength(2);
    const faint = paths.find((p) => p.opacity < 0.5)!;
    const smoothed = paths.find((p) => p.opacity === 1)!;
    expect(totalVariation(ys(faint.d))).toBeCloseTo(totalVariation(raw), 0);
    // The noise (±0.05 around a decreasing curve) is what the EMA removes.
    expect(totalVariation(ys(smoothed.d))).toBeLessThan(totalVariation(raw) / 3);
    await page.close();
  });

  it('toggles a log x axis in place, keeps it in the URL, and has none for wall-clock time', async () => {
    const page = await openPage();
    await page.goto(compareUrl(runIds.slice(0, 1)));
    await waitForChart(page);
    expect(await page.locator('#chart').getAttribute('data-log-x')).toBe('false');
    expect((await xAxes(page))[0]).toMatch(/for a linear scale/);
    // Linear: the pixel x of the 500 vertices is affine in the step.
    const linear = xs((await lineMarks(page).first().getAttribute('d'))!);
    expect(linear).toHaveLength(STEPS);
    expect(affineFit(linear.map((_, step) => step), linear).maxResidual).toBeLessThan(0.5);

    await page.evaluate(() => ((window as unknown as { loadedOnce: boolean }).loadedOnce = true));
    await page.check('#log-x');
    await expect.poll(() => page.locator('#chart').getAttribute('data-log-x')).toBe('true');
    expect((await xAxes(page))[0]).toMatch(/for a log scale/);
    // Log: affine in log(step); step 0 has no place on the axis and is left out.
    const log = xs((await lineMarks(page).first().getAttribute('d'))!);
    expect(log).toHaveLength(STEPS - 1);
    expect(affineFit(log.map((_, i) => Math.log(i + 1)), log).maxResidual).toBeLessThan(0.5);
    expect(await page.evaluate(() => (window as unknown as { loadedOnce?: boolean }).loadedOnce)).toBe(true);
    expect(page.url()).toContain('xscale=log');

    // The link restores it; Update keeps it; on a wall-clock axis the toggle is off.
    await page.reload();
    await waitForChart(page);
    expect(await page.locator('#log-x').isChecked()).toBe(true);
    expect((await xAxes(page))[0]).toMatch(/for a log scale/);
    await page.selectOption('select[name=x]', 'wall');
    await Promise.all([page.waitForURL(/x=wall/), page.click('#chart-form button[type=submit]')]);
    await waitForChart(page);
    expect(await page.locator('#log-x').isDisabled()).toBe(true);
    expect(await page.locator('#chart').getAttribute('data-log-x')).toBe('false');
    expect((await xAxes(page))[0]).toMatch(/for a time scale/);
    await page.close();
  });

  it('sizes the chart to the window', async () => {
    const widthAt = async (w: number) => {
      const page = await openPage(w);
      await page.goto(compareUrl(runIds.slice(0, 2)));
      await waitForChart(page);
      const chart = await page.locator('#chart svg').first().evaluate((svg) => svg.getBoundingClientRect().width);
      expect(await pageWidth(page)).toBeLessThanOrEqual(w);
      await page.close();
      return chart;
    };
    const narrow = await widthAt(1000);
    const wide = await widthAt(1800);
    expect(wide - narrow).toBeGreaterThan(600);
  });

  it('shows the runs’ sample grids side by side at one step, moved by the slider', async () => {
    const page = await openPage();
    await page.goto(compareUrl(runIds.slice(0, 3)));
    const figures = page.locator('#sample-grids figure');
    expect(await figures.count()).toBe(3);
    // Default: the latest step all three reached (run 0 sampled only at the first).
    expect(await page.locator('#sample-grids img').evaluateAll((els) => els.map((e) => e.getAttribute('data-step')))).toEqual(['100', '100', '100']);
    await page.locator('#sample-step').fill('1');
    await expect.poll(() => page.locator('#sample-step-value').textContent()).toBe(String(GRID_STEPS[1]));
    expect(await page.locator('#sample-grids img').evaluateAll((els) => els.map((e) => e.getAttribute('data-step')))).toEqual(['100', '200', '200']);
    const sizes = await page.locator('#sample-grids img').evaluateAll((els) =>
      Promise.all((els as HTMLImageElement[]).map(async (img) => (await img.decode(), [img.naturalWidth, img.naturalHeight]))),
    );
    expect(sizes).toEqual([[32, 320], [32, 320], [32, 320]]);
    expect(await figures.first().locator('.grid-step').textContent()).toBe('step 100');
    expect(await figures.first().locator('ol.grid-rows li').allTextContents()).toEqual([...fashionMnistClassNames]);
    expect(page.url()).toContain('sample_step=200');
    await page.close();
  });
});

describe('live update (Chromium)', () => {
  it('redraws the chart of a RUNNING run with the points logged after the page loaded, without a reload', async () => {
    const experiment = await served.store.createExperiment('live');
    const run = await served.store.createRun({ experimentId: experiment, runName: 'still-training' });
    const log = (from: number, to: number) =>
      served.store.logBatch(run.info.runId, { metrics: Array.from({ length: to - from }, (_, i) => ({ key: 'loss', value: 1 / (from + i + 1), step: from + i, timestamp: Date.now() })) });
    await log(0, 10);
    const page = await openPage();
    await page.goto(compareUrl([run.info.runId]));
    await waitForChart(page);
    const vertexCount = async () => ys((await lineMarks(page).first().getAttribute('d')) ?? '').length;
    expect(await vertexCount()).toBe(10);
    await page.evaluate(() => ((window as unknown as { loadedOnce: boolean }).loadedOnce = true));
    await log(10, 25);
    await expect.poll(vertexCount, { timeout: 20_000, interval: 500 }).toBe(25);
    // Same document: the page was not reloaded.
    expect(await page.evaluate(() => (window as unknown as { loadedOnce?: boolean }).loadedOnce)).toBe(true);
    await served.store.updateRun(run.info.runId, { status: 'FINISHED', endTime: Date.now() });
    await page.close();
  });
});

describe('run page (Chromium)', () => {
  it('shows the latest sample grid with a slider over every grid, and a small chart of every metric', async () => {
    const page = await openPage();
    await page.goto(`${served.server.url}/runs/${runIds[1]}`);
    await waitForChart(page);
    expect(await page.locator('#samples img').getAttribute('data-step')).toBe('200');
    expect(await page.locator('#sample-step').getAttribute('max')).toBe(String(GRID_STEPS.length - 1));
    await page.locator('#sample-step').fill('0');
    await expect.poll(() => page.locator('#samples img').getAttribute('data-step')).toBe('100');
    const panels = await page.locator('#chart svg .role-title-text, #chart svg .role-header-label text, #chart svg g.role-header text').allTextContents();
    expect(panels).toEqual(expect.arrayContaining(['heldout_loss', 'loss']));
    expect(await lineMarks(page).count()).toBe(2);
    await page.close();
  });

  it('answers an unknown run id with a 404 page and a way back', async () => {
    const page = await openPage();
    const res = await page.goto(`${served.server.url}/runs/not-a-run`);
    expect(res!.status()).toBe(404);
    expect(await page.locator('#error-message').textContent()).toContain('no run with id');
    await page.click('#back');
    expect(await page.locator('#experiments').count()).toBe(1);
    await page.close();
  });

  it('downloads an artifact under its own file name', async () => {
    const page = await openPage();
    await page.goto(`${served.server.url}/runs/${runIds[1]}/artifacts?path=samples/step-0000200.png`);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    expect(download.suggestedFilename()).toBe('step-0000200.png');
    await page.close();
  });
});

describe('runs table (Chromium, 1400 px)', () => {
  it('scrolls inside the page, and Compare needs a selection; select-all ticks every run', async () => {
    const page = await openPage();
    await page.goto(`${served.server.url}/experiments/${experimentId}`);
    const table = await page.locator('#runs').evaluate((t) => t.scrollWidth);
    expect(table).toBeGreaterThan(WIDTH);
    expect(await pageWidth(page)).toBeLessThanOrEqual(WIDTH);
    expect(await page.locator('#compare').isDisabled()).toBe(true);
    await page.check('#select-all');
    expect(await page.locator('#runs tbody input[name=run]:checked').count()).toBe(RUNS);
    expect(await page.locator('#compare').isDisabled()).toBe(false);
    await page.uncheck('#select-all');
    await page.locator('#runs tbody input[name=run]').nth(2).check();
    expect(await page.locator('#compare').textContent()).toBe('Compare 1 selected run');
    await page.click('#compare');
    await waitForChart(page);
    expect(await lineMarks(page).count()).toBe(1);
    await page.close();
  });

  it('marks the best value, offers min/max and tag columns in the chooser, and exports what is shown as CSV', async () => {
    const page = await openPage();
    await page.goto(`${served.server.url}/experiments/${experimentId}`);
    const lastLoss = runIds.map((_, r) => lossAt(r, STEPS - 1));
    const bestRun = lastLoss.indexOf(Math.min(...lastLoss));
    const lossCol = (await page.locator('#runs thead th').allTextContents()).indexOf('metrics.loss');
    const best = page.locator('#runs tbody td.best');
    expect(await page.locator(`#runs tbody tr[data-run-id="${runIds[bestRun]}"] td:nth-child(${lossCol + 1})`).getAttribute('class')).toContain('best');
    expect(await page.locator(`#runs tbody td:nth-child(${lossCol + 1}).best`).count()).toBe(1);

    await page.click('#columns summary');
    await page.check('#columns input[value="metrics.loss:min"]');
    await page.check('#columns input[value="tags.family"]');
    await page.uncheck('#columns input[value="metrics.heldout_loss"]');
    for (const box of await page.locator('#columns input[value^="params.sweep."]').all()) await box.uncheck();
    await page.click('#apply-columns');
    const headers = await page.locator('#runs thead th').allTextContents();
    expect(headers).toContain('min loss');
    expect(headers).toContain('tags.family');
    expect(headers).not.toContain('metrics.heldout_loss');
    expect(await pageWidth(page)).toBeLessThanOrEqual(WIDTH);
    const minCol = headers.indexOf('min loss');
    const minLoss = (r: number) => Math.min(...Array.from({ length: STEPS }, (_, s) => lossAt(r, s)));
    for (const [r, id] of runIds.entries()) {
      expect(Number(await page.locator(`#runs tbody tr[data-run-id="${id}"] td:nth-child(${minCol + 1})`).textContent())).toBeCloseTo(minLoss(r), 5);
    }
    expect(await best.count()).toBeGreaterThanOrEqual(2);
    await page.screenshot({ path: join(OUT, 'runs-columns.png'), fullPage: true });

    // The CSV holds exactly the shown columns, numbers at full precision.
    const csv = await (await fetch(new URL((await page.locator('#csv').getAttribute('href'))!, served.server.url))).text();
    const lines = csv.trim().split('\r\n').map((l) => l.slice(1, -1).split('","'));
    expect(lines[0]).toEqual(['run_id', 'run', 'status', 'started', 'duration', ...headers.slice(5)]);
    expect(lines).toHaveLength(RUNS + 1);
    const row0 = lines.find((l) => l[0] === runIds[0])!;
    expect(Number(row0[minCol])).toBe(minLoss(0));
    await page.close();
  });

  it('answers Compare with nothing selected by a page that leads back to the runs table', async () => {
    const page = await openPage();
    const res = await page.goto(`${served.server.url}/compare?experiment=${experimentId}`);
    expect(res!.status()).toBe(400);
    expect(await page.locator('#error-message').textContent()).toContain('No runs selected');
    await page.click('#back');
    expect(page.url()).toBe(`${served.server.url}/experiments/${experimentId}`);
    expect(await page.locator('#runs tbody tr').count()).toBe(RUNS);
    await page.close();
  });

  it('loaded nothing from outside the tracker', () => {
    expect(offsite).toEqual([]);
  });
});
