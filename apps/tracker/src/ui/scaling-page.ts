import type { SqliteStore } from '@difflab/tracking';
import { esc, formatNumber, href, page, scriptJson } from './html.js';
import { scalingData, type ScalingData } from './scaling-data.js';

const FRONTIER = 'frontier (best per budget)';

/** A Vega-Lite spec: metric vs compute on log-log axes, one line per model size, and the frontier dashed in black. */
export function scalingSpec(d: ScalingData): object {
  const x = { field: 'compute', type: 'quantitative', scale: { type: 'log' }, title: 'training compute (FLOPs)' };
  const y = { field: 'value', type: 'quantitative', scale: { type: 'log' }, title: d.metric };
  const tooltip = [
    { field: 'runName', title: 'run' },
    { field: 'size' },
    { field: 'budget' },
    { field: 'compute', format: '.3e' },
    { field: 'value', title: d.metric, format: '.5g' },
    { field: 'step' },
  ];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 640,
    height: 400,
    layer: [
      {
        data: { values: d.points },
        mark: { type: 'line', point: true, tooltip: true },
        encoding: { x, y, color: { field: 'size', type: 'nominal', title: 'size', sort: null }, tooltip },
      },
      {
        data: { values: d.frontier.map((p) => ({ ...p, series: FRONTIER })) },
        mark: { type: 'line', strokeDash: [6, 4], color: 'black', point: { color: 'black', shape: 'diamond', size: 80 }, tooltip: true },
        encoding: { x, y, detail: { field: 'series' }, tooltip },
      },
    ],
  };
}

export async function scalingPage(store: SqliteStore, experimentId: string, q: URLSearchParams): Promise<string> {
  const experiment = await store.getExperiment(experimentId);
  const d = await scalingData(store, experimentId, q.get('metric'));
  const self = `/experiments/${encodeURIComponent(experimentId)}`;
  const options = d.metrics.map((m) => `<option value="${esc(m)}"${m === d.metric ? ' selected' : ''}>${esc(m)}</option>`).join('');
  const frontierRows = d.frontier
    .map((p) => `<tr><td>${esc(p.budget)}</td><td><a href="/runs/${esc(p.runId)}">${esc(p.runName)}</a></td><td>${esc(p.size)}</td><td class="num">${esc(p.compute.toExponential(3))}</td><td class="num">${esc(formatNumber(p.value))}</td></tr>`)
    .join('');
  const skipped = d.skipped.length
    ? `<details><summary>${d.skipped.length} run${d.skipped.length === 1 ? '' : 's'} not plotted</summary><ul id="skipped">${d.skipped
        .map((s) => `<li><a href="/runs/${esc(s.runId)}">${esc(s.runName)}</a>: ${esc(s.reason)}</li>`)
        .join('')}</ul></details>`
    : '';
  const vega = ['vega.min.js', 'vega-lite.min.js', 'vega-embed.min.js'].map((f) => `<script src="/static/${f}"></script>`).join('');
  return page(
    `${experiment.name} · scaling`,
    [['Experiments', '/'], [experiment.name, self], ['Scaling']],
    `<h1>${esc(experiment.name)}: ${esc(d.metric)} vs compute</h1>
    <form class="inline" method="get" action="${esc(`${self}/scaling`)}" id="scaling-form">
      <label>metric <select name="metric">${options}</select></label>
      <button type="submit">Update</button>
      <a href="${esc(href(`${self}/scaling.json`, { metric: d.metric }))}">data (JSON)</a>
    </form>
    <p class="muted">${d.points.length} runs; compute = flops_train_per_example · train.batchSize · step of the run's last ${esc(d.metric)}. One line per model size; dashed: the best run of each budget.</p>
    <div id="chart" data-points="${d.points.length}"></div>
    <div id="chart-error" class="error" hidden></div>
    <script type="application/json" id="chart-spec">${scriptJson(scalingSpec(d))}</script>
    <script>
      vegaEmbed('#chart', JSON.parse(document.getElementById('chart-spec').textContent), { renderer: 'svg', actions: false })
        .then(() => document.getElementById('chart').setAttribute('data-rendered', 'true'))
        .catch((e) => { const el = document.getElementById('chart-error'); el.hidden = false; el.textContent = String(e); });
    </script>
    <h2>Frontier</h2>
    <table id="frontier"><tr><th>budget</th><th>run</th><th>size</th><th>compute</th><th>${esc(d.metric)}</th></tr>${frontierRows}</table>
    ${skipped}`,
    vega,
  );
}
