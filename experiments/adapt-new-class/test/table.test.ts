// The table from hand-made unit results: rows per method × k in the definition's order, mean ± sd over seeds,
// base → adapted cells, N and the floor in the header.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { definitionPath, loadAdaptDefinition } from '../src/definition.js';
import { unitsMarkdown, type UnitScores } from '../src/table.js';

const def = loadAdaptDefinition(definitionPath(join(import.meta.dirname, '..')));

function row(method: string, k: number, seed: number, acc: number, fid: number): UnitScores {
  return {
    unit: `${method}-k${k}-s${seed}`, method, k, seed, steps: 400, trainable_params: 1234, adapter_bytes: 5678, adapt_seconds: 10 + seed,
    n_new: 112, new_class_accuracy: acc, copy_ratio_features: 0.9, copy_closer_features: 0.5, copy_ratio_pixels: 1, copy_closer_pixels: 0.5,
    n_old: 1008, old_class_accuracy: 0.8, old_fid: fid, old_fid_floor: 4, old_precision: 0.7, old_recall: 0.6,
    base_old_class_accuracy: 0.85, base_old_fid: 20, old_rms_change: 0.05,
  };
}

describe('adapt-new-class table', () => {
  it('averages seeds per method × k, in the definition\'s method order and by k', () => {
    const rows = [row('lora', 20, 0, 0.5, 21), row('lora', 20, 1, 0.7, 23), row('full', 5, 0, 0.2, 30), row('lora', 5, 0, 0.1, 20)];
    const md = unitsMarkdown(def, 'full', rows, 'test machine', '2026-01-01');
    expect(md).toMatch(/2026-01-01, test machine\./);
    expect(md).toContain('New class: N = 112 samples per run. Old classes: N = 1008 samples');
    expect(md).toContain('the real-vs-real floor at N = 1008 is 4.00');
    // lora k = 20: accuracy 0.6 ± sd(0.5, 0.7) = 0.141; FID 22 ± 1.41; wall 10.5 ± 0.7.
    expect(md).toContain('| lora | 0.001 | 20 | 1,234 | 5,678 | 0.600 ± 0.141 | 0.850 → 0.800 ± 0.000 | 20.00 → 22.00 ± 1.41 | 0.050 ± 0.000 | 0.900 ± 0.000 | 0.50 ± 0.00 | 1.000 ± 0.000 | 10.5 ± 0.7 |');
    // One seed: the value alone.
    expect(md).toContain('| full | 0.0001 | 5 | 1,234 | 5,678 | 0.200 | 0.850 → 0.800 | 20.00 → 30.00 |');
    const order = ['| full | 0.0001 | 5 ', '| lora | 0.001 | 5 ', '| lora | 0.001 | 20 '].map((s) => md.indexOf(s));
    expect(order.every((at, i) => at >= 0 && (i === 0 || at > order[i - 1]!))).toBe(true);
  });
});
