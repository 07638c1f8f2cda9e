import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { DatasetNotFoundError } from '../errors.js';
import { fashionMnistManifest } from './manifest.js';

export type SourceKind = 'explicit' | 'env' | 'debian' | 'cache';

export interface FashionMnistSource {
  kind: SourceKind;
  dir: string;
}

export interface ResolveOptions {
  /** Use exactly this directory (highest priority). */
  dir?: string;
  /** Environment to read DIFFLAB_DATA_DIR / XDG_CACHE_HOME from (default process.env). */
  env?: Record<string, string | undefined>;
  /** Debian's install directory (default from the manifest); tests point it elsewhere. */
  systemDir?: string;
  /** Cache directory filled by `apt-get download` (default $XDG_CACHE_HOME/difflab/datasets/fashion-mnist). */
  cacheDir?: string;
  /** Fetch the Debian package into the cache when no source has the files (default true). */
  download?: boolean;
}

export function defaultCacheDir(env: Record<string, string | undefined> = process.env): string {
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'difflab', 'datasets', 'fashion-mnist');
}

/** Path of each manifest file in `dir` (`<name>.gz` preferred over plain `<name>`), or null when absent. */
export function findFiles(dir: string): Map<string, string | null> {
  const found = new Map<string, string | null>();
  for (const f of fashionMnistManifest.files) {
    const gz = join(dir, `${f.name}.gz`);
    const plain = join(dir, f.name);
    found.set(f.name, existsSync(gz) ? gz : existsSync(plain) ? plain : null);
  }
  return found;
}

function isComplete(dir: string): boolean {
  return [...findFiles(dir).values()].every((p) => p !== null);
}

/**
 * Picks the directory to read: an explicit `dir`, else $DIFFLAB_DATA_DIR/fashion-mnist (both taken
 * as the user's choice even when incomplete, so a typo fails loudly instead of silently reading
 * another copy), else Debian's install dir, else the cache — filled from Debian if allowed.
 */
export function resolveFashionMnist(opts: ResolveOptions = {}): FashionMnistSource {
  const env = opts.env ?? process.env;
  if (opts.dir) return { kind: 'explicit', dir: opts.dir };
  if (env.DIFFLAB_DATA_DIR) return { kind: 'env', dir: join(env.DIFFLAB_DATA_DIR, 'fashion-mnist') };
  const systemDir = opts.systemDir ?? fashionMnistManifest.source.installedDir;
  if (isComplete(systemDir)) return { kind: 'debian', dir: systemDir };
  const cacheDir = opts.cacheDir ?? defaultCacheDir(env);
  if (isComplete(cacheDir)) return { kind: 'cache', dir: cacheDir };
  if (opts.download ?? true) {
    acquireFromDebian(cacheDir);
    return { kind: 'cache', dir: cacheDir };
  }
  throw new DatasetNotFoundError(
    `Fashion-MNIST not found in ${systemDir} or ${cacheDir}. Fix: apt-get install ${fashionMnistManifest.source.debianPackage}, ` +
      `or run 'difflab data fetch fashion-mnist' to fill the cache from Debian, or set DIFFLAB_DATA_DIR to a directory whose fashion-mnist/ holds the four IDX files.`,
  );
}

/**
 * Fills `cacheDir` from the Debian package without root: `apt-get download` fetches the .deb into
 * a temp dir next to the cache and `dpkg-deb -x` unpacks it; the rename makes the cache appear whole or not at all.
 */
export function acquireFromDebian(cacheDir: string): void {
  const pkg = fashionMnistManifest.source.debianPackage;
  mkdirSync(dirname(cacheDir), { recursive: true });
  const tmp = mkdtempSync(join(dirname(cacheDir), '.fashion-mnist-download-'));
  try {
    run('apt-get', ['download', pkg], tmp);
    const deb = readdirSync(tmp).find((f) => f.endsWith('.deb'));
    if (!deb) throw new DatasetNotFoundError(`apt-get download ${pkg} produced no .deb in ${tmp}`);
    run('dpkg-deb', ['-x', join(tmp, deb), join(tmp, 'root')], tmp);
    const unpacked = join(tmp, 'root', fashionMnistManifest.source.installedDir);
    if (!isComplete(unpacked)) {
      throw new DatasetNotFoundError(`${pkg}.deb does not contain the four IDX files under ${fashionMnistManifest.source.installedDir}`);
    }
    rmSync(cacheDir, { recursive: true, force: true });
    renameSync(unpacked, cacheDir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function run(cmd: string, args: string[], cwd: string): void {
  try {
    execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { code?: string; stderr?: Buffer };
    const detail = e.code === 'ENOENT' ? `${cmd} is not installed` : (e.stderr?.toString().trim() ?? String(err));
    throw new DatasetNotFoundError(
      `could not fetch Fashion-MNIST from Debian (${cmd} ${args.join(' ')}: ${detail}). ` +
        `Fix: set DIFFLAB_DATA_DIR to a directory whose fashion-mnist/ holds the four IDX files.`,
    );
  }
}
