import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { countDiT, ditConfig } from '@difflab/models';
import { readParquet, tableFromColumns, tableToRows, writeParquet } from '@difflab/data';
import {
  SweepDefinitionError,
  parseSweepDefinition,
  type JsonObject,
  type SweepDefinition,
} from '../src/definition.js';
import { budgetLabel, logSpacedBudgets, planPreset, type SweepRun } from '../src/plan.js';
import { sweepLayout } from '../src/targets.js';
import study from '../study.js';
import { SweepGatherError, frontier, gatherPreset } from '../src/gather.js';
import { fitPreset } from '../src/fit.js';
import { formatNumber } from '@difflab/scaling-laws';
import { slurmScripts } from '../src/slurm.js';

const tmp = mkdtempSync(join(tmpdir(), 'sweep-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const size = (hiddenSize: number, depth: number, numHeads: number) => ({ hiddenSize, depth, numHeads });

function rawDef(): JsonObject {
  return {
    name: 'toy-sweep',
    base: {
      model: { preset: 'DiT-FMNIST-S/4' },
      train: { batchSize: 64, emaDecay: 0.999 },
      eval: { heldoutExamples: 500 },
    },
    lr: { value: 0.001, referenceWidth: 64 },
    warmupFraction: 0.1,
    minSteps: 10,
    presets: {
      full: {
        budgets: { min: 1e13, max: 1e15, count: 5 },
        sizes: [size(64, 2, 2), size(96, 3, 3), size(128, 4, 4), size(160, 5, 5), size(192, 6, 6)],
      },
      smoke: {
        budgets: { min: 2.5e10, max: 1e11, count: 3 },
        sizes: [size(32, 1, 2), size(64, 2, 2), size(96, 3, 3)],
        overrides: { train: { batchSize: 32 }, eval: { heldoutExamples: 100 } },
        bootstrap: 50,
        isoflopMayFail: true,
        fidSamplesPerClass: 3,
      },
    },
  };
}

const def = (): SweepDefinition => parseSweepDefinition(rawDef(), 'toy.json');
const layout = sweepLayout('experiments/toy/sweep.json');

describe('sweep plan', () => {
  it('log-spaces budgets and rounds them to 2 significant digits', () => {
    // 10^13, 10^13.5 = 3.16e13, 10^14, 10^14.5 = 3.16e14, 10^15
    expect(logSpacedBudgets(1e13, 1e15, 5)).toEqual([1e13, 3.2e13, 1e14, 3.2e14, 1e15]);
    // 2.5e10 · 2^k
    expect(logSpacedBudgets(2.5e10, 1e11, 3)).toEqual([2.5e10, 5e10, 1e11]);
    expect(budgetLabel(3.2e13)).toBe('3.2e13');
    expect(budgetLabel(1e15)).toBe('1e15');
  });

  it('gives each run steps = round(budget / (3·F_fwd·batch)) with F_fwd from countDiT, so it spends its budget', () => {
    const runs = planPreset(def(), 'full');
    expect(runs).toHaveLength(25);
    for (const r of runs) {
      const f = countDiT({ ...ditConfig('DiT-FMNIST-S/4'), ...r.size }).gflops * 1e9;
      const perStep = 3 * f * 64;
      expect(r.flopsFwd).toBe(f);
      expect(r.steps).toBe(Math.round(r.budget / perStep));
      // Rounding to whole steps misses the budget by at most half a step.
      expect(Math.abs(r.steps * perStep - r.budget)).toBeLessThanOrEqual(perStep / 2);
      expect(r.lr).toBeCloseTo((0.001 * 64) / r.size.hiddenSize, 15);
      const train = r.config.train as JsonObject;
      expect(train).toMatchObject({ steps: r.steps, batchSize: 64, lr: r.lr, warmupSteps: Math.round(0.1 * r.steps), emaDecay: 0.999 });
      expect(r.config.model).toEqual({ preset: 'DiT-FMNIST-S/4', ...r.size });
      expect(r.config.name).toBe('toy-sweep-full');
    }
    // A hand-checked case: DiT-FMNIST-S/4 (192 wide, 6 deep) is the preset itself.
    const s4 = runs.find((r) => r.id === 'c1e13-w192-d6')!;
    expect(s4.modelParams).toBe(countDiT(ditConfig('DiT-FMNIST-S/4')).params);
  });

  it('applies preset overrides (batch size changes the steps) and keeps runs distinct', () => {
    const smoke = planPreset(def(), 'smoke');
    expect(smoke).toHaveLength(9);
    for (const r of smoke) {
      expect(r.batchSize).toBe(32);
      expect(r.steps).toBe(Math.round(r.budget / (3 * r.flopsFwd * 32)));
      expect((r.config.eval as JsonObject).heldoutExamples).toBe(100);
    }
    const all = [...planPreset(def(), 'full'), ...smoke];
    const ids = all.map((r) => `${r.preset}/${r.id}`);
    expect(new Set(ids).size).toBe(all.length);
    expect(new Set(all.map((r) => JSON.stringify(r.config))).size).toBe(all.length);
    expect(smoke.map((r) => r.id)).toContain('c2p5e10-w32-d1');
  });

  it('runs each size only at the budgets inside its window, and keeps the window out of the run config', () => {
    const raw = rawDef();
    const sizes = ((raw.presets as JsonObject).full as JsonObject).sizes as JsonObject[];
    sizes[0]!.budgets = { max: 3.2e13 }; // w64-d2: 1e13, 3.2e13
    sizes[4]!.budgets = { min: 1e14 }; // w192-d6: 1e14, 3.2e14, 1e15
    sizes[1]!.budgets = { min: 3.2e13, max: 3.2e14 }; // w96-d3: 3.2e13, 1e14, 3.2e14
    const runs = planPreset(parseSweepDefinition(raw, 'toy.json'), 'full');
    const perBudget = new Map<string, string[]>();
    for (const r of runs) perBudget.set(budgetLabel(r.budget), [...(perBudget.get(budgetLabel(r.budget)) ?? []), r.sizeLabel]);
    expect(Object.fromEntries(perBudget)).toEqual({
      '1e13': ['w64-d2', 'w128-d4', 'w160-d5'],
      '3.2e13': ['w64-d2', 'w96-d3', 'w128-d4', 'w160-d5'],
      '1e14': ['w96-d3', 'w128-d4', 'w160-d5', 'w192-d6'],
      '3.2e14': ['w96-d3', 'w128-d4', 'w160-d5', 'w192-d6'],
      '1e15': ['w128-d4', 'w160-d5', 'w192-d6'],
    });
    for (const r of runs) expect(Object.keys(r.config.model as JsonObject).sort()).toEqual(['depth', 'hiddenSize', 'numHeads', 'preset']);
  });
});

describe('the study: runs as fan-out units, cached on fingerprints', () => {
  /** A study directory holding only a sweep.json (named after the study, as study.ts requires): what study.ts reads. */
  function studyDir(raw: JsonObject): string {
    const dir = mkdtempSync(join(tmp, 'study-'));
    writeFileSync(join(dir, 'sweep.json'), JSON.stringify({ ...raw, name: 'dit-scaling' }));
    return dir;
  }
  const units = (raw: JsonObject, preset: string) => new Map(study.fanOut!.units(studyDir(raw), preset).map((u) => [u.id, u]));

  it('lists the presets of sweep.json and one unit per planned run, tagged with sweep, budget and size', () => {
    const dir = studyDir(rawDef());
    expect(study.presets!(dir).map((p) => p.name)).toEqual(['full', 'smoke']);
    const other = mkdtempSync(join(tmp, 'study-'));
    writeFileSync(join(other, 'sweep.json'), JSON.stringify(rawDef()));
    expect(() => study.presets!(other)).toThrow(/name: expected 'dit-scaling' .* got 'toy-sweep'/);
    for (const preset of ['full', 'smoke']) {
      const runs = planPreset(def(), preset);
      const us = study.fanOut!.units(dir, preset);
      expect(us.map((u) => u.id)).toEqual(runs.map((r) => r.id));
      us.forEach((u, i) => expect(u.tags).toEqual({ sweep: 'dit-scaling', budget: budgetLabel(runs[i]!.budget), size: runs[i]!.sizeLabel }));
    }
  });

  it('changing one preset changes only that preset’s fingerprints; adding budgets leaves every existing run’s', () => {
    const before = { full: units(rawDef(), 'full'), smoke: units(rawDef(), 'smoke') };
    const presetsBefore = study.presets!(studyDir(rawDef()));
    const raw = rawDef();
    ((raw.presets as JsonObject).smoke as JsonObject).overrides = { train: { batchSize: 32 }, eval: { heldoutExamples: 200 } };
    for (const [id, u] of units(raw, 'full')) expect(u.fingerprints).toEqual(before.full.get(id)!.fingerprints);
    for (const [id, u] of units(raw, 'smoke')) {
      expect(u.fingerprints!.train).not.toBe(before.smoke.get(id)!.fingerprints!.train);
      // evaluate reads the retrained weights through its dependency; its own setting did not change.
      expect(u.fingerprints!.evaluate).toBe(before.smoke.get(id)!.fingerprints!.evaluate);
    }
    const presetsAfter = study.presets!(studyDir(raw));
    expect(presetsAfter[0]).toEqual(presetsBefore[0]);
    expect(presetsAfter[1]!.fingerprint).not.toBe(presetsBefore[1]!.fingerprint);

    const more = rawDef();
    ((more.presets as JsonObject).full as JsonObject).budgets = { min: 1e13, max: 1e15, count: 3 };
    const fewer = units(more, 'full');
    // Budgets 1e13, 1e14, 1e15 were all in the 5-budget grid: their runs keep their fingerprints (and Nx caches).
    expect(fewer.size).toBe(15);
    for (const [id, u] of fewer) expect(u.fingerprints).toEqual(before.full.get(id)!.fingerprints);
  });

  it('a window added to a size leaves the fingerprints of the runs it keeps', () => {
    const before = units(rawDef(), 'full');
    const raw = rawDef();
    (((raw.presets as JsonObject).full as JsonObject).sizes as JsonObject[])[0]!.budgets = { max: 1e14 };
    const after = units(raw, 'full');
    expect(after.size).toBe(23);
    expect(after.has('c3p2e14-w64-d2')).toBe(false);
    for (const [id, u] of after) expect(u.fingerprints).toEqual(before.get(id)!.fingerprints);
  });

  // Nx still reruns the run's train task too: it hashes a project's whole configuration (both commands) into each task.
  it('a new FID sample count changes the evaluate fingerprint of each run, not the train one', () => {
    const raw = rawDef();
    ((raw.presets as JsonObject).smoke as JsonObject).fidSamplesPerClass = 5;
    const before = units(rawDef(), 'smoke');
    for (const [id, u] of units(raw, 'smoke')) {
      expect(u.fingerprints!.train).toBe(before.get(id)!.fingerprints!.train);
      expect(u.fingerprints!.evaluate).not.toBe(before.get(id)!.fingerprints!.evaluate);
    }
  });
});

describe('bad sweep definitions', () => {
  const bad = (mutate: (raw: JsonObject) => void) => {
    const raw = rawDef();
    mutate(raw);
    return () => planPreset(parseSweepDefinition(raw, 'toy.json'), 'full');
  };
  const full = (raw: JsonObject) => (raw.presets as JsonObject).full as JsonObject;

  it.each([
    ['fewer than 3 budgets', (r: JsonObject) => (full(r).budgets = { min: 1e13, max: 1e14, count: 2 }), /presets\.full\.budgets\.count: an isoFLOP fit needs at least 3 budgets/],
    ['max below min', (r: JsonObject) => (full(r).budgets = { min: 1e14, max: 1e13, count: 3 }), /presets\.full\.budgets: max \(1e\+13\) must exceed min/],
    ['two sizes', (r: JsonObject) => (full(r).sizes = [size(64, 2, 2), size(96, 3, 3)]), /presets\.full\.sizes: expected at least 3 model sizes/],
    ['a duplicated size', (r: JsonObject) => (full(r).sizes = [size(64, 2, 2), size(64, 2, 4), size(96, 3, 3)]), /size w64-d2 appears twice/],
    ['heads not dividing the width', (r: JsonObject) => (full(r).sizes = [size(64, 2, 3), size(96, 3, 3), size(128, 4, 4)]), /sizes\[0\]: hiddenSize 64 is not divisible by numHeads 3/],
    ['a budget left with two sizes', (r: JsonObject) => ((full(r).sizes as JsonObject[])[0]!.budgets = { min: 1e14 }, (full(r).sizes as JsonObject[])[1]!.budgets = { min: 1e14 }, (full(r).sizes as JsonObject[])[2]!.budgets = { min: 1e14 }), /presets\.full\.sizes: budget 1e13 has 2 size\(s\) inside their budget windows; .* widen the windows/],
    ['a size that runs at no budget', (r: JsonObject) => ((full(r).sizes as JsonObject[])[4]!.budgets = { min: 2e15 }), /presets\.full\.sizes\[4\]\.budgets: w192-d6 runs at none of the budgets \(1e13, 3\.2e13, 1e14, 3\.2e14, 1e15\)/],
    ['steps in base', (r: JsonObject) => ((r.base as JsonObject).train = { batchSize: 64, steps: 100 }), /base\.train\.steps: set by the sweep/],
    ['no batch size', (r: JsonObject) => ((r.base as JsonObject).train = {}), /base\.train\.batchSize: required/],
    ['a misspelt field', (r: JsonObject) => (full(r).budget = 1), /presets\.full: Unrecognized key: "budget"/],
    ['a bad preset name', (r: JsonObject) => ((r.presets as JsonObject)['Full run'] = full(r)), /presets\.Full run: preset names use lowercase/],
    ['a budget too small for a size', (r: JsonObject) => (full(r).budgets = { min: 1e11, max: 1e13, count: 3 }), /run c1e11-w128-d4 gets 9 steps .* below minSteps 10; raise budgets\.min/],
  ])('rejects %s with the field and the fix', (_name, mutate, message) => {
    const f = bad(mutate as (r: JsonObject) => void);
    expect(f).toThrow(SweepDefinitionError);
    expect(f).toThrow(message);
  });

  it('rejects an unknown preset by listing the defined ones', () => {
    expect(() => planPreset(def(), 'medium')).toThrow("unknown preset 'medium'; the sweep defines: full, smoke");
  });
});

interface FabricatedEval {
  fid: number;
  step?: number;
  nSamples?: number;
  weights?: string;
  /** The real-vs-real floor at the same N; the same for every run, as the evaluator computes it. */
  floor?: number;
}

/** Writes eval/metrics.parquet as `difflab eval` does (long format, with the real-data reference rows). */
async function fabricateEval(dir: string, run: SweepRun, e: FabricatedEval): Promise<void> {
  mkdirSync(join(dir, 'eval'), { recursive: true });
  const step = e.step ?? run.steps;
  const n = e.nSamples ?? (run.preset === 'smoke' ? 30 : 1000);
  const weights = e.weights ?? 'raw';
  await writeParquet(join(dir, 'eval', 'metrics.parquet'), tableFromColumns({
    name: ['fid_fmnist', 'fid_fmnist_floor', 'class_accuracy', 'fid_fmnist_train_vs_test'],
    value: [e.fid, e.floor ?? 12.5, 0.5, 0.42],
    n_samples: [n, n, n, 60000],
    weights: [weights, 'real-data', weights, 'real-data'],
    step: [step, step, step, step],
    feature_net_sha256: ['ab', 'ab', 'ab', 'ab'],
  }));
}

/** Writes the artifacts the trainer and the evaluate target leave in a run dir. */
async function fabricateRun(root: string, run: SweepRun, loss: number, seconds = 2, fid = 100 * loss): Promise<void> {
  const dir = join(root, layout.runDir(run));
  mkdirSync(dir, { recursive: true });
  await fabricateEval(dir, run, { fid });
  const examples = run.steps * run.batchSize;
  writeFileSync(join(dir, 'eval.json'), JSON.stringify({ step: run.steps, heldout_loss: loss, examples_seen: examples, train_compute: 3 * run.flopsFwd * examples, backend: 'cpu' }));
  writeFileSync(join(dir, 'params.json'), JSON.stringify({ model_params: run.modelParams, flops_fwd_per_example: run.flopsFwd }));
  await writeParquet(join(dir, 'metrics.parquet'), tableFromColumns({ step: [1, run.steps], loss: [1, loss * 1.1], wall_time: [0.1, seconds] }));
}

describe('sweep gather and fit', () => {
  // A known law L(N, C) = E + A/N^α + B/(C/N)^β: at fixed C its minimum is at
  // N_opt = (αA/(βB))^(1/(α+β)) · C^(β/(α+β)) (set dL/dN = 0), so a = β/(α+β); A and B put N_opt
  // between 2e5 and 5e6 over the budgets, inside the sizes.
  const E = 0.05, A = 0.2, alpha = 0.3, B = 400, beta = 0.6;
  const law = (n: number, c: number) => E + A / n ** alpha + B / (c / n) ** beta;

  it('gathers every run into runs.parquet with the documented schema and the artifacts’ values', async () => {
    const root = join(tmp, 'gather');
    const runs = planPreset(def(), 'smoke');
    // FID falls with the size index while the loss rises: the two frontiers pick different runs.
    for (const [i, r] of runs.entries()) await fabricateRun(root, r, 0.1 + i / 100, i + 1, 50 - (i % 3) - i / 10);
    const rows = await gatherPreset(def(), 'smoke', layout, root);
    const table = readParquet(join(root, 'experiments/toy/results/smoke/runs.parquet'));
    expect(table.schema.fields.map((f) => f.name)).toEqual([
      'run', 'preset', 'budget', 'size', 'hidden_size', 'depth', 'num_heads', 'steps', 'batch_size', 'lr',
      'N', 'C', 'D', 'flops_fwd_per_example', 'heldout_loss', 'fid', 'fid_samples', 'final_train_loss', 'train_seconds', 'backend',
    ]);
    const back = tableToRows(table);
    expect(back).toHaveLength(9);
    for (const [i, r] of runs.entries()) {
      expect(back[i]).toMatchObject({ run: r.id, preset: 'smoke', budget: r.budget, size: r.sizeLabel, N: r.modelParams, D: r.steps * 32, C: 3 * r.flopsFwd * r.steps * 32, heldout_loss: 0.1 + i / 100, fid: 50 - (i % 3) - i / 10, fid_samples: 30, final_train_loss: (0.1 + i / 100) * 1.1, train_seconds: i + 1, backend: 'cpu' });
    }
    // Lowest loss per budget: the first size of each budget, as fabricated.
    expect(frontier(rows).map((r) => r.run)).toEqual(['c2p5e10-w32-d1', 'c5e10-w32-d1', 'c1e11-w32-d1']);
    expect(tableToRows(readParquet(join(root, 'experiments/toy/results/smoke/frontier.parquet'))).map((r) => r.run)).toEqual(frontier(rows).map((r) => r.run));
    // Lowest FID per budget: the last size of each budget.
    expect(frontier(rows, 'fid').map((r) => r.run)).toEqual(['c2p5e10-w96-d3', 'c5e10-w96-d3', 'c1e11-w96-d3']);
    expect(tableToRows(readParquet(join(root, 'experiments/toy/results/smoke/frontier-fid.parquet'))).map((r) => r.run)).toEqual(frontier(rows, 'fid').map((r) => r.run));
    const md = readFileSync(join(root, 'experiments/toy/results/smoke/runs.md'), 'utf8');
    // Run 4 (c5e10-w64-d2): loss 0.14, FID 50 - 1 - 0.4.
    expect(md).toContain('| c5e10-w64-d2 | 5e10 | w64-d2 |');
    expect(md).toMatch(/\| c5e10-w64-d2 \|.*\| 0\.14000 \| 48\.60 \|/);
    expect(md).toContain('FID-FMNIST from 30 samples per run');
    // The floor, once per preset: in runs.md's footer and floor.json.
    expect(md).toContain('FID floor at the same N = 30: 12.50');
    expect(JSON.parse(readFileSync(join(root, 'experiments/toy/results/smoke/floor.json'), 'utf8'))).toMatchObject({ preset: 'smoke', fid_floor: 12.5, n_samples: 30, runs: 9, max_relative_spread: 0 });
  });

  it('names the missing run and its Nx target, and refuses a run dir from another plan', async () => {
    const root = join(tmp, 'missing');
    const runs = planPreset(def(), 'smoke');
    for (const r of runs.slice(1)) await fabricateRun(root, r, 0.2);
    await expect(gatherPreset(def(), 'smoke', layout, root)).rejects.toThrow(/run c2p5e10-w32-d1: .*eval\.json is missing .*npx nx run toy-sweep-smoke-c2p5e10-w32-d1:train/);
    await fabricateRun(root, { ...runs[0]!, steps: runs[0]!.steps + 1 }, 0.2);
    await expect(gatherPreset(def(), 'smoke', layout, root)).rejects.toThrow(SweepGatherError);
    await expect(gatherPreset(def(), 'smoke', layout, root)).rejects.toThrow(/step \d+, but the sweep plans \d+ steps/);
  });

  it('refuses a run without its FID table, or with a FID of another checkpoint, sample count or weights', async () => {
    const root = join(tmp, 'fid');
    const runs = planPreset(def(), 'smoke');
    for (const r of runs) await fabricateRun(root, r, 0.2);
    const r0 = runs[0]!;
    const dir = join(root, layout.runDir(r0));
    rmSync(join(dir, 'eval'), { recursive: true });
    await expect(gatherPreset(def(), 'smoke', layout, root)).rejects.toThrow(/run c2p5e10-w32-d1: .*eval\/metrics\.parquet is missing .*npx nx run toy-sweep-smoke-c2p5e10-w32-d1:evaluate/);
    await fabricateEval(dir, r0, { fid: 10, step: r0.steps - 1 });
    await expect(gatherPreset(def(), 'smoke', layout, root)).rejects.toThrow(new RegExp(`scores step ${r0.steps - 1}, but c2p5e10-w32-d1 trains ${r0.steps} steps`));
    await fabricateEval(dir, r0, { fid: 10, nSamples: 100 });
    await expect(gatherPreset(def(), 'smoke', layout, root)).rejects.toThrow(/FID from 100 samples, but presets\.smoke\.fidSamplesPerClass asks for 30/);
    await fabricateEval(dir, r0, { fid: 10, weights: 'ema' });
    await expect(gatherPreset(def(), 'smoke', layout, root)).rejects.toThrow(/FID of the ema weights, but the sweep scores raw weights/);
    await writeParquet(join(dir, 'eval', 'metrics.parquet'), tableFromColumns({ name: ['class_accuracy'], value: [0.5], n_samples: [30], weights: ['raw'], step: [r0.steps] }));
    await expect(gatherPreset(def(), 'smoke', layout, root)).rejects.toThrow(/no 'fid_fmnist' row/);
    await fabricateEval(dir, r0, { fid: Number.NaN });
    await expect(gatherPreset(def(), 'smoke', layout, root)).rejects.toThrow(/'value' is null, expected a finite number/);
  });

  it('fits the gathered runs: the isoFLOP exponent of a known law is recovered, plots and tables written', async () => {
    // Budgets wide enough that every budget's optimum lies inside the sizes.
    const raw = rawDef();
    (raw.presets as JsonObject).full = {
      budgets: { min: 1e14, max: 1e16, count: 5 },
      sizes: [size(32, 1, 2), size(64, 2, 2), size(96, 3, 3), size(128, 4, 4), size(192, 6, 6), size(256, 8, 8), size(384, 8, 8)],
      bootstrap: 100,
    };
    const d = parseSweepDefinition(raw);
    const root = join(tmp, 'fit');
    // FID = 2 + 4000·C^-0.15 at the best size (index 3 of 7 at every budget), 1.5× the C-dependent term per size away from it.
    const sizeIndex = (r: SweepRun) => d.presets.full!.sizes.findIndex((s) => s.hiddenSize === r.size.hiddenSize && s.depth === r.size.depth);
    const fidLaw = (r: SweepRun) => 2 + 4000 * (3 * r.flopsFwd * r.steps * r.batchSize) ** -0.15 * (1 + 0.5 * Math.abs(sizeIndex(r) - 3));
    for (const r of planPreset(d, 'full')) await fabricateRun(root, r, law(r.modelParams, r.budget), 2, fidLaw(r));
    await gatherPreset(d, 'full', layout, root);
    await fitPreset(d, 'full', layout, root, () => {});
    const fit = tableToRows(readParquet(join(root, 'experiments/toy/results/full/isoflop/fit.parquet')));
    const a = fit.find((r) => r.quantity === 'a (N_opt ∝ C^a)')!;
    // β/(α+β) = 2/3; a parabola through 7 sizes only approximates the profile in log N (bias ≈ 0.015).
    expect(Math.abs(Number(a.estimate) - beta / (alpha + beta))).toBeLessThan(0.03);
    expect(existsSync(join(root, 'experiments/toy/results/full/isoflop/isoflop_curves.svg'))).toBe(true);
    expect(existsSync(join(root, 'experiments/toy/results/full/power/fit.md'))).toBe(true);
    // The FID frontier lies exactly on y = E + a·C^b (noise-free), so the offset power law recovers it.
    const fidFit = tableToRows(readParquet(join(root, 'experiments/toy/results/full/power-fid/fit.parquet')));
    const est = (q: string) => Number(fidFit.find((r) => r.quantity === q && r.kind === 'estimate')!.estimate);
    expect(est('E (y = E + a·C^b)')).toBeCloseTo(2, 4);
    expect(est('a (y = E + a·C^b)') / 4000).toBeCloseTo(1, 3);
    expect(est('b (y = E + a·C^b)')).toBeCloseTo(-0.15, 5);
    expect(existsSync(join(root, 'experiments/toy/results/full/power-fid/loss_vs_compute.svg'))).toBe(true);
    // Approach 3 on the same runs; exponents.md carries each fit's own a with its interval.
    const par = tableToRows(readParquet(join(root, 'experiments/toy/results/full/parametric/fit.parquet')));
    const parA = par.find((r) => r.quantity === 'a = β/(α+β) (N_opt ∝ C^a)')!;
    const exponents = readFileSync(join(root, 'experiments/toy/results/full/exponents.md'), 'utf8');
    for (const row of [a, parA]) expect(exponents).toContain(`${formatNumber(Number(row.estimate))} [${formatNumber(Number(row.ci_low))}, ${formatNumber(Number(row.ci_high))}]`);
    for (const f of ['loss-vs-fid.svg', 'loss-vs-fid.png', 'loss-vs-fid.md']) expect(existsSync(join(root, 'experiments/toy/results/full', f)), f).toBe(true);
  });

  it('records an isoFLOP failure instead of failing when the preset allows it', async () => {
    const root = join(tmp, 'fail');
    // Loss concave in log N in every budget: the parabola opens downwards, no minimum.
    for (const r of planPreset(def(), 'smoke')) await fabricateRun(root, r, 2 - (Math.log(r.modelParams) - 12) ** 2 / 100 - r.budget / 1e12);
    await gatherPreset(def(), 'smoke', layout, root);
    await fitPreset(def(), 'smoke', layout, root, () => {});
    expect(readFileSync(join(root, 'experiments/toy/results/smoke/isoflop/fit.md'), 'utf8')).toMatch(/No fit: N_opt ∝ C\^a needs at least 2 usable budgets, got 0/);
    expect(existsSync(join(root, 'experiments/toy/results/smoke/power/fit.parquet'))).toBe(true);
    const strict = parseSweepDefinition({ ...rawDef(), presets: { smoke: { ...((rawDef().presets as JsonObject).smoke as JsonObject), isoflopMayFail: false } } });
    await expect(fitPreset(strict, 'smoke', layout, root, () => {})).rejects.toThrow(/usable budgets/);
  });
});

describe('the committed sweep.json', () => {
  it('loads with the trainer schema for every run of every preset; head widths suit RoPE; the full preset scores FID at N ≥ 1,000', async () => {
    const { loadSweep } = await import('../src/load.js');
    const committed = loadSweep(join(import.meta.dirname, '..', 'sweep.json'));
    for (const [name, preset] of Object.entries(committed.presets)) {
      // RoPE rotates half of each head by row and half by column, in pairs: a head width divisible by 4.
      for (const s of preset.sizes) expect((s.hiddenSize / s.numHeads) % 4, `${name} w${s.hiddenSize}`).toBe(0);
      expect(planPreset(committed, name).every((r) => r.steps >= committed.minSteps)).toBe(true);
    }
    expect(10 * committed.presets.full!.fidSamplesPerClass).toBeGreaterThanOrEqual(1000);
  });
});

describe('slurm scripts', () => {
  it('makes one array task per run project and a table job that runs the preset’s table target', () => {
    const s = slurmScripts(def(), 'smoke', layout, { workspaceRoot: '/shared/difflab', cpusPerTask: 2, partition: 'cpu', timeMinutes: 30 });
    const names = planPreset(def(), 'smoke').map((r) => `toy-sweep-smoke-${r.id}`);
    expect(s.projects).toEqual(names);
    expect(s.array).toContain('#SBATCH --array=0-8\n');
    expect(s.array).toContain(`PROJECTS=(${names.join(' ')})`);
    // evaluate depends on train: one task trains and scores its run.
    expect(s.array).toContain('P=${PROJECTS[$SLURM_ARRAY_TASK_ID]}\n');
    expect(s.array).toMatch(/echo "\[difflab\] \$P started .*\nnpx nx run "\$P:evaluate" --outputStyle=stream\necho "\[difflab\] \$P finished /);
    const lines = ['#SBATCH --cpus-per-task=2', '#SBATCH --partition=cpu', '#SBATCH --time=30', '#SBATCH --chdir=/shared/difflab', 'export NX_DAEMON=false'];
    for (const line of [...lines, 'export DIFFLAB_NATIVE_THREADS=${DIFFLAB_NATIVE_THREADS:-$SLURM_CPUS_PER_TASK}']) {
      expect(s.array).toContain(line);
      expect(s.table).toContain(line);
    }
    expect(s.table).toContain('exec npx nx run toy-sweep-smoke:table');
    expect(s.logDir).toBe('/shared/difflab/experiments/toy/runs/slurm/smoke');
  });
});
