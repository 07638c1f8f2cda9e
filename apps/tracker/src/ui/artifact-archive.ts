import { InvalidParameterError, NotFoundError, type SqliteStore } from '@difflab/tracking';
import { zipArchive, type ZipEntry } from '../zip-archive.js';
import { contentDispositionOf } from './content-type.js';
import type { Rendered } from './routes.js';

/** The archive is built in memory: past this, a folder is better fetched file by file (or with the MLflow CLI). */
const MAX_ARCHIVE_BYTES = 512 * 1024 * 1024;

/** `/get-artifact-archive?run_id=…&path=dir`: a run's artifact folder (or all its artifacts) as one .zip. */
export async function artifactArchive(store: SqliteStore, runId: string, path: string): Promise<Rendered> {
  const run = await store.getRun(runId);
  const entries: ZipEntry[] = [];
  let total = 0;
  const prefix = path ? `${path}/` : '';
  const walk = async (dir: string) => {
    for (const f of await store.listArtifacts(runId, dir)) {
      if (f.isDir) {
        await walk(f.path);
        continue;
      }
      total += f.fileSize ?? 0;
      if (total > MAX_ARCHIVE_BYTES) {
        throw new InvalidParameterError(`artifacts under '${path || '/'}' exceed ${MAX_ARCHIVE_BYTES >> 20} MiB; download a subfolder or single files`);
      }
      entries.push({ name: f.path.slice(prefix.length), data: await store.readArtifact(runId, f.path) });
    }
  };
  await walk(path);
  if (entries.length === 0) throw new NotFoundError(`run ${runId} has no artifacts under '${path || '/'}'`);
  const base = path ? path.split('/').at(-1)! : `${run.info.runName}-artifacts`;
  return {
    status: 200,
    contentType: 'application/zip',
    body: zipArchive(entries),
    headers: { 'Content-Disposition': contentDispositionOf(`${base}.zip`, 'attachment') },
  };
}
