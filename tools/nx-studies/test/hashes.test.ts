import { execFileSync } from 'node:child_process';
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Cache keys from Nx's own task hashes, in a copy of this workspace (tracked and untracked-but-not-ignored
 * files, node_modules linked, daemon off, cache and workspace data inside the copy): edit a file, hash again.
 */
const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const hashScript = join(dirname(fileURLToPath(import.meta.url)), 'task-hashes.cjs');
let ws: string;

function copyWorkspace(): string {
  const dir = mkdtempSync(join(tmpdir(), 'nx-hashes-'));
  const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: repo, encoding: 'utf8', maxBuffer: 1 << 28 }).split('\0').filter(Boolean);
  for (const f of files) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    try {
      copyFileSync(join(repo, f), join(dir, f));
    } catch (e) {
      // A file git still lists but that was deleted in the working tree is not part of the workspace.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

/** Every cacheable task's hash, as `nx run` would compute it now. */
function hashes(): Record<string, string> {
  const out = execFileSync(process.execPath, [hashScript], {
    cwd: ws,
    encoding: 'utf8',
    maxBuffer: 1 << 26,
    env: { ...process.env, NX_DAEMON: 'false', NX_CACHE_DIRECTORY: join(ws, '.nx', 'cache'), NX_WORKSPACE_DATA_DIRECTORY: join(ws, '.nx', 'workspace-data'), NX_NO_CLOUD: 'true' },
  });
  return JSON.parse(out) as Record<string, string>;
}

const comment = (file: string) => appendFileSync(join(ws, file), '\n// a comment that changes no behaviour\n');
const changed = (a: Record<string, string>, b: Record<string, string>) => Object.keys(a).filter((t) => a[t] !== b[t]).sort();

/** The tasks that train a model: their result follows the training code and nothing else. */
const isTraining = (task: string) =>
  /^unet-pruning-[\w-]+:(baseline|retrain|apply)$/.test(task) || /^(dit-scaling|recipe-ladder)-[\w-]+:train$/.test(task) || ['dit-fmnist:train', 'fmnist-featurenet:train', 'spoken-digits:train-embedder'].includes(task);

let base: Record<string, string>;
beforeAll(() => {
  ws = copyWorkspace();
  base = hashes();
}, 120_000);
afterAll(() => rmSync(ws, { recursive: true, force: true }));

describe('Nx task hashes', () => {
  it('hash every stage of every preset, and every run of the sweep', () => {
    for (const t of ['unet-pruning-smoke:baseline', 'unet-pruning-full:table', 'unet-pruning-audio-smoke:eval', 'dit-scaling-smoke:table', 'dit-scaling-smoke-c9e9-w32-d2:train', 'dit-scaling-full-c5e11-w24-d2:evaluate', 'dit-fmnist:train']) {
      expect(base[t], t).toMatch(/^\d+$/);
    }
    expect(Object.keys(base).filter(isTraining).length).toBeGreaterThan(40);
  });

  it("one preset's settings change its own tasks only; every other preset keeps its cache", () => {
    const edit = (file: string, change: (json: Record<string, any>) => void) => {
      const original = readFileSync(join(ws, file), 'utf8');
      const json = JSON.parse(original) as Record<string, any>;
      change(json);
      writeFileSync(join(ws, file), JSON.stringify(json, null, 2));
      return () => writeFileSync(join(ws, file), original);
    };
    // A pruning preset file, and one preset of the sweep (whose presets share sweep.json), in one graph.
    const restore = [
      edit('experiments/unet-pruning/presets/smoke/score.json', (s) => (s.ldPruner.noises += 1)),
      edit('experiments/dit-scaling/sweep.json', (s) => (s.presets.smoke.overrides.eval.heldoutExamples += 1)),
    ];
    const after = hashes();
    for (const r of restore) r();
    const smokeRuns = Object.keys(base).filter((t) => /^dit-scaling-smoke-c[\w-]+:(train|evaluate)$/.test(t));
    expect(smokeRuns).toHaveLength(18);
    // The pruning stages after score read its outputs, so they rerun when those change (not on the settings file).
    // A sweep run's evaluate changes with its train: Nx hashes a project's whole configuration into each of its tasks.
    // (The dit-scaling project's own typecheck/test read sweep.json too, as source files; they are not study tasks.)
    const studyTasks = (t: string) => !/:(typecheck|test)$/.test(t);
    expect(changed(base, after).filter(studyTasks)).toEqual(['dit-scaling-smoke:gather', 'dit-scaling-smoke:table', ...smokeRuns, 'unet-pruning-smoke:score'].sort());
  }, 120_000);

  it('a tracker UI or scaling-law change leaves every training task cached; a model change retrains', () => {
    comment('apps/tracker/src/ui/html.ts');
    comment('apps/scaling-law-fitter/src/index.ts');
    comment('packages/scaling-laws/src/index.ts');
    const unrelated = hashes();
    const moved = changed(base, unrelated);
    expect(moved.filter(isTraining)).toEqual([]);
    // Only analysis stages run the scaling-law code (tables, fits, plots; the example study's snr stage is one),
    // besides the typecheck/test tasks of the edited projects and of the projects that depend on them.
    const analysis = /^(unet-pruning-[\w-]+:table|dit-scaling-(smoke|full|pilot):(gather|table)|(recipe-ladder|repa|adapt-new-class|erase-class)-(smoke|full|full-flow):table|example-smoke:(snr|table))$/;
    expect(moved.filter((t) => !analysis.test(t) && !/:(typecheck|test)$/.test(t))).toEqual([]);
    expect(moved).toContain('dit-scaling-smoke:table');

    comment('packages/models/src/dit/dit.ts');
    const model = hashes();
    const training = Object.keys(base).filter(isTraining);
    expect(training.filter((t) => model[t] === unrelated[t])).toEqual([]);
    // The numbers behind the claim, for the test log.
    console.log(`${Object.keys(base).length} cacheable tasks, ${training.length} training tasks; unrelated edits re-keyed ${moved.length} (none training), the model edit re-keyed all ${training.length} training tasks`);
  }, 180_000);
});
