import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fashionMnistInfo, resolveFashionMnist, type FashionMnistInfo } from '@difflab/data';

export const summary = 'dataset status and acquisition: difflab data info|fetch fashion-mnist';

const usage = `usage: difflab data info fashion-mnist [--json] [--dir DIR]
       difflab data fetch fashion-mnist

info: shows where Fashion-MNIST is read from, each file's size and SHA-256 status
(ok / mismatch / missing / corrupt against datasets/fashion-mnist.json), the split
sizes, image shape and class names. Never downloads. Exits 1, naming each bad file
and the fix on stderr, unless all four files are ok.
fetch: makes the data available, filling the cache from Debian (apt-get download,
no root needed) when no other source has it; prints the source used, and exits 1
like info when that source's files are not all ok.

Sources, first match wins: --dir; $DIFFLAB_DATA_DIR/fashion-mnist;
/usr/share/datasets/fashion-mnist (Debian dataset-fashion-mnist);
$XDG_CACHE_HOME/difflab/datasets/fashion-mnist (filled by the loader via apt-get download).

options:
  --json       machine-readable output
  --dir DIR    inspect this directory instead
  -h, --help   this help`;

const datasets = ['fashion-mnist'];

function formatText(info: FashionMnistInfo): string {
  const lines = [`fashion-mnist  source: ${info.source.kind} (${info.source.dir})`, ''];
  for (const f of info.files) {
    const size = f.bytes === null ? '-' : `${f.bytes} B`;
    const count = f.count === null ? '' : `  ${f.count} examples`;
    lines.push(`  ${f.status.padEnd(8)} ${f.name.padEnd(24)} ${size.padStart(12)}${count}`);
    if (f.status === 'mismatch') lines.push(`           sha256 ${f.sha256}, expected ${f.expectedSha256}`);
    if (f.error) lines.push(`           ${f.error}`);
  }
  lines.push(
    '',
    `  splits       train ${info.splits.train ?? '?'}, test ${info.splits.test ?? '?'}`,
    `  image shape  ${info.imageShape.join('×')}×1 (uint8, scaled to [-1, 1] in batches)`,
    `  classes      ${info.classNames.map((c, i) => `${i} ${c}`).join(', ')}`,
  );
  return lines.join('\n');
}

/** One stderr line per file that is not ok, and the fix; empty when every file is ok. */
function problems(info: FashionMnistInfo): string[] {
  const bad = info.files.filter((f) => f.status !== 'ok');
  if (bad.length === 0) return [];
  const lines = bad.map((f) => {
    const where = f.path ?? `${join(info.source.dir, f.name)}[.gz]`;
    // Errors from the reader start with the path already; say it once.
    const error = f.error?.startsWith(`${f.path}: `) ? f.error.slice(f.path!.length + 2) : f.error;
    const detail = f.status === 'mismatch' ? `SHA-256 ${f.sha256}, expected ${f.expectedSha256}` : (error ?? '');
    return `${where}: ${f.status}${detail ? ` (${detail})` : ''}`;
  });
  const missing = bad.some((f) => f.status === 'missing');
  const elsewhere =
    info.source.kind === 'explicit'
      ? 'or drop --dir to use the Debian copy'
      : info.source.kind === 'env'
        ? 'or unset DIFFLAB_DATA_DIR to use the Debian copy'
        : "or run 'difflab data fetch fashion-mnist'";
  const fix = missing
    ? `Fix: put the four IDX files (plain or .gz) in ${info.source.dir}, ${elsewhere} (apt-get install dataset-fashion-mnist).`
    : `Fix: delete the damaged file${bad.length > 1 ? 's' : ''} and acquire ${bad.length > 1 ? 'them' : 'it'} again (apt-get install --reinstall dataset-fashion-mnist, or copy from another machine), ${elsewhere}.`;
  return [`fashion-mnist in ${info.source.dir} (${info.source.kind} source) is not usable:`, ...lines.map((l) => `  ${l}`), fix];
}

/** Prints the report on stdout and any problem on stderr; the exit code says whether the data is usable. */
function report(info: FashionMnistInfo, json: boolean | undefined, summary?: string): number {
  console.log(json ? JSON.stringify(info, null, 2) : (summary ?? formatText(info)));
  const lines = problems(info);
  if (lines.length > 0) console.error(lines.join('\n'));
  return lines.length > 0 ? 1 : 0;
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { json: { type: 'boolean' }, dir: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const [action, dataset] = positionals;
  if ((action !== 'info' && action !== 'fetch') || positionals.length !== 2) {
    console.error(usage);
    return 2;
  }
  if (!datasets.includes(dataset!)) throw new Error(`unknown dataset '${dataset}'; known: ${datasets.join(', ')}`);
  const dirOpt = values.dir ? { dir: values.dir } : {};
  if (action === 'fetch') {
    const source = resolveFashionMnist(dirOpt);
    // An explicit or $DIFFLAB_DATA_DIR source is taken as given, so check that it holds usable files.
    const info = fashionMnistInfo({ ...dirOpt, dir: source.dir });
    return report({ ...info, source }, values.json, `fashion-mnist: ${source.kind} (${source.dir}); check it with 'difflab data info fashion-mnist'`);
  }
  return report(fashionMnistInfo(dirOpt), values.json);
}
