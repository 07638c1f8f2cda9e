import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { basename, dirname, join } from 'node:path';
import type { Command } from './command.js';

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

/** Edit distance (insertions, deletions, substitutions) between two short words. */
function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * Commands a mistyped `word` probably meant: those it begins (`tra` → train, tracker), else the
 * nearest within 2 edits, and fewer edits than the word has letters (`trian` → train). Nothing when
 * no command is that close, so a wrong word is not answered with an unrelated command.
 */
function suggestions(word: string, names: readonly string[]): string[] {
  const w = word.toLowerCase();
  const prefixed = w.length >= 2 ? names.filter((n) => n.startsWith(w)) : [];
  if (prefixed.length > 0) return prefixed;
  const scored = names.map((n) => ({ n, d: levenshtein(w, n) })).filter((s) => s.d <= 2 && s.d < w.length);
  const best = Math.min(...scored.map((s) => s.d));
  return scored.filter((s) => s.d === best).map((s) => s.n);
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
    const hint = guesses.length > 0 ? ` Did you mean ${guesses.map((g) => `'${g}'`).join(' or ')}?` : '';
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
