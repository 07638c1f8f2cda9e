import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const summary = 'Benchmarks: DiT training step per engine vs PyTorch, GEMM vs peak, kernel profiles, tracker load';

// The harness (tools/bench) is a tool of this repository, not a dependency of the CLI: it is found
// beside the CLI in the checkout and loaded only when `difflab bench` runs.
const HARNESS = fileURLToPath(new URL('../../../../tools/bench/src/cli.ts', import.meta.url));

export async function run(args: string[]): Promise<number> {
  if (!existsSync(HARNESS)) {
    console.error(`difflab bench: the benchmark harness ${HARNESS} is not in this checkout; bench from a full clone of the repository`);
    return 1;
  }
  const harness = (await import(pathToFileURL(HARNESS).href)) as { run(args: string[]): Promise<number> };
  return harness.run(args);
}
