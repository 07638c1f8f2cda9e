// Builds the addon with node-gyp against the headers of the running Node, found next to the node
// binary (Debian: /usr/include/node; official tarballs: <prefix>/include/node), so node-gyp never
// downloads headers. It builds in a scratch copy of this directory and renames the result into
// build/Release, so concurrent builds (parallel Nx tasks) never clash and a running process keeps
// its loaded copy. Exits non-zero with one line saying why when it cannot build.
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const target = join(here, 'build/Release/difflab_native.node');
// oneDNN (its fp32 and bf16 products) is linked when its header is present; binding.gyp reads the decision from DIFFLAB_ONEDNN.
const ONEDNN_HEADER = '/usr/include/oneapi/dnnl/dnnl.h';

function fail(message) {
  console.error(`build-native: ${message}`);
  process.exit(1);
}

const prefix = dirname(dirname(process.execPath));
const nodedir = [prefix, '/usr', '/usr/local'].find((p) => existsSync(join(p, 'include/node/node_api.h')));
if (!nodedir) fail(`no Node headers (include/node/node_api.h) under ${prefix}, /usr or /usr/local; install the Node development headers`);
if (process.platform === 'linux' && spawnSync('pkg-config', ['--exists', 'openblas']).status !== 0) {
  fail('pkg-config cannot find openblas; install pkg-config and libopenblas-dev (bash tools/setup.sh does as root)');
}

const onednn = process.platform === 'linux' && existsSync(ONEDNN_HEADER);
const scratch = mkdtempSync(join(tmpdir(), 'difflab-native-'));
try {
  cpSync(join(here, 'binding.gyp'), join(scratch, 'binding.gyp'));
  cpSync(join(here, 'src'), join(scratch, 'src'), { recursive: true });
  const verbose = process.argv.includes('--verbose');
  const result = spawnSync(process.execPath, [require.resolve('node-gyp/bin/node-gyp.js'), 'rebuild', `--nodedir=${nodedir}`, '-j', '2'], {
    cwd: scratch,
    env: { ...process.env, DIFFLAB_NAPI_INCLUDE: dirname(require.resolve('node-addon-api/package.json')), DIFFLAB_ONEDNN: onednn ? '1' : '0' },
    stdio: verbose ? 'inherit' : ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
  });
  if (result.status !== 0) {
    if (!verbose) process.stderr.write(`${result.stdout ?? ''}${result.stderr ?? ''}`);
    fail('node-gyp failed (output above)');
  }
  mkdirSync(dirname(target), { recursive: true });
  const staged = `${target}.${process.pid}.tmp`;
  copyFileSync(join(scratch, 'build/Release/difflab_native.node'), staged);
  renameSync(staged, target);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
console.log(`build-native: built ${target}${onednn ? ' with oneDNN (its fp32 and bf16 products)' : process.platform === 'linux' ? `; without oneDNN (no ${ONEDNN_HEADER}): oneDNN and bf16 products unavailable, install libdnnl-dev to have them` : ''}`);
