import { InvalidParameterError, NotFoundError, type SqliteStore } from '@difflab/tracking';
import { artifactKindOf, contentDispositionOf, contentTypeOf } from './content-type.js';
import { esc, href, page } from './html.js';
import { previewParquet } from './parquet.js';
import type { Rendered } from './routes.js';

const PARQUET_ROWS = 200;
const TEXT_BYTES = 1 << 20;

/**
 * The folder's files and subfolders, linked; entries the store refuses to serve (a symbolic link
 * leading out of the run's artifact folder, a dangling link) are listed unlinked with the reason,
 * so a user sees why a file they put there does not open.
 */
export async function artifactListing(store: SqliteStore, runId: string, path: string): Promise<string> {
  const { files, refused } = await store.artifactListing(runId, path);
  if (files.length === 0 && refused.length === 0) return '<p class="muted">No artifacts.</p>';
  const rows = files.map((f) => {
    const link = href(`/runs/${encodeURIComponent(runId)}/artifacts`, { path: f.path });
    return `<tr><td><a href="${esc(link)}">${esc(f.path)}${f.isDir ? '/' : ''}</a></td><td class="num">${f.isDir ? '' : esc(f.fileSize ?? '')}</td></tr>`;
  });
  const refusedRows = refused.map((r) => `<tr class="refused"><td>${esc(r.path)} <span class="muted">— not served: ${esc(r.reason)}</span></td><td></td></tr>`);
  const zip = href('/get-artifact-archive', { run_id: runId, path });
  return `<table id="artifacts"><tr><th>Path</th><th>Bytes</th></tr>${rows.join('')}${refusedRows.join('')}</table>
    ${files.length > 0 ? `<p><a id="download-folder" href="${esc(zip)}">download ${path ? esc(path) : 'all artifacts'} as .zip</a></p>` : ''}`;
}

export async function artifactPage(store: SqliteStore, runId: string, path: string): Promise<string> {
  const run = await store.getRun(runId);
  const experiment = await store.getExperiment(run.info.experimentId);
  const crumbs: [string, string?][] = [
    ['Experiments', '/'],
    [experiment.name, `/experiments/${encodeURIComponent(experiment.experimentId)}`],
    [run.info.runName, `/runs/${encodeURIComponent(runId)}`],
    [path || 'artifacts'],
  ];
  const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
  const up = `<p><a href="${esc(href(`/runs/${encodeURIComponent(runId)}/artifacts`, { path: parent }))}">⬑ ${esc(parent || 'artifact root')}</a></p>`;
  const listing = await store.listArtifacts(runId, path);
  const isFile = path !== '' && !(listing.length > 0 || (await isDirectory(store, runId, path)));
  if (!isFile) return page(path || 'Artifacts', crumbs, `<h1>${esc(path || 'Artifacts')}</h1>${path ? up : ''}${await artifactListing(store, runId, path)}`);
  const raw = href('/get-artifact', { run_id: runId, path });
  const bytes = await store.readArtifact(runId, path);
  let view: string;
  switch (artifactKindOf(path)) {
    case 'image':
      view = `<img class="artifact" id="artifact-image" src="${esc(raw)}" alt="${esc(path)}">`;
      break;
    case 'parquet': {
      let t;
      try {
        t = previewParquet(bytes, PARQUET_ROWS, path);
      } catch (err) {
        view = `<div class="error">${esc((err as Error).message)}</div>`;
        break;
      }
      const head = t.columns.map((c) => `<th>${esc(c.name)}<br><span class="muted">${esc(c.type)}</span></th>`).join('');
      const rows = t.rows.map((r) => `<tr>${r.map((v) => `<td class="num">${esc(v)}</td>`).join('')}</tr>`).join('');
      const shown = t.totalRows > t.rows.length ? `first ${t.rows.length} of ${t.totalRows} rows` : `${t.totalRows} rows`;
      view = `<p class="muted">${shown}</p><table id="parquet-table"><thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table>`;
      break;
    }
    case 'text': {
      const text = Buffer.from(bytes.subarray(0, TEXT_BYTES)).toString('utf8');
      view = `<pre id="artifact-text">${esc(text)}${bytes.length > TEXT_BYTES ? '\n…' : ''}</pre>`;
      break;
    }
    default:
      view = `<p>${bytes.length} bytes of ${esc(contentTypeOf(path))}.</p>`;
  }
  return page(path, crumbs, `<h1>${esc(path)}</h1>${up}<p><a id="download" href="${esc(href('/get-artifact', { run_id: runId, path, download: '1' }))}" download="${esc(path.split('/').at(-1))}">download</a></p>${view}`);
}

async function isDirectory(store: SqliteStore, runId: string, path: string): Promise<boolean> {
  const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
  const { files, refused } = await store.artifactListing(runId, parent);
  const entry = files.find((f) => f.path === path);
  if (entry) return entry.isDir;
  const why = refused.find((r) => r.path === path);
  if (why) throw new InvalidParameterError(`artifact '${path}' of run ${runId} is not served: ${why.reason}`);
  throw new NotFoundError(`run ${runId} has no artifact '${path}'`);
}

export async function rawArtifact(store: SqliteStore, runId: string, path: string, download = false): Promise<Rendered> {
  // Artifacts are user data: never let one run script in the tracker's origin.
  const headers = { 'Content-Security-Policy': 'sandbox', 'Content-Disposition': contentDispositionOf(path, download ? 'attachment' : 'inline') };
  return { status: 200, contentType: contentTypeOf(path), body: await store.readArtifact(runId, path), headers };
}
