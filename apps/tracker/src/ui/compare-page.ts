import { InvalidParameterError, type Run, type SqliteStore } from '@difflab/tracking';
import { esc, formatDuration, formatNumber, href, page, scriptJson } from './html.js';

export type XAxis = 'step' | 'wall' | 'relative';
const X_AXES: Record<XAxis, string> = { step: 'step', wall: 'wall time', relative: 'time since run start (s)' };

interface Point {
  run: string;
  metric: string;
  step: number;
  wall: number;
  relative: number;
  value: number | null;
}

/** Lines beyond this many points are thinned: the page embeds its data, and a chart cannot show more. */
const MAX_POINTS_PER_LINE = 2000;

/** Every k-th point, always keeping the last one. */
function thin<T>(items: T[], max: number): T[] {
  if (items.length <= max) return items;
  const stride = Math.ceil(items.length / max);
  const out = items.filter((_, i) => i % stride === 0);
  if ((items.length - 1) % stride !== 0) out.push(items[items.length - 1]!);
  return out;
}

/** Unique, readable series names: the run name, plus the id prefix when two runs share a name. */
function seriesNames(runs: Run[]): Map<string, string> {
  const counts = new Map<string, number>();
  for (const r of runs) counts.set(r.info.runName, (counts.get(r.info.runName) ?? 0) + 1);
  return new Map(runs.map((r) => [r.info.runId, counts.get(r.info.runName)! > 1 ? `${r.info.runName} (${r.info.runId.slice(0, 7)})` : r.info.runName]));
}

/** A Vega-Lite spec: one panel per metric (own y scale), one line per run. */
export function chartSpec(points: Point[], x: XAxis, logY: boolean): object {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    data: { values: points },
    facet: { row: { field: 'metric', type: 'nominal', title: null, header: { labelOrient: 'top', labelAngle: 0, labelAnchor: 'start', labelFontSize: 13, labelFontWeight: 'bold' } } },
    spec: {
      width: 640,
      height: 240,
      mark: { type: 'line', point: points.length <= 400, tooltip: true },
      encoding: {
        x: { field: x, type: x === 'wall' ? 'temporal' : 'quantitative', title: X_AXES[x] },
        y: { field: 'value', type: 'quantitative', title: null, scale: logY ? { type: 'log' } : { zero: false } },
        color: { field: 'run', type: 'nominal', title: 'run' },
      },
    },
    resolve: { scale: { y: 'independent' } },
  };
}

function diffRows(runs: Run[], values: (r: Run) => Record<string, string>, showAll: boolean): { rows: string; hidden: number } {
  const keys = [...new Set(runs.flatMap((r) => Object.keys(values(r))))].sort();
  let hidden = 0;
  const rows = keys
    .map((k) => {
      const cells = runs.map((r) => values(r)[k]);
      const differs = new Set(cells.map((c) => c ?? '\u0000missing')).size > 1;
      if (!differs && !showAll) {
        hidden++;
        return '';
      }
      return `<tr class="${differs ? 'differs' : 'same'}" data-key="${esc(k)}"><th>${esc(k)}</th>${cells
        .map((c) => (c === undefined ? '<td class="muted">—</td>' : `<td>${esc(c)}</td>`))
        .join('')}</tr>`;
    })
    .join('');
  return { rows, hidden };
}

