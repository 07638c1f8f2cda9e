import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { backendInfo, initBackend, Rng, writeFileAtomic, writeSafetensors } from '@difflab/core-tensor';
import { readNpy, readNpz, type NpyArray } from '@difflab/data';
import { fadOfRun, fadOfSpectrograms, loadSpectrogramFadReference, sampleSpectrograms, trainSpectrogramBaseline, type SpectrogramFadReference } from '@difflab/evaluation';
import { audioUNetConfig, countUNet } from '@difflab/models';
import {
  audioEmbeddingStats,
  frechetDistance,
  planCorpus,
  readAudioSet,
  readCorpusConfig,
  readEmbedderConfig,
  requireFinite,
  requireRows,
  resolveAudioSet,
  runEmbedderTraining,
  SpokenDigitsNet,
  synthesizeCorpus,
  Vggish,
  writeNpz,
  type AudioEmbedder,
} from '@difflab/metrics';

export const summary = 'FAD: Fréchet audio distance (VGGish or the spoken-digits embedder), the spoken-digits corpus';

const usage = `usage:
  difflab fad <A> <B> [--embedder vggish|spoken-digits] --weights <file.safetensors> [--pad-short] [--json]
      Fréchet audio distance between two sets of clips. A and B are each a directory of .wav files,
      a manifest.jsonl, or manifest.jsonl:<split>. Every 0.96 s example of every clip is embedded
      (VGGish front end: 16 kHz, 64-band log-mel); the embeddings' Gaussian fits are compared.
      --embedder vggish (default) needs the user's converted VGGish weights (docs/audio.md);
      spoken-digits takes the train-embedder output and always zero-pads clips shorter than 0.96 s
      (--pad-short does the same for VGGish; the reference drops such clips).
  difflab fad synthesize --config <corpus.json> --out <dir>
      Synthesises the spoken-digits corpus with espeak-ng: <dir>/wav/** and <dir>/manifest.jsonl.
  difflab fad train-embedder --config <embedder.json> --corpus <manifest.jsonl> --out <dir>
      Trains the spoken-digits embedder; writes <dir>/spoken-digits-embedder.safetensors and
      <dir>/report.json (test accuracy on held-out voices, FAD floor and ceilings).
  difflab fad spectrograms <images.npy | file.npz:<key>> [--corpus <dir>] [--weights <file>] [--json]
      FAD of 64×64 log-mel spectrogram images ([n, 64, 64, 1] or [n, 64, 64], values in [−1, 1], the
      loadSpokenDigitsMel layout) against the spoken-digits test voices, with the spoken-digits embedder.
  difflab fad generated <runDir> [--count 480] [--raw] [--corpus <dir>] [--weights <file>] [--json]
      FAD of a training run's spectrograms: --count samples from its latest checkpoint (EMA weights
      unless --raw) with the run's sampler, against the test voices. The run's model must make 64×64×1.
  difflab fad spectrogram-sanity [--corpus <dir>] [--weights <file>] [--seed <n>]
      The FAD floor and ceilings of that pipeline: train vs test voices, test vs itself, noise images.
  difflab fad baseline [--preset UNet-SpokenDigits-S] [--steps 400] [--batch 16] [--lr 2e-3] [--seed 0]
                       [--samples 256] [--sample-steps 25] [--out <dir>]
      Trains an unconditional U-Net on the spectrograms (ε-MSE, linear schedule), samples with DDIM,
      reports held-out loss before/after, FAD of the samples, time and load average; with --out writes
      <dir>/report.json, <dir>/samples.npz (key 'images') and <dir>/model.safetensors.
  --corpus defaults to experiments/spoken-digits/data, --weights to experiments/spoken-digits/artifacts/
  spoken-digits-embedder.safetensors.

See docs/audio.md.`;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      embedder: { type: 'string', default: 'vggish' },
      weights: { type: 'string' },
      'pad-short': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      config: { type: 'string' },
      corpus: { type: 'string' },
      out: { type: 'string' },
      preset: { type: 'string', default: 'UNet-SpokenDigits-S' },
      steps: { type: 'string', default: '400' },
      batch: { type: 'string', default: '16' },
      lr: { type: 'string', default: '2e-3' },
      seed: { type: 'string', default: '0' },
      samples: { type: 'string', default: '256' },
      'sample-steps': { type: 'string', default: '25' },
      count: { type: 'string', default: '480' },
      raw: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const [first, ...rest] = positionals;
  if (first === 'synthesize') {
    if (!values.config || !values.out) throw new Error('fad synthesize needs --config <corpus.json> and --out <dir>');
    const rows = planCorpus(readCorpusConfig(values.config));
    await synthesizeCorpus(rows, values.out, (line) => console.log(line));
    console.log(`wrote ${rows.length} utterances and ${values.out}/manifest.jsonl`);
    return 0;
  }
  if (first === 'train-embedder') {
    if (!values.config || !values.corpus || !values.out) throw new Error('fad train-embedder needs --config <embedder.json>, --corpus <manifest.jsonl> and --out <dir>');
    await initBackend();
    const report = await runEmbedderTraining(readEmbedderConfig(values.config), values.corpus, values.out, (line) => console.log(line));
    console.log(JSON.stringify(report));
    return 0;
  }
  if (first === 'spectrograms' || first === 'generated' || first === 'spectrogram-sanity' || first === 'baseline') {
    // Input checks come before the corpus (≈ 35 s of log-mel) is loaded.
    if (first === 'generated' && (rest.length !== 1 || !existsSync(rest[0]!))) throw new Error(`fad generated takes one existing run directory, got ${rest.join(' ') || 'none'}`);
    if (first === 'spectrograms' && rest.length !== 1) throw new Error('fad spectrograms takes one images file (.npy or file.npz:<key>)');
    const images = first === 'spectrograms' ? readImages(rest[0]!) : null;
    await initBackend();
    const ref = await loadSpectrogramFadReference({ ...(values.corpus ? { dir: values.corpus } : {}), ...(values.weights ? { weights: values.weights } : {}) });
    try {
      if (images) await spectrogramsCommand(ref, images, values.json);
      else if (first === 'generated') {
        const r = await fadOfRun(rest[0]!, ref, { count: positiveInt('count', String(values.count), 2), batchSize: 32, weights: values.raw ? 'raw' : 'ema' });
        console.log(values.json ? JSON.stringify(r) : `FAD (spoken-digits spectrograms) ${r.fad.toPrecision(6)}  [${r.count} samples of step ${r.step} (${r.checkpointDir}) vs ${ref.data.test.n} test-voice spectrograms]`);
      } else if (first === 'spectrogram-sanity') await sanityCommand(ref, positiveInt('seed', values.seed, 0));
      else await baselineCommand(ref, values);
    } finally {
      ref.embedder.dispose();
    }
    return 0;
  }
  if (positionals.length !== 2) throw new Error('fad takes two audio sets (directories, manifest.jsonl or manifest.jsonl:<split>), or a subcommand: synthesize, train-embedder, spectrograms, generated, spectrogram-sanity, baseline (difflab fad --help)');
  if (!values.weights) throw new Error(`fad needs --weights: VGGish weights converted as docs/audio.md shows, or the spoken-digits embedder (npx nx run spoken-digits:train-embedder)`);
  const [a, b] = [first!, rest[0]!];
  const setA = await resolveAudioSet(a);
  const setB = await resolveAudioSet(b);
  await initBackend();
  let embedder: AudioEmbedder;
  let padShort = values['pad-short'];
  if (values.embedder === 'vggish') embedder = await Vggish.load(values.weights);
  else if (values.embedder === 'spoken-digits') {
    embedder = await SpokenDigitsNet.load(values.weights);
    padShort = true;
  } else throw new Error(`--embedder must be vggish or spoken-digits, got '${values.embedder}'`);
  const statsA = await named(a, () => audioEmbeddingStats(embedder, readAudioSet(setA), { padShort }));
  const statsB = await named(b, () => audioEmbeddingStats(embedder, readAudioSet(setB), { padShort }));
  embedder.dispose();
  const fad = frechetDistance(statsA.stats, statsB.stats);
  if (values.json) {
    console.log(JSON.stringify({ fad, embedder: embedder.name, a: { spec: a, clips: statsA.clips, examples: statsA.examples }, b: { spec: b, clips: statsB.clips, examples: statsB.examples } }));
  } else {
    console.log(`FAD (${embedder.name}) ${fad.toPrecision(6)}  [${a}: ${statsA.clips} clips / ${statsA.examples} examples; ${b}: ${statsB.clips} clips / ${statsB.examples} examples]`);
  }
  return 0;
}

