// repa-encoders train <mae|classifier|random> --config encoders.json --out artifacts
// repa-encoders features <mae|classifier|random> --config encoders.json --out artifacts
// repa-encoders all --config encoders.smoke.json --out artifacts-smoke   (both, for every encoder)
import { join } from 'node:path';
import { initBackend, writeFileAtomic } from '@difflab/core-tensor';
import { ENCODERS, loadEncoder, readEncodersConfig, saveEncoder, trainEncoder, type EncoderName } from './encoders.js';
import { writeFeatures } from './features.js';

const log = (line: string) => process.stderr.write(`${line}\n`);

function usage(problem: string): never {
  process.stderr.write(`repa-encoders: ${problem}\nusage: repa-encoders <train|features|all> <${ENCODERS.join('|')}> --config <file> --out <dir>\n`);
  process.exit(2);
}

async function trainOne(name: EncoderName, configPath: string, out: string): Promise<void> {
  const cfg = readEncodersConfig(configPath);
  const { encoder, report } = await trainEncoder(name, cfg, log);
  const dir = join(out, name);
  await saveEncoder(join(dir, 'encoder.safetensors'), encoder, cfg);
  await writeFileAtomic(join(dir, 'train.json'), `${JSON.stringify(report, null, 2)}\n`);
  encoder.dispose();
}

async function featuresOne(name: EncoderName, configPath: string, out: string): Promise<void> {
  const cfg = readEncodersConfig(configPath);
  const dir = join(out, name);
  const encoder = await loadEncoder(join(dir, 'encoder.safetensors'), name);
  await writeFeatures(encoder, cfg, dir, log);
  encoder.dispose();
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const flag = (k: string) => {
    const i = rest.indexOf(k);
    return i >= 0 ? rest[i + 1] : undefined;
  };
  const config = flag('--config') ?? usage('--config is required');
  const out = flag('--out') ?? usage('--out is required');
  await initBackend({ log });
  if (command === 'all') {
    for (const name of ENCODERS) {
      await trainOne(name, config, out);
      await featuresOne(name, config, out);
    }
    return;
  }
  const name = rest[0] as EncoderName;
  if (!ENCODERS.includes(name)) usage(`unknown encoder '${rest[0]}'`);
  if (command === 'train') await trainOne(name, config, out);
  else if (command === 'features') await featuresOne(name, config, out);
  else usage(`unknown command '${command}'`);
}

await main(process.argv.slice(2));
