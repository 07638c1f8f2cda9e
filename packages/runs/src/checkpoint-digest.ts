import { createHash } from 'node:crypto';

/**
 * The digest list of a checkpoint directory, in `sha256sum` format ("<hex>  <file>" per line), so a
 * user can check a checkpoint without difflab: `cd checkpoints/step-0000500 && sha256sum -c SHA256SUMS`.
 * A file of its own (not a field of state.json) so that state.json is covered too.
 */
export const DIGEST_FILE = 'SHA256SUMS';

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function formatDigests(digests: Record<string, string>): string {
  return Object.entries(digests)
    .map(([file, hex]) => `${hex}  ${file}\n`)
    .join('');
}

/** File name → hex digest; a line that is not `<64 hex>  <name>` is reported with its number. */
export function parseDigests(text: string): Record<string, string> | { badLine: number } {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '' && i === lines.length - 1) break;
    // sha256sum writes "  " (text mode) or " *" (binary mode) between digest and name.
    const m = /^([0-9a-f]{64}) [ *]([^/\\]+)$/.exec(line);
    if (!m) return { badLine: i + 1 };
    out[m[2]!] = m[1]!;
  }
  return out;
}
