import { readFileSync } from 'node:fs';
import * as arrow from 'apache-arrow';
import { writeFileAtomic } from '@difflab/core-tensor';
import { FileFormatError } from '../errors.js';

/** Writes the Arrow IPC *file* format (`.arrow`, a.k.a. Feather v2), which readers can memory-map. */
export async function writeArrowIpc(path: string, table: arrow.Table): Promise<void> {
  await writeFileAtomic(path, arrow.tableToIPC(table, 'file'));
}

const FILE_MAGIC = 'ARROW1';

function ipcFormat(bytes: Uint8Array): 'file' | 'stream' | null {
  const ascii = (from: number) => String.fromCharCode(...bytes.subarray(from, from + FILE_MAGIC.length));
  if (bytes.length >= 12 && ascii(0) === FILE_MAGIC) return ascii(bytes.length - FILE_MAGIC.length) === FILE_MAGIC ? 'file' : null;
  // Streams start with the 0xFFFFFFFF continuation marker of their first message.
  if (bytes.length >= 8 && bytes[0] === 0xff && bytes[1] === 0xff && bytes[2] === 0xff && bytes[3] === 0xff) return 'stream';
  return null;
}

/** Reads Arrow IPC, file or stream format. apache-arrow returns an empty table for junk, hence the magic check. */
export function readArrowIpc(path: string): arrow.Table {
  const bytes = readFileSync(path);
  if (!ipcFormat(bytes)) {
    throw new FileFormatError(`${path}: not an Arrow IPC file or stream (missing ARROW1 magic or truncated); rewrite it with writeArrowIpc`);
  }
  try {
    return arrow.tableFromIPC(bytes);
  } catch (err) {
    throw new FileFormatError(`${path}: corrupt Arrow IPC data (${(err as Error).message})`);
  }
}
