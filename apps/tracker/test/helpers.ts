import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { locationOfDir, SqliteStore } from '@difflab/tracking';
import { startTrackerServer, type TrackerServer } from '../src/index.js';
import { tempDir } from './temp.js';

export interface Served {
  dir: string;
  store: SqliteStore;
  server: TrackerServer;
  close(): Promise<void>;
}

/** A tracker server on a free port over a fresh store directory. */
export async function serveFreshStore(prefix = 'tracker-'): Promise<Served> {
  const dir = tempDir(prefix);
  const store = new SqliteStore(locationOfDir(join(dir, 'store')));
  const server = await startTrackerServer({ store, port: 0 });
  return {
    dir,
    store,
    server,
    close: async () => {
      await server.close();
      await store.close();
    },
  };
}

/** One MLflow REST call as the MLflow docs describe it: GET with query parameters, POST with a JSON body. */
export async function call(base: string, method: 'GET' | 'POST', endpoint: string, fields: Record<string, unknown> = {}) {
  const url = new URL(`/api/2.0/mlflow/${endpoint}`, base);
  if (method === 'GET') for (const [k, v] of Object.entries(fields)) url.searchParams.set(k, String(v));
  const res = await fetch(url, method === 'POST' ? { method, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(fields) } : {});
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const CHROMIUM = '/usr/bin/chromium';

/** Debian's Chromium, headless, with a throwaway profile and no background traffic of its own. */
export async function launchChromium(): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run tools/setup.sh (it installs Debian's chromium) before the browser tests`);
  return chromium.launchPersistentContext(tempDir('chromium-profile-'), {
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
}

/** A page that may load only from the tracker: every other request is aborted and its URL pushed to `offsite`. */
export async function trackerOnlyPage(context: BrowserContext, trackerUrl: string, offsite: string[]): Promise<Page> {
  const page = await context.newPage();
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(trackerUrl)) return route.continue();
    offsite.push(url);
    return route.abort();
  });
  return page;
}

/** Resolves once vega-embed has drawn the compare chart (the page sets the attribute). */
export async function waitForChart(page: Page): Promise<void> {
  await page.waitForSelector('#chart[data-rendered=true]', { timeout: 30_000 });
}

/** Least-squares slope and intercept of ys on xs, and the largest residual. */
export function affineFit(xs: number[], ys: number[]): { slope: number; maxResidual: number } {
  const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
  const mx = mean(xs);
  const my = mean(ys);
  const slope = xs.reduce((s, x, i) => s + (x - mx) * (ys[i]! - my), 0) / xs.reduce((s, x) => s + (x - mx) ** 2, 0);
  const intercept = my - slope * mx;
  return { slope, maxResidual: Math.max(...xs.map((x, i) => Math.abs(intercept + slope * x - ys[i]!))) };
}
