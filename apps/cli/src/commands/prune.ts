import { run as study } from './study.js';

export const summary = 'alias of `difflab study unet-pruning <stage> --preset P` (the U-Net pruning study)';

/** Kept for existing scripts: `difflab prune <stage> …` is `difflab study unet-pruning <stage> …`. */
export async function run(args: string[]): Promise<number> {
  if (args.includes('--study')) throw new Error('prune: --study is gone; studies are found in experiments/*/study.ts (difflab study --help)');
  return study(['unet-pruning', ...args]);
}
