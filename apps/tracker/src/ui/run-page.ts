import type { SqliteStore } from '@difflab/tracking';
import { artifactListing } from './artifacts-page.js';
import { chartBlock, CHART_SCRIPTS, logXToggle, parseLogX, parseSmoothing, smoothingSlider } from './chart-html.js';
import { chartSpec } from './chart-spec.js';
import { esc, formatDuration, formatNumber, formatTime, href, page } from './html.js';
import { metricPoints, parseXAxis, seriesNames } from './metric-points.js';
import { gridRowLabels, sampleGridsBlock } from './sample-grid-html.js';
import { sampleGrids } from './sample-grids.js';

export async function runPage(store: SqliteStore, runId: string, q: URLSearchParams = new URLSearchParams()): Promise<string> {
  const run = await store.getRun(runId);
  const experiment = await store.getExperiment(run.info.experimentId);
  const i = run.info;
  const kv = (record: Record<string, string>) =>
    Object.entries(record)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`)
      .join('');
  const metrics = run.data.metrics
    .map(
      (m) => `<tr><th><a href="${esc(href('/compare', { run: runId, metric: m.key }))}">${esc(m.key)}</a></th>
      <td class="num">${esc(formatNumber(m.value))}</td><td class="num">${m.step}</td></tr>`,
    )
    .join('');
  const metricKeys = run.data.metrics.map((m) => m.key).sort();
  const x = parseXAxis(q.get('x'));
  const smoothing = parseSmoothing(q.get('smooth'));
  const name = seriesNames([run]).get(runId)!;
  const { points } = await metricPoints(store, [run], metricKeys, false);
  // Small multiples: every metric the run logged, three panels to a row.
  const spec = chartSpec(points, [name], { x, logY: false, columns: 3 });
  const live = i.status === 'RUNNING' ? href('/compare.json', { run: runId, metric: metricKeys, x }) : undefined;
  const grids = await sampleGrids(store, runId);
  const samples = sampleGridsBlock([{ title: i.runName, titleHref: `/runs/${encodeURIComponent(runId)}`, grids, rowLabels: gridRowLabels(run.data.params) }], q.has('sample_step') ? Number(q.get('sample_step')) : null);
  return page(
    i.runName,
    [['Experiments', '/'], [experiment.name, `/experiments/${encodeURIComponent(experiment.experimentId)}`], [i.runName]],
    `<h1>${esc(i.runName)}</h1>
    <div class="run-top">
    <table id="run-info">
      <tr><th>Run ID</th><td>${esc(i.runId)}</td></tr>
      <tr><th>Status</th><td class="status-${esc(i.status)}">${esc(i.status)}</td></tr>
      <tr><th>Started</th><td>${esc(formatTime(i.startTime))}</td></tr>
      <tr><th>Ended</th><td>${esc(formatTime(i.endTime))}</td></tr>
      <tr><th>Duration</th><td>${esc(formatDuration(i.startTime, i.endTime))}</td></tr>
      <tr><th>User</th><td>${esc(i.userId)}</td></tr>
    </table>
    <section id="samples"><h2>Samples</h2>${samples}</section>
    </div>
    <h2>Charts</h2>
    ${
      metricKeys.length
        ? `<form class="inline" method="get" id="chart-form">
      <label>x-axis <select name="x" onchange="this.form.submit()">${(['step', 'wall', 'relative'] as const)
        .map((k) => `<option value="${k}"${k === x ? ' selected' : ''}>${k === 'wall' ? 'wall time' : k === 'relative' ? 'time since run start (s)' : 'step'}</option>`)
        .join('')}</select></label>
      ${logXToggle(x, parseLogX(q.get('xscale')))}
      <input type="hidden" name="smooth" value="${smoothing > 0 ? smoothing : ''}">
      ${smoothingSlider(smoothing)}
    </form>
    ${chartBlock('chart', spec, points.length, live)}`
        : '<p class="muted">No metrics logged.</p>'
    }
    <h2>Metrics (latest)</h2><table id="metrics"><tr><th>Key</th><th>Value</th><th>Step</th></tr>${metrics}</table>
    <h2>Params</h2><div class="table-scroll"><table id="params">${kv(run.data.params)}</table></div>
    <h2>Tags</h2><div class="table-scroll"><table id="tags">${kv(run.data.tags)}</table></div>
    <h2>Artifacts</h2>${await artifactListing(store, runId, '')}`,
    metricKeys.length ? CHART_SCRIPTS : '',
  );
}
