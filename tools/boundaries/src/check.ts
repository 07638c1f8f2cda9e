import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

/**
 * Import boundaries between the workspace's kinds of project, read from each package.json's `nx.tags`:
 *   library (packages/*) → libraries only;
 *   app (apps/*)         → libraries; the umbrella apps/cli also the apps' command modules (it dispatches to them);
 *   study (experiments/*) → libraries only (apps only through the CLI, which they run as a command);
 *   tool (tools/*)       → libraries.
 * Checked on package.json dependencies and on every import specifier of the project's .ts files.
 */
export type Kind = 'library' | 'app' | 'tool' | 'study';

export interface Project {
  name: string;
  /** Absolute. */
  root: string;
  kind: Kind;
  /** Whether its package.json carries the type tag. */
  tagged: boolean;
}

export interface Violation {
  project: string;
  /** package.json, or the file (relative to the workspace) and line of the import. */
  where: string;
  target: string;
  message: string;
}

/** The one exception: the umbrella CLI dispatches to the apps' commands. */
export const UMBRELLA = '@difflab/cli';

export function allowed(from: Project, to: Project, umbrella = UMBRELLA): boolean {
  if (from.name === to.name) return true;
  if (to.kind === 'library') return true;
  return from.kind === 'app' && to.kind === 'app' && from.name === umbrella;
}

/** A project's kind follows from its directory; its `nx.tags` type tag (what `nx … -p tag:type:study` selects) must agree. */
const KIND_OF_DIR: Record<string, Kind> = { packages: 'library', apps: 'app', tools: 'tool', experiments: 'study' };
const KIND_OF_TAG: Record<string, Kind> = { 'type:library': 'library', 'type:app': 'app', 'type:tool': 'tool', 'type:study': 'study' };

/** Every project with a package.json under packages/, apps/, tools/, experiments/; a type tag that contradicts its directory is an error. */
export function findProjects(workspaceRoot: string): { projects: Project[]; errors: string[] } {
  const projects: Project[] = [];
  const errors: string[] = [];
  for (const [top, kind] of Object.entries(KIND_OF_DIR)) {
    const dir = join(workspaceRoot, top);
    if (!existsSync(dir)) continue;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const pkgPath = join(dir, e.name, 'package.json');
      if (!e.isDirectory() || !existsSync(pkgPath)) continue;
      const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { name: string; nx?: { tags?: string[] } };
      const tagged = (pkg.nx?.tags ?? []).filter((t) => t in KIND_OF_TAG);
      if (tagged.some((t) => KIND_OF_TAG[t] !== kind)) errors.push(`${relative(workspaceRoot, pkgPath)}: nx.tags ${tagged.join(', ')} contradicts its directory ${top}/ (type:${kind})`);
      projects.push({ name: pkg.name, root: join(dir, e.name), kind, tagged: tagged.length > 0 });
    }
  }
  return { projects, errors };
}

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)['"]([^'"]+)['"]/g;

/** The import specifiers of a source text with their 1-based lines (static, dynamic with a literal, re-exports, require). */
export function importSpecifiers(text: string): { specifier: string; line: number }[] {
  const out: { specifier: string; line: number }[] = [];
  for (const m of text.matchAll(SPECIFIER)) out.push({ specifier: m[1]!, line: text.slice(0, m.index).split('\n').length });
  return out;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.name === 'node_modules' || e.name.startsWith('.') || e.name === 'runs' || e.name === 'results') return [];
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return /\.(ts|mts|cts|js|mjs|cjs)$/.test(e.name) ? [p] : [];
  });
}

/** The project a path lies in (the deepest root containing it), if any. */
function owner(projects: Project[], path: string): Project | undefined {
  return projects.filter((p) => path === p.root || path.startsWith(p.root + sep)).sort((a, b) => b.root.length - a.root.length)[0];
}

export function checkBoundaries(workspaceRoot: string, umbrella = UMBRELLA): { violations: Violation[]; errors: string[]; checkedFiles: number; untagged: string[] } {
  const { projects, errors } = findProjects(workspaceRoot);
  const byName = new Map(projects.map((p) => [p.name, p]));
  const violations: Violation[] = [];
  let checkedFiles = 0;
  const forbid = (from: Project, to: Project, where: string, target: string) => {
    if (allowed(from, to, umbrella)) return;
    violations.push({ project: from.name, where, target, message: `${from.kind} ${from.name} may not depend on ${to.kind} ${to.name}` });
  };
  for (const p of projects) {
    const pkg = JSON.parse(readFileSync(join(p.root, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
    for (const field of ['dependencies', 'devDependencies', 'peerDependencies', 'optionalDependencies']) {
      for (const dep of Object.keys(pkg[field] ?? {})) {
        const to = byName.get(dep);
        if (to) forbid(p, to, `${relative(workspaceRoot, join(p.root, 'package.json'))} ${field}`, dep);
      }
    }
    for (const file of sourceFiles(p.root)) {
      if (owner(projects, file) !== p) continue; // a nested project's file is checked as that project's
      checkedFiles++;
      for (const { specifier, line } of importSpecifiers(readFileSync(file, 'utf8'))) {
        const where = `${relative(workspaceRoot, file)}:${line}`;
        if (specifier.startsWith('.')) {
          const target = resolve(dirname(file), specifier);
          if (target === p.root || target.startsWith(p.root + sep)) continue;
          const to = owner(projects, target);
          if (to) forbid(p, to, where, specifier);
          else violations.push({ project: p.name, where, target: specifier, message: `relative import leaves ${p.name} for a path in no project` });
          continue;
        }
        const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
        const to = byName.get(name);
        if (to) forbid(p, to, where, specifier);
      }
    }
  }
  return { violations, errors, checkedFiles, untagged: projects.filter((p) => !p.tagged).map((p) => p.name).sort() };
}
