import { randomUUID } from 'node:crypto';

/**
 * MLflow's Python server and client write non-finite floats as bare `NaN`, `Infinity` and
 * `-Infinity` tokens (Python's json module), which JSON.parse rejects. These two functions
 * read and write that dialect so a NaN metric survives the round trip.
 */

/**
 * Non-finite numbers travel through JSON.parse/stringify as strings carrying this marker. A random
 * part per process keeps a string a client sends from ever being taken for one.
 */
const SENTINEL = `\u0000difflab-nonfinite-${randomUUID()}:`;
const LITERALS: Record<string, number> = { NaN: Number.NaN, Infinity: Number.POSITIVE_INFINITY, '-Infinity': Number.NEGATIVE_INFINITY };

export function parseMlflowJson(text: string): unknown {
  // Fast path: most bodies have no such token (the scan below is char by char).
  if (!/NaN|Infinity/.test(text)) return JSON.parse(text);
  let out = '';
  let i = 0;
  let inString = false;
  while (i < text.length) {
    const c = text[i]!;
    if (inString) {
      out += c;
      if (c === '\\') {
        out += text[i + 1] ?? '';
        i += 2;
        continue;
      }
      if (c === '"') inString = false;
      i++;
      continue;
    }
    if (c === '"') {
      inString = true;
      out += c;
      i++;
      continue;
    }
    const literal = ['-Infinity', 'Infinity', 'NaN'].find((l) => text.startsWith(l, i));
    if (literal) {
      out += JSON.stringify(SENTINEL + literal);
      i += literal.length;
      continue;
    }
    out += c;
    i++;
  }
  return JSON.parse(out, (_key, value: unknown) =>
    typeof value === 'string' && value.startsWith(SENTINEL) ? LITERALS[value.slice(SENTINEL.length)] : value,
  );
}

/** A marked string as JSON.stringify writes it (the NUL escaped as \u0000). */
const MARKED = new RegExp(`"${JSON.stringify(SENTINEL).slice(1, -1).replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}(NaN|Infinity|-Infinity)"`, 'g');

export function stringifyMlflowJson(value: unknown): string {
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'number' && !Number.isFinite(v)) return SENTINEL + (Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity');
    return v;
  });
  return text.replace(MARKED, '$1');
}
