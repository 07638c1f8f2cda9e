import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { float16BitsToFloat32, float32ToFloat16Bits, writeFileAtomic } from '@difflab/core-tensor';
import { ConfigError } from '@difflab/runs';

/**
 * An encoder's tokens for every training image, cached so that REPA costs only its projector per step.
 * A directory with
 *   tokens.npy   float16 ('<f2', np.load reads it) [count, grid², dim], C order, row-major token grid
 *   tokens.json  EncoderTokensMeta
 * Half precision halves the file (60,000 × 64 × 32 tokens: 246 MB instead of 492 MB); the cosine the loss
 * takes is insensitive to its 11-bit mantissa (relative error ≤ 2⁻¹¹ per value).
 */
export const TOKENS_FILE = 'tokens.npy';
export const TOKENS_META_FILE = 'tokens.json';

export interface EncoderTokensMeta {
  format: 'difflab-encoder-tokens';
  /** The encoder's name (e.g. 'mae', 'classifier', 'random-mae'). */
  encoder: string;
  /** The images the rows are, in split order: the trainer's data.dataset, data.pad32 and split. */
  dataset: string;
  pad32: boolean;
  split: 'train';
  count: number;
  /** Tokens per side of the square grid. */
  grid: number;
  dim: number;
}

export interface EncoderTokens {
  meta: EncoderTokensMeta;
  /** Raw float16 bits [count, grid², dim]. */
  bits: Uint16Array;
  /** Where it was read from (for messages). */
  dir: string;
}

let halfTable: Float32Array | null = null;
/** float16 bits → float32 for all 65,536 patterns: a gather is then one lookup per value. */
function halfToFloat(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = float16BitsToFloat32(h);
  }
  return halfTable;
}

/** The rows `indices` as float32 [indices.length, grid², dim], row-major. */
export function gatherTokens(cache: EncoderTokens, indices: ArrayLike<number>): Float32Array {
  const per = cache.meta.grid * cache.meta.grid * cache.meta.dim;
  const out = new Float32Array(indices.length * per);
  const table = halfToFloat();
  for (let b = 0; b < indices.length; b++) {
    const i = indices[b]!;
    if (!(Number.isInteger(i) && i >= 0 && i < cache.meta.count)) {
      throw new ConfigError(`repa.encoder: example ${i} is outside the ${cache.meta.count} cached rows of ${cache.dir}; the cache must cover every training image the run sees (data.trainExamples)`);
    }
    const src = cache.bits.subarray(i * per, (i + 1) * per);
    for (let j = 0; j < per; j++) out[b * per + j] = table[src[j]!]!;
  }
  return out;
}

function npyHeader(shape: number[]): Uint8Array {
  let header = `{'descr': '<f2', 'fortran_order': False, 'shape': (${shape.join(', ')}), }`;
  // As numpy: the data starts on a 64-byte boundary, the header ends with a newline.
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, ' ') + '\n';
  const out = new Uint8Array(total);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  return out;
}

/** float32 values → float16 bits (round to nearest even). */
export function toHalfBits(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float32ToFloat16Bits(values[i]!);
  return out;
}

/** Writes a token cache (both files atomically; the metadata last, so a reader never sees metadata without tokens). */
export async function writeEncoderTokens(dir: string, meta: Omit<EncoderTokensMeta, 'format'>, bits: Uint16Array): Promise<void> {
  const expected = meta.count * meta.grid * meta.grid * meta.dim;
  if (bits.length !== expected) throw new RangeError(`writeEncoderTokens: ${bits.length} values for ${meta.count} × ${meta.grid}² × ${meta.dim} = ${expected}`);
  mkdirSync(dir, { recursive: true });
  const header = npyHeader([meta.count, meta.grid * meta.grid, meta.dim]);
  const bytes = new Uint8Array(header.length + bits.byteLength);
  bytes.set(header);
  bytes.set(new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength), header.length);
  await writeFileAtomic(join(dir, TOKENS_FILE), bytes);
  const full: EncoderTokensMeta = { format: 'difflab-encoder-tokens', ...meta };
  await writeFileAtomic(join(dir, TOKENS_META_FILE), `${JSON.stringify(full, null, 2)}\n`);
}

/** Reads a token cache written by writeEncoderTokens; errors name the file and how to make it. */
export function readEncoderTokens(dir: string): EncoderTokens {
  const metaPath = join(dir, TOKENS_META_FILE);
  const npyPath = join(dir, TOKENS_FILE);
  const fix = 'make it with the experiments/repa-encoders features targets (e.g. npx nx run repa-encoders:features-mae)';
  if (!existsSync(metaPath) || !existsSync(npyPath)) throw new ConfigError(`repa.encoder: ${dir} has no ${TOKENS_META_FILE} and ${TOKENS_FILE}; ${fix}`);
  const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as EncoderTokensMeta;
  if (meta.format !== 'difflab-encoder-tokens' || !(meta.count > 0 && meta.grid > 0 && meta.dim > 0)) {
    throw new ConfigError(`repa.encoder: ${metaPath} is not a difflab-encoder-tokens file with count, grid and dim; ${fix}`);
  }
  const bytes = readFileSync(npyPath);
  if (bytes.length < 10 || bytes[0] !== 0x93 || bytes.toString('latin1', 1, 6) !== 'NUMPY') throw new ConfigError(`repa.encoder: ${npyPath} is not a .npy file`);
  const headerLen = bytes.readUInt16LE(8);
  const header = bytes.toString('latin1', 10, 10 + headerLen);
  const shape = [meta.count, meta.grid * meta.grid, meta.dim];
  if (!header.includes("'descr': '<f2'") || !header.includes(`(${shape.join(', ')})`)) {
    throw new ConfigError(`repa.encoder: ${npyPath} must hold float16 [${shape.join(', ')}] as ${TOKENS_META_FILE} says; its header is ${header.trim()}`);
  }
  const start = 10 + headerLen;
  const count = shape[0]! * shape[1]! * shape[2]!;
  if (bytes.length !== start + 2 * count) throw new ConfigError(`repa.encoder: ${npyPath} has ${bytes.length - start} data bytes, expected ${2 * count} (truncated?); ${fix}`);
  // A Uint16Array view needs an even offset; readFileSync's buffer of a large file starts at 0, so this rarely copies.
  const aligned = (bytes.byteOffset + start) % 2 === 0;
  const bits = aligned ? new Uint16Array(bytes.buffer, bytes.byteOffset + start, count) : new Uint16Array(bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + start + 2 * count));
  return { meta, bits, dir };
}
