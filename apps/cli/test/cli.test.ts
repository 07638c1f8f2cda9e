import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../bin/difflab.js', import.meta.url));

function difflab(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('difflab CLI', () => {
  it('lists its commands', async () => {
    const r = await difflab('--help');
    expect(r.code).toBe(0);
    for (const cmd of ['train', 'model-info', 'data']) expect(r.stdout).toMatch(new RegExp(`^  ${cmd} `, 'm'));
  });

  it('rejects an unknown command with a pointer to --help', async () => {
    const r = await difflab('trian');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command 'trian'");
  });

  it('model-info prints the paper-table size of DiT-XL/2 as JSON', async () => {
    const r = await difflab('model-info', 'DiT-XL/2', '--json');
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    // Peebles & Xie, Table 4: DiT-XL/2 has 675M parameters and 118.64 Gflops.
    expect(Math.round(info.params / 1e6)).toBe(675);
    expect(info.gflops).toBeCloseTo(118.64, 1);
  });

  it('model-info names the valid configs when given an unknown one', async () => {
    const r = await difflab('model-info', 'DiT-XXL/2');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('DiT-XL/2');
  });

  it('train names the bad field of a config and exits non-zero', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-'));
    const cfg = join(dir, 'bad.json');
    writeFileSync(cfg, JSON.stringify({ model: { preset: 'DiT-FMNIST-S/4' }, train: { steps: 0, batchSize: 8, lr: 1e-4 } }));
    const r = await difflab('train', cfg, '--out', join(dir, 'run'), '--no-track');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/train\.steps: /);
  });

  it('data info reports the four Fashion-MNIST files and split sizes', async () => {
    const r = await difflab('data', 'info', 'fashion-mnist', '--json');
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(JSON.stringify(info)).toContain('60000');
    expect(JSON.stringify(info)).toContain('10000');
  });
});
