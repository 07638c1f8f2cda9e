// The exponents table: hand-made fit outputs, written by the fitter's own writer (writeTables), mapped to the right
// rows with their intervals; the parametric a and b recomputed from α and β; the published values with a = β/(α+β)
// checked by hand; a missing or inconsistent fit output named with its file and the command that rewrites it.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeTables, type FitSummary } from '@difflab/scaling-laws';
import { ExponentsInputError, exponentsMarkdown, ourExponents, readFitOutput, studySetup, type FitOutput } from '../src/exponents.js';
import { PUBLISHED, allocationExponents } from '../src/papers.js';

const tmp = mkdtempSync(join(tmpdir(), 'sweep-exponents-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const RERUN = 'npx nx run dit-scaling-toy:table';

const est = (quantity: string, value: number, lo: number, hi: number) => ({ quantity, value, lo, hi });
const boot = { scheme: 'residuals' as const, resamples: 100, failed: 3, level: 0.95, seed: 0 };

/** A fit directory as `difflab fit --out` leaves it (fit.md + fit.parquet), from hand-made estimates. */
async function fitDir(name: string, fit: FitSummary['fit'], estimates: FitSummary['estimates']): Promise<string> {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  await writeTables(dir, { fit, estimates, predictions: [], bootstrap: boot, notes: [] }, join(tmp, 'runs.parquet'));
  return dir;
}

// Besiroglu et al.'s refit: a = β/(α+β) = 0.3658/0.7136 = 0.512612…, b = 0.487388….
const ALPHA = 0.3478, BETA = 0.3658;

async function outputs(prefix: string, parametricA = BETA / (ALPHA + BETA)): Promise<{ isoflop: FitOutput; parametric: FitOutput; power: FitOutput }> {
  const iso = await fitDir(`${prefix}-iso`, 'isoflop', [est('a (N_opt ∝ C^a)', 0.55, 0.5, 0.61), est('N_opt coefficient', 3, 1, 9), est('b (D_opt ∝ C^b)', 0.45, 0.39, 0.5)]);
  const par = await fitDir(`${prefix}-par`, 'parametric', [
    est('E', 0.05, 0.04, 0.06),
    est('α', ALPHA, 0.3, 0.4),
    est('β', BETA, 0.31, 0.42),
    est('a = β/(α+β) (N_opt ∝ C^a)', parametricA, 0.48, 0.55),
    est('b = α/(α+β) (D_opt ∝ C^b)', 1 - parametricA, 0.45, 0.52),
  ]);
  const pow = await fitDir(`${prefix}-pow`, 'power', [est('a (y = a·C^b)', 33.9, 30, 38), est('b (y = a·C^b)', -0.215, -0.227, -0.206), est('E (y = E + a·C^b)', 0.01, 0, 0.05), est('b (y = E + a·C^b)', -0.3, -0.5, -0.2)]);
  return { isoflop: readFitOutput(iso, 'isoFLOP', RERUN), parametric: readFitOutput(par, 'parametric', RERUN), power: readFitOutput(pow, 'power', RERUN) };
}

const setup = studySetup('flow', [
  { budget: 4e11, N: 5e4, D: 60_000 },
  { budget: 6.4e12, N: 1.3e6, D: 30 * 60_000 },
]);

describe('our exponents from the fit outputs', () => {
  it('maps each fit’s estimates and intervals to its row; the parametric a and b are β/(α+β) and α/(α+β)', async () => {
    const rows = ourExponents(await outputs('ok'), RERUN);
    expect(rows.map((r) => r.method)).toEqual([
      'isoFLOP profiles (approach 2)',
      'parametric L(N, D) (approach 3)',
      'power law L = a·C^b (best run per budget)',
      'power law L = E + a·C^b (best run per budget)',
    ]);
    expect(rows[0]).toMatchObject({ a: { value: 0.55, lo: 0.5, hi: 0.61, level: 0.95 }, b: { value: 0.45, lo: 0.39, hi: 0.5 }, loss: null });
    expect(rows[1]!.a!.value).toBeCloseTo(0.5126121076233184, 15);
    expect(rows[1]!.b!.value).toBeCloseTo(0.4873878923766816, 15);
    expect([rows[1]!.a!.lo, rows[1]!.a!.hi, rows[1]!.b!.lo, rows[1]!.b!.hi]).toEqual([0.48, 0.55, 0.45, 0.52]);
    expect(rows[1]!.note).toBe('a = β/(α+β), b = α/(α+β) with α = 0.3478, β = 0.3658');
    expect(rows[2]).toMatchObject({ a: null, b: null, loss: { value: -0.215, lo: -0.227, hi: -0.206 } });
    expect(rows[3]!.loss).toMatchObject({ value: -0.3, lo: -0.5, hi: -0.2 });

    const md = exponentsMarkdown('toy', rows, setup);
    expect(md).toContain('| this study (toy) | isoFLOP profiles (approach 2) | 0.5500 [0.5000, 0.6100] | 0.4500 [0.3900, 0.5000] | – |');
    expect(md).toContain('| this study (toy) | parametric L(N, D) (approach 3) | 0.5126 [0.4800, 0.5500] | 0.4874 [0.4500, 0.5200] | – |');
    expect(md).toContain('| this study (toy) | power law L = a·C^b (best run per budget) | – | – | -0.2150 [-0.2270, -0.2060] |');
    expect(md).toContain('C = 4e11–6.4e12 FLOPs (C = 3·F_fwd·images, attention included), N = 5.000e+4–1.300e+6 parameters');
    expect(md).toContain('Fashion-MNIST 32×32 pixels, class-conditional, up to 30 epochs');
  });

  it('places the published exponents beside ours, Besiroglu et al.’s computed from their α and β', () => {
    const by = new Map(PUBLISHED.map((p) => [p.source, p]));
    expect([by.get('Liang et al. 2024')!.a, by.get('Liang et al. 2024')!.b]).toEqual([0.5681, 0.4319]);
    expect(['Chinchilla, approach 1', 'Chinchilla, approach 2', 'Chinchilla, approach 3'].map((s) => [by.get(s)!.a, by.get(s)!.b])).toEqual([[0.5, 0.5], [0.49, 0.51], [0.46, 0.54]]);
    const besiroglu = by.get('Besiroglu et al. 2024')!;
    // 0.3658 / (0.3478 + 0.3658) = 0.3658 / 0.7136 ≈ 0.513, and b = 0.3478 / 0.7136 ≈ 0.487 (the figures).
    expect(besiroglu.a).toBeCloseTo(0.5126121076233184, 15);
    expect(besiroglu.b).toBeCloseTo(0.4873878923766816, 15);
    expect(besiroglu.a.toFixed(3)).toBe('0.513');
    expect(besiroglu.b.toFixed(3)).toBe('0.487');
    for (const p of PUBLISHED) expect(p.a + p.b).toBeCloseTo(1, 12);
    expect(allocationExponents(1, 3)).toEqual({ a: 0.75, b: 0.25 });

    const md = exponentsMarkdown('toy', [], setup);
    expect(md).toContain('| Liang et al. 2024 | isoFLOP profiles | 0.5681 | 0.4319 | – |');
    expect(md).toContain('| Chinchilla, approach 2 | isoFLOP profiles | 0.49 | 0.51 | – |');
    expect(md).toContain('| Besiroglu et al. 2024 | parametric L(N, D), refit | 0.5126 (from α = 0.3478, β = 0.3658) | 0.4874 (from α = 0.3478, β = 0.3658) |');
    // What differs: Liang et al. share the objective family; Chinchilla does not. Compute ratios from the budgets.
    expect(md).toMatch(/\| Liang et al\. 2024 \|.*\| same objective family; their data vs Fashion-MNIST pixels repeated up to 30 epochs; 2e4–2e7× our compute; C ≈ 6ND vs our counted FLOPs \(attention included\) \|$/m);
    expect(md).toMatch(/\| Chinchilla, approach 1 \|.*\| another objective; /);
    expect(md).toContain('arXiv:2410.08184');
    expect(md).toContain('arXiv:2404.10102');
  });

  it('shows a fit the preset recorded as failed as a row without exponents, with the reason', async () => {
    const dir = join(tmp, 'failed-iso');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'fit.md'), '# isoFLOP fit — preset smoke\n\nNo fit: N_opt ∝ C^a needs at least 2 usable budgets, got 1\n\n(presets.smoke.isoflopMayFail is true)\n');
    const fits = { ...(await outputs('fail')), isoflop: readFitOutput(dir, 'isoFLOP', RERUN) };
    const rows = ourExponents(fits, RERUN);
    expect(rows[0]).toEqual({ method: 'isoFLOP profiles (approach 2)', a: null, b: null, loss: null, note: 'no fit: N_opt ∝ C^a needs at least 2 usable budgets, got 1' });
    expect(exponentsMarkdown('smoke', rows, setup)).toContain('| this study (smoke) | isoFLOP profiles (approach 2) | – | – | – |');
  });

  it('names the missing or inconsistent fit output and the command that rewrites it', async () => {
    const missing = join(tmp, 'never-fitted');
    expect(() => readFitOutput(missing, 'parametric', RERUN)).toThrow(ExponentsInputError);
    expect(() => readFitOutput(missing, 'parametric', RERUN)).toThrow(`${join(missing, 'fit.parquet')} is missing: the parametric fit has not written its output; run: ${RERUN}`);

    const bad = await outputs('bad', 0.6);
    expect(() => ourExponents(bad, RERUN)).toThrow(/bad-par\/fit\.parquet: a = 0\.6, but α = 0\.3478 and β = 0\.3658 give 0\.5126\d+; the file is inconsistent, rerun: npx nx run dit-scaling-toy:table/);

    const partial = readFitOutput(await fitDir('partial-iso', 'isoflop', [est('a (N_opt ∝ C^a)', 0.5, 0.4, 0.6)]), 'isoFLOP', RERUN);
    const withPartial = { ...(await outputs('partial')), isoflop: partial };
    expect(() => ourExponents(withPartial, RERUN)).toThrow(
      /partial-iso\/fit\.parquet: no estimate 'b \(D_opt ∝ C\^b\)' \(the file was written by another version of the fitter\); rerun: npx nx run dit-scaling-toy:table/,
    );
  });
});
