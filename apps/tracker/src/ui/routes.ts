import { NotFoundError, TrackingError, type SqliteStore } from '@difflab/tracking';
import { artifactPage, rawArtifact } from './artifacts-page.js';
import { comparePage } from './compare-page.js';
import { experimentsPage } from './experiments-page.js';
import { page } from './html.js';
import { runPage } from './run-page.js';
import { runsPage } from './runs-page.js';
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
  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  try {
    if (parts.length === 0) return { status: 200, contentType: HTML, body: await experimentsPage(store) };
    if (parts[0] === 'experiments' && parts.length === 2) return { status: 200, contentType: HTML, body: await runsPage(store, parts[1]!, q) };
    if (parts[0] === 'experiments' && parts.length === 3 && parts[2] === 'scaling') return { status: 200, contentType: HTML, body: await scalingPage(store, parts[1]!, q) };
    if (parts[0] === 'experiments' && parts.length === 3 && parts[2] === 'scaling.json') {
      return { status: 200, contentType: JSON_TYPE, body: JSON.stringify(await scalingData(store, parts[1]!, q.get('metric'))) };
    }
    if (parts[0] === 'runs' && parts.length === 2) return { status: 200, contentType: HTML, body: await runPage(store, parts[1]!) };
    if (parts[0] === 'runs' && parts.length === 3 && parts[2] === 'artifacts') {
      return { status: 200, contentType: HTML, body: await artifactPage(store, parts[1]!, q.get('path') ?? '') };
    }
    if (parts[0] === 'compare' && parts.length === 1) return { status: 200, contentType: HTML, body: await comparePage(store, q) };
    if (parts[0] === 'get-artifact' && parts.length === 1) return rawArtifact(store, q.get('run_id') ?? '', q.get('path') ?? '');
  } catch (err) {
    if (!(err instanceof TrackingError)) throw err;
    const status = err instanceof NotFoundError ? 404 : 400;
    if (parts.at(-1)?.endsWith('.json')) return { status, contentType: JSON_TYPE, body: JSON.stringify({ error_code: err.errorCode, message: err.message }) };
    return { status, contentType: HTML, body: page('Error', [], `<div class="error">${escText(err.message)}</div>`) };
  }
  return { status: 404, contentType: HTML, body: page('Not found', [], `<div class="error">No page at ${escText(url.pathname)}</div>`) };
}

function escText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
