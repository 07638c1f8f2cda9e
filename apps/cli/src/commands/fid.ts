import { parseArgs } from 'node:util';
import { initBackend } from '@difflab/core-tensor';
import { frechetDistance, gaussianStats, loadStats, readFeatureFile, readFeatureNetConfig, requireRows, requireSameWidth, runFeatureNetTraining, saveStats } from '@difflab/metrics';

export const summary = 'FID: statistics from features, Fréchet distance, the Fashion-MNIST feature network';

const usage = `usage:
  difflab fid compare <stats-a.npz> <stats-b.npz> [--eps 1e-6]
      Fréchet distance between saved statistics (difflab's or pytorch-fid's mu/sigma .npz).
      mu must be finite and sigma a covariance: symmetric and positive semi-definite (within the
      tolerances in packages/metrics/README.md); anything else is an error naming the file and array.
      --eps adds eps·I inside the square root, as pytorch-fid's singular-product fallback.
  difflab fid stats <features.npy> --out <stats.npz>
      Mean/covariance (float64, unbiased) of an N×D float32/float64 feature matrix from elsewhere
      (N ≥ 2 finite rows; .npz, Parquet and Arrow feature files as for difflab metrics work too).
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
    if (!(eps >= 0) || !Number.isFinite(eps)) throw new Error(`--eps must be a finite number ≥ 0, got ${values.eps}`);
    const [a, b] = [loadStats(rest[0]!), loadStats(rest[1]!)];
    requireSameWidth(rest[0]!, a, rest[1]!, b, 'FID compares statistics of one feature extractor — recompute one of them with the other\'s network and layer');
    console.log(frechetDistance(a, b, { eps }).toPrecision(10));
    return 0;
  }
  if (sub === 'stats') {
    if (rest.length !== 1 || !values.out) throw new Error('fid stats takes one features .npy and --out <stats.npz>');
    const f = readFeatureFile(rest[0]!);
    requireRows(rest[0]!, f.rows, 2, 'a covariance');
    await saveStats(values.out, gaussianStats(f.data, f.rows, f.dim));
    console.log(`wrote ${values.out}: ${f.rows} samples, ${f.dim} features`);
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
