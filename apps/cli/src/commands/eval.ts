import { parseArgs } from 'node:util';
import { evaluate, type EvalResult } from '@difflab/evaluation';
import { openTracker } from '@difflab/tracking';

export const summary = "evaluate a training run: FID-FMNIST with its floor at N, class accuracy, precision and recall of its samples";

const usage = `usage: difflab eval <runDir> [--feature-net PATH] [--samples-per-class N] [--weights ema|raw] [--no-track] [--json]

  --feature-net PATH     Fashion-MNIST feature network (default: the artifact of
                         npx nx run fmnist-featurenet:train)
  --samples-per-class N  samples per class (default 100, so N = 1,000 images)
  --weights ema|raw      checkpoint weights to sample with (default ema)
  --no-track             do not log to the tracker (default: the run found by its difflab.run_dir tag)
  --json                 print the result as JSON

Samples the latest checkpoint with the run's sampler settings (fixed seed), then writes
<runDir>/eval/metrics.parquet (name, value, n_samples, weights, step, feature_net_sha256) and
<runDir>/eval/samples.png. FID is biased upwards at small N, so it is reported beside its floor:
the FID of N real training images (as many per class) against the same reference. Precision and
recall (Kynkäänniemi et al. 2019, k = 3) compare the samples with those N real images in the
feature network's space: low recall is lost diversity. Reference statistics of the test split are cached next to the
feature network, keyed by its hash.`;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      'feature-net': { type: 'string' },
      'samples-per-class': { type: 'string' },
      weights: { type: 'string', default: 'ema' },
      'no-track': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (positionals.length !== 1) {
    console.error(usage);
    return 2;
  }
  const perClass = values['samples-per-class'] === undefined ? undefined : Number(values['samples-per-class']);
  if (perClass !== undefined && !(Number.isInteger(perClass) && perClass > 0)) {
    throw new Error(`--samples-per-class must be a positive integer, got ${values['samples-per-class']}`);
  }
  if (values.weights !== 'ema' && values.weights !== 'raw') throw new Error(`--weights must be ema or raw, got ${values.weights}`);
  const tracker = values['no-track'] ? undefined : openTracker();
  let result: EvalResult;
  try {
    result = await evaluate(positionals[0]!, {
      featureNet: values['feature-net'],
      samplesPerClass: perClass,
      weights: values.weights,
      tracker,
      log: (line) => console.error(line),
    });
  } finally {
    await tracker?.close();
  }
  if (values.json) {
    const { samples, ...rest } = result;
    console.log(JSON.stringify(rest, null, 2));
    return 0;
  }
  const floor = result.realDataFloor;
  console.log(
    [
      `step ${result.step} (${result.weights} weights), N = ${result.n} samples`,
      `  fid_fmnist      ${result.fid.toFixed(3)}   (floor at N = ${result.n}: ${result.fidFloor.toFixed(3)}, ratio ${(result.fid / result.fidFloor).toFixed(2)}×${floor ? `; all 60,000 train vs test: ${floor.fidTrainVsTest.toFixed(3)}` : ''})`,
      `  precision       ${result.precision.toFixed(4)}`,
      `  recall          ${result.recall.toFixed(4)}`,
      result.classAccuracy === null ? '' : `  class_accuracy  ${result.classAccuracy.toFixed(4)}${floor ? `  (feature net on real test: ${floor.testAccuracy.toFixed(4)})` : ''}`,
      `  table           ${result.tablePath}`,
      `  samples         ${result.samplesPath}`,
      result.tracked ? `  tracker run     ${result.tracked.runId}${result.tracked.attached ? ' (the training run)' : ' (new; no training run had this run_dir)'}` : '',
    ]
      .filter(Boolean)
      .join('\n'),
  );
  return 0;
}
