import { describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
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
    expect(r.stderr).toContain("Run 'difflab --help'");
  });

  it('suggests the command a typo or a prefix probably meant, and nothing for an unrelated word', async () => {
    const [typo, prefix, far] = await Promise.all([difflab('trian'), difflab('tra'), difflab('xyzzy')]);
    expect(typo.stderr).toContain("Did you mean 'train'?");
    expect(prefix.stderr).toContain("Did you mean 'tracker' or 'train'?");
    expect(far.code).toBe(2);
    expect(far.stderr).not.toContain('Did you mean');
  });

  it('model-info prints the paper-table size of DiT-XL/2 as JSON', async () => {
    const r = await difflab('model-info', 'DiT-XL/2', '--json');
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    // Peebles & Xie, Table 4: DiT-XL/2 has 675M parameters and 118.64 Gflops.
    expect(Math.round(info.params / 1e6)).toBe(675);
    expect(info.gflops).toBeCloseTo(118.64, 1);
  });

  it('model-info counts the architecture switches given with --set (SwiGLU at equal parameters)', async () => {
    const gelu = JSON.parse((await difflab('model-info', 'DiT-FMNIST-S/4', '--json')).stdout);
    const r = await difflab('model-info', 'DiT-FMNIST-S/4', '--set', 'mlp=swiglu', '--set', 'norm=rmsnorm', '--set', 'rope=true', '--json');
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.config).toMatchObject({ mlp: 'swiglu', norm: 'rmsnorm', rope: true });
    // Per block, d = 192: GELU MLP d·4d + 4d + 4d·d + d; SwiGLU with h = ⌊2/3·4d⌋ = 512: two d×h gates + h×d out.
    const d = 192, h = 512;
    const perBlock = 3 * d * h + 2 * h + d - (2 * d * 4 * d + 4 * d + d);
    expect(info.params - gelu.params).toBe(6 * perBlock);
    const bad = await difflab('model-info', 'DiT-FMNIST-S/4', '--set', 'mlp=relu');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/model\.mlp/);
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

  it('train stops at SIGTERM between two steps, checkpoints that step and says how to resume', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-'));
    const cfg = join(dir, 'long.json');
    const runDir = join(dir, 'run');
    // Far more steps than the test waits for, and no periodic checkpoint: only the signal can write one.
    writeFileSync(
      cfg,
      JSON.stringify({
        model: { preset: 'DiT-FMNIST-S/4', patchSize: 8, hiddenSize: 32, depth: 2, numHeads: 2 },
        diffusion: { timesteps: 100 },
        train: { steps: 100000, batchSize: 8, lr: 1e-3 },
        checkpoint: { every: 100000 },
        log: { every: 1 },
        eval: { heldoutExamples: 10 },
        sample: { steps: 2, perClass: 1 },
      }),
    );
    const child = spawn(process.execPath, [bin, 'train', cfg, '--out', runDir, '--no-track'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    await new Promise<void>((started) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (/step 5\//.test(stderr)) started();
      });
    });
    const sentAt = Date.now();
    child.kill('SIGTERM');
    // Never leave a 100000-step run behind when the assertion below fails.
    const hardStop = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await exited;
    clearTimeout(hardStop);
    expect(code, stderr).toBe(130);
    expect(Date.now() - sentAt).toBeLessThan(15_000);
    const stoppedAt = Number(/stopped at step (\d+)/.exec(stderr)?.[1]);
    expect(stoppedAt).toBeGreaterThanOrEqual(5);
    expect(stoppedAt).toBeLessThan(100000);
    expect(stderr).toContain('--resume');
    expect(existsSync(join(runDir, 'checkpoints'))).toBe(true);
    expect(readdirSync(join(runDir, 'checkpoints'))).toContain(`step-${String(stoppedAt).padStart(7, '0')}`);
  }, 120_000);
});
