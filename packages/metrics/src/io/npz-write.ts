import { crc32 } from 'node:zlib';
import { writeFileAtomic } from '@difflab/core-tensor';

/** A C-ordered float array to store as one `.npy` member. */
export interface FloatArray {
  shape: number[];
  data: Float64Array | Float32Array;
}

/** A C-ordered array of any dtype the writers store: floats, or integers such as class labels. */
export interface NumericArray {
  shape: number[];
  data: Float64Array | Float32Array | Int32Array | BigInt64Array | Uint8Array;
}

function descrOf(data: NumericArray['data']): string {
  if (data instanceof Float64Array) return '<f8';
  if (data instanceof Float32Array) return '<f4';
  if (data instanceof Int32Array) return '<i4';
  if (data instanceof BigInt64Array) return '<i8';
  return '|u1';
}

/** The bytes of a `.npy` file (format 1.0, what `np.save` writes for these dtypes). */
export function encodeNpy(arr: NumericArray): Uint8Array {
  const count = arr.shape.reduce((a, b) => a * b, 1);
  if (count !== arr.data.length) throw new RangeError(`encodeNpy: shape (${arr.shape}) holds ${count} values, data has ${arr.data.length}`);
  const descr = descrOf(arr.data);
  const shape = arr.shape.length === 1 ? `(${arr.shape[0]},)` : `(${arr.shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  // NumPy pads the header with spaces to a 64-byte boundary and ends it with a newline.
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, ' ') + '\n';
  const out = new Uint8Array(total + arr.data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength), total);
  return out;
}

/** Writes one array as a `.npy` file (read it back with `readNpy` from @difflab/data or `np.load`), atomically. */
export async function writeNpy(path: string, arr: NumericArray): Promise<void> {
  await writeFileAtomic(path, encodeNpy(arr));
}

/**
 * Writes an uncompressed `.npz` (what `np.savez` produces; read it back with `readNpz` from
 * @difflab/data or `np.load`), atomically. Members must stay under 4 GiB (no ZIP64).
 */
export async function writeNpz(path: string, arrays: Record<string, NumericArray>): Promise<void> {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const [key, arr] of Object.entries(arrays)) {
    const name = new TextEncoder().encode(`${key}.npy`);
    const body = encodeNpy(arr);
    const crc = crc32(body);
    const local = new Uint8Array(30 + name.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, body.length, true);
    lv.setUint32(22, body.length, true);
    lv.setUint16(26, name.length, true);
    local.set(name, 30);
    const entry = new Uint8Array(46 + name.length);
    const cv = new DataView(entry.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, body.length, true);
    cv.setUint32(24, body.length, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    entry.set(name, 46);
    parts.push(local, body);
    central.push(entry);
    offset += local.length + body.length;
  }
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, central.length, true);
  ev.setUint16(10, central.length, true);
  ev.setUint32(12, central.reduce((s, c) => s + c.length, 0), true);
  ev.setUint32(16, offset, true);
  await writeFileAtomic(path, Buffer.concat([...parts, ...central, end]));
}
