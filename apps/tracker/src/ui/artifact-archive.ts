import { InvalidParameterError, NotFoundError, type SqliteStore } from '@difflab/tracking';
import { zipArchive, type ZipEntry } from '../zip-archive.js';
import { contentDispositionOf } from './content-type.js';
import type { Rendered } from './routes.js';

/** The archive is built in memory: past this, a folder is better fetched file by file (or with the MLflow CLI). */
const MAX_ARCHIVE_BYTES = 512 * 1024 * 1024;
/** Symbolic links inside a run's folder are followed, so two of them can form a loop: the walk stops this deep. */
const MAX_DEPTH = 32;

/** `/get-artifact-archive?run_id=…&path=dir`: a run's artifact folder (or all its artifacts) as one .zip. */
export async function artifactArchive(store: SqliteStore, runId: string, path: string): Promise<Rendered> {
  const run = await store.getRun(runId);
  const entries: ZipEntry[] = [];
  let total = 0;
  // Names inside the archive are built from each entry's own name, relative to the folder asked for.
  const walk = async (dir: string, inArchive: string, depth: number) => {
    if (depth > MAX_DEPTH) {
      throw new InvalidParameterError(`artifacts under '${path || '/'}' nest more than ${MAX_DEPTH} folders deep (a loop of symbolic links?); download a subfolder or single files`);
    }
    for (const f of await store.listArtifacts(runId, dir)) {
      if (f.isDir) {
        await walk(f.path, `${inArchive}${f.path.split('/').at(-1)}/`, depth + 1);
        continue;
      }
      total += f.fileSize ?? 0;
      if (total > MAX_ARCHIVE_BYTES) {
        throw new InvalidParameterError(`artifacts under '${path || '/'}' exceed ${MAX_ARCHIVE_BYTES >> 20} MiB; download a subfolder or single files`);
      }
      entries.push({ name: `${inArchive}${f.path.split('/').at(-1)}`, data: await store.readArtifact(runId, f.path) });
    }
  };
  await walk(path, '', 0);
  if (entries.length === 0) throw new NotFoundError(`run ${runId} has no artifacts under '${path || '/'}'`);
  const base = path.split('/').filter(Boolean).at(-1) ?? `${run.info.runName}-artifacts`;
  let body: Buffer;
  try {
    body = zipArchive(entries);
  } catch (err) {
    // The format's limits (65,535 entries): the request must ask for less.
    throw new InvalidParameterError((err as Error).message);
  }
  return {
    status: 200,
    contentType: 'application/zip',
    body,
    headers: { 'Content-Disposition': contentDispositionOf(`${base}.zip`, 'attachment') },
  };
}
