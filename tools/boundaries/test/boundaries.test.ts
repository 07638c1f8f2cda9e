import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { checkBoundaries, importSpecifiers } from '../src/check.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

describe('import boundaries of this workspace', () => {
  it('no package, app, tool or study imports what its kind may not (package.json and every import)', () => {
    const r = checkBoundaries(repo);
    expect(r.errors).toEqual([]);
    expect(r.violations.map((v) => `${v.where}: ${v.message} (${v.target})`)).toEqual([]);
    expect(r.checkedFiles).toBeGreaterThan(100);
  });

  it('no package depends on an app, a tool or a study', () => {
    const r = checkBoundaries(repo);
    expect(r.violations.filter((v) => v.project.startsWith('@difflab/') && v.message.startsWith('library'))).toEqual([]);
  });
});

describe('the checker', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'boundaries-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const project = (dir: string, name: string, tag: string, deps: Record<string, string> = {}, files: Record<string, string> = {}) => {
    mkdirSync(join(tmp, dir, 'src'), { recursive: true });
    writeFileSync(join(tmp, dir, 'package.json'), JSON.stringify({ name, dependencies: deps, nx: { tags: [tag] } }));
    for (const [f, text] of Object.entries(files)) writeFileSync(join(tmp, dir, f), text);
  };

  // Fixture sources are assembled so that this file's own text holds no import of another project.
  const q = "'";
  it('finds a forbidden package.json dependency, package import and relative import', () => {
    project('packages/lib', '@x/lib', 'type:library', { '@x/app': '*' }, { 'src/a.ts': `import { x } from ${q}@x/app${q};\nexport const y = 1;\n` });
    project('apps/app', '@x/app', 'type:app', {}, { 'src/index.ts': `import { t } from ${q}../../../tools/tool/src/t.js${q};\nexport { t };\n` });
    project('apps/cli', '@x/cli', 'type:app', { '@x/app': '*' }, { 'src/main.ts': `const m = await import(${q}@x/app${q});\n` });
    project('tools/tool', '@x/tool', 'type:tool', { '@x/lib': '*' }, { 'src/t.ts': "export const t = 1;\n" });
    project('experiments/study', 'study', 'type:study', {}, { 'study.ts': `import ${q}@x/lib${q};\nexport * from ${q}../../apps/app/src/index.js${q};\n` });
    const r = checkBoundaries(tmp, '@x/cli');
    // @x/cli → @x/app is the umbrella exception; @x/tool → @x/lib is allowed.
    expect(r.violations.map((v) => `${v.where} ${v.target}`).sort()).toEqual([
      'apps/app/src/index.ts:1 ../../../tools/tool/src/t.js',
      'experiments/study/study.ts:2 ../../apps/app/src/index.js',
      'packages/lib/package.json dependencies @x/app',
      'packages/lib/src/a.ts:1 @x/app',
    ]);
    expect(r.violations[0]!.message).toMatch(/may not depend on/);
    writeFileSync(join(tmp, 'tools/tool/package.json'), JSON.stringify({ name: '@x/tool', nx: { tags: ['type:library'] } }));
    expect(checkBoundaries(tmp, '@x/cli').errors).toEqual(['tools/tool/package.json: nx.tags type:library contradicts its directory tools/ (type:tool)']);
  });

  it('reads static, dynamic, side-effect and re-export specifiers with their lines', () => {
    expect(importSpecifiers("import a from 'a';\nexport { b } from \"b\";\nawait import('c');\nimport 'd';\nconst e = require('e');")).toEqual([
      { specifier: 'a', line: 1 },
      { specifier: 'b', line: 2 },
      { specifier: 'c', line: 3 },
      { specifier: 'd', line: 4 },
      { specifier: 'e', line: 5 },
    ]);
  });
});
