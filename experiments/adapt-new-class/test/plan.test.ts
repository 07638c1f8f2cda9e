// The study's plan: method × k × seed, each a valid fine-tune trainer config from the preset's base (data.classes
// the held-out class, perClass k, newClass, init.from, the method's options and lr, matched steps); the base
// trains on the nine other classes; bad definitions are refused by field.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseTrainConfig } from '@difflab/runs';
import { AdaptDefinitionError, definitionPath, loadAdaptDefinition, parseAdaptDefinition } from '../src/definition.js';
import { baseConfig, baseRunPath, oldClasses, planUnits } from '../src/plan.js';

const studyDir = join(import.meta.dirname, '..');
const def = loadAdaptDefinition(definitionPath(studyDir));
const raw = () => JSON.parse(readFileSync(definitionPath(studyDir), 'utf8')) as Record<string, any>;
type Cfg = { data: { classes: number[]; perClass: number }; init: { from: string }; finetune: Record<string, unknown>; train: { steps: number; batchSize: number; lr: number }; seed: number };

describe('adapt-new-class plan', () => {
  it('runs every method × k × seed of the full preset, and every method at k = 5 in smoke', () => {
    const full = planUnits(def, 'full');
    expect(full).toHaveLength(5 * 3 * 3);
    expect(new Set(full.map((u) => u.id)).size).toBe(full.length);
    expect(planUnits(def, 'smoke').map((u) => u.id)).toEqual(['full-k5-s0', 'lora-k5-s0', 'houlsby-k5-s0', 'prefix-k5-s0', 'svdiff-k5-s0']);
  });

  it('trains the base on the nine classes other than the held-out one', () => {
    expect(oldClasses(def)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    for (const preset of ['smoke', 'full']) {
      const b = baseConfig(def, preset) as unknown as Cfg;
      expect(b.data.classes).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
      expect(b.train.steps).toBe(def.presets[preset]!.baseSteps);
      expect((b as unknown as { finetune?: unknown }).finetune).toBeUndefined();
      expect(() => parseTrainConfig(b)).not.toThrow();
    }
  });

  it('gives each adaptation the held-out class, k images, the base, its method and lr, and the same steps', () => {
    const units = Object.fromEntries(planUnits(def, 'full').map((u) => [u.id, u]));
    const c = (id: string) => units[id]!.config as unknown as Cfg;
    expect(c('lora-k20-s1').data).toMatchObject({ classes: [9], perClass: 20 });
    expect(c('lora-k20-s1').init).toEqual({ from: baseRunPath('full') });
    expect(c('lora-k20-s1').finetune).toEqual({ method: 'lora', rank: 4, newClass: 9 });
    expect(c('houlsby-k5-s0').finetune).toEqual({ method: 'houlsby', bottleneck: 16, newClass: 9 });
    expect(c('prefix-k100-s2').finetune).toEqual({ method: 'prefix', length: 4, newClass: 9 });
    expect(c('svdiff-k5-s0').finetune).toEqual({ method: 'svdiff', newClass: 9 });
    expect(c('full-k5-s0').finetune).toEqual({ method: 'full', newClass: 9 });
    // SVDiff at 1000× full fine-tuning's lr (its paper); LoRA and adapters ~1e-3.
    expect(c('svdiff-k5-s0').train.lr).toBeCloseTo(1000 * c('full-k5-s0').train.lr, 12);
    expect(c('lora-k5-s0').train.lr).toBe(1e-3);
    // Matched steps; a batch never exceeds the k images.
    expect(new Set(Object.values(units).map((u) => (u.config as unknown as Cfg).train.steps))).toEqual(new Set([def.presets.full!.adaptSteps]));
    expect(c('full-k5-s0').train.batchSize).toBe(5);
    expect(c('full-k100-s0').train.batchSize).toBe(def.presets.full!.adaptBatchSize);
    expect(c('full-k100-s2').seed).toBe(2);
    for (const preset of ['smoke', 'full']) for (const u of planUnits(def, preset)) expect(() => parseTrainConfig(u.config), u.id).not.toThrow();
  });

  it('refuses an unknown method in a preset and a duplicate method id, naming the field', () => {
    const a = raw();
    a.presets.smoke.methods = ['lora', 'dora'];
    expect(() => parseAdaptDefinition(a)).toThrow(/presets\.smoke\.methods\.1: unknown method 'dora'/);
    const b = raw();
    b.methods.push(b.methods[0]);
    expect(() => parseAdaptDefinition(b)).toThrow(AdaptDefinitionError);
    expect(() => parseAdaptDefinition(b)).toThrow(/method id 'full' appears twice/);
    const c = raw();
    c.heldOutClass = 10;
    expect(() => parseAdaptDefinition(c)).toThrow(/heldOutClass/);
    expect(() => planUnits(def, 'huge')).toThrow(/unknown preset 'huge'; presets: smoke, full/);
  });
});
