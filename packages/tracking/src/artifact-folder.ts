import { randomUUID } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, realpathSync, renameSync, rmSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { isAbsolute, join, posix, relative, sep } from 'node:path';
import type { ArtifactListing, FileInfo, RefusedArtifact } from './entities.js';
import { InvalidParameterError, NotFoundError, TrackingError } from './errors.js';

/** Files being written carry this in their name until renamed into place; listings skip them. */
export const TEMP_MARK = '.tmp-';

const errnoOf = (err: unknown) => (err as NodeJS.ErrnoException | undefined)?.code;

/** `real` is `root` or lies below it (both real paths). */
function isInside(real: string, root: string): boolean {
  const rel = relative(root, real);
  return rel === '' || (!isAbsolute(rel) && rel !== '..' && !rel.startsWith(`..${sep}`));
}

/** Rejects artifact paths that could escape the folder lexically; returns the normalised path ('' for the folder itself). */
export function checkArtifactPath(path: string): string {
  if (typeof path !== 'string') throw new InvalidParameterError(`invalid artifact path ${JSON.stringify(path)}: expected a string`);
  const norm = posix.normalize(path.replace(/^\/+/, '')).replace(/\/+$/, '');
  if (path.startsWith('/') || norm.startsWith('..') || path.split('/').includes('..') || path.includes('\0')) {
    throw new InvalidParameterError(`invalid artifact path '${path.replace(/\0/g, '\\0')}': use a relative path without '..' segments`);
  }
  return norm === '.' ? '' : norm;
}

/**
 * A folder artifacts are confined to: a run's `artifacts/`, or the store's artifact root for the
 * MLflow proxy's paths outside any run. Every path is resolved to its real path (symbolic links
 * followed) and must stay inside the folder's own real path, for reading, listing and writing; the
 * folder itself must resolve inside the store's artifact root. A link whose target stays inside is
 * followed; one that leads out, dangles or loops is refused (left out of listings, reported in
 * `refused`). Errors name paths relative to the folder, never the server's absolute paths.
 *
 * The checks see the links present when a request is served; the store does not defend against a
 * local user who swaps a checked folder for a link while a request is in flight.
 */
export class ArtifactFolder {
  constructor(
    /** Real path of the store's artifact root: the folder must resolve inside it. */
    private readonly storeRoot: string,
    /** The folder relative to `storeRoot`, '/'-separated, already checked ('' is the root itself). */
    private readonly relDir: string,
    /** How errors name the folder's owner, e.g. `run 0123…`. */
    private readonly owner: string,
  ) {}

  private refused(path: string, why: string): TrackingError {
    return new InvalidParameterError(`artifact '${path || '/'}' of ${this.owner} is not served: ${why}`);
  }

  /** The folder's real path, or undefined while it does not exist. */
  private realRoot(): string | undefined {
    let real: string;
    try {
      real = realpathSync(join(this.storeRoot, this.relDir));
    } catch (err) {
      if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') return undefined;
      if (errnoOf(err) === 'ELOOP') throw this.refused('', 'its artifact folder is a symbolic-link loop');
      throw err;
    }
    if (!isInside(real, this.storeRoot)) throw this.refused('', "its artifact folder is a symbolic link leading outside the store's artifacts");
    return real;
  }

  /** Real path of `path` (checked) inside the folder; undefined when it does not exist. */
  private resolve(path: string): { root: string; real: string } | undefined {
    const root = this.realRoot();
    if (root === undefined) return undefined;
    let real: string;
    try {
      real = realpathSync(join(root, path));
    } catch (err) {
      // A dangling link, or a name under something that is no folder, is simply not there.
      if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') return undefined;
      if (errnoOf(err) === 'ELOOP') throw this.refused(path, 'it is a symbolic-link loop');
      throw err;
    }
    if (!isInside(real, root)) throw this.refused(path, 'it is a symbolic link (or lies under one) leading outside the artifact folder');
    return { root, real };
  }

  /** The file to read for `path`, with its size; NotFoundError when there is no such file. */
  fileToRead(path: string): { file: string; size: number } {
    const found = path === '' ? undefined : this.resolve(path);
    const st = found && statSync(found.real, { throwIfNoEntry: false });
    if (!found || !st?.isFile()) throw new NotFoundError(`${this.owner} has no artifact file '${path || '/'}'`);
    return { file: found.real, size: st.size };
  }

