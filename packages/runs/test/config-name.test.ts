import { describe, expect, it } from 'vitest';
import { ConfigError, parseTrainConfig } from '../src/config.js';

const minimal = { model: { preset: 'DiT-FMNIST-S/4' }, train: { steps: 10, batchSize: 8, lr: 1e-4 } };

describe('config name', () => {
  it.each(['..', '.', '...', 'a/b', '../escape', 'a\\b', '', 'a\0b', 'with space'])('refuses %j, naming the field and the fix', (name) => {
    let err: unknown;
    try {
      parseTrainConfig({ ...minimal, name }, 'cfg.json');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/cfg\.json[\s\S]*\bname: .*use letters, digits/);
  });

  it.each(['dit', 'dit-small.v2', 'a..b', '.hidden', 'run_3'])('accepts %j', (name) => {
    expect(parseTrainConfig({ ...minimal, name }).name).toBe(name);
  });
});
