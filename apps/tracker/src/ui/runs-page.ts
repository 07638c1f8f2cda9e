import type { SqliteStore } from '@difflab/tracking';
import { esc, formatDuration, formatTime, href, page } from './html.js';
import { MAX_RUNS, runsCsv, runsTable, type Column } from './runs-table.js';

/** A filter over keys the trainer really logs (its config, flattened: `model.preset`, `train.lr`, …). */
export const FILTER_EXAMPLE = "params.`model.preset` = 'DiT-FMNIST-S/4' and metrics.heldout_loss < 0.1";

/** Compare is enabled only with a selection; the header box ticks or clears every listed run. */
const SELECTION_SCRIPT = `
(() => {
  const boxes = [...document.querySelectorAll('#runs tbody input[name=run]')];
  const all = document.getElementById('select-all');
  const compare = document.getElementById('compare');
  const sync = () => {
    const n = boxes.filter((b) => b.checked).length;
    compare.disabled = n === 0;
    compare.textContent = n === 0 ? 'Compare selected runs' : 'Compare ' + n + ' selected run' + (n === 1 ? '' : 's');
    all.checked = n > 0 && n === boxes.length;
    all.indeterminate = n > 0 && n < boxes.length;
  };
  all.addEventListener('change', () => { for (const b of boxes) b.checked = all.checked; sync(); });
  for (const b of boxes) b.addEventListener('change', sync);
  sync();
  // While runs are RUNNING the table refreshes itself, unless the user is choosing runs.
  const every = Number(document.getElementById('runs').dataset.refreshMs || 0);
  if (every > 0) setInterval(() => { if (!boxes.some((b) => b.checked) && !document.querySelector('#columns[open]')) location.reload(); }, every);
})();`;

function sortLink(experimentId: string, q: URLSearchParams, column: string, current: string | null): string {
  const [curCol, curDir] = (current ?? '').split(/\s+/);
  const dir = curCol === column && curDir !== 'DESC' ? 'DESC' : 'ASC';
  return href(`/experiments/${encodeURIComponent(experimentId)}`, { filter: q.get('filter') ?? undefined, params: q.get('params') ?? undefined, cols: q.getAll('cols'), order_by: `${column} ${dir}` });
}

function arrow(column: string, current: string | null): string {
  const [curCol, curDir] = (current ?? '').split(/\s+/);
  if (curCol !== column) return '';
  return curDir === 'DESC' ? ' ▼' : ' ▲';
}

/** Reload period of a table showing RUNNING runs. */
const REFRESH_MS = 15_000;

/** The column chooser: every param, tag and metric statistic, ticked when shown; submitting keeps filter and order. */
function columnChooser(self: string, available: Column[], shown: Column[], q: URLSearchParams): string {
  const group = (title: string, cols: Column[]) =>
    cols.length
      ? `<fieldset><legend>${esc(title)}</legend>${cols
          .map((c) => `<label><input type="checkbox" name="cols" value="${esc(c.id)}"${shown.includes(c) ? ' checked' : ''}> ${esc(c.label)}</label>`)
          .join('')}</fieldset>`
      : '';
  return `<details id="columns"><summary>Columns (${shown.length} of ${available.length})</summary>
    <form method="get" action="${esc(self)}" class="column-chooser">
      ${q.get('filter') ? `<input type="hidden" name="filter" value="${esc(q.get('filter'))}">` : ''}
      ${q.get('order_by') ? `<input type="hidden" name="order_by" value="${esc(q.get('order_by'))}">` : ''}
      ${group('Params', available.filter((c) => c.kind === 'param'))}
      ${group('Tags', available.filter((c) => c.kind === 'tag'))}
      ${group('Metrics: last value', available.filter((c) => c.stat === 'last'))}
      ${group('Metrics: min / max over the run', available.filter((c) => c.stat === 'min' || c.stat === 'max'))}
      <p><button type="submit" id="apply-columns">Show these columns</button> <a href="${esc(href(self, { filter: q.get('filter') ?? undefined, order_by: q.get('order_by') ?? undefined }))}">default columns</a></p>
    </form></details>`;
}

