/** "Did you mean" for a mistyped name: of a command, a study, a stage, a preset. */

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
 * Names a mistyped `word` probably meant: those it begins (`tra` → train, tracker), else the
 * nearest within 2 edits, and fewer edits than the word has letters (`trian` → train). Nothing when
 * no name is that close, so a wrong word is not answered with an unrelated name.
 */
export function suggestions(word: string, names: readonly string[]): string[] {
  const w = word.toLowerCase();
  const prefixed = w.length >= 2 ? names.filter((n) => n.startsWith(w)) : [];
  if (prefixed.length > 0) return prefixed;
  const scored = names.map((n) => ({ n, d: levenshtein(w, n) })).filter((s) => s.d <= 2 && s.d < w.length);
  const best = Math.min(...scored.map((s) => s.d));
  return scored.filter((s) => s.d === best).map((s) => s.n);
}

/** `'a' or 'b'`: the suggestions as a message lists them. */
export function quotedChoices(names: readonly string[]): string {
  return names.map((n) => `'${n}'`).join(' or ');
}

/** `"did you mean 'x'? "` for a close name, else '' — to put between "unknown X 'w'; " and the list of known ones. */
export function didYouMean(word: string, names: readonly string[]): string {
  const guesses = suggestions(word, names);
  return guesses.length > 0 ? `did you mean ${quotedChoices(guesses)}? ` : '';
}
