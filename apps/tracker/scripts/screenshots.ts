// Screenshots of every tracker page for docs/img, from a tracker over small real runs: tiny DiT
// trainings on Fashion-MNIST (as test/fixtures/tiny-dit.ts trains them, with sample grids every
// few steps) and a tiny sweep for the scaling page. Same browser as the tests: playwright-core
// driving Debian's /usr/bin/chromium. Run: npx tsx apps/tracker/scripts/screenshots.ts [outDir]
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { locationOfDir, openTracker, SqliteStore } from '@difflab/tracking';
import { parseTrainConfig, TrackerSink } from '@difflab/runs';
import { train } from '@difflab/training';
import { startTrackerServer } from '../src/index.js';

const OUT = resolve(process.argv[2] ?? 'docs/img');
const WIDTH = 1400;
const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;

function ditConfig(name: string, lr: number, steps: number, size = { hiddenSize: 64, depth: 2, numHeads: 4 }) {
  return parseTrainConfig({
    name,
    seed: 7,
    model: { preset: 'DiT-FMNIST-S/4', patchSize: 8, ...size },
    diffusion: { timesteps: 100 },
    train: { steps, batchSize: 32, lr, warmupSteps: 10 },
    checkpoint: { every: steps },
    eval: { heldoutExamples: 40 },
    log: { every: 1 },
    // Raw weights: over a few hundred steps an EMA of decay 0.9999 is still the random init.
    sample: { steps: 20, perClass: 4, every: Math.max(1, Math.floor(steps / 4)), useEma: false },
  });
}

const root = mkdtempSync(join(tmpdir(), 'tracker-screens-'));
const storeDir = join(root, 'store');
const tracker = openTracker({ uri: storeDir });
try {
  for (const lr of [0.0005, 0.001, 0.002]) {
    const runName = `dit-lr${lr}`;
    const runDir = join(root, runName);
    await train(ditConfig('fmnist-dit', lr, 600), { runDir, sinks: [new TrackerSink(tracker, 'fmnist-dit', runName, runDir)], progressStream: quiet });
  }
  for (const steps of [8, 24, 64]) {
    for (const size of [{ hiddenSize: 16, depth: 1, numHeads: 2 }, { hiddenSize: 32, depth: 2, numHeads: 2 }]) {
      const budget = `b${steps}`;
      const sizeLabel = `w${size.hiddenSize}-d${size.depth}`;
      const runName = `${budget}-${sizeLabel}`;
      const runDir = join(root, runName);
      const sink = new TrackerSink(tracker, 'tiny-sweep', runName, runDir, { sweep: 'tiny-sweep', budget, size: sizeLabel });
      await train(ditConfig('tiny-sweep', 0.003, steps, size), { runDir, sinks: [sink], progressStream: quiet });
    }
  }
} finally {
  await tracker.close();
}

const store = new SqliteStore(locationOfDir(storeDir));
const server = await startTrackerServer({ store, port: 0 });
const context = await chromium.launchPersistentContext(join(root, 'profile'), {
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: WIDTH, height: 900 },
});
try {
  mkdirSync(OUT, { recursive: true });
  const page = await context.newPage();
  const shot = async (name: string, url: string, chart = false) => {
    await page.goto(`${server.url}${url}`);
    if (chart) await page.waitForSelector('#chart[data-rendered=true]', { timeout: 60_000 });
    // Whole pages, but at most three screens tall: the run page's params table would run on and on.
    const height = await page.evaluate(() => document.documentElement.scrollHeight);
    await page.screenshot({ path: join(OUT, `tracker-${name}.png`), fullPage: true, clip: { x: 0, y: 0, width: WIDTH, height: Math.min(height, 2700) } });
    console.log(`tracker-${name}.png  ${url}`);
  };
  const dit = (await store.getExperimentByName('fmnist-dit'))!.experimentId;
  const sweep = (await store.getExperimentByName('tiny-sweep'))!.experimentId;
  const runs = (await store.searchRuns({ experimentIds: [dit], orderBy: ['attributes.run_name ASC'] })).items;
  await shot('experiments', '/');
  await shot('runs', `/experiments/${dit}?cols=params.train.lr&cols=params.config_hash&cols=metrics.loss&cols=metrics.loss:min&cols=metrics.heldout_loss&cols=metrics.grad_norm`);
  await shot('run', `/runs/${runs[1]!.info.runId}`, true);
  await shot('compare', `/compare?${runs.map((r) => `run=${r.info.runId}`).join('&')}&metric=loss&metric=heldout_loss&smooth=0.8`, true);
  await shot('scaling', `/experiments/${sweep}/scaling`, true);
  await shot('artifact', `/runs/${runs[1]!.info.runId}/artifacts?path=samples/step-0000600.png`);
  await shot('artifact-parquet', `/runs/${runs[1]!.info.runId}/artifacts?path=metrics.parquet`);
} finally {
  await context.close();
  await server.close();
  await store.close();
  rmSync(root, { recursive: true, force: true });
}
