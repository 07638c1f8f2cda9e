/**
 * Writes `value` at the dotted `path` of a trainer config a study builds from its settings (`train.lr`), creating
 * intermediate objects as needed; the value is copied, so configs built from one definition share nothing. `fail` makes
 * the study's own error when a segment on the way is not an object.
 */
export function setConfigPath(root: Record<string, unknown>, path: string, value: unknown, fail: (message: string) => Error): void {
  const keys = path.split('.');
  let node = root;
  for (const k of keys.slice(0, -1)) {
    const next = node[k];
    if (next === undefined) node[k] = {};
    else if (typeof next !== 'object' || next === null || Array.isArray(next)) throw fail(`'${path}': ${k} is not an object in the config`);
    node = node[k] as Record<string, unknown>;
  }
  node[keys.at(-1)!] = structuredClone(value);
}
