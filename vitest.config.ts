import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    // The worker bundle the local-stack tests load, built once.
    globalSetup: ['test/global-setup.ts'],
    // Most time goes to tests that wait on loopback servers, not on the CPU: run three files at once.
    maxWorkers: 3,
    // Tests that start servers and processes on loopback need more than the default 5 s on a busy machine.
    testTimeout: 20_000,
    // CI asks for vitest's JSON report beside the usual output, to print its own one-line summary.
    ...(process.env['VITEST_JSON_REPORT']
      ? { reporters: ['default', 'json'], outputFile: { json: process.env['VITEST_JSON_REPORT'] } }
      : {}),
  },
});
