import type { SqliteStore } from '@difflab/tracking';
import { esc, formatDuration, formatNumber, formatTime, href, page } from './html.js';
import { artifactListing } from './artifacts-page.js';

export async function runPage(store: SqliteStore, runId: string): Promise<string> {
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
  return page(
    i.runName,
    [['Experiments', '/'], [experiment.name, `/experiments/${encodeURIComponent(experiment.experimentId)}`], [i.runName]],
    `<h1>${esc(i.runName)}</h1>
    <table id="run-info">
      <tr><th>Run ID</th><td>${esc(i.runId)}</td></tr>
      <tr><th>Status</th><td class="status-${esc(i.status)}">${esc(i.status)}</td></tr>
      <tr><th>Started</th><td>${esc(formatTime(i.startTime))}</td></tr>
      <tr><th>Ended</th><td>${esc(formatTime(i.endTime))}</td></tr>
      <tr><th>Duration</th><td>${esc(formatDuration(i.startTime, i.endTime))}</td></tr>
      <tr><th>User</th><td>${esc(i.userId)}</td></tr>
    </table>
    <h2>Metrics (latest)</h2><table id="metrics"><tr><th>Key</th><th>Value</th><th>Step</th></tr>${metrics}</table>
    <h2>Params</h2><table id="params">${kv(run.data.params)}</table>
    <h2>Tags</h2><table id="tags">${kv(run.data.tags)}</table>
    <h2>Artifacts</h2>${await artifactListing(store, runId, '')}`,
  );
}
