import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { FileFormatError } from './errors.js';

/** A parsed IDX file of unsigned bytes (the only element type Fashion-MNIST/MNIST use). */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

const UBYTE = 0x08;

/** Decompresses when the bytes start with the gzip magic, so `.gz` and plain files read the same way. */
export function maybeGunzip(bytes: Uint8Array, name: string): Uint8Array {
  if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  try {
    return gunzipSync(bytes);
  } catch (err) {
    throw new FileFormatError(
      `${name}: corrupt or truncated gzip data (${(err as Error).message}); delete the file and acquire it again`,
    );
  }
}

/** Parses IDX (big-endian header: 0x0000, type byte, rank byte, one uint32 per dimension). */
export function parseIdx(bytes: Uint8Array, name: string): IdxArray {
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) {
    throw new FileFormatError(`${name}: not an IDX file (wrong magic number); expected bytes 00 00 08 <rank>`);
  }
  if (bytes[2] !== UBYTE) {
    throw new FileFormatError(`${name}: IDX element type 0x${bytes[2]!.toString(16)} is unsupported; only unsigned bytes (0x08) are`);
  }
  const rank = bytes[3]!;
  const headerBytes = 4 + 4 * rank;
  if (rank === 0 || bytes.length < headerBytes) {
    throw new FileFormatError(`${name}: IDX header truncated or rank ${rank} invalid`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const expected = headerBytes + dims.reduce((a, b) => a * b, 1);
  if (bytes.length !== expected) {
    throw new FileFormatError(
      `${name}: IDX data has ${bytes.length} bytes but header [${dims.join(', ')}] needs ${expected} (truncated or corrupt); acquire the file again`,
    );
  }
  return { dims, data: bytes.subarray(headerBytes) };
}

/** Reads an IDX file, gzipped or not. */
export function readIdxFile(path: string): IdxArray {
  return parseIdx(maybeGunzip(readFileSync(path), path), path);
}
