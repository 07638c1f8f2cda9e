import { execFile } from 'node:child_process';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { Rng, writeFileAtomic } from '@difflab/core-tensor';
import { MetricFileError, MetricInputError } from '../../errors.js';

const run = promisify(execFile);

export const DIGIT_WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'] as const;

/** What the corpus is made of; every random choice is drawn from `seed`. */
export interface CorpusConfig {
  seed: number;
  /** espeak-ng base voices (accents), e.g. "en-us", "en-gb-scotland". */
  voices: string[];
  /** espeak-ng voice variants (timbre: formants, pitch range, breathiness), e.g. "m3", "f2". */
  variants: string[];
  /** How many variants are held out for the test split; no test speaker's variant is in training. */
  testVariants: number;
  /** Renditions of each digit per speaker (voice + variant), each with its own speed and pitch. */
  perSpeaker: number;
  /** Words per minute, drawn uniformly from [min, max] (espeak-ng -s). */
  speed: [number, number];
  /** Pitch 0–99, drawn uniformly from [min, max] (espeak-ng -p). */
  pitch: [number, number];
}

/** One line of manifest.jsonl. */
export interface ManifestRow {
  /** WAV path relative to the manifest's directory. */
  path: string;
  label: number;
  text: string;
  voice: string;
  variant: string;
  speed: number;
  pitch: number;
  split: 'train' | 'test';
}

export function readCorpusConfig(path: string): CorpusConfig {
  const raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  const fail = (k: string, what: string): never => {
    throw new MetricInputError(`${path}: '${k}' must be ${what}, got ${JSON.stringify(raw[k])}`);
  };
  const int = (k: string, min: number) => (Number.isInteger(raw[k]) && (raw[k] as number) >= min ? (raw[k] as number) : fail(k, `an integer ≥ ${min}`));
  const names = (k: string) => (Array.isArray(raw[k]) && raw[k].length > 0 && raw[k].every((v) => typeof v === 'string' && /^[\w-]+$/.test(v)) ? (raw[k] as string[]) : fail(k, 'a non-empty list of espeak-ng names'));
  const range = (k: string, lo: number, hi: number): [number, number] => {
    const v = raw[k];
    return Array.isArray(v) && v.length === 2 && v.every((x) => Number.isInteger(x) && x >= lo && x <= hi) && v[0] <= v[1] ? [v[0], v[1]] : fail(k, `[min, max] integers within ${lo}..${hi}`);
  };
  const config: CorpusConfig = {
    seed: int('seed', 0),
    voices: names('voices'),
    variants: names('variants'),
    testVariants: int('testVariants', 1),
    perSpeaker: int('perSpeaker', 1),
    speed: range('speed', 80, 450),
    pitch: range('pitch', 0, 99),
  };
  if (config.testVariants >= config.variants.length) fail('testVariants', `fewer than the ${config.variants.length} variants so both splits have speakers`);
  return config;
}

/**
 * The utterances to synthesise, in a fixed order: which variants are held out for test and each
 * rendition's speed and pitch follow from the seed alone, so the corpus is reproducible.
 */
export function planCorpus(config: CorpusConfig): ManifestRow[] {
  const rng = new Rng(config.seed);
  const test = new Set(rng.shuffle([...config.variants]).slice(0, config.testVariants));
  const rows: ManifestRow[] = [];
  const draw = ([lo, hi]: [number, number]) => lo + rng.int(hi - lo + 1);
  for (const voice of config.voices) {
    for (const variant of config.variants) {
      const split = test.has(variant) ? 'test' : 'train';
      for (let label = 0; label < DIGIT_WORDS.length; label++) {
        for (let k = 0; k < config.perSpeaker; k++) {
          const speed = draw(config.speed);
          const pitch = draw(config.pitch);
          const path = `wav/${split}/${voice}+${variant}/${label}-${k}-s${speed}-p${pitch}.wav`;
          rows.push({ path, label, text: DIGIT_WORDS[label]!, voice, variant, speed, pitch, split });
        }
      }
    }
  }
  return rows;
}

/** espeak-ng is not installed or failed on an utterance. */
export class SpeechSynthesisError extends Error {
  override name = 'SpeechSynthesisError';
}

export async function espeakVersion(): Promise<string> {
  try {
    const { stdout } = await run('espeak-ng', ['--version']);
    return stdout.trim();
  } catch (e) {
    throw new SpeechSynthesisError(`espeak-ng is not available (${(e as Error).message.split('\n')[0]}); install it with 'apt-get install -y espeak-ng'`);
  }
}

/** Writes one utterance with espeak-ng (22050 Hz mono 16-bit WAV) via a temp file + rename. */
export async function synthesizeUtterance(row: ManifestRow, outDir: string): Promise<void> {
  const file = join(outDir, row.path);
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await run('espeak-ng', ['-v', `${row.voice}+${row.variant}`, '-s', String(row.speed), '-p', String(row.pitch), '-w', tmp, row.text]);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new SpeechSynthesisError(`espeak-ng failed on ${row.path} (voice ${row.voice}+${row.variant}): ${(e as Error).message.split('\n')[0]}; check the voice with 'espeak-ng --voices'`);
  }
}

/**
 * Synthesises `rows` into `outDir` (two espeak-ng processes at a time) and writes
 * `outDir/manifest.jsonl` last, so a manifest only exists once every WAV it lists does.
 */
export async function synthesizeCorpus(rows: ManifestRow[], outDir: string, log: (line: string) => void = () => {}): Promise<void> {
  await espeakVersion();
  let next = 0;
  let done = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < rows.length) {
      const row = rows[next++]!;
      await synthesizeUtterance(row, outDir);
      if (++done % 200 === 0 || done === rows.length) log(`synthesised ${done}/${rows.length} utterances in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
  };
  await Promise.all([worker(), worker()]);
  await writeFileAtomic(join(outDir, 'manifest.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
}

/** Reads manifest.jsonl; paths stay relative to its directory. */
export async function readManifest(path: string): Promise<ManifestRow[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new MetricFileError(`${path}: cannot read manifest (${(e as Error).message}); make the corpus with 'npx nx run spoken-digits:synthesize'`);
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line, i) => {
      let row: Partial<ManifestRow>;
      try {
        row = JSON.parse(line) as Partial<ManifestRow>;
      } catch {
        throw new MetricFileError(`${path}:${i + 1}: not valid JSON`);
      }
      if (typeof row.path !== 'string' || !Number.isInteger(row.label) || (row.split !== 'train' && row.split !== 'test')) {
        throw new MetricFileError(`${path}:${i + 1}: each line needs 'path' (string), 'label' (integer) and 'split' ('train' or 'test')`);
      }
      return row as ManifestRow;
    });
}
