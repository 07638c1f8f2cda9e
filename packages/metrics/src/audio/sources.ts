import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { MetricFileError } from '../errors.js';
import { readManifest } from './spoken-digits/corpus.js';
import { readWav, type Audio } from './wav.js';

/** A set of clips to compare: WAV paths, plus labels where a manifest gives them. */
export interface AudioSet {
  paths: string[];
  labels?: number[];
}

function wavsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...wavsUnder(p));
    else if (entry.name.toLowerCase().endsWith('.wav')) out.push(p);
  }
  return out;
}

/**
 * Resolves what `difflab fad` compares: a directory (every *.wav below it, sorted), a JSON-lines
 * manifest (`path` relative to the manifest, `label`, `split`), or `manifest.jsonl:<split>` for one
 * split of it.
 */
export async function resolveAudioSet(spec: string): Promise<AudioSet> {
  let file = spec;
  let split: string | undefined;
  const m = /^(.*\.jsonl):([\w-]+)$/.exec(spec);
  if (!existsSync(spec) && m) [file, split] = [m[1]!, m[2]!];
  if (!existsSync(file)) throw new MetricFileError(`${spec}: no such directory or manifest; give a directory of .wav files, a manifest.jsonl, or manifest.jsonl:<split>`);
  if (statSync(file).isDirectory()) {
    const paths = wavsUnder(file).sort();
    if (paths.length === 0) throw new MetricFileError(`${spec}: directory holds no .wav files`);
    return { paths };
  }
  if (!file.endsWith('.jsonl')) throw new MetricFileError(`${spec}: expected a directory or a .jsonl manifest`);
  const rows = (await readManifest(file)).filter((r) => split === undefined || r.split === split);
  if (rows.length === 0) throw new MetricFileError(`${spec}: no manifest rows${split ? ` in split '${split}'` : ''}`);
  const base = dirname(resolve(file));
  return { paths: rows.map((r) => join(base, r.path)), labels: rows.map((r) => r.label) };
}

/** Decodes the set's WAVs one at a time. */
export function* readAudioSet(set: AudioSet): Generator<Audio> {
  for (const p of set.paths) yield readWav(p);
}
