// Loss vs FID: Spearman's ρ against hand-computed and closed-form cases, and the plot's spec: one point per run,
// coloured by budget in budget order, the floor as a line; the files the table stage writes.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '@difflab/core-tensor';
import { lossFidMarkdown, lossFidPlotSpec, ranks, spearman, writeLossFid, type LossFidRow } from '../src/loss-fid.js';
import type { PresetFloor } from '../src/floor.js';

const tmp = mkdtempSync(join(tmpdir(), 'sweep-lossfid-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const floor: PresetFloor = { preset: 'toy', fid_floor: 3.25, n_samples: 1000, feature_net_sha256: 'ab', runs: 12, max_relative_spread: 0, definition: '' };

describe('spearman', () => {
  it('averages tied ranks and matches a hand-computed case (scipy.stats.spearmanr’s documented example)', () => {
    expect(ranks([10, 30, 20, 30])).toEqual([1, 3.5, 2, 3.5]);
    // Ranks of y: 1, 2, 3.5, 5, 3.5; deviations from 3: x (−2, −1, 0, 1, 2), y (−2, −1, 0.5, 2, 0.5) → ρ = 8 / √(10 · 9.5).
    expect(spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])).toBeCloseTo(8 / Math.sqrt(95), 14);
    expect(spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])).toBeCloseTo(0.8207826816681233, 12);
  });

  it('equals 1 − 6Σd²/(n(n²−1)) without ties, ±1 for monotone relations, and ignores monotone transforms', () => {
    const rng = new Rng(4);
    const x = Array.from(rng.normalArray(40)), y = Array.from(rng.normalArray(40), (v, i) => v + 0.5 * x[i]!);
    const rx = ranks(x), ry = ranks(y);
    const d2 = rx.reduce((s, r, i) => s + (r - ry[i]!) ** 2, 0);
    expect(spearman(x, y)).toBeCloseTo(1 - (6 * d2) / (40 * (40 ** 2 - 1)), 12);
    expect(spearman(x, x.map((v) => Math.exp(3 * v)))).toBeCloseTo(1, 14);
    expect(spearman(x, x.map((v) => -(v ** 3)))).toBeCloseTo(-1, 14);
    expect(spearman(x.map(Math.exp), y.map((v) => v ** 3))).toBeCloseTo(spearman(x, y), 14);
    expect(spearman([1], [2])).toBeNaN();
    expect(spearman([1, 2, 3], [4, 4, 4])).toBeNaN();
    expect(() => spearman([1, 2], [1])).toThrow(/2 x values but 1 y values/);
  });
});

/** 3 budgets × 4 sizes; FID rises with loss except for one swapped pair, so ρ is below 1 by a known amount. */
function runs(): LossFidRow[] {
  const out: LossFidRow[] = [];
  const sizes = [['w32-d2', 5e4], ['w48-d2', 1.1e5], ['w64-d2', 1.8e5], ['w96-d3', 5.6e5]] as const;
  for (const [bi, budget] of [4e11, 1.3e12, 4e12].entries()) {
    for (const [si, [size, N]] of sizes.entries()) {
      const loss = 0.5 - 0.1 * bi + 0.01 * si;
      out.push({ run: `c${budget}-${size}`, budget, size, N, heldout_loss: loss, fid: 20 + 400 * loss });
    }
  }
  // Swap the FIDs of the two best-loss runs of the last budget: one discordant pair of adjacent ranks.
  [out[8]!.fid, out[9]!.fid] = [out[9]!.fid, out[8]!.fid];
  return out;
}

describe('the loss-vs-FID plot', () => {
  it('has one point per run with its loss and FID, colours by budget in budget order and draws the floor', () => {
    const rows = runs();
    const spec = lossFidPlotSpec(rows, floor) as unknown as { layer: Array<{ mark: { type: string }; data: { values: Array<Record<string, unknown>> }; encoding: Record<string, { field?: string; sort?: string[] }> }>; title: { subtitle: string } };
    const points = spec.layer.find((l) => l.mark.type === 'point')!;
    expect(points.data.values).toHaveLength(rows.length);
    expect(points.data.values.map((v) => [v.run, v.loss, v.fid])).toEqual(rows.map((r) => [r.run, r.heldout_loss, r.fid]));
    expect(points.encoding.color!.field).toBe('budget');
    expect(points.encoding.color!.sort).toEqual(['4e11', '1.3e12', '4e12']);
    expect(points.encoding.shape!.sort).toEqual(['w32-d2', 'w48-d2', 'w64-d2', 'w96-d3']);
    const rule = spec.layer.find((l) => l.mark.type === 'rule')!;
    expect(rule.data.values).toEqual([{ floor: 3.25 }]);
    // One adjacent swap among 12 distinct ranks: Σd² = 2, ρ = 1 − 12/(12·143).
    const rho = 1 - 12 / (12 * 143);
    expect(spearman(rows.map((r) => r.heldout_loss), rows.map((r) => r.fid))).toBeCloseTo(rho, 12);
    expect(spec.title.subtitle).toContain(`Spearman ρ = ${rho.toFixed(3)}`);
    expect(spec.title.subtitle).toContain('N = 1000 samples per FID');
  });

  it('writes the SVG, PNG and a caption with ρ overall and within each budget', async () => {
    const files = await writeLossFid(tmp, runs(), floor, 'toy');
    expect(files.map((f) => f.slice(tmp.length + 1))).toEqual(['loss-vs-fid.svg', 'loss-vs-fid.png', 'loss-vs-fid.md']);
    for (const f of files) expect(existsSync(f)).toBe(true);
    expect(readFileSync(files[0]!, 'utf8')).toMatch(/^<svg/);
    const md = readFileSync(files[2]!, 'utf8');
    expect(md).toBe(lossFidMarkdown(runs(), floor, 'toy'));
    expect(md).toContain(`**ρ = ${(1 - 1 / 143).toFixed(3)}**`);
    expect(md).toContain('the real-vs-real floor at the same N is 3.25');
    // Within a budget the FIDs follow the losses, except the swapped pair in 4e12: 4 sizes, Σd² = 2, ρ = 1 − 12/60.
    expect(md).toContain('| 4e11 | 4 | 1.000 |');
    expect(md).toContain('| 4e12 | 4 | 0.800 |');
  });
});
