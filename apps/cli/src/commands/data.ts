import { parseArgs } from 'node:util';
import { fashionMnistInfo, resolveFashionMnist, type FashionMnistInfo } from '@difflab/data';

export const summary = 'dataset status and acquisition: difflab data info|fetch fashion-mnist';

const usage = `usage: difflab data info fashion-mnist [--json] [--dir DIR]
       difflab data fetch fashion-mnist

info: shows where Fashion-MNIST is read from, each file's size and SHA-256 status
(ok / mismatch / missing / corrupt against datasets/fashion-mnist.json), the split
sizes, image shape and class names. Never downloads.
fetch: makes the data available, filling the cache from Debian (apt-get download,
no root needed) when no other source has it; prints the source used.

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
  if (action === 'fetch') {
    const source = resolveFashionMnist(values.dir ? { dir: values.dir } : {});
    console.log(`fashion-mnist: ${source.kind} (${source.dir}); check it with 'difflab data info fashion-mnist'`);
    return 0;
  }
  const info = fashionMnistInfo(values.dir ? { dir: values.dir } : {});
  console.log(values.json ? JSON.stringify(info, null, 2) : formatText(info));
  return info.files.every((f) => f.status === 'ok') ? 0 : 1;
}
