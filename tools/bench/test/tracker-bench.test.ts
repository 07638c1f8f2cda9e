// The tracker benchmark at toy size: it ingests exactly what it says locally and over REST,
// times every page (each answering 200), reports against the targets, and leaves no store behind.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatTrackerReport, runTrackerBench, TRACKER_BENCH_METRICS } from '../src/tracker-bench.js';

const parent = mkdtempSync(join(tmpdir(), 'tracker-bench-test-'));
afterAll(() => rmSync(parent, { recursive: true, force: true }));

describe('tracker benchmark', () => {
  it('runs a scaled-down load end to end and removes its store', async () => {
    const report = await runTrackerBench({ runs: 12, steps: 30, restRuns: 2, parentDir: parent });
    const perRun = 30 * TRACKER_BENCH_METRICS.length;
    expect(report.local).toMatchObject({ runs: 12, values: 12 * perRun });
    expect(report.rest).toMatchObject({ runs: 2, values: 2 * perRun });
    expect(report.pages.map((p) => p.name)).toEqual(['runs table', 'runs table, filtered', 'experiments list', 'compare 10 runs × 5 metrics']);
    for (const p of report.pages) expect(p.bytes).toBeGreaterThan(0);
    expect(readdirSync(parent)).toEqual([]);
    const text = formatTrackerReport(report);
    expect(text).toMatch(/^difflab bench tracker --runs 12 --steps 30 /);
    expect(text).toMatch(/ingest, local .*values\/s/);
    expect(text).toMatch(/vector flags: /);
  });

  it('refuses sizes that are not positive integers', async () => {
    await expect(runTrackerBench({ runs: 0, steps: 10, parentDir: parent })).rejects.toThrow(/--runs must be a positive integer/);
    await expect(runTrackerBench({ runs: 1, steps: 1.5, parentDir: parent })).rejects.toThrow(/--steps must be a positive integer/);
  });
});
