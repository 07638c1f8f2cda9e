import { parseArgs } from 'node:util';
import { initBackend } from '@difflab/core-tensor';
import {
  audioEmbeddingStats,
  frechetDistance,
  planCorpus,
  readAudioSet,
  readCorpusConfig,
  readEmbedderConfig,
  resolveAudioSet,
  runEmbedderTraining,
  SpokenDigitsNet,
  synthesizeCorpus,
  Vggish,
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
  if (positionals.length !== 2) throw new Error('fad takes two audio sets (directories, manifest.jsonl or manifest.jsonl:<split>), or a subcommand: synthesize, train-embedder (difflab fad --help)');
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
  const statsA = await audioEmbeddingStats(embedder, readAudioSet(setA), { padShort });
  const statsB = await audioEmbeddingStats(embedder, readAudioSet(setB), { padShort });
  embedder.dispose();
  const fad = frechetDistance(statsA.stats, statsB.stats);
  if (values.json) {
    console.log(JSON.stringify({ fad, embedder: embedder.name, a: { spec: a, clips: statsA.clips, examples: statsA.examples }, b: { spec: b, clips: statsB.clips, examples: statsB.examples } }));
  } else {
    console.log(`FAD (${embedder.name}) ${fad.toPrecision(6)}  [${a}: ${statsA.clips} clips / ${statsA.examples} examples; ${b}: ${statsB.clips} clips / ${statsB.examples} examples]`);
  }
  return 0;
}
