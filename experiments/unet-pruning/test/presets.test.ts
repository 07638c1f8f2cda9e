import { describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBaselineConfig, loadEvalSettings, loadScoreSettings, loadVariantSettings, modalityOf, studyLayout } from '../src/index.js';
import { countUNet, specFitsWeights, unetOperators } from '@difflab/models';
import { resolveModelConfig, type ModelConfigInput } from '@difflab/runs';
import { resolvePerPreset } from '@difflab/studies';
import pruningStudy from '../study.js';

const study = join(dirname(fileURLToPath(import.meta.url)), '..');
const presets = readdirSync(join(study, 'presets'));
/** The Nx targets' extra dependencies of a stage for a preset, as the Nx plugin reads them from study.ts. */
const needs = (stage: string, preset: string) => resolvePerPreset(pruningStudy.stages[stage]!.needs, { studyDir: study, preset, presetDir: join(study, 'presets', preset) }, []);

describe.each(presets)('preset %s', (preset) => {
  const l = studyLayout(study, preset);
  const baseline = loadBaselineConfig(l);
  const resolved = resolveModelConfig(baseline.model);
  if (resolved.architecture !== 'unet') throw new Error(`${preset}: baseline is not a U-Net`);
  const variants = loadVariantSettings(l);

  const audio = modalityOf(baseline) === 'audio';

  it(`has an eval target that builds its metric's network first (FID feature net or FAD embedder)`, () => {
    const producer = audio ? { project: 'spoken-digits', target: 'train-embedder' } : { project: 'fmnist-featurenet', target: 'train' };
    expect(needs('eval', preset)).toEqual([producer]);
    expect(needs('baseline', preset)).toEqual(audio ? [{ project: 'spoken-digits', target: 'synthesize' }] : []);
  });

  it(`has valid score and eval settings and an unconditional U-Net baseline of its modality's size`, () => {
    loadScoreSettings(l);
    // Audio presets time a smaller second batch: a 64 × 64 forward costs 4× a 32 × 32 one.
    expect(loadEvalSettings(l).latency.batches[0]).toBe(1);
    if (!audio) expect(loadEvalSettings(l).latency.batches).toEqual([1, 64]);
    expect(resolved.config.conditioning.kind).toBe('none');
    expect(resolved.config.sampleSize).toBe(audio ? 64 : 32);
    expect(preset.startsWith('audio')).toBe(audio);
  });

  it('prunes with specs that carry the trained weights over, BK-SDM variants shrinking mid → base → tiny', () => {
    const params: Record<string, number> = {};
    for (const v of variants.variants) {
      if (v.method !== 'bk-sdm') continue;
      expect(specFitsWeights(resolved.base, v.spec), v.id).toBe(true);
      const pruned = resolveModelConfig({ ...baseline.model, prune: v.spec } as ModelConfigInput);
      params[v.id] = countUNet(pruned.architecture === 'unet' ? pruned.config : resolved.config).params;
    }
    const full = countUNet(resolved.config).params;
    expect(params['bk-mid']).toBeLessThan(full);
    expect(params['bk-base']).toBeLessThan(params['bk-mid']!);
    expect(params['bk-tiny']).toBeLessThan(params['bk-base']!);
    // bk-tiny removes the innermost level, like BK-SDM-Tiny: one level fewer.
    const tinyVariant = variants.variants.find((v) => v.id === 'bk-tiny');
    if (tinyVariant?.method !== 'bk-sdm') throw new Error(`${preset}: no bk-sdm variant 'bk-tiny'`);
    const tiny = resolveModelConfig({ ...baseline.model, prune: tinyVariant.spec } as ModelConfigInput);
    expect(tiny.architecture === 'unet' && tiny.config.channels.length).toBe(resolved.config.channels.length - 1);
  });

  it('asks LD-Pruner for at most as many operators as it scores, each k with a scratch control', () => {
    const blocks = unetOperators(resolved.config).filter((o) => o.kind === 'resnet' || o.kind === 'transformer').length;
    const ld = variants.variants;
    const ldOnly = ld.flatMap((v) => (v.method === 'ld-pruner' ? [v] : []));
    for (const v of ldOnly) expect(v.k).toBeLessThanOrEqual(blocks);
    const ks = (init: string) => ldOnly.filter((v) => v.init === init).map((v) => v.k);
    expect(new Set(ks('preserved')).size).toBeGreaterThanOrEqual(2);
    expect(ks('scratch').sort()).toEqual(ks('preserved').sort());
  });
});
