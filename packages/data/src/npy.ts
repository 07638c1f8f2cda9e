import { readFileSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';
import { FileFormatError } from './errors.js';

export type NpyData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array;

/** A C-order NumPy array: `data` holds the elements row-major, `dtype` is NumPy's descr (e.g. '<f4'). */
export interface NpyArray {
  dtype: string;
  shape: number[];
  data: NpyData;
}

type TypedArrayCtor = { new (buffer: ArrayBuffer): NpyData; BYTES_PER_ELEMENT: number };

// Keyed by kind+size; '<' (little-endian) and '|' (no byte order, single bytes) are accepted.
const dtypes: Record<string, TypedArrayCtor> = {
  f4: Float32Array,
  f8: Float64Array,
  i1: Int8Array,
  i2: Int16Array,
  i4: Int32Array,
  i8: BigInt64Array,
  u1: Uint8Array,
  u2: Uint16Array,
  u4: Uint32Array,
  u8: BigUint64Array,
  b1: Uint8Array,
};

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

function parseHeader(header: string, name: string): { descr: string; fortran: boolean; shape: number[] } {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new FileFormatError(`${name}: NPY header lacks descr, fortran_order or shape: ${header.trim()}`);
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => {
      if (!/^\d+L?$/.test(s)) throw new FileFormatError(`${name}: NPY shape entry '${s}' is not a non-negative integer`);
      return Number.parseInt(s, 10);
    });
  return { descr, fortran: fortran === 'True', shape };
}

/** Parses `.npy` bytes (format versions 1.0, 2.0, 3.0). */
export function parseNpy(bytes: Uint8Array, name = 'npy data'): NpyArray {
  if (bytes.length < 10 || MAGIC.some((m, i) => bytes[i] !== m)) {
    throw new FileFormatError(`${name}: not a NumPy .npy file (magic \\x93NUMPY missing)`);
  }
  const major = bytes[6]!;
  if (major < 1 || major > 3) throw new FileFormatError(`${name}: NPY format version ${major}.${bytes[7]} is unsupported (1.0–3.0 are)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = 8 + lenBytes + headerLen;
  if (bytes.length < dataStart) throw new FileFormatError(`${name}: NPY header truncated`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(8 + lenBytes, dataStart));
  const { descr, fortran, shape } = parseHeader(header, name);
  if (fortran) {
    throw new FileFormatError(`${name}: Fortran-order arrays are unsupported; save with np.save(path, np.ascontiguousarray(a))`);
  }
  const order = descr[0];
  const ctor = dtypes[descr.slice(1)];
  if (!ctor || (order !== '<' && order !== '|')) {
    throw new FileFormatError(
      `${name}: dtype '${descr}' is unsupported; use little-endian float32/float64/(u)int8–64 or bool, e.g. a.astype('<f4')`,
    );
  }
  const count = shape.reduce((a, b) => a * b, 1);
  const byteLength = count * ctor.BYTES_PER_ELEMENT;
  if (bytes.length - dataStart !== byteLength) {
    throw new FileFormatError(
      `${name}: NPY data has ${bytes.length - dataStart} bytes but shape [${shape}] of ${descr} needs ${byteLength} (truncated or corrupt)`,
    );
  }
  // Copy into a fresh buffer: the data start need not be aligned for the element type (and
  // Buffer.slice would be a view into Node's shared pool, not a copy).
  const buffer = new Uint8Array(bytes.subarray(dataStart, dataStart + byteLength)).buffer;
  return { dtype: descr, shape, data: new ctor(buffer) };
}

export function readNpy(path: string): NpyArray {
  return parseNpy(readFileSync(path), path);
}

interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  localHeaderOffset: number;
}

/** Central directory of a zip, reading ZIP64 extra fields (numpy's savez forces ZIP64 on each member). */
function zipEntries(bytes: Uint8Array, name: string): ZipEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new FileFormatError(`${name}: not a zip/.npz file (end of central directory not found; truncated?)`);
  let count = view.getUint16(eocd + 10, true);
  let dirOffset = view.getUint32(eocd + 16, true);
  if (dirOffset === 0xffffffff || count === 0xffff) {
    const locator = eocd - 20;
    if (locator < 0 || view.getUint32(locator, true) !== 0x07064b50) throw new FileFormatError(`${name}: ZIP64 locator missing`);
    const eocd64 = Number(view.getBigUint64(locator + 8, true));
    count = Number(view.getBigUint64(eocd64 + 32, true));
    dirOffset = Number(view.getBigUint64(eocd64 + 48, true));
  }
  const entries: ZipEntry[] = [];
  let p = dirOffset;
  for (let k = 0; k < count; k++) {
    if (p + 46 > bytes.length || view.getUint32(p, true) !== 0x02014b50) {
      throw new FileFormatError(`${name}: zip central directory is corrupt`);
    }
    const method = view.getUint16(p + 10, true);
    let compressedSize = view.getUint32(p + 20, true);
    let uncompressedSize = view.getUint32(p + 24, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    let localHeaderOffset = view.getUint32(p + 42, true);
    const entryName = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen));
    // ZIP64 extra field: only the fields whose 32-bit value is 0xFFFFFFFF are present, in this order.
    for (let e = p + 46 + nameLen; e + 4 <= p + 46 + nameLen + extraLen; ) {
      const id = view.getUint16(e, true);
      const size = view.getUint16(e + 2, true);
      if (id === 0x0001) {
        let q = e + 4;
        if (uncompressedSize === 0xffffffff) (uncompressedSize = Number(view.getBigUint64(q, true))), (q += 8);
        if (compressedSize === 0xffffffff) (compressedSize = Number(view.getBigUint64(q, true))), (q += 8);
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = Number(view.getBigUint64(q, true));
      }
      e += 4 + size;
    }
    entries.push({ name: entryName, method, compressedSize, localHeaderOffset });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/** Parses `.npz` bytes (np.savez / np.savez_compressed): array name (without `.npy`) → array. */
export function parseNpz(bytes: Uint8Array, name = 'npz data'): Map<string, NpyArray> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const arrays = new Map<string, NpyArray>();
  for (const entry of zipEntries(bytes, name)) {
    const at = entry.localHeaderOffset;
    if (at + 30 > bytes.length || view.getUint32(at, true) !== 0x04034b50) {
      throw new FileFormatError(`${name}: zip member ${entry.name} has no valid local header`);
    }
    const start = at + 30 + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
    const stored = bytes.subarray(start, start + entry.compressedSize);
    if (stored.length !== entry.compressedSize) throw new FileFormatError(`${name}: zip member ${entry.name} is truncated`);
    const member = `${name}:${entry.name}`;
    let content: Uint8Array;
    if (entry.method === 0) content = stored;
    else if (entry.method === 8) {
      try {
        content = inflateRawSync(stored);
      } catch (err) {
        throw new FileFormatError(`${member}: corrupt deflate data (${(err as Error).message})`);
      }
    } else throw new FileFormatError(`${member}: zip compression method ${entry.method} is unsupported (stored and deflate are)`);
    arrays.set(entry.name.replace(/\.npy$/, ''), parseNpy(content, member));
  }
  return arrays;
}

export function readNpz(path: string): Map<string, NpyArray> {
  return parseNpz(readFileSync(path), path);
}
