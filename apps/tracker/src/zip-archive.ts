import { crc32, deflateRawSync } from 'node:zlib';

export interface ZipEntry {
  /** Path inside the archive, '/'-separated. */
  name: string;
  data: Uint8Array;
  mtime?: Date;
}

/** The classic ZIP format's limits (no ZIP64): 65,535 entries, 4 GiB per file and in total. */
const MAX_ENTRIES = 0xffff;
const MAX_BYTES = 0xffffffff;

function dosTime(d: Date): { time: number; date: number } {
  const year = Math.max(1980, d.getFullYear());
  return {
    time: (d.getHours() << 11) | (d.getMinutes() << 5) | Math.floor(d.getSeconds() / 2),
    date: ((year - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
  };
}

/**
 * A ZIP archive (PKWARE APPNOTE 6.3, no ZIP64) of the given files, each deflated unless that
 * does not make it smaller (PNG and Parquet usually are compressed already, and are stored).
 * Written by hand because the format's writing side is ~80 lines over Node's zlib (deflate,
 * crc32), which spares a dependency for the tracker's one archive download.
 */
export function zipArchive(entries: ZipEntry[]): Buffer {
  if (entries.length > MAX_ENTRIES) throw new Error(`${entries.length} files exceed the ${MAX_ENTRIES} a ZIP archive holds; download a subfolder`);
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const deflated = deflateRawSync(e.data);
    const stored = deflated.length >= e.data.length;
    const body = stored ? Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength) : deflated;
    const crc = crc32(e.data);
    const { time, date } = dosTime(e.mtime ?? new Date());
    const method = stored ? 0 : 8;
    // Bit 11: names are UTF-8.
    const flags = 0x0800;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(time, 10);
    local.writeUInt16LE(date, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    // Made by: Unix (3) — so readers take the external attributes as a Unix mode and apply no DOS codepage to names.
    central.writeUInt16LE((3 << 8) | 20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt16LE(time, 12);
    central.writeUInt16LE(date, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(e.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    // extra, comment, disk number, internal attributes: 0; external: a regular file (0o644 << 16, Unix).
    central.writeUInt32LE((0o100644 << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name);
    offset += local.length + name.length + body.length;
    if (offset > MAX_BYTES) throw new Error('the folder exceeds the 4 GiB a ZIP archive holds; download a subfolder');
  }
  const centralSize = centrals.reduce((s, b) => s + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...centrals, end]);
}
