import { extname } from 'node:path';

const TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.log': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
  '.yaml': 'text/plain; charset=utf-8',
  '.yml': 'text/plain; charset=utf-8',
  '.csv': 'text/plain; charset=utf-8',
  '.html': 'text/plain; charset=utf-8',
};

export function contentTypeOf(path: string): string {
  return TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

export type ArtifactKind = 'image' | 'parquet' | 'text' | 'binary';

export function artifactKindOf(path: string): ArtifactKind {
  const ext = extname(path).toLowerCase();
  if (['.png', '.jpg', '.jpeg', '.gif', '.svg'].includes(ext)) return 'image';
  if (ext === '.parquet') return 'parquet';
  if (TYPES[ext]?.startsWith('text/') || ext === '.json') return 'text';
  return 'binary';
}

/**
 * `Content-Disposition` naming the file by its artifact basename, so a download is saved as
 * `step-0000500.png` rather than after the URL (`get-artifact`). `inline` keeps images and text
 * viewable in the browser; the ASCII `filename` is a fallback for the RFC 5987 `filename*`.
 */
export function contentDispositionOf(path: string, disposition: 'inline' | 'attachment' = 'inline'): string {
  const name = path.split('/').filter(Boolean).at(-1) ?? 'artifact';
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `${disposition}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}
