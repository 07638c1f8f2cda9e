/** The metric charts of the compare and run pages: Vega-Lite specs the browser script finishes. */

export type XAxis = 'step' | 'wall' | 'relative';
export const X_AXES: Record<XAxis, string> = { step: 'step', wall: 'wall time', relative: 'time since run start (s)' };

export interface Point {
  run: string;
  metric: string;
  step: number;
  wall: number;
  relative: number;
  value: number | null;
  /** Draw a dot at this point: its line is short enough for dots to read (a metric logged once is only a dot). */
  marker: boolean;
}

/** A line with at most this many points also gets a dot per point; decided per line, never for the whole chart. */
export const MAX_MARKED_POINTS_PER_LINE = 400;

/**
 * 24 colours that stay apart from each other (Tableau 10, then darker and lighter companions
 * of other hues), so a comparison of a dozen or two runs never repeats a colour.
 */
export const RUN_PALETTE = [
  '#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac',
  '#1f3b73', '#8c2d04', '#6a3d9a', '#005f5f', '#2ca02c', '#a6761d', '#e7298a', '#17becf', '#7f7f00', '#000000',
  '#b15928', '#8dd3c7', '#fb8072', '#80b1d3',
];

export interface ChartOptions {
  x: XAxis;
  logY: boolean;
  /** Facet columns: 1 gives one panel per row (compare page); more wrap small panels (run page). */
  columns: number;
}

/**
 * One panel per metric (own y scale), one line per run, coloured from RUN_PALETTE. The browser
 * script (client/metric-charts.js) adds the smoothed field, the faint raw lines when smoothing,
 * and the panel width that fits the window; the legend toggles a run's highlight.
 */
export function chartSpec(points: Point[], runs: string[], opts: ChartOptions): object {
  const x = { field: opts.x, type: opts.x === 'wall' ? 'temporal' : 'quantitative', title: X_AXES[opts.x] };
  // `value` is what is drawn (smoothed when asked); the client keeps the logged value in `raw`.
  const y = { field: 'value', type: 'quantitative', title: null, scale: opts.logY ? { type: 'log' } : { zero: false } };
  const color = {
    field: 'run',
    type: 'nominal',
    // Plain 'run': the title also names the field in every mark's aria-label and tooltip.
    title: 'run',
    scale: { domain: runs, range: RUN_PALETTE },
    legend: { labelLimit: 280, symbolType: 'stroke', symbolStrokeWidth: 3 },
  };
  const highlighted = { condition: { param: 'focus', value: 1 }, value: 0.12 };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    data: { values: points },
    facet: { field: 'metric', type: 'nominal', title: null, header: { labelOrient: 'top', labelAngle: 0, labelAnchor: 'start', labelFontSize: 13, labelFontWeight: 'bold' } },
    columns: opts.columns,
    spec: {
      width: 640,
      height: opts.columns > 1 ? 160 : 240,
      layer: [
        {
          params: [{ name: 'focus', select: { type: 'point', fields: ['run'] }, bind: 'legend' }],
          mark: { type: 'line', tooltip: true, strokeWidth: 2 },
          encoding: { x, y, color, opacity: highlighted },
        },
        {
          transform: [{ filter: 'datum.marker' }],
          mark: { type: 'point', filled: true, size: 36, tooltip: true },
          encoding: { x, y, color, opacity: highlighted },
        },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  };
}
