import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  MetricFileError,
  MetricInputError,
  planCorpus,
  readAudioSet,
  readCorpusConfig,
  readManifest,
  readWav,
  resolveAudioSet,
  SpeechSynthesisError,
  synthesizeCorpus,
  synthesizeUtterance,
  type CorpusConfig,
} from '../src/index.js';

const CONFIG: CorpusConfig = {
  seed: 7,
  voices: ['en-us', 'en-gb-scotland'],
  variants: ['m1', 'm3', 'f2', 'f4'],
  testVariants: 1,
  perSpeaker: 2,
  speed: [140, 200],
  pitch: [30, 70],
};

describe('spoken-digits corpus plan', () => {
  it('covers every voice × variant × digit × rendition with a voice-disjoint split', () => {
    const rows = planCorpus(CONFIG);
    expect(rows.length).toBe(2 * 4 * 10 * 2);
    const trainVariants = new Set(rows.filter((r) => r.split === 'train').map((r) => r.variant));
    const testVariants = new Set(rows.filter((r) => r.split === 'test').map((r) => r.variant));
    expect(testVariants.size).toBe(1);
    expect(trainVariants.size).toBe(3);
    for (const v of testVariants) expect(trainVariants.has(v)).toBe(false);
    for (const r of rows) {
      expect(r.text).toBe(['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'][r.label]);
      expect(r.speed).toBeGreaterThanOrEqual(140);
      expect(r.speed).toBeLessThanOrEqual(200);
      expect(r.pitch).toBeGreaterThanOrEqual(30);
      expect(r.pitch).toBeLessThanOrEqual(70);
    }
    expect(new Set(rows.map((r) => r.path)).size).toBe(rows.length);
  });

  it('is a function of the seed', () => {
    expect(planCorpus(CONFIG)).toEqual(planCorpus({ ...CONFIG }));
    expect(planCorpus({ ...CONFIG, seed: 8 })).not.toEqual(planCorpus(CONFIG));
  });

  it('validates the config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'difflab-corpus-'));
    const write = (c: unknown) => {
      writeFileSync(join(dir, 'c.json'), JSON.stringify(c));
      return join(dir, 'c.json');
    };
    expect(readCorpusConfig(write(CONFIG))).toEqual(CONFIG);
    expect(() => readCorpusConfig(write({ ...CONFIG, testVariants: 4 }))).toThrow(/testVariants/);
    expect(() => readCorpusConfig(write({ ...CONFIG, voices: ['en-us; rm -rf /'] }))).toThrow(MetricInputError);
    expect(() => readCorpusConfig(write({ ...CONFIG, pitch: [70, 30] }))).toThrow(/'pitch'/);
  });
});

describe('spoken-digits synthesis (espeak-ng)', () => {
  it('writes reproducible 22.05 kHz WAVs and a manifest for a few utterances', async () => {
    const rows = planCorpus(CONFIG);
    const pick = [rows[0]!, rows.find((r) => r.split === 'test')!, rows.filter((r) => r.split === 'train').at(-1)!];
    const dir = mkdtempSync(join(tmpdir(), 'difflab-corpus-'));
    await synthesizeCorpus(pick, dir);
    const manifest = await readManifest(join(dir, 'manifest.jsonl'));
    expect(manifest).toEqual(pick);
    for (const r of pick) {
      const w = readWav(join(dir, r.path));
      expect(w).toMatchObject({ sampleRate: 22050, channels: 1, format: 'pcm16' });
      const seconds = w.samples.length / w.sampleRate;
      expect(seconds).toBeGreaterThan(0.2);
      expect(seconds).toBeLessThan(1.5);
      expect(Math.max(...w.samples.map(Math.abs))).toBeGreaterThan(0.05); // speech, not silence
    }
    const again = mkdtempSync(join(tmpdir(), 'difflab-corpus-'));
    await synthesizeUtterance(pick[0]!, again);
    expect(readFileSync(join(again, pick[0]!.path)).equals(readFileSync(join(dir, pick[0]!.path)))).toBe(true);

    const test = await resolveAudioSet(`${join(dir, 'manifest.jsonl')}:test`);
    expect(test.paths).toEqual([join(dir, pick[1]!.path)]);
    expect(test.labels).toEqual([pick[1]!.label]);
    expect([...readAudioSet(test)][0]!.sampleRate).toBe(22050);
    expect((await resolveAudioSet(join(dir, 'wav'))).paths.length).toBe(3);
    await expect(resolveAudioSet(`${join(dir, 'manifest.jsonl')}:validation`)).rejects.toThrow(/no manifest rows in split 'validation'/);
    await expect(resolveAudioSet(join(dir, 'nothing-here'))).rejects.toThrow(MetricFileError);
  });

  it('names the line of a malformed manifest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'difflab-corpus-'));
    writeFileSync(join(dir, 'a.jsonl'), '{"path":"x.wav","label":1,"split":"train"}\n{"path":"y.wav","label":2}\n');
    await expect(readManifest(join(dir, 'a.jsonl'))).rejects.toThrow(/a\.jsonl:2: each line needs/);
    writeFileSync(join(dir, 'b.jsonl'), 'not json\n');
    await expect(readManifest(join(dir, 'b.jsonl'))).rejects.toThrow(/b\.jsonl:1: not valid JSON/);
    await expect(readManifest(join(dir, 'missing.jsonl'))).rejects.toThrow(/spoken-digits:synthesize/);
  });

  it('reports an unknown voice as a synthesis error', async () => {
    const row = { ...planCorpus(CONFIG)[0]!, voice: 'xx-nonexistent' };
    await expect(synthesizeUtterance(row, mkdtempSync(join(tmpdir(), 'difflab-corpus-')))).rejects.toThrow(SpeechSynthesisError);
  });
});
