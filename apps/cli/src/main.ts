import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { basename, dirname, join } from 'node:path';
import type { Command } from './command.js';
import { quotedChoices, suggestions } from './did-you-mean.js';

// Each file in ./commands is one top-level command (`difflab <file-name> ...`), so a new
// command is one new file and no edit here.
const commandsDir = join(dirname(fileURLToPath(import.meta.url)), 'commands');

function commandNames(): string[] {
  return readdirSync(commandsDir)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => basename(f, '.ts'))
    .sort();
}

async function loadCommand(name: string): Promise<Command> {
  return (await import(join(commandsDir, `${name}.ts`))) as Command;
}

async function printHelp(): Promise<void> {
  const lines = ['usage: difflab <command> [options]   (difflab <command> --help for more)', '', 'commands:'];
  for (const name of commandNames()) {
    lines.push(`  ${name.padEnd(12)} ${(await loadCommand(name)).summary}`);
  }
  console.log(lines.join('\n'));
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    await printHelp();
    return name ? 0 : 2;
  }
  const names = commandNames();
  if (!names.includes(name)) {
    const guesses = suggestions(name, names);
    const hint = guesses.length > 0 ? ` Did you mean ${quotedChoices(guesses)}?` : '';
    console.error(`difflab: unknown command '${name}'.${hint} Run 'difflab --help' for the list.`);
    return 2;
  }
  return (await loadCommand(name)).run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // Expected failures (bad config, missing data) carry their own message; a stack would bury it.
    const e = err as Error;
    console.error(`difflab: ${e?.message ?? String(err)}`);
    if (process.env.DIFFLAB_DEBUG) console.error(e?.stack);
    process.exitCode = 1;
  },
);
