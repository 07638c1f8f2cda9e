import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyOverrides, ConfigError, loadTrainConfig, loadTrainConfigWithOverrides, parseOverrides } from '../src/config.js';

const minimal = { model: { preset: 'DiT-FMNIST-S/4' }, train: { steps: 10, batchSize: 8, lr: 1e-4 } };

function configFile(content: unknown = minimal): string {
  const path = join(mkdtempSync(join(tmpdir(), 'overrides-')), 'cfg.json');
  writeFileSync(path, JSON.stringify(content));
  return path;
}

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('--set overrides', () => {
  it('parses values as JSON when they parse, else keeps the text', () => {
    const o = parseOverrides(['train.lr=3e-4', 'sample.useEma=false', 'model.preset=DiT-FMNIST-S/4', 'name="7"', 'x=[1,2]']);
    expect(o.map((x) => x.value)).toEqual([3e-4, false, 'DiT-FMNIST-S/4', '7', [1, 2]]);
    expect(o[0]).toEqual({ key: 'train.lr', value: 3e-4, spec: 'train.lr=3e-4' });
  });

  it('keeps everything after the first = as the value', () => {
    expect(parseOverrides(['name=a=b'])[0]!.value).toBe('a=b');
  });

  it('rejects specs without a key, with an empty segment, or aimed at the prototype', () => {
    for (const spec of ['train.lr', '=3', 'train..lr=1', '.lr=1', '__proto__.polluted=1']) {
      const e = errorOf(() => parseOverrides([spec]));
      expect(e).toBeInstanceOf(ConfigError);
      expect(e.message).toContain(`--set ${spec}`);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('writes at the dotted path, creating missing sections, without touching the input', () => {
    const raw = structuredClone(minimal);
    const out = applyOverrides(raw, parseOverrides(['train.lr=0.002', 'eval.heldoutExamples=20']), 'cfg.json') as typeof minimal & {
      eval: { heldoutExamples: number };
    };
    expect(out.train).toEqual({ steps: 10, batchSize: 8, lr: 0.002 });
    expect(out.eval).toEqual({ heldoutExamples: 20 });
    expect(raw).toEqual(minimal);
  });

  it('names the key and the file when a path runs through a non-object', () => {
    const e = errorOf(() => applyOverrides(minimal, parseOverrides(['train.lr.max=1']), 'cfg.json'));
    expect(e.message).toMatch(/--set train\.lr\.max=1: train\.lr in cfg\.json is 0\.0001, not an object/);
  });

  it('gives the same config as the file when there are no overrides, and the overridden one otherwise', () => {
    const path = configFile();
    expect(loadTrainConfigWithOverrides(path, [])).toEqual(loadTrainConfig(path));
    const c = loadTrainConfigWithOverrides(path, ['train.lr=0.002', 'seed=3', 'sample.sampler=ddpm']);
    expect(c.train.lr).toBe(0.002);
    expect(c.seed).toBe(3);
    expect(c.sample.sampler).toBe('ddpm');
    expect(c.train.steps).toBe(10);
  });

  it('validates an override like the file: the error names the field, the --set and the file', () => {
    const path = configFile();
    const e = errorOf(() => loadTrainConfigWithOverrides(path, ['train.lr=fast', 'seed=2']));
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toContain(path);
    expect(e.message).toMatch(/train\.lr: .*\(from --set train\.lr=fast\)/);
    expect(e.message).not.toMatch(/seed:/);
  });

  it('points an unknown key back at the --set that added it', () => {
    const e = errorOf(() => loadTrainConfigWithOverrides(configFile(), ['train.learningRate=1e-3']));
    expect(e.message).toMatch(/train: .*learningRate.*\(from --set train\.learningRate=1e-3\)/);
  });

  it('still reports a bad file with the file name', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'overrides-')), 'broken.json');
    writeFileSync(path, '{ not json');
    expect(errorOf(() => loadTrainConfigWithOverrides(path, ['seed=1'])).message).toMatch(/broken\.json is not valid JSON/);
    expect(errorOf(() => loadTrainConfigWithOverrides(configFile([1]), ['seed=1'])).message).toMatch(/--set needs a JSON object/);
  });
});
