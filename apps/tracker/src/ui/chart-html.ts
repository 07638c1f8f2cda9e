import type { XAxis } from './chart-spec.js';
import { esc, scriptJson } from './html.js';

/** Vega from node_modules, then the tracker's chart script (client/metric-charts.js). */
export const CHART_SCRIPTS = ['vega.min.js', 'vega-lite.min.js', 'vega-embed.min.js'].map((f) => `<script src="/static/${f}"></script>`).join('');
const CHART_DRIVER = '<script src="/static/metric-charts.js"></script>';

/** A smoothing weight from the URL: [0, 0.99]; anything else is 0 (no smoothing). */
export function parseSmoothing(value: string | null): number {
  const w = Number(value ?? 0);
  return Number.isFinite(w) && w > 0 ? Math.min(w, 0.99) : 0;
}

export function smoothingSlider(weight: number): string {
  return `<label title="exponential moving average; the raw values are drawn faintly behind">smoothing
    <input type="range" id="smoothing" min="0" max="0.99" step="0.01" value="${weight}">
    <output id="smoothing-value">${weight.toFixed(2)}</output></label>
    <span class="muted">click a run in the legend to highlight it (shift-click for more)</span>`;
}

/** `xscale=log` in the URL: a logarithmic x axis. */
export function parseLogX(value: string | null): boolean {
  return value === 'log';
}

/**
 * The x-axis log-scale toggle. The browser script redraws every chart of the page when it changes
 * and keeps it in the URL (`xscale=log`); a wall-clock (date) axis has no log scale, so it is off there.
 */
export function logXToggle(x: XAxis, logX: boolean): string {
  const wall = x === 'wall';
  const title = wall ? 'a wall-clock axis has no log scale: choose step or time since run start' : 'logarithmic x axis; points at x ≤ 0 (step 0) are left out';
  return `<label title="${title}"><input type="checkbox" id="log-x" name="xscale" value="log"${logX && !wall ? ' checked' : ''}${wall ? ' disabled' : ''}> log x</label>`;
}

/** The chart element, its spec, and (while a run is RUNNING) the URL it polls for new points. */
export function chartBlock(id: string, spec: object, pointCount: number, liveUrl?: string): string {
  return `<div class="chart-box"><div id="${esc(id)}" class="chart" data-points="${pointCount}" data-metric-chart="${esc(id)}-spec"${liveUrl ? ` data-live-url="${esc(liveUrl)}"` : ''}></div></div>
    <div id="${esc(id)}-error" class="error" hidden></div>
    <script type="application/json" id="${esc(id)}-spec">${scriptJson(spec)}</script>
    ${CHART_DRIVER}`;
}
