import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// One config for every project: each project's `test` script points here, with its own cwd as root.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Forks, not threads: the native tfjs backend is a Node-API addon and tfjs keeps global engine state.
    pool: 'forks',
    globalSetup: [fileURLToPath(new URL('./vitest.tmpdir.ts', import.meta.url))],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Lets a project exist before its first test lands; removed once every project has tests.
    passWithNoTests: true,
  },
});
