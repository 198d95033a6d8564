import type { BuildOptions } from 'esbuild';

/** The Lambda functions of the product, by name, with their entry files (relative to the repository). */
export const FUNCTION_ENTRIES = {
  worker: 'functions/worker.ts',
  sync: 'functions/sync.ts',
} as const;

/**
 * esbuild options shared by the local build (`npm run build`) and the CDK stack, so that what runs
 * locally is what deploys: minified ESM for Node 24, the AWS SDK bundled (a bundled, minified SDK
 * starts faster than the runtime's copy), source maps for stack traces.
 */
export const BUNDLE_OPTIONS = {
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  minify: true,
  sourcemap: 'linked',
  legalComments: 'external',
  // Some bundled CommonJS dependencies call require() for Node built-ins; ESM has no require of its own.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  mainFields: ['module', 'main'],
  logLevel: 'warning',
} as const satisfies BuildOptions;
