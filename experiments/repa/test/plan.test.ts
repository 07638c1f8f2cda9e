// The study's plan: arms × seeds, each a valid trainer config whose repa section points at the preset's
// teachers; HASTE's stop step; the vanilla arm has no repa section; bad definitions are refused by field.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseTrainConfig } from '@difflab/runs';
import { definitionPath, loadRepaDefinition, repaStudySchema } from '../src/definition.js';
import { planUnits } from '../src/plan.js';

const studyDir = join(import.meta.dirname, '..');
const def = loadRepaDefinition(definitionPath(studyDir));

describe('repa study plan', () => {
  it('runs every arm × seed of the full-flow preset, vanilla and REPA-MAE × seed on ε (full), and a 3-arm, 1-seed smoke preset', () => {
    const flow = planUnits(def, 'full-flow');
    expect(flow).toHaveLength(def.arms.length * 3);
    expect(new Set(flow.map((u) => u.id)).size).toBe(flow.length);
    expect(planUnits(def, 'full').map((u) => u.id)).toEqual(['vanilla-s0', 'vanilla-s1', 'vanilla-s2', 'repa-mae-s0', 'repa-mae-s1', 'repa-mae-s2']);
    expect(planUnits(def, 'smoke').map((u) => u.id)).toEqual(['vanilla-s0', 'repa-mae-s0', 'haste-mae-s0']);
  });

  it('gives each arm its teacher, shared block and λ; HASTE stops after the fraction; vanilla has no repa', () => {
    const units = Object.fromEntries(planUnits(def, 'full-flow').map((u) => [u.id, u]));
    expect(units['vanilla-s1']!.config.repa).toBeUndefined();
    expect(units['irepa-mae-s0']!.config.repa).toEqual({ encoder: 'experiments/repa-encoders/artifacts/mae', block: 2, lambda: 0.5, projector: 'conv', spatialNorm: true });
    expect((units['haste-mae-s2']!.config.repa as { stopStep: number }).stopStep).toBe(1001);
    expect((units['repa-random-s0']!.config.repa as { encoder: string }).encoder).toMatch(/artifacts\/random$/);
    for (const preset of ['smoke', 'full', 'full-flow']) for (const u of planUnits(def, preset)) expect(() => parseTrainConfig(u.config), u.id).not.toThrow();
  });

  it('refuses an unknown arm in a preset and a duplicate arm id, naming the field', () => {
    const raw = structuredClone(def) as unknown as { presets: Record<string, { arms?: string[] }>; arms: { id: string }[] };
    raw.presets.smoke!.arms = ['vanilla', 'nope'];
    expect(repaStudySchema.safeParse(raw).error?.issues[0]?.path.join('.')).toBe('presets.smoke.arms.1');
    const dup = structuredClone(def) as unknown as { arms: { id: string }[] };
    dup.arms[1]!.id = 'vanilla';
    expect(repaStudySchema.safeParse(dup).error?.issues.map((i) => i.message).join()).toMatch(/appears twice/);
  });

  it('scores at evalSteps ending at train.steps, and trains the smoke DiT on the images its teachers cached', () => {
    expect(def.presets.full!.evalSteps.at(-1)).toBe((planUnits(def, 'full')[0]!.config.train as { steps: number }).steps);
    const wrongEnd = structuredClone(def);
    wrongEnd.presets.full!.evalSteps = [250, 500];
    expect(() => planUnits(wrongEnd, 'full')).toThrow(/presets\.full\.evalSteps: the last step must be train\.steps \(2000\)/);
    const raw = structuredClone(def) as unknown as { presets: Record<string, { evalSteps: number[] }> };
    raw.presets.full!.evalSteps = [500, 250, 2000];
    expect(repaStudySchema.safeParse(raw).error?.issues[0]?.path.join('.')).toBe('presets.full.evalSteps');
    // The smoke caches hold the first features.count training images; the smoke DiT must see no more.
    const smokeCount = (JSON.parse(readFileSync(join(studyDir, '..', 'repa-encoders', 'encoders.smoke.json'), 'utf8')) as { features: { count: number } }).features.count;
    for (const u of planUnits(def, 'smoke')) expect((u.config.data as { trainExamples: number }).trainExamples).toBeLessThanOrEqual(smokeCount);
    for (const u of planUnits(def, 'full')) expect((u.config.data as { trainExamples?: number }).trainExamples).toBeUndefined();
  });
});

