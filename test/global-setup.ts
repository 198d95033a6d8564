import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleFunction } from '../infra/build.ts';

const LOG_ROOT = fileURLToPath(new URL('../dist/test-logs/', import.meta.url));

/**
 * Builds the worker bundle once, before any test file runs: the local-stack tests run in parallel and all load
 * `dist/worker/index.mjs`, which a build in one file could otherwise rewrite while another file's containers read it.
 *
 * Gives the run one directory for every log its tests write (test/helpers/suite-logs.ts), replacing earlier
 * runs' logs; test files inherit its path through the environment.
 */
export async function setup(): Promise<void> {
  if (process.env['SUITE_LOG_DIR'] === undefined) {
    mkdirSync(LOG_ROOT, { recursive: true });
    for (const name of readdirSync(LOG_ROOT)) rmSync(join(LOG_ROOT, name), { recursive: true, force: true });
    const dir = join(LOG_ROOT, `run-${new Date().toISOString().replaceAll(':', '-')}-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    process.env['SUITE_LOG_DIR'] = dir;
  }
  await bundleFunction('worker');
}
