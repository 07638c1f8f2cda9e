import { InvalidParameterError, recordOfEntries, type Run, type SqliteStore } from '@difflab/tracking';
import { chartBlock, CHART_SCRIPTS, logXToggle, parseLogX, parseSmoothing, smoothingSlider } from './chart-html.js';
import { chartSpec, X_AXES, type XAxis } from './chart-spec.js';
import { esc, formatDuration, formatNumber, href, page } from './html.js';
import { MAX_POINTS_PER_LINE, metricPoints, parseXAxis, seriesNames } from './metric-points.js';
import { gridRowLabels, sampleGridsBlock } from './sample-grid-html.js';
import { sampleGrids } from './sample-grids.js';

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

interface CompareState {
  runIds: string[];
  runs: Run[];
  available: string[];
  metrics: string[];
  x: XAxis;
  logY: boolean;
}

async function compareState(store: SqliteStore, q: URLSearchParams): Promise<CompareState> {
  const runIds = [...new Set(q.getAll('run').flatMap((v) => v.split(',')).filter(Boolean))];
  if (runIds.length === 0) throw new InvalidParameterError('No runs selected: tick one or more runs in the runs table, then press Compare (or open /compare?run=<id>&run=<id>).');
  const runs = await Promise.all(runIds.map((id) => store.getRun(id)));
  const available = [...new Set(runs.flatMap((r) => r.data.metrics.map((m) => m.key)))].sort();
  const requested = q.getAll('metric').filter((m) => available.includes(m));
  const metrics = requested.length > 0 ? requested : available.includes('loss') ? ['loss'] : available.slice(0, 1);
  return { runIds, runs, available, metrics, x: parseXAxis(q.get('x')), logY: q.get('y') === 'log' };
}

/** `/compare.json`: the chart's points again, for the page's live update while a run is RUNNING. */
export async function compareData(store: SqliteStore, q: URLSearchParams): Promise<object> {
  const st = await compareState(store, q);
  const { points } = await metricPoints(store, st.runs, st.metrics, st.logY);
  return { points, running: st.runs.some((r) => r.info.status === 'RUNNING') };
}

export async function comparePage(store: SqliteStore, q: URLSearchParams): Promise<string> {
  const { runIds, runs, available, metrics, x, logY } = await compareState(store, q);
  const names = seriesNames(runs);
  const showAll = q.get('params') === 'all';
  const smoothing = parseSmoothing(q.get('smooth'));
  const logX = parseLogX(q.get('xscale'));
  const { points, thinned } = await metricPoints(store, runs, metrics, logY);
  const query = { run: runIds, metric: metrics, x, xscale: logX ? 'log' : undefined, y: logY ? 'log' : undefined, params: showAll ? 'all' : undefined, smooth: smoothing > 0 ? String(smoothing) : undefined };
  const self = (overrides: Record<string, string | string[] | undefined>) => href('/compare', { ...query, ...overrides });
  const running = runs.some((r) => r.info.status === 'RUNNING');

  const metricBoxes = available
    .map((m) => `<label><input type="checkbox" name="metric" value="${esc(m)}"${metrics.includes(m) ? ' checked' : ''}> ${esc(m)}</label>`)
    .join(' ');
  const xOptions = (Object.keys(X_AXES) as XAxis[]).map((k) => `<option value="${k}"${k === x ? ' selected' : ''}>${esc(X_AXES[k])}</option>`).join('');
  const header = `<tr><th></th>${runs.map((r) => `<th><a href="/runs/${esc(r.info.runId)}">${esc(names.get(r.info.runId))}</a></th>`).join('')}</tr>`;
  const params = diffRows(runs, (r) => r.data.params, showAll);
  const latest = diffRows(runs, (r) => recordOfEntries(r.data.metrics.map((m) => [m.key, formatNumber(m.value)] as const)), true);
  const info = diffRows(runs, (r) => ({ status: r.info.status, duration: formatDuration(r.info.startTime, r.info.endTime), run_id: r.info.runId }), true);
  const experimentIds = [...new Set(runs.map((r) => r.info.experimentId))];
  const crumbs: [string, string?][] = [['Experiments', '/']];
  if (experimentIds.length === 1) {
    const e = await store.getExperiment(experimentIds[0]!);
    crumbs.push([e.name, `/experiments/${encodeURIComponent(e.experimentId)}`]);
  }
  crumbs.push(['Compare']);
  const sampleStep = q.get('sample_step');
  const grids = await Promise.all(
    runs.map(async (r) => ({ title: names.get(r.info.runId)!, titleHref: `/runs/${encodeURIComponent(r.info.runId)}`, grids: await sampleGrids(store, r.info.runId), rowLabels: gridRowLabels(r.data.params) })),
  );
  const spec = chartSpec(points, runs.map((r) => names.get(r.info.runId)!), { x, logY, columns: 1 });

  return page(
    `Compare ${runs.length} runs`,
    crumbs,
    `<h1>Compare ${runs.length} run${runs.length === 1 ? '' : 's'}</h1>
    <form class="inline" method="get" action="/compare" id="chart-form">
      ${runIds.map((id) => `<input type="hidden" name="run" value="${esc(id)}">`).join('')}
      ${showAll ? '<input type="hidden" name="params" value="all">' : ''}
      <input type="hidden" name="smooth" value="${smoothing > 0 ? smoothing : ''}">
      <span>Metrics:</span> ${metricBoxes || '<span class="muted">none logged</span>'}
      <label>x-axis <select name="x">${xOptions}</select></label>
      ${logXToggle(x, logX)}
      <label><input type="checkbox" name="y" value="log"${logY ? ' checked' : ''}> log y</label>
      <button type="submit">Update</button>
      ${smoothingSlider(smoothing)}
    </form>
    ${chartBlock('chart', spec, points.length, running ? href('/compare.json', { run: runIds, metric: metrics, x, y: logY ? 'log' : undefined }) : undefined)}
    ${thinned ? `<p class="muted">Lines with more than ${MAX_POINTS_PER_LINE} points show every k-th point (and the last).</p>` : ''}
    <h2 id="samples">Samples</h2>
    ${sampleGridsBlock(grids, sampleStep === null ? null : Number(sampleStep))}
    <h2 id="diff">Params</h2>
    <p class="muted">${
      showAll
        ? `<a href="${esc(self({ params: undefined }))}#diff">differences only</a>`
        : `${params.hidden} identical param${params.hidden === 1 ? '' : 's'} hidden${params.hidden > 0 ? ` · <a href="${esc(self({ params: 'all' }))}#diff">show all</a>` : ''}`
    }</p>
    <div class="table-scroll"><table id="param-diff">${header}${params.rows}</table></div>
    <h2>Latest metrics</h2>
    <div class="table-scroll"><table id="metric-diff">${header}${latest.rows}</table></div>
    <h2>Runs</h2>
    <div class="table-scroll"><table id="info-diff">${header}${info.rows}</table></div>`,
    CHART_SCRIPTS,
  );
}
