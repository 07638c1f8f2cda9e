import type { SqliteStore } from '@difflab/tracking';
import { esc, formatTime, page } from './html.js';

export async function experimentsPage(store: SqliteStore): Promise<string> {
  const experiments = (await store.searchExperiments({ orderBy: ['attributes.name ASC'], maxResults: 50000 })).items;
  // Counts from one SQL aggregate: the list stays fast with 10,000 runs in an experiment.
  const summary = store.runSummary();
  const rows = experiments.map((e) => {
    const { runs, lastStartTime } = summary.get(e.experimentId) ?? { runs: 0, lastStartTime: null };
    return `<tr><td><a href="/experiments/${esc(encodeURIComponent(e.experimentId))}">${esc(e.name)}</a></td>
        <td class="num">${esc(e.experimentId)}</td><td class="num">${runs}</td><td>${esc(runs > 0 ? formatTime(lastStartTime) : '')}</td></tr>`;
  });
  return page(
    'Experiments',
    [['Experiments']],
    `<h1>Experiments</h1>
    <table id="experiments"><thead><tr><th>Name</th><th>ID</th><th>Runs</th><th>Last run started</th></tr></thead>
    <tbody>${rows.join('')}</tbody></table>`,
  );
}
