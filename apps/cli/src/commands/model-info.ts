import { parseArgs } from 'node:util';
import { DIT_CONFIGS, countDiT } from '@difflab/models';
import { parseOverrides, resolveModelConfig } from '@difflab/runs';

export const summary = 'Parameters and forward Gflops of a named model (e.g. DiT-XL/2)';

const usage = `usage: difflab model-info <name> [--set FIELD=VALUE]… [--json]

Prints the parameter count and the forward-pass Gflops of one example, counted analytically
(no weights allocated) in the DiT paper's convention: one multiply-add = one flop, plus one per
LayerNorm element; params include the fixed positional embedding, as PyTorch counts it.

  --set FIELD=VALUE  a model field of a training config over the preset (repeatable), e.g.
                     --set mlp=swiglu --set norm=rmsnorm --set rope=true --set patchSize=2
                     --set hiddenSize=128 --set depth=4 --set numHeads=4

names: ${Object.keys(DIT_CONFIGS).join(', ')}`;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { json: { type: 'boolean' }, set: { type: 'string', multiple: true, default: [] }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new Error(`model-info takes exactly one model name; valid names: ${Object.keys(DIT_CONFIGS).join(', ')}`);
  }
  const name = positionals[0]!;
  if (!Object.hasOwn(DIT_CONFIGS, name)) throw new Error(`unknown model '${name}'; valid names: ${Object.keys(DIT_CONFIGS).join(', ')}`);
  // The model section of a training config: the same validation and messages as `difflab train --set model.…`.
  const fields = Object.fromEntries(parseOverrides(values.set).map((o) => [o.key, o.value]));
  const resolved = resolveModelConfig({ preset: name, ...fields } as never);
  if (resolved.architecture !== 'dit') throw new Error(`model-info counts DiTs; '${name}' is not one`);
  const config = resolved.config;
  const c = countDiT(config);
  const report = {
    name,
    params: c.params + c.fixedParams,
    trainableParams: c.params,
    fixedParams: c.fixedParams,
    gflops: c.gflops,
    macs: c.macs,
    config,
  };
  if (values.json) {
    console.log(JSON.stringify(report, null, 2));
    return 0;
  }
  const n = (v: number) => v.toLocaleString('en-US');
  console.log(
    [
      `${name}  (${config.block}, ${config.inputSize}×${config.inputSize}×${config.inChannels} input, patch ${config.patchSize}, ` +
        `hidden ${config.hiddenSize}, depth ${config.depth}, heads ${config.numHeads}, mlp ${config.mlp ?? 'gelu'}, norm ${config.norm ?? 'layernorm'}, ` +
        `rope ${config.rope ?? false}, learnSigma ${config.learnSigma})`,
      `params  ${n(report.params)}  (${(report.params / 1e6).toFixed(1)}M; trainable ${n(c.params)} + fixed pos_embed ${n(c.fixedParams)})`,
      `Gflops  ${c.gflops.toFixed(2)}  (one example's forward pass)`,
    ].join('\n'),
  );
  return 0;
}
