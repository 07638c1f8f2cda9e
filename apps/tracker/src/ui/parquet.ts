import { tableFromParquet } from '@difflab/data';

export interface TablePreview {
  columns: { name: string; type: string }[];
  rows: string[][];
  totalRows: number;
}

function cellText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(7)));
  if (typeof v === 'bigint' || typeof v === 'boolean' || typeof v === 'string') return String(v);
  if (v instanceof Date) return v.toISOString();
  // Lists and fixed-size lists (e.g. embeddings) show their first values.
  if (typeof (v as { toArray?: unknown }).toArray === 'function') {
    const items = Array.from((v as { toArray(): ArrayLike<unknown> }).toArray());
    const shown = items.slice(0, 8).map(cellText).join(', ');
    return `[${shown}${items.length > 8 ? `, … (${items.length})` : ''}]`;
  }
  return JSON.stringify(v) ?? String(v);
}

/** Decodes a Parquet file and returns its schema and first `maxRows` rows as display strings. */
export function previewParquet(bytes: Uint8Array, maxRows: number, name: string): TablePreview {
  const table = tableFromParquet(bytes, name);
  const fields = table.schema.fields;
  const rows: string[][] = [];
  const n = Math.min(maxRows, table.numRows);
  const columns = fields.map((_, i) => table.getChildAt(i)!);
  for (let r = 0; r < n; r++) rows.push(columns.map((c) => cellText(c.get(r))));
  return { columns: fields.map((f) => ({ name: f.name, type: String(f.type) })), rows, totalRows: table.numRows };
}
