import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'node',
    // The worker bundle the local-stack tests load, built once; one directory for every log the run writes.
    globalSetup: ['test/global-setup.ts'],
    // Most time goes to tests that wait on loopback servers, not on the CPU: run three files at once.
    maxWorkers: 3,
    // Tests that start servers and processes on loopback need more than the default 5 s on a busy machine.
    testTimeout: 20_000,
    // CI asks for vitest's JSON report beside the usual output, to print its own one-line summary.
    ...(process.env['VITEST_JSON_REPORT']
      ? { reporters: ['default', 'json'], outputFile: { json: process.env['VITEST_JSON_REPORT'] } }
      : {}),
    projects: [
      { extends: true, test: { name: 'product', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, 'test/logs/**'], sequence: { groupOrder: 0 } } },
      // Reads what every other file logged, so it runs once they have all finished.
      { extends: true, test: { name: 'logs', include: ['test/logs/**/*.test.ts'], sequence: { groupOrder: 1 } } },
    ],
  },
});
