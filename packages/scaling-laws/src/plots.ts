import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { writeFileAtomic } from '@difflab/core-tensor';
import type { Estimate } from './bootstrap.js';
import { nOptQuantity, type IsoflopFitReport } from './isoflop.js';
import { evalParametric, type ParametricFitReport } from './parametric.js';
import { evalOffsetPower, evalPower, type PowerFitReport } from './power.js';

type Row = Record<string, number | string>;
type Spec = vl.TopLevelSpec;

/** DejaVu Sans (Debian fonts-dejavu-core) in the SVG and for rasterising, so PNGs look the same on every machine that has it. */
const FONT = 'DejaVu Sans';
const base = { width: 520, height: 360, config: { font: FONT, axis: { labelFontSize: 12, titleFontSize: 13 }, legend: { labelFontSize: 12 } } };
const logScale = { type: 'log' as const };

function logspace(lo: number, hi: number, count = 80): number[] {
  const a = Math.log(lo);
  const b = Math.log(hi);
  return Array.from({ length: count }, (_, i) => Math.exp(a + ((b - a) * i) / (count - 1)));
}

export function powerPlotSpec(r: PowerFitReport, c: ArrayLike<number>, y: ArrayLike<number>, predictC: number[] = [], yTitle = 'target'): Spec {
  const cMin = Math.min(...Array.from(c));
  const cMax = Math.max(...Array.from(c));
  const cEnd = Math.max(cMax * 10, ...predictC);
  const curve: Row[] = [];
  for (const cc of logspace(cMin, cEnd)) {
    const part = cc <= cMax ? 'fit' : 'extrapolation';
    curve.push({ C: cc, y: evalPower(r.power, cc), law: 'a·C^b', part });
    if (r.offset) curve.push({ C: cc, y: evalOffsetPower(r.offset, cc), law: 'E + a·C^b', part });
  }
  const runs: Row[] = Array.from(c, (cc, i) => ({ C: cc, y: y[i]! }));
  return {
    ...base,
    title: 'Loss vs compute: fitted laws (dashed: extrapolation)',
    layer: [
      {
        data: { values: curve },
        mark: { type: 'line', clip: true },
        encoding: {
          x: { field: 'C', type: 'quantitative', scale: logScale, title: 'compute C (FLOPs)', axis: { format: '.0e' } },
          y: { field: 'y', type: 'quantitative', scale: { type: 'log', nice: false }, title: yTitle },
          color: { field: 'law', type: 'nominal', title: 'law' },
          strokeDash: { field: 'part', type: 'nominal', title: null, scale: { domain: ['fit', 'extrapolation'], range: [[1, 0], [6, 4]] } },
          detail: { field: 'part' },
        },
      },
      { data: { values: runs }, mark: { type: 'point', filled: true, color: 'black', size: 30 }, encoding: { x: { field: 'C', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } } },
    ],
  } as Spec;
}

