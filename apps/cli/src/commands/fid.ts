import { parseArgs } from 'node:util';
import { initBackend } from '@difflab/core-tensor';
import { readNpy } from '@difflab/data';
import { frechetDistance, gaussianStats, loadStats, readFeatureNetConfig, runFeatureNetTraining, saveStats } from '@difflab/metrics';

export const summary = 'FID: statistics from features, Fréchet distance, the Fashion-MNIST feature network';

const usage = `usage:
  difflab fid compare <stats-a.npz> <stats-b.npz> [--eps 1e-6]
      Fréchet distance between saved statistics (difflab's or pytorch-fid's mu/sigma .npz).
      --eps adds eps·I inside the square root, as pytorch-fid's singular-product fallback.
  difflab fid stats <features.npy> --out <stats.npz>
      Mean/covariance (float64, unbiased) of an N×D float32/float64 feature matrix from elsewhere.
  difflab fid train-featurenet --config <config.json> --out <dir>
      Trains the Fashion-MNIST feature network; writes <dir>/fmnist-featurenet.safetensors and
      <dir>/report.json (test accuracy, FID-FMNIST floor train-vs-test and noise ceiling).

See docs/metrics.md for definitions and how results compare with pytorch-fid.`;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      eps: { type: 'string' },
      out: { type: 'string' },
      config: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const [sub, ...rest] = positionals;
  if (sub === 'compare') {
    if (rest.length !== 2) throw new Error('fid compare takes two statistics files (.npz with mu and sigma)');
    const eps = values.eps === undefined ? 0 : Number(values.eps);
    if (!(eps >= 0)) throw new Error(`--eps must be a number ≥ 0, got ${values.eps}`);
    console.log(frechetDistance(loadStats(rest[0]!), loadStats(rest[1]!), { eps }).toPrecision(10));
    return 0;
  }
  if (sub === 'stats') {
    if (rest.length !== 1 || !values.out) throw new Error('fid stats takes one features .npy and --out <stats.npz>');
    const f = readNpy(rest[0]!);
    if (f.shape.length !== 2 || !(f.data instanceof Float32Array || f.data instanceof Float64Array)) {
      throw new Error(`${rest[0]}: expected a 2-D float32/float64 array (samples × features), got ${f.dtype} of shape (${f.shape})`);
    }
    const [n, d] = f.shape as [number, number];
    await saveStats(values.out, gaussianStats(f.data, n, d));
    console.log(`wrote ${values.out}: ${n} samples, ${d} features`);
    return 0;
  }
  if (sub === 'train-featurenet') {
    if (!values.config || !values.out) throw new Error('fid train-featurenet needs --config <config.json> and --out <dir>');
    await initBackend();
    const report = await runFeatureNetTraining(readFeatureNetConfig(values.config), values.out, (line) => console.log(line));
    console.log(JSON.stringify(report));
    return 0;
  }
  throw new Error(`unknown fid subcommand '${sub ?? ''}'; use compare, stats or train-featurenet (difflab fid --help)`);
}
