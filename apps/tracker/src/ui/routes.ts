import { NotFoundError, TrackingError, type SqliteStore } from '@difflab/tracking';
import { decodePathSegments } from '../url-path.js';
import { artifactArchive } from './artifact-archive.js';
import { artifactPage, rawArtifact } from './artifacts-page.js';
import { compareData, comparePage } from './compare-page.js';
import { experimentsPage } from './experiments-page.js';
import { esc, page } from './html.js';
import { runPage } from './run-page.js';
import { runsCsvBody, runsPage } from './runs-page.js';
import { scalingData } from './scaling-data.js';
import { scalingPage } from './scaling-page.js';

export interface Rendered {
  status: number;
  contentType: string;
  body: string | Uint8Array;
  headers?: Record<string, string>;
}

const HTML = 'text/html; charset=utf-8';
const JSON_TYPE = 'application/json';

/**
 * Every view is a plain GET URL whose query string holds its whole state (experiment, filter,
 * sort, selected runs, metrics, x-axis), so any view can be bookmarked or shared as a deep link.
 */
export async function renderUi(store: SqliteStore, url: URL): Promise<Rendered> {
  const q = url.searchParams;
  let parts: string[] = [];
  try {
    parts = decodePathSegments(url.pathname);
    if (parts.length === 0) return { status: 200, contentType: HTML, body: await experimentsPage(store) };
    if (parts[0] === 'experiments' && parts.length === 2) return { status: 200, contentType: HTML, body: await runsPage(store, parts[1]!, q) };
    if (parts[0] === 'experiments' && parts.length === 3 && parts[2] === 'runs.csv') {
      const name = `runs-${parts[1]!.replace(/[^\w-]/g, '_')}.csv`;
      return { status: 200, contentType: 'text/csv; charset=utf-8', body: await runsCsvBody(store, parts[1]!, q), headers: { 'Content-Disposition': `attachment; filename="${name}"` } };
    }
    if (parts[0] === 'experiments' && parts.length === 3 && parts[2] === 'scaling') return { status: 200, contentType: HTML, body: await scalingPage(store, parts[1]!, q) };
    if (parts[0] === 'experiments' && parts.length === 3 && parts[2] === 'scaling.json') {
      return { status: 200, contentType: JSON_TYPE, body: JSON.stringify(await scalingData(store, parts[1]!, q.get('metric'))) };
    }
    if (parts[0] === 'runs' && parts.length === 2) return { status: 200, contentType: HTML, body: await runPage(store, parts[1]!, q) };
    if (parts[0] === 'runs' && parts.length === 3 && parts[2] === 'artifacts') {
      return { status: 200, contentType: HTML, body: await artifactPage(store, parts[1]!, q.get('path') ?? '') };
    }
    if (parts[0] === 'compare.json' && parts.length === 1) return { status: 200, contentType: JSON_TYPE, body: JSON.stringify(await compareData(store, q)) };
    if (parts[0] === 'compare' && parts.length === 1) return { status: 200, contentType: HTML, body: await comparePage(store, q) };
    if (parts[0] === 'get-artifact-archive' && parts.length === 1) return artifactArchive(store, q.get('run_id') ?? '', q.get('path') ?? '');
    if (parts[0] === 'get-artifact' && parts.length === 1) return rawArtifact(store, q.get('run_id') ?? '', q.get('path') ?? '', q.get('download') === '1');
  } catch (err) {
    if (!(err instanceof TrackingError)) throw err;
    const status = err instanceof NotFoundError ? 404 : 400;
    if (parts.at(-1)?.endsWith('.json')) return { status, contentType: JSON_TYPE, body: JSON.stringify({ error_code: err.errorCode, message: err.message }) };
    return { status, contentType: HTML, body: errorPage(status === 404 ? 'Not found' : 'Error', err.message, q) };
  }
  return { status: 404, contentType: HTML, body: errorPage('Not found', `No page at ${url.pathname}`, q) };
}

/**
 * An error page always offers a way back: to the experiment the request came from when the
 * form said so (the runs table's Compare form sends `experiment`), else to the experiments list.
 */
function errorPage(title: string, message: string, q: URLSearchParams): string {
  const experiment = q.get('experiment');
  const back = experiment ? `/experiments/${encodeURIComponent(experiment)}` : '/';
  return page(
    title,
    [['Experiments', '/'], [title]],
    `<h1>${esc(title)}</h1><div class="error" id="error-message">${esc(message)}</div>
    <p class="back"><a id="back" href="${esc(back)}">← back to ${experiment ? 'the runs table' : 'the experiments'}</a></p>`,
  );
}