export function isoflopPlotSpec(r: IsoflopFitReport, n: ArrayLike<number>, y: ArrayLike<number>, yTitle = 'target'): Spec {
  const label = (cc: number) => cc.toExponential(1);
  const runs: Row[] = [];
  const curves: Row[] = [];
  const minima: Row[] = [];
  for (const p of r.law.profiles) {
    const ns = p.rows.map((i) => n[i]!);
    for (const i of p.rows) runs.push({ N: n[i]!, y: y[i]!, budget: label(p.C) });
    for (const nn of logspace(Math.min(...ns, p.nOpt), Math.max(...ns, p.nOpt), 40)) {
      const x = Math.log(nn);
      curves.push({ N: nn, y: p.parabola.a * x * x + p.parabola.b * x + p.parabola.c, budget: label(p.C) });
    }
    minima.push({ N: p.nOpt, y: p.yOpt, budget: label(p.C) });
  }
  const budgetSort = r.law.profiles.map((p) => label(p.C));
  const color = { field: 'budget', type: 'nominal', title: 'C (FLOPs)', sort: budgetSort, scale: { scheme: 'viridis' } };
  return {
    ...base,
    title: 'IsoFLOP profiles: parabola in log N per budget, minima marked',
    layer: [
      { data: { values: curves }, mark: 'line', encoding: { x: { field: 'N', type: 'quantitative', scale: logScale, title: 'parameters N', axis: { format: '~s' } }, y: { field: 'y', type: 'quantitative', scale: { zero: false }, title: yTitle }, color } },
      { data: { values: runs }, mark: { type: 'point', size: 30 }, encoding: { x: { field: 'N', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' }, color } },
      { data: { values: minima }, mark: { type: 'point', shape: 'diamond', filled: true, size: 110, color: 'black' }, encoding: { x: { field: 'N', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } } },
    ],
  } as Spec;
}

export function nOptPlotSpec(r: IsoflopFitReport, predictC: number[] = []): Spec {
  const law = r.law;
  const byName = new Map<string, Estimate>(r.estimates.map((e) => [e.quantity, e]));
  const minima: Row[] = law.profiles.map((p) => {
    const e = byName.get(nOptQuantity(p.C));
    return { C: p.C, N: p.nOpt, lo: e?.lo ?? p.nOpt, hi: e?.hi ?? p.nOpt };
  });
  const cs = law.profiles.map((p) => p.C);
  const cMax = Math.max(...cs);
  const line: Row[] = logspace(Math.min(...cs), Math.max(cMax * 10, ...predictC)).map((cc) => ({
    C: cc,
    N: law.nCoef * cc ** law.nExponent,
    part: cc <= cMax ? 'fit' : 'extrapolation',
  }));
  return {
    ...base,
    title: `N_opt vs compute: N_opt ∝ C^${law.nExponent.toFixed(3)}`,
    layer: [
      {
        data: { values: line },
        mark: 'line',
        encoding: {
          x: { field: 'C', type: 'quantitative', scale: logScale, title: 'compute C (FLOPs)', axis: { format: '.0e' } },
          y: { field: 'N', type: 'quantitative', scale: logScale, title: 'N_opt', axis: { format: '~s' } },
          strokeDash: { field: 'part', type: 'nominal', title: null, scale: { domain: ['fit', 'extrapolation'], range: [[1, 0], [6, 4]] } },
        },
      },
      { data: { values: minima }, mark: { type: 'rule', color: 'gray' }, encoding: { x: { field: 'C', type: 'quantitative' }, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
      { data: { values: minima }, mark: { type: 'point', filled: true, color: 'black', size: 40 }, encoding: { x: { field: 'C', type: 'quantitative' }, y: { field: 'N', type: 'quantitative' } } },
    ],
  } as Spec;
}

export function parametricPlotSpec(r: ParametricFitReport, n: ArrayLike<number>, d: ArrayLike<number>, y: ArrayLike<number>): Spec {
  const rows: Row[] = Array.from(n, (nn, i) => ({ observed: y[i]!, fitted: evalParametric(r.result.law, nn, d[i]!), D: d[i]! }));
  const ys = Array.from(y);
  const diag: Row[] = [Math.min(...ys), Math.max(...ys)].map((v) => ({ observed: v, fitted: v }));
  return {
    ...base,
    title: 'L(N, D) = E + A/N^α + B/D^β: fitted vs observed',
    layer: [
      { data: { values: diag }, mark: { type: 'line', color: 'gray', strokeDash: [4, 4] }, encoding: { x: { field: 'observed', type: 'quantitative', scale: { type: 'log', nice: false } }, y: { field: 'fitted', type: 'quantitative', scale: { type: 'log', nice: false } } } },
      { data: { values: rows }, mark: { type: 'point', filled: true, size: 30 }, encoding: { x: { field: 'observed', type: 'quantitative' }, y: { field: 'fitted', type: 'quantitative' }, color: { field: 'D', type: 'quantitative', scale: { type: 'log', scheme: 'viridis' }, title: 'tokens D' } } },
    ],
  } as Spec;
}

/** Vega-Lite → Vega → SVG (headless View, no browser). */
export async function renderSvg(spec: Spec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export function svgToPng(svg: string): Uint8Array {
  const r = new Resvg(svg, { background: 'white', fitTo: { mode: 'zoom', value: 2 }, font: { loadSystemFonts: true, defaultFontFamily: FONT, sansSerifFamily: FONT } });
  return r.render().asPng();
}

/** Writes <name>.svg and <name>.png into dir; returns the paths. */
export async function writePlot(dir: string, name: string, spec: Spec): Promise<string[]> {
  const svg = await renderSvg(spec);
  const files = [join(dir, `${name}.svg`), join(dir, `${name}.png`)];
  await writeFileAtomic(files[0]!, svg);
  await writeFileAtomic(files[1]!, svgToPng(svg));
  return files;
}