  /** The entries of folder `path` ('' for the top): files and folders served, and those refused. A missing folder lists as empty, as in MLflow. */
  list(path: string): ArtifactListing {
    const found = this.resolve(path);
    const listing: ArtifactListing = { files: [], refused: [] };
    if (!found || !statSync(found.real, { throwIfNoEntry: false })?.isDirectory()) return listing;
    let names: string[];
    try {
      names = readdirSync(found.real);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return listing;
      throw err;
    }
    for (const name of names.filter((n) => !n.includes(TEMP_MARK)).sort()) {
      const rel = path ? `${path}/${name}` : name;
      const entry = this.entryOf(join(found.real, name), rel, found.root);
      if ('reason' in entry) listing.refused.push(entry);
      else listing.files.push(entry);
    }
    return listing;
  }

  private entryOf(abs: string, rel: string, root: string): FileInfo | RefusedArtifact {
    let st: Stats;
    try {
      st = lstatSync(abs);
      if (st.isSymbolicLink()) {
        const target = realpathSync(abs);
        if (!isInside(target, root)) return { path: rel, reason: 'symbolic link leading outside the artifact folder' };
        st = statSync(target);
      }
    } catch (err) {
      const code = errnoOf(err);
      return { path: rel, reason: code === 'ENOENT' ? 'dangling symbolic link' : code === 'ELOOP' ? 'symbolic-link loop' : `unreadable (${code ?? 'error'})` };
    }
    if (st.isDirectory()) return { path: rel, isDir: true };
    if (st.isFile()) return { path: rel, isDir: false, fileSize: st.size };
    return { path: rel, reason: 'neither a file nor a folder' };
  }

  /**
   * Where to write the file `path` (checked, non-empty): its parent folders are created inside the
   * folder, and an existing parent that is a link leading out (or dangling) is refused. The returned
   * path's folder is a real path, so writing there (temp file + rename) cannot leave the folder.
   */
  fileToWrite(path: string): string {
    if (path === '') throw new InvalidParameterError(`artifact path must name a file of ${this.owner}, got an empty path`);
    const root = this.makeFolders(this.storeRoot, this.relDir, '');
    const parent = this.makeFolders(root, posix.dirname(path) === '.' ? '' : posix.dirname(path), path);
    const target = join(parent, posix.basename(path));
    if (lstatSync(target, { throwIfNoEntry: false })?.isDirectory()) {
      throw new InvalidParameterError(`artifact '${path}' of ${this.owner} is a folder; write the file under another name`);
    }
    return target;
  }

  /** Writes `data` to `path` atomically (temp file + rename), inside the folder. */
  writeFile(path: string, data: Uint8Array): void {
    const target = this.fileToWrite(path);
    const tmp = `${target}${TEMP_MARK}${process.pid}-${randomUUID().slice(0, 8)}`;
    try {
      writeFileSync(tmp, data);
      renameSync(tmp, target);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
  }

  /** Creates `relDir` below the real folder `base` one segment at a time, each checked to resolve inside `base`; returns its real path. */
  private makeFolders(base: string, relDir: string, forPath: string): string {
    let cur = base;
    let shown = '';
    for (const segment of relDir.split('/').filter(Boolean)) {
      shown = shown ? `${shown}/${segment}` : segment;
      const next = join(cur, segment);
      try {
        mkdirSync(next);
      } catch (err) {
        if (errnoOf(err) !== 'EEXIST') throw err;
      }
      // `forPath` is '' while the run's own folder is made below the store's artifact root.
      const where = forPath ? `'${shown}', a parent of '${forPath}',` : `its artifact folder (at '${shown}' in the store)`;
      const outside = forPath ? 'the artifact folder' : "the store's artifacts";
      let real: string;
      try {
        real = realpathSync(next);
      } catch (err) {
        if (errnoOf(err) === 'ENOENT') throw this.refused(forPath, `${where} is a dangling symbolic link`);
        if (errnoOf(err) === 'ELOOP') throw this.refused(forPath, `${where} is a symbolic-link loop`);
        throw err;
      }
      if (!isInside(real, base)) throw this.refused(forPath, `${where} is a symbolic link leading outside ${outside}`);
      if (!statSync(real).isDirectory()) throw new InvalidParameterError(`artifact '${shown}' of ${this.owner} is a file, so it cannot hold '${forPath}'; choose another path`);
      cur = real;
    }
    return cur;
  }
}
