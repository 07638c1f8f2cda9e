/** Escapes text for HTML element content and quoted attribute values. */
export function esc(value: unknown): string {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Builds a same-origin link with query parameters (arrays become repeated keys). */
export function href(path: string, query: Record<string, string | string[] | undefined> = {}): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === '') continue;
    for (const item of Array.isArray(v) ? v : [v]) qs.append(k, item);
  }
  const s = qs.toString();
  return s ? `${path}?${s}` : path;
}

/** JSON inside a <script> element: `<` is escaped so no value can close the element. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

/**
 * A time as `YYYY-MM-DD hh:mm:ssZ`. The API accepts only times a Date can hold, but a store written by
 * an older version (or by hand) may hold any int64: such a time shows as its number, never an error.
 */
export function formatTime(ms: number | null): string {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '';
  const date = new Date(ms);
  if (Number.isNaN(date.getTime())) return `${ms} ms since 1970 (beyond the calendar)`;
  return date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function formatDuration(start: number, end: number | null): string {
  if (end === null) return '';
  const s = Math.max(0, (end - start) / 1000);
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(2)} h`;
}

export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e6)) return v.toExponential(4);
  return String(Number(v.toPrecision(6)));
}

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2430; }
header { background: #1d2430; color: #fff; padding: 8px 16px; display: flex; gap: 16px; align-items: baseline; }
header a { color: #fff; text-decoration: none; font-weight: 600; }
nav.crumbs { color: #c9d1dc; }
nav.crumbs a { color: #c9d1dc; font-weight: 400; }
main { padding: 12px 16px; }
table { border-collapse: collapse; margin: 8px 0 16px; }
/* Wide tables scroll inside the page, so the page itself never grows wider than the window. */
.table-scroll { max-width: 100%; overflow-x: auto; margin: 8px 0 16px; }
.table-scroll > table { margin: 0; }
main { max-width: 100vw; box-sizing: border-box; }
p.back { margin: 12px 0; }
.chart-box { width: 100%; }
.grids { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
figure.grid { margin: 0; }
figure.grid figcaption { margin-bottom: 4px; }
.grid-body { display: flex; gap: 4px; }
img.sample-grid { height: 360px; image-rendering: pixelated; border: 1px solid #d5dbe3; }
ol.grid-rows { list-style: none; margin: 0; padding: 0; height: 362px; display: flex; flex-direction: column; font-size: 12px; color: #4a5563; text-align: right; }
ol.grid-rows li { flex: 1; display: flex; align-items: center; justify-content: flex-end; }
.run-top { display: flex; gap: 32px; align-items: flex-start; flex-wrap: wrap; }
.inline { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
th, td { border: 1px solid #d5dbe3; padding: 3px 8px; text-align: left; vertical-align: top; white-space: nowrap; }
th { background: #f1f4f8; }
th a { color: inherit; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.differs td { background: #fff4d6; }
td.best { background: #dcf3e2; font-weight: 600; }
details#columns { margin: 8px 0; }
.column-chooser fieldset { display: inline-block; vertical-align: top; max-height: 14em; overflow-y: auto; margin: 4px; }
.column-chooser label { display: block; white-space: nowrap; }
progress { width: 80px; vertical-align: middle; }
.error { background: #fde8e8; border: 1px solid #e0a0a0; padding: 6px 10px; margin: 8px 0; }
.muted { color: #6b7685; }
form.run-top { display: flex; gap: 32px; align-items: flex-start; flex-wrap: wrap; }
.inline { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; margin: 8px 0; }
input[type=text] { width: 40em; font: inherit; padding: 3px 6px; }
pre { background: #f6f8fa; padding: 8px; overflow: auto; max-height: 70vh; }
img.artifact { min-width: 384px; max-width: 100%; image-rendering: pixelated; border: 1px solid #d5dbe3; }
.status-FINISHED { color: #1a7f37; } .status-FAILED { color: #cf222e; } .status-KILLED { color: #9a6700; } .status-RUNNING { color: #0969da; }
`;

export function page(title: string, crumbs: [string, string?][], body: string, head = ''): string {
  const trail = crumbs.map(([label, link]) => (link ? `<a href="${esc(link)}">${esc(label)}</a>` : esc(label))).join(' / ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)} · difflab tracker</title>
<style>${STYLE}</style>${head}</head>
<body><header><a href="/">difflab tracker</a><nav class="crumbs">${trail}</nav></header>
<main>${body}</main></body></html>`;
}
