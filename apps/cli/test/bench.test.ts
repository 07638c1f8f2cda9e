// `difflab bench` reaches the harness in tools/bench without the CLI depending on it.
import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { run } from '../src/commands/bench.js';

describe('difflab bench', () => {
  it('loads the harness from the checkout at run time', async () => {
    const out: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((line: string) => void out.push(line));
    try {
      expect(await run(['--help'])).toBe(0);
    } finally {
      spy.mockRestore();
    }
    expect(out.join('\n')).toMatch(/usage: difflab bench train-step/);
    expect(out.join('\n')).toMatch(/trainStep/);
  });

  it('is not a package dependency of the CLI', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
    expect(Object.keys({ ...pkg.dependencies, ...pkg.devDependencies })).not.toContain('@difflab/bench');
  });
});