export async function comparePage(store: SqliteStore, q: URLSearchParams): Promise<string> {
  const runIds = [...new Set(q.getAll('run').flatMap((v) => v.split(',')).filter(Boolean))];
  if (runIds.length === 0) throw new InvalidParameterError('select at least one run to compare (?run=<id>&run=<id>)');
  const runs = await Promise.all(runIds.map((id) => store.getRun(id)));
  const names = seriesNames(runs);
  const available = [...new Set(runs.flatMap((r) => r.data.metrics.map((m) => m.key)))].sort();
  const requested = q.getAll('metric').filter((m) => available.includes(m));
  const metrics = requested.length > 0 ? requested : available.includes('loss') ? ['loss'] : available.slice(0, 1);
  const xParam = q.get('x') ?? 'step';
  if (!(xParam in X_AXES)) throw new InvalidParameterError(`x must be one of ${Object.keys(X_AXES).join(', ')}, got '${xParam}'`);
  const x = xParam as XAxis;
  const logY = q.get('y') === 'log';
  const showAll = q.get('params') === 'all';

  const points: Point[] = [];
  let thinned = false;
  for (const run of runs) {
    for (const metric of metrics) {
      const history = await store.getMetricHistory(run.info.runId, metric);
      const kept = thin(history, MAX_POINTS_PER_LINE);
      thinned ||= kept.length < history.length;
      for (const m of kept) {
        // JSON has no NaN/Infinity; Vega-Lite leaves a gap at a null value.
        const value = Number.isFinite(m.value) && !(logY && m.value <= 0) ? m.value : null;
        points.push({ run: names.get(run.info.runId)!, metric, step: m.step, wall: m.timestamp, relative: (m.timestamp - run.info.startTime) / 1000, value });
      }
    }
  }

  const self = (overrides: Record<string, string | string[] | undefined>) =>
    href('/compare', { run: runIds, metric: metrics, x, y: logY ? 'log' : undefined, params: showAll ? 'all' : undefined, ...overrides });
  const metricBoxes = available
    .map((m) => `<label><input type="checkbox" name="metric" value="${esc(m)}"${metrics.includes(m) ? ' checked' : ''}> ${esc(m)}</label>`)
    .join(' ');
  const xOptions = (Object.keys(X_AXES) as XAxis[]).map((k) => `<option value="${k}"${k === x ? ' selected' : ''}>${esc(X_AXES[k])}</option>`).join('');
  const header = `<tr><th></th>${runs.map((r) => `<th><a href="/runs/${esc(r.info.runId)}">${esc(names.get(r.info.runId))}</a></th>`).join('')}</tr>`;
  const params = diffRows(runs, (r) => r.data.params, showAll);
  const latest = diffRows(runs, (r) => Object.fromEntries(r.data.metrics.map((m) => [m.key, formatNumber(m.value)])), true);
  const info = diffRows(
    runs,
    (r) => ({ status: r.info.status, duration: formatDuration(r.info.startTime, r.info.endTime), run_id: r.info.runId }),
    true,
  );
  const experimentIds = [...new Set(runs.map((r) => r.info.experimentId))];
  const crumbs: [string, string?][] = [['Experiments', '/']];
  if (experimentIds.length === 1) {
    const e = await store.getExperiment(experimentIds[0]!);
    crumbs.push([e.name, `/experiments/${encodeURIComponent(e.experimentId)}`]);
  }
  crumbs.push(['Compare']);

  const vega = ['vega.min.js', 'vega-lite.min.js', 'vega-embed.min.js'].map((f) => `<script src="/static/${f}"></script>`).join('');
  return page(
    `Compare ${runs.length} runs`,
    crumbs,
    `<h1>Compare ${runs.length} run${runs.length === 1 ? '' : 's'}</h1>
    <form class="inline" method="get" action="/compare" id="chart-form">
      ${runIds.map((id) => `<input type="hidden" name="run" value="${esc(id)}">`).join('')}
      ${showAll ? '<input type="hidden" name="params" value="all">' : ''}
      <span>Metrics:</span> ${metricBoxes || '<span class="muted">none logged</span>'}
      <label>x-axis <select name="x">${xOptions}</select></label>
      <label><input type="checkbox" name="y" value="log"${logY ? ' checked' : ''}> log y</label>
      <button type="submit">Update</button>
    </form>
    <div id="chart" data-points="${points.length}"></div>
    ${thinned ? `<p class="muted">Lines with more than ${MAX_POINTS_PER_LINE} points show every k-th point (and the last).</p>` : ''}
    <div id="chart-error" class="error" hidden></div>
    <script type="application/json" id="chart-spec">${scriptJson(chartSpec(points, x, logY))}</script>
    <script>
      vegaEmbed('#chart', JSON.parse(document.getElementById('chart-spec').textContent), { renderer: 'svg', actions: false })
        .then(() => document.getElementById('chart').setAttribute('data-rendered', 'true'))
        .catch((e) => { const el = document.getElementById('chart-error'); el.hidden = false; el.textContent = String(e); });
    </script>
    <h2 id="diff">Params</h2>
    <p class="muted">${
      showAll
        ? `<a href="${esc(self({ params: undefined }))}#diff">differences only</a>`
        : `${params.hidden} identical param${params.hidden === 1 ? '' : 's'} hidden${params.hidden > 0 ? ` · <a href="${esc(self({ params: 'all' }))}#diff">show all</a>` : ''}`
    }</p>
    <table id="param-diff">${header}${params.rows}</table>
    <h2>Latest metrics</h2>
    <table id="metric-diff">${header}${latest.rows}</table>
    <h2>Runs</h2>
    <table id="info-diff">${header}${info.rows}</table>`,
    vega,
  );
}