export async function runsPage(store: SqliteStore, experimentId: string, q: URLSearchParams): Promise<string> {
  const experiment = await store.getExperiment(experimentId);
  const filter = q.get('filter') ?? '';
  const orderBy = q.get('order_by');
  const t = await runsTable(store, experimentId, q);
  const th = (label: string, column: string | undefined, cls = '') =>
    column
      ? `<th${cls}><a href="${esc(sortLink(experimentId, q, column, orderBy))}">${esc(label)}${arrow(column, orderBy)}</a></th>`
      : `<th${cls}>${esc(label)}</th>`;
  const head = [
    '<th><input type="checkbox" id="select-all" aria-label="select all runs"></th>',
    th('Run', 'attributes.run_name'),
    th('Status', 'attributes.status'),
    th('Started', 'attributes.start_time'),
    '<th>Duration</th>',
    ...t.columns.map((c) => th(c.label, c.orderBy, ` data-col="${esc(c.id)}"`)),
  ].join('');
  const body = t.rows
    .map(({ run: r, progress, cells }) => {
      const status = progress
        ? `${esc(r.info.status)}<br><progress max="${progress.total}" value="${progress.step}"></progress> <span class="progress-text">step ${progress.step}/${progress.total}${progress.eta ? ` · ETA ${esc(progress.eta)}` : ''}</span>`
        : esc(r.info.status);
      return `<tr data-run-id="${esc(r.info.runId)}">
        <td><input type="checkbox" name="run" value="${esc(r.info.runId)}" aria-label="select ${esc(r.info.runName)}"></td>
        <td><a href="/runs/${esc(r.info.runId)}">${esc(r.info.runName)}</a></td>
        <td class="status-${esc(r.info.status)}">${status}</td>
        <td>${esc(formatTime(r.info.startTime))}</td>
        <td class="num">${esc(formatDuration(r.info.startTime, r.info.endTime))}</td>
        ${cells.map((c, i) => `<td class="${t.columns[i]!.kind === 'metric' ? 'num' : ''}${c.best ? ' best' : ''}"${c.best ? ' title="best of the listed runs"' : ''}>${esc(c.text)}</td>`).join('')}
      </tr>`;
    })
    .join('');
  const self = `/experiments/${encodeURIComponent(experimentId)}`;
  const csv = href(`${self}/runs.csv`, { filter: filter || undefined, order_by: orderBy ?? undefined, params: q.get('params') ?? undefined, cols: q.getAll('cols') });
  // Runs of a `difflab sweep` carry budget and size tags: offer their scaling plot.
  const isSweep = t.runs.some((r) => r.data.tags.budget !== undefined && r.data.tags.size !== undefined);
  const runs = t.runs;
  return page(
    experiment.name,
    [['Experiments', '/'], [experiment.name]],
    `<h1>${esc(experiment.name)}</h1>
    ${isSweep ? `<p><a id="scaling-link" href="${esc(`${self}/scaling`)}">Scaling plot</a> <span class="muted">(metric vs compute of the sweep's runs)</span></p>` : ''}
    <form class="inline" method="get" action="${esc(self)}">
      <label for="filter">Filter</label>
      <input type="text" id="filter" name="filter" value="${esc(filter)}" placeholder="${esc(FILTER_EXAMPLE)}">
      ${orderBy ? `<input type="hidden" name="order_by" value="${esc(orderBy)}">` : ''}
      ${q.get('params') === 'all' ? '<input type="hidden" name="params" value="all">' : ''}
      ${q.getAll('cols').map((c) => `<input type="hidden" name="cols" value="${esc(c)}">`).join('')}
      <button type="submit">Search</button>
      <a href="${esc(self)}">clear</a>
    </form>
    ${t.error ? `<div class="error" id="filter-error">${esc(t.error)}</div>` : ''}
    ${columnChooser(self, t.available, t.columns, q)}
    <form method="get" action="/compare" id="compare-form">
      <input type="hidden" name="experiment" value="${esc(experimentId)}">
      <p><button type="submit" id="compare" disabled title="tick the runs to compare first">Compare selected runs</button>
      <a id="csv" href="${esc(csv)}" download>CSV of this table</a>
      <span class="muted">${runs.length} run${runs.length === 1 ? '' : 's'}${runs.length === MAX_RUNS ? ` (first ${MAX_RUNS}; narrow the filter)` : ''}${
        t.hiddenParams > 0
          ? ` · ${t.hiddenParams} param${t.hiddenParams === 1 ? '' : 's'} equal in all runs hidden · <a href="${esc(href(self, { filter: filter || undefined, order_by: orderBy ?? undefined, params: 'all' }))}">show all params</a>`
          : ''
      }${t.running ? ' · refreshes every 15 s while runs are RUNNING' : ''}</span></p>
      <div class="table-scroll"><table id="runs"${t.running ? ` data-refresh-ms="${REFRESH_MS}"` : ''}><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>
    </form>
    <script>${SELECTION_SCRIPT}</script>`,
  );
}

/** `/experiments/<id>/runs.csv`: the table as shown. */
export async function runsCsvBody(store: SqliteStore, experimentId: string, q: URLSearchParams): Promise<string> {
  return runsCsv(await runsTable(store, experimentId, q));
}
