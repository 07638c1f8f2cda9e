import { readFileSync } from 'node:fs';
import type { z } from 'zod';

/** A config file that cannot be used; the message names the file, every bad field and the fix. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Every issue of a failed parse, one line each, by dotted field path. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues.map((issue) => `  ${issue.path.length ? issue.path.join('.') : '(top level)'}: ${issue.message}`).join('\n');
}

/**
 * Validates an already-parsed config against `schema`. `what` says what kind of config it is
 * ("training config", "pruning preset score.json", …) and `source` where it came from.
 */
export function parseConfig<S extends z.ZodType>(schema: S, raw: unknown, what: string, source: string): z.output<S> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  throw new ConfigError(`invalid ${what} ${source}:\n${formatIssues(result.error.issues)}`);
}

/** Reads a JSON config file and validates it: the one loader every config file goes through. */
export function loadConfigFile<S extends z.ZodType>(schema: S, path: string, what: string): z.output<S> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read ${what} ${path}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${what} ${path} is not valid JSON: ${(e as Error).message}`);
  }
  return parseConfig(schema, raw, what, path);
}
