// The finetune section as the schema checks it, before any file is read: each method's options only,
// init.from and a DiT required, newClass among the model's classes and trained by the data.
import { describe, expect, it } from 'vitest';
import { ConfigError, parseTrainConfig } from '../src/config.js';

const base = {
  model: { preset: 'DiT-FMNIST-S/4', depth: 2 },
  train: { steps: 3, batchSize: 4, lr: 1e-3 },
  init: { from: 'runs/base' },
};
const parse = (extra: Record<string, unknown>) => () => parseTrainConfig({ ...base, ...extra });

describe('finetune config', () => {
  it('takes each method with its own options and newClass; full is init.from with every weight trained', () => {
    const lora = parse({ finetune: { method: 'lora', rank: 4, alpha: 8, targets: ['attn.qkv'], newClass: 9 }, data: { classes: [9], perClass: 5 } })();
    expect(lora.finetune).toEqual({ method: 'lora', rank: 4, alpha: 8, targets: ['attn.qkv'], newClass: 9 });
    expect(lora.init).toEqual({ from: 'runs/base', weights: 'ema' });
    for (const ft of [{ method: 'houlsby', bottleneck: 8, initStd: 0.01 }, { method: 'prefix', length: 0 }, { method: 'svdiff', targets: ['mlp.fc1'] }, { method: 'full', newClass: 3 }]) {
      expect(parse({ finetune: ft })().finetune).toEqual(ft);
    }
  });

  it('refuses an option of another method, an unknown option or method, naming the field', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ method: 'lora', bottleneck: 8 }, /finetune\.bottleneck: is an option of method 'houlsby'; method 'lora' takes rank, alpha, targets \(and newClass\); remove it or change finetune\.method/],
      [{ method: 'full', rank: 4 }, /finetune\.rank: is an option of method 'lora'; method 'full' takes no options/],
      [{ method: 'svdiff', initStd: 0.1 }, /finetune\.initStd: is an option of method 'houlsby' and 'prefix'/],
      [{ method: 'houlsby', length: 3 }, /finetune\.length: is an option of method 'prefix'/],
      [{ method: 'prefix', targets: ['attn.qkv'] }, /finetune\.targets: is an option of method 'lora' and 'svdiff'/],
      [{ method: 'lora', dropout: 0.1 }, /finetune: .*dropout/],
      [{ method: 'ia3' }, /finetune\.method: .*"full".*"lora"/],
      [{ method: 'lora', rank: 0 }, /finetune\.rank: /],
      [{ method: 'prefix', length: -1 }, /finetune\.length: /],
      [{ method: 'lora', targets: [] }, /finetune\.targets: /],
    ];
    for (const [ft, message] of bad) {
      expect(parse({ finetune: ft }), JSON.stringify(ft)).toThrow(ConfigError);
      expect(parse({ finetune: ft }), JSON.stringify(ft)).toThrow(message);
    }
  });

  it('needs init.from and a DiT; newClass must be a class of the model that data.classes trains', () => {
    expect(() => parseTrainConfig({ ...base, init: undefined, finetune: { method: 'lora' } })).toThrow(/finetune: needs the base run to fine-tune: set init\.from to its run directory/);
    expect(() => parseTrainConfig({ ...base, model: { preset: 'UNet-FMNIST' }, finetune: { method: 'full' } })).toThrow(/finetune: adapts a DiT; model 'UNet-FMNIST' is a U-Net/);
    expect(parse({ finetune: { method: 'lora', newClass: 10 } })).toThrow(/finetune\.newClass: 10 is not a class of the model, whose labels are 0\.\.9/);
    expect(parse({ finetune: { method: 'lora', newClass: -1 } })).toThrow(/finetune\.newClass: /);
    expect(parse({ finetune: { method: 'lora', newClass: 9 }, data: { classes: [8] } })).toThrow(/finetune\.newClass: class 9 is not in data\.classes \[8\], so it would never be trained; add it there/);
    // A DiT starts from a run only as a fine-tune, so there is one way to say "full fine-tuning".
    expect(parse({})).toThrow(/init: a DiT starts from a trained run as a fine-tune: add finetune: \{ method: 'full' \}/);
  });
});
