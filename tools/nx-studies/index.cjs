// Nx local plugin: one Nx project per study preset, and one per unit of a fan-out study (e.g. a sweep's runs),
// inferred from experiments/*/study.ts. Nx loads plugins with require(), so this file is CommonJS; the study
// definitions and the project builder are TypeScript, loaded through tsx's tsImport (no build step).
const { createHash } = require('node:crypto');
const { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const { dirname, join, relative } = require('node:path');

let builder;
async function loadBuilder() {
  const { tsImport } = await import('tsx/esm/api');
  builder ??= await tsImport('./src/projects.ts', __filename);
  return { tsImport, builder };
}

/**
 * Everything a study's projects are computed from: every file of the study directory except its outputs (a study
 * may read any of its files, e.g. sweep.json or a preset's baseline.json), the study runner and this plugin, and
 * nx.json's named inputs. Loading the studies costs 1–2 s of tsx start-up; a hit on this key costs milliseconds.
 */
function cacheKey(workspaceRoot, files, namedInputs) {
  const h = createHash('sha256');
  const add = (dir) => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (['node_modules', 'runs', 'results', '.nx'].includes(e.name)) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) add(p);
      else if (e.isFile()) h.update(relative(workspaceRoot, p)).update('\0').update(readFileSync(p)).update('\0');
    }
  };
  for (const f of files) add(join(workspaceRoot, dirname(f)));
  for (const d of ['packages/studies/src', 'tools/nx-studies/src']) add(join(workspaceRoot, d));
  h.update(readFileSync(__filename)).update(JSON.stringify(namedInputs));
  return h.digest('hex').slice(0, 24);
}

function cacheFile(workspaceRoot, key) {
  const { workspaceDataDirectoryForWorkspace } = require('nx/src/utils/cache-directory');
  return join(workspaceDataDirectoryForWorkspace(workspaceRoot), 'nx-studies', `${key}.json`);
}

async function computeNodes(files, context) {
  const { tsImport, builder: b } = await loadBuilder();
  const codeProjects = b.codeProjects(context.nxJsonConfiguration.namedInputs ?? {}, context.workspaceRoot);
  const results = [];
  for (const file of files) {
    const mod = await tsImport(join(context.workspaceRoot, file), __filename);
    const study = mod.default?.default ?? mod.default;
    const projects = b.studyProjects(study, { studyDir: dirname(file), workspaceRoot: context.workspaceRoot, codeProjects });
    results.push([file, { projects: Object.fromEntries(projects.map((p) => [p.root, p])) }]);
  }
  return results;
}

exports.name = 'difflab-studies';
exports.createNodesV2 = [
  'experiments/*/study.ts',
  async (files, _options, context) => {
    const namedInputs = context.nxJsonConfiguration.namedInputs ?? {};
    let path;
    try {
      path = cacheFile(context.workspaceRoot, cacheKey(context.workspaceRoot, files, namedInputs));
      if (existsSync(path)) return JSON.parse(readFileSync(path, 'utf8'));
    } catch {
      path = undefined; // no cache: compute (below) and do not write one
    }
    const results = await computeNodes(files, context);
    if (path) {
      try {
        mkdirSync(dirname(path), { recursive: true });
        const tmp = `${path}.${process.pid}.tmp`;
        writeFileSync(tmp, JSON.stringify(results));
        renameSync(tmp, path);
        // Only the current key is worth keeping: an older one is a state of the study files that is gone.
        for (const f of readdirSync(dirname(path))) if (join(dirname(path), f) !== path && f.endsWith('.json')) rmSync(join(dirname(path), f), { force: true });
      } catch {
        // A cache that cannot be written only costs the next graph build its 1–2 s.
      }
    }
    return results;
  },
];
