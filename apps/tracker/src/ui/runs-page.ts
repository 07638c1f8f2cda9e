import { InvalidParameterError, type Run, type SqliteStore } from '@difflab/tracking';
import { esc, formatDuration, formatNumber, formatTime, href, page } from './html.js';

const MAX_RUNS = 1000;

function sortLink(experimentId: string, q: URLSearchParams, column: string, current: string | null): string {
  const [curCol, curDir] = (current ?? '').split(/\s+/);
  const dir = curCol === column && curDir !== 'DESC' ? 'DESC' : 'ASC';
  return href(`/experiments/${encodeURIComponent(experimentId)}`, { filter: q.get('filter') ?? undefined, params: q.get('params') ?? undefined, order_by: `${column} ${dir}` });
}

function arrow(column: string, current: string | null): string {
  const [curCol, curDir] = (current ?? '').split(/\s+/);
  if (curCol !== column) return '';
  return curDir === 'DESC' ? ' ▼' : ' ▲';
}

/** Backticks keep keys with dots, slashes or spaces intact in order_by. */
function ident(kind: 'params' | 'metrics', key: string): string {
  return /^[\w]+$/.test(key) ? `${kind}.${key}` : `${kind}.\`${key}\``;
}

export async function runsPage(store: SqliteStore, experimentId: string, q: URLSearchParams): Promise<string> {
  const experiment = await store.getExperiment(experimentId);
  const filter = q.get('filter') ?? '';
  const orderBy = q.get('order_by');
  let runs: Run[] = [];
  let error = '';
  try {
    runs = (await store.searchRuns({ experimentIds: [experimentId], filter, orderBy: orderBy ? [orderBy] : undefined, maxResults: MAX_RUNS })).items;
  } catch (err) {
    if (!(err instanceof InvalidParameterError)) throw err;
    error = err.message;
  }
  const allParamKeys = [...new Set(runs.flatMap((r) => Object.keys(r.data.params)))].sort();
  // A resolved config has dozens of params; by default show the ones that differ between runs.
  const showAllParams = q.get('params') === 'all' || runs.length < 2;
  const paramKeys = showAllParams ? allParamKeys : allParamKeys.filter((k) => new Set(runs.map((r) => r.data.params[k] ?? '\u0000')).size > 1);
  const hiddenParams = allParamKeys.length - paramKeys.length;
  const metricKeys = [...new Set(runs.flatMap((r) => r.data.metrics.map((m) => m.key)))].sort();
  const th = (label: string, column: string) =>
    `<th><a href="${esc(sortLink(experimentId, q, column, orderBy))}">${esc(label)}${arrow(column, orderBy)}</a></th>`;
  const head = [
    '<th>Select</th>',
    th('Run', 'attributes.run_name'),
    th('Status', 'attributes.status'),
    th('Started', 'attributes.start_time'),
    '<th>Duration</th>',
    ...paramKeys.map((k) => th(`params.${k}`, ident('params', k))),
    ...metricKeys.map((k) => th(`metrics.${k}`, ident('metrics', k))),
  ].join('');
  const body = runs
    .map((r) => {
      const metrics = Object.fromEntries(r.data.metrics.map((m) => [m.key, m.value]));
      return `<tr data-run-id="${esc(r.info.runId)}">
        <td><input type="checkbox" name="run" value="${esc(r.info.runId)}" aria-label="select ${esc(r.info.runName)}"></td>
        <td><a href="/runs/${esc(r.info.runId)}">${esc(r.info.runName)}</a></td>
        <td class="status-${esc(r.info.status)}">${esc(r.info.status)}</td>
        <td>${esc(formatTime(r.info.startTime))}</td>
        <td class="num">${esc(formatDuration(r.info.startTime, r.info.endTime))}</td>
        ${paramKeys.map((k) => `<td>${esc(r.data.params[k] ?? '')}</td>`).join('')}
        ${metricKeys.map((k) => `<td class="num">${k in metrics ? esc(formatNumber(metrics[k]!)) : ''}</td>`).join('')}
      </tr>`;
    })
    .join('');
  const self = `/experiments/${encodeURIComponent(experimentId)}`;
  // Runs of a `difflab sweep` carry budget and size tags: offer their scaling plot.
  const isSweep = runs.some((r) => r.data.tags.budget !== undefined && r.data.tags.size !== undefined);
  return page(
    experiment.name,
    [['Experiments', '/'], [experiment.name]],
    `<h1>${esc(experiment.name)}</h1>
    ${isSweep ? `<p><a id="scaling-link" href="${esc(`${self}/scaling`)}">Scaling plot</a> <span class="muted">(metric vs compute of the sweep's runs)</span></p>` : ''}
    <form class="inline" method="get" action="${esc(self)}">
      <label for="filter">Filter</label>
      <input type="text" id="filter" name="filter" value="${esc(filter)}" placeholder="params.model = 'DiT-S/2' and metrics.loss < 0.05">
      ${orderBy ? `<input type="hidden" name="order_by" value="${esc(orderBy)}">` : ''}
      ${q.get('params') === 'all' ? '<input type="hidden" name="params" value="all">' : ''}
      <button type="submit">Search</button>
      <a href="${esc(self)}">clear</a>
    </form>
    ${error ? `<div class="error" id="filter-error">${esc(error)}</div>` : ''}
    <form method="get" action="/compare" id="compare-form">
      <p><button type="submit" id="compare">Compare selected runs</button>
      <span class="muted">${runs.length} run${runs.length === 1 ? '' : 's'}${runs.length === MAX_RUNS ? ` (first ${MAX_RUNS}; narrow the filter)` : ''}${
        hiddenParams > 0
          ? ` · ${hiddenParams} param${hiddenParams === 1 ? '' : 's'} equal in all runs hidden · <a href="${esc(href(self, { filter: filter || undefined, order_by: orderBy ?? undefined, params: 'all' }))}">show all params</a>`
          : ''
      }</span></p>
      <table id="runs"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>
    </form>`,
  );
}
