// The study's plan: variant × η × seed, each a valid ESD trainer config on the preset's ten-class base (the erased
// class, the variant's subset and lr, η, matched steps); bad definitions are refused by field.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseTrainConfig } from '@difflab/runs';
import { EraseDefinitionError, definitionPath, loadEraseDefinition, parseEraseDefinition } from '../src/definition.js';
import { baseConfig, baseRunPath, keptClasses, planUnits } from '../src/plan.js';

const studyDir = join(import.meta.dirname, '..');
const def = loadEraseDefinition(definitionPath(studyDir));
const raw = () => JSON.parse(readFileSync(definitionPath(studyDir), 'utf8')) as Record<string, any>;
type Cfg = { init: { from: string }; finetune: Record<string, unknown>; esd: Record<string, unknown>; train: { steps: number; batchSize: number; lr: number }; seed: number; data: { classes?: number[] } };

describe('erase-class plan', () => {
  it('runs every variant × η × seed of the full preset, and both variants at η = 1 in smoke', () => {
    const full = planUnits(def, 'full');
    expect(full).toHaveLength(2 * 3 * 3);
    expect(new Set(full.map((u) => u.id)).size).toBe(full.length);
    expect(planUnits(def, 'smoke').map((u) => u.id)).toEqual(['esd-cond-eta1-s0', 'esd-uncond-eta1-s0']);
    const halves = parseEraseDefinition({ ...raw(), presets: { p: { ...raw().presets.smoke, etas: [0.5, 1.25] } } });
    expect(planUnits(halves, 'p').map((u) => u.id)).toEqual(['esd-cond-eta0p5-s0', 'esd-cond-eta1p25-s0', 'esd-uncond-eta0p5-s0', 'esd-uncond-eta1p25-s0']);
  });

  it('trains the base on all ten classes and keeps the nine others for scoring', () => {
    expect(keptClasses(def)).toEqual([0, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const preset of ['smoke', 'full']) {
      const b = baseConfig(def, preset) as unknown as Cfg;
      expect(b.data.classes).toBeUndefined();
      expect(b.train.steps).toBe(def.presets[preset]!.baseSteps);
      expect(b.esd).toBeUndefined();
      expect(() => parseTrainConfig(b)).not.toThrow();
    }
  });

  it('gives each ESD run the base, the erased class, its variant\'s subset and lr, its η and the same steps', () => {
    const units = Object.fromEntries(planUnits(def, 'full').map((u) => [u.id, u]));
    const c = (id: string) => units[id]!.config as unknown as Cfg;
    expect(c('esd-cond-eta2-s1').init).toEqual({ from: baseRunPath('full') });
    expect(c('esd-cond-eta2-s1').finetune).toEqual({ method: 'full' });
    expect(c('esd-cond-eta2-s1').esd).toEqual({ concept: 1, train: 'conditioning', eta: 2 });
    expect(c('esd-uncond-eta4-s0').esd).toEqual({ concept: 1, train: 'unconditioning', eta: 4 });
    expect(c('esd-uncond-eta4-s2').seed).toBe(2);
    expect(new Set(Object.values(units).map((u) => (u.config as unknown as Cfg).train.steps))).toEqual(new Set([def.presets.full!.esdSteps]));
    expect(c('esd-cond-eta1-s0').train.batchSize).toBe(def.presets.full!.esdBatchSize);
    expect(c('esd-cond-eta1-s0').train.lr).toBe(def.variants.find((v) => v.id === 'esd-cond')!.lr);
    for (const preset of ['smoke', 'full']) for (const u of planUnits(def, preset)) expect(() => parseTrainConfig(u.config), u.id).not.toThrow();
  });

  it('refuses an unknown variant, a duplicate variant id, repeated η and a bad erased class, naming the field', () => {
    const a = raw();
    a.presets.smoke.variants = ['esd-cond', 'esd-x'];
    expect(() => parseEraseDefinition(a)).toThrow(/presets\.smoke\.variants\.1: unknown variant 'esd-x'/);
    const b = raw();
    b.variants[1].id = 'esd-cond';
    expect(() => parseEraseDefinition(b)).toThrow(/variants\.1\.id: variant id 'esd-cond' appears twice/);
    const e = raw();
    e.presets.full.etas = [1, 1];
    expect(() => parseEraseDefinition(e)).toThrow(/presets\.full\.etas: η values must be distinct/);
    const f = raw();
    f.erasedClass = 10;
    expect(() => parseEraseDefinition(f)).toThrow(EraseDefinitionError);
    expect(() => parseEraseDefinition(f)).toThrow(/erasedClass/);
    const g = raw();
    delete g.presets.smoke.attack.noiseLr;
    expect(() => parseEraseDefinition(g)).toThrow(/presets\.smoke\.attack\.noiseLr/);
    expect(() => planUnits(def, 'huge')).toThrow(/unknown preset 'huge'; presets: smoke, full/);
  });
});
