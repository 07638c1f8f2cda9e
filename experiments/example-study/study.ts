import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineStudy, type StageContext } from '@difflab/studies';

/**
 * The example of docs/studies.md: how much signal is left at a few timesteps under the linear and the cosine
 * noise schedule. Two stages per preset (presets/<preset>/settings.json): `snr` computes, `table` reports.
 * Heavy modules are imported inside `run`, so reading this file (the Nx plugin does) stays cheap.
 */
const out = (ctx: StageContext, file: string) => join(ctx.studyDir, 'runs', ctx.preset, file);

async function loadSettings(ctx: StageContext) {
  const { z } = await import('zod');
  const { loadConfigFile } = await import('@difflab/runs');
  const schema = z
    .object({ timesteps: z.number().int().min(2), probe: z.array(z.number().int().nonnegative()).nonempty() })
    .strict()
    .refine((s) => s.probe.every((t) => t < s.timesteps), { path: ['probe'], message: 'every probe timestep must be below timesteps' });
  return loadConfigFile(schema, join(ctx.presetDir, 'settings.json'), 'example-study settings');
}

export default defineStudy({
  name: 'example',
  summary: 'log-SNR of the linear and cosine noise schedules at a few timesteps (the docs/studies.md example)',
  stages: {
    snr: {
      summary: 'log-SNR = log(ᾱ/(1−ᾱ)) of both schedules at settings.json probe timesteps → runs/<preset>/snr.json',
      inputs: ['settings.json'],
      outputs: ['runs/{preset}/snr.json'],
      code: 'analysis',
      async run(ctx) {
        const s = await loadSettings(ctx);
        const { linearSchedule, cosineSchedule } = await import('@difflab/models');
        const { writeFileAtomic } = await import('@difflab/core-tensor');
        const logSnr = (ac: Float64Array) => s.probe.map((t) => Math.log(ac[t]! / (1 - ac[t]!)));
        const rows = { probe: s.probe, linear: logSnr(linearSchedule(s.timesteps).alphasCumprod), cosine: logSnr(cosineSchedule(s.timesteps).alphasCumprod) };
        await writeFileAtomic(out(ctx, 'snr.json'), `${JSON.stringify(rows, null, 2)}\n`);
        // The tracker run gets study/preset/stage tags from ctx.tracker itself.
        const run = await ctx.tracker?.startRun({ experimentName: 'example-study', runName: `snr-${ctx.preset}` });
        run?.logMetrics(s.probe.map((t, i) => ({ key: 'log_snr_linear', value: rows.linear[i]!, step: t, timestamp: Date.now() })));
        await run?.end('FINISHED');
      },
    },
    table: {
      summary: 'Markdown table of snr.json → runs/<preset>/table.md',
      dependsOn: ['snr'],
      dependencyOutputs: ['**/snr.json'],
      outputs: ['runs/{preset}/table.md'],
      code: 'analysis',
      async run(ctx) {
        const { writeFileAtomic } = await import('@difflab/core-tensor');
        const r = JSON.parse(readFileSync(out(ctx, 'snr.json'), 'utf8')) as { probe: number[]; linear: number[]; cosine: number[] };
        const lines = r.probe.map((t, i) => `| ${t} | ${r.linear[i]!.toFixed(3)} | ${r.cosine[i]!.toFixed(3)} |`);
        await writeFileAtomic(out(ctx, 'table.md'), ['| t | log-SNR linear | log-SNR cosine |', '|---:|---:|---:|', ...lines, ''].join('\n'));
        ctx.log(`table written to ${out(ctx, 'table.md')}`);
      },
    },
  },
});