/** Prefixes an error with the audio set it came from, so the message says which argument to fix. */
async function named<T>(spec: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    throw new Error(`${spec}: ${(err as Error).message}`);
  }
}

function positiveInt(name: string, v: string, min = 1): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}, got '${v}'`);
  return n;
}

/** [n, 64, 64, 1] or [n, 64, 64] float images from a .npy or an .npz member. */
function readImages(spec: string): Float32Array {
  const m = /^(.*\.npz):(.+)$/.exec(spec);
  if (!m && spec.endsWith('.npz')) throw new Error(`${spec}: name the member, e.g. ${spec}:images`);
  const arr: NpyArray | undefined = m ? readNpz(m[1]!).get(m[2]!) : readNpy(spec);
  if (!arr) throw new Error(`${m![1]}: no member '${m![2]}'`);
  const [, h, w, c = 1] = arr.shape;
  if (arr.shape.length < 3 || arr.shape.length > 4 || h !== 64 || w !== 64 || c !== 1) throw new Error(`${spec}: images have shape [${arr.shape}], expected [n, 64, 64, 1] or [n, 64, 64]`);
  if (!(arr.data instanceof Float32Array || arr.data instanceof Float64Array)) throw new Error(`${spec}: images are ${arr.dtype}; save them as float32 or float64 in [−1, 1]`);
  requireRows(spec, arr.shape[0]!, 2, 'FAD (a covariance of the embeddings)');
  requireFinite(spec, arr.data, 64 * 64 * c, 'images must be finite, in [−1, 1] — clip or drop the bad images');
  return Float32Array.from(arr.data);
}

async function spectrogramsCommand(ref: SpectrogramFadReference, images: Float32Array, json: boolean): Promise<void> {
  const n = images.length / (64 * 64);
  const fad = await fadOfSpectrograms(images, { embedder: ref.embedder, normalization: ref.data.normalization, reference: ref.stats });
  if (json) console.log(JSON.stringify({ fad, count: n, reference: ref.data.test.n }));
  else console.log(`FAD (spoken-digits spectrograms) ${fad.toPrecision(6)}  [${n} images vs ${ref.data.test.n} test-voice spectrograms]`);
}

/** First `count` images of a split. */
const head = (images: Float32Array, count: number) => images.subarray(0, count * 64 * 64);

async function sanityCommand(ref: SpectrogramFadReference, seed: number): Promise<void> {
  const { train, test, normalization } = ref.data;
  const opts = { embedder: ref.embedder, normalization, reference: ref.stats };
  const rng = new Rng(seed);
  const gaussian = rng.normalArray(test.n * 64 * 64).map((v) => Math.min(1, Math.max(-1, v)));
  const result = {
    trainVsTest: await fadOfSpectrograms(train.images, opts),
    train256VsTest: await fadOfSpectrograms(head(train.images, 256), opts),
    testVsTest: await fadOfSpectrograms(test.images, opts),
    gaussianNoiseVsTest: await fadOfSpectrograms(Float32Array.from(gaussian), opts),
  };
  console.log(JSON.stringify({ normalization, train: train.n, test: test.n, ...result }, null, 2));
}

async function baselineCommand(ref: SpectrogramFadReference, values: Record<string, string | boolean | undefined>): Promise<void> {
  const preset = String(values.preset);
  const config = audioUNetConfig(preset);
  const opts = {
    steps: positiveInt('steps', String(values.steps)),
    batchSize: positiveInt('batch', String(values.batch)),
    lr: Number(values.lr),
    seed: positiveInt('seed', String(values.seed), 0),
    heldoutCount: 64,
  };
  if (!(opts.lr > 0)) throw new Error(`--lr must be > 0, got '${values.lr}'`);
  const count = positiveInt('samples', String(values.samples), 2);
  const sampleSteps = positiveInt('sample-steps', String(values['sample-steps']), 2);
  const { train, test, normalization } = ref.data;
  const { params, macs } = countUNet(config);
  console.log(`${preset}: ${params} params, ${(macs / 1e9).toFixed(3)} GMACs/example; ${train.n} training spectrograms; backend ${backendInfo()?.name}`);
  const load = [loadavg()[0]!];
  const result = await trainSpectrogramBaseline(config, train, test, { ...opts, log: (l) => (load.push(loadavg()[0]!), console.log(l)) });
  console.log(`held-out ε-MSE ${result.heldoutBefore.toFixed(4)} → ${result.heldoutAfter.toFixed(4)} in ${result.seconds.toFixed(0)} s`);
  const t0 = performance.now();
  const images = sampleSpectrograms(result.model, result.schedule, count, { steps: sampleSteps, batchSize: 32, seed: opts.seed + 7 });
  const sampleSeconds = (performance.now() - t0) / 1000;
  if (typeof values.out === 'string') {
    await mkdir(values.out, { recursive: true });
    await writeSafetensors(join(values.out, 'model.safetensors'), result.model.params, { preset, normalization: JSON.stringify(normalization) });
  }
  result.model.dispose();
  const fadOpts = { embedder: ref.embedder, normalization, reference: ref.stats };
  const report = {
    preset,
    params,
    macs,
    ...opts,
    backend: backendInfo()?.name,
    trainSeconds: result.seconds,
    heldoutBefore: result.heldoutBefore,
    heldoutAfter: result.heldoutAfter,
    firstLosses: result.losses.slice(0, 20),
    lastLosses: result.losses.slice(-20),
    samples: count,
    sampleSteps,
    sampleSeconds,
    fadSamples: await fadOfSpectrograms(images, fadOpts),
    fadTrainSameCount: await fadOfSpectrograms(head(train.images, count), fadOpts),
    fadNoiseSameCount: await fadOfSpectrograms(Float32Array.from(new Rng(opts.seed + 8).normalArray(count * 64 * 64), (v) => Math.min(1, Math.max(-1, v))), fadOpts),
    loadAverage1m: { min: Math.min(...load), max: Math.max(...load), mean: load.reduce((a, b) => a + b, 0) / load.length },
    normalization,
  };
  console.log(JSON.stringify(report, null, 2));
  if (typeof values.out === 'string') {
    await writeNpz(join(values.out, 'samples.npz'), { images: { shape: [count, 64, 64, 1], data: images } });
    await writeFileAtomic(join(values.out, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  }
}
