import type { SqliteStore } from '@difflab/tracking';
import { esc, formatTime, page } from './html.js';

export async function experimentsPage(store: SqliteStore): Promise<string> {
  const experiments = (await store.searchExperiments({ orderBy: ['attributes.name ASC'], maxResults: 50000 })).items;
  const rows = await Promise.all(
    experiments.map(async (e) => {
      const runs = (await store.searchRuns({ experimentIds: [e.experimentId], maxResults: 50000 })).items;
      const last = runs.reduce((m, r) => Math.max(m, r.info.startTime), 0);
      return `<tr><td><a href="/experiments/${esc(encodeURIComponent(e.experimentId))}">${esc(e.name)}</a></td>
        <td class="num">${esc(e.experimentId)}</td><td class="num">${runs.length}</td><td>${esc(last ? formatTime(last) : '')}</td></tr>`;
    }),
  );
  return page(
    'Experiments',
    [['Experiments']],
    `<h1>Experiments</h1>
    <table id="experiments"><thead><tr><th>Name</th><th>ID</th><th>Runs</th><th>Last run started</th></tr></thead>
    <tbody>${rows.join('')}</tbody></table>`,
  );
}
