import { FIT_SUMMARY, runFitCommand } from '@difflab/scaling-laws';

export const summary = FIT_SUMMARY;

export function run(args: string[]): Promise<number> {
  return runFitCommand(args);
}
