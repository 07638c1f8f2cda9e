import type { SqliteStore } from '@difflab/tracking';
import { esc, formatNumber, href, page, scriptJson } from './html.js';
import { scalingData, type ScalingData } from './scaling-data.js';

const FRONTIER = 'frontier (best per budget)';

/**
 * Log axes hugging the data: Vega's `nice` would round a log domain out to whole decades (two empty
 * decades on a sweep spanning one), so the domain is the data's range widened by a tenth of its span on each
 * side, and labels are short exponents ("2e+13", not "20,000,000,000,000").
 */
function logScale(values: number[]): object {
  if (values.length === 0) return { type: 'log' };
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  // Pad by a tenth of the data's span in log space, at least 2 % (values that barely differ).
  const pad = Math.max(Math.log(hi / lo) * 0.1, Math.log(1.02));
  return { type: 'log', nice: false, domain: [lo / Math.exp(pad), hi * Math.exp(pad)] };
}

/**
 * A Vega-Lite spec: metric vs compute on log-log axes, one line per model size, and the frontier
 * (best run of each budget) as a wide grey dashed band drawn underneath, so a size whose line
 * coincides with the frontier stays visible on top of it.
 */
export function scalingSpec(d: ScalingData): object {
  const axis = { format: '.1~e', labelOverlap: 'greedy', tickCount: 6 };
  const x = { field: 'compute', type: 'quantitative', scale: logScale(d.points.map((p) => p.compute)), axis, title: 'training compute (FLOPs)' };
  const y = { field: 'value', type: 'quantitative', scale: logScale(d.points.map((p) => p.value)), axis: { labelOverlap: 'greedy', tickCount: 6 }, title: d.metric };
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
        data: { values: d.frontier.map((p) => ({ ...p, series: FRONTIER })) },
        mark: { type: 'line', strokeDash: [10, 5], strokeWidth: 8, color: '#000', opacity: 0.22, point: { color: '#000', opacity: 0.35, shape: 'diamond', size: 260, filled: false, strokeWidth: 2 }, tooltip: true },
        encoding: { x, y, detail: { field: 'series' }, tooltip },
      },
      {
        data: { values: d.points },
        mark: { type: 'line', point: true, tooltip: true },
        encoding: { x, y, color: { field: 'size', type: 'nominal', title: 'size', sort: null }, tooltip },
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
    <p class="muted">${d.points.length} runs; compute = flops_train_per_example · train.batchSize · step of the run's last ${esc(d.metric)}. One line per model size; the wide grey dashed band underneath joins the best run of each budget (the frontier).</p>
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
