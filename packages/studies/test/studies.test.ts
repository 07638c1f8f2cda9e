import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunHandle, StartRunOptions, Tracker } from '@difflab/tracking';
import { canonicalJson, defineStudy, fingerprint, runStudy, stageOrder, StudyDefinitionError, StudyRunError, taggedTracker, type Stage, type Study } from '../src/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'studies-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A stage that records that it ran (and the context it got) in `log`. */
const stage = (log: string[], deps: string[] = []): Stage => ({
  summary: 'test stage',
  dependsOn: deps,
  code: 'analysis',
  async run(ctx) {
    log.push(`${ctx.stage}${ctx.unit ? `@${ctx.unit.id}` : ''}`);
  },
});

function studyDir(presets: string[]): string {
  const dir = mkdtempSync(join(tmp, 'study-'));
  for (const p of presets) mkdirSync(join(dir, 'presets', p), { recursive: true });
  return dir;
}

describe('defineStudy', () => {
  it('rejects a dependency on an unknown stage, a cycle and a bad name, naming them', () => {
    const log: string[] = [];
    expect(() => defineStudy({ name: 's', summary: '', stages: { a: stage(log, ['b']) } })).toThrow("stage 'a' depends on unknown stage 'b'");
    expect(() => defineStudy({ name: 's', summary: '', stages: { a: stage(log, ['b']), b: stage(log, ['a']) } })).toThrow(/cycle: a → b → a/);
    expect(() => defineStudy({ name: 'S s', summary: '', stages: {} })).toThrow(StudyDefinitionError);
    expect(() => defineStudy({ name: 's', summary: '', stages: { all: stage(log) } })).toThrow(/not 'all'/);
    expect(() => defineStudy({ name: 's', summary: '', stages: { g: stage(log, ['each:x']) } })).toThrow("unknown stage 'each:x'");
  });

  it('orders stages after their dependencies', () => {
    const log: string[] = [];
    expect(stageOrder({ table: stage(log, ['eval']), eval: stage(log, ['train']), train: stage(log) })).toEqual(['train', 'eval', 'table']);
  });
});

describe('runStudy', () => {
  const log: string[] = [];
  const study: Study = defineStudy({
    name: 'toy',
    summary: '',
    fanOut: {
      noun: 'run',
      units: (_dir, preset) => [{ id: `${preset}-a`, fingerprints: { train: 'fa' } }, { id: `${preset}-b`, fingerprints: { train: 'fb' } }],
      stages: { train: stage(log), score: stage(log, ['train']) },
    },
    stages: { table: stage(log, ['gather']), gather: stage(log, ['each:train', 'each:score']) },
  });

  it('all: every unit’s stages in order, then the preset stages in order', async () => {
    log.length = 0;
    await runStudy(study, { workspaceRoot: tmp, studyDir: studyDir(['smoke']), preset: 'smoke', stage: 'all' });
    expect(log).toEqual(['train@smoke-a', 'score@smoke-a', 'train@smoke-b', 'score@smoke-b', 'gather', 'table']);
  });

  it('one unit of a fan-out stage; a stale fingerprint is refused', async () => {
    log.length = 0;
    const dir = studyDir(['smoke']);
    await runStudy(study, { workspaceRoot: tmp, studyDir: dir, preset: 'smoke', stage: 'train', unit: 'smoke-b', fingerprint: 'fb' });
    expect(log).toEqual(['train@smoke-b']);
    await expect(runStudy(study, { workspaceRoot: tmp, studyDir: dir, preset: 'smoke', stage: 'train', unit: 'smoke-b', fingerprint: 'old' })).rejects.toThrow(/project graph is stale/);
    await expect(runStudy(study, { workspaceRoot: tmp, studyDir: dir, preset: 'smoke', stage: 'train', unit: 'smoke-z' })).rejects.toThrow("no run 'smoke-z'; runs: smoke-a, smoke-b");
    await expect(runStudy(study, { workspaceRoot: tmp, studyDir: dir, preset: 'big', stage: 'all' })).rejects.toThrow(StudyRunError);
    await expect(runStudy(study, { workspaceRoot: tmp, studyDir: dir, preset: 'smoke', stage: 'fit' })).rejects.toThrow("no stage 'fit'; stages: train, score, table, gather, all");
  });

  it('hands each stage a tracker whose runs carry study, preset and stage (over the stage’s own tags)', async () => {
    const started: StartRunOptions[] = [];
    const fake = { kind: 'local', startRun: async (o: StartRunOptions = {}) => (started.push(o), {} as RunHandle), close: async () => undefined } as unknown as Tracker;
    const tagging: Study = defineStudy({
      name: 'tagging',
      summary: '',
      stages: {
        fit: {
          summary: '',
          code: 'analysis',
          async run(ctx) {
            await ctx.tracker!.startRun({ runName: 'r', tags: { stage: 'mine', method: 'x' } });
          },
        },
      },
    });
    await runStudy(tagging, { workspaceRoot: tmp, studyDir: studyDir(['p1']), preset: 'p1', stage: 'fit', tracker: fake });
    expect(started).toEqual([{ runName: 'r', tags: { stage: 'fit', method: 'x', study: 'tagging', preset: 'p1' } }]);
    expect(taggedTracker(fake, { a: 'b' }).kind).toBe('local');
  });
});

describe('fingerprint', () => {
  it('ignores key order and undefined fields; any value change changes it', () => {
    expect(canonicalJson({ b: 1, a: [1, { d: 2, c: undefined }] })).toBe('{"a":[1,{"d":2}],"b":1}');
    expect(fingerprint({ a: 1, b: 2 })).toBe(fingerprint({ b: 2, a: 1 }));
    expect(fingerprint({ a: 1, b: 2 })).not.toBe(fingerprint({ a: 1, b: 3 }));
    expect(fingerprint({ a: 1 })).toMatch(/^[0-9a-f]{16}$/);
  });
});
