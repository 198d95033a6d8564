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
  // Once per run (each vitest project runs this setup, in the same process).
  if (process.env['SUITE_LOG_RUN'] !== String(process.pid)) {
    mkdirSync(LOG_ROOT, { recursive: true });
    // Earlier runs' logs go, but not those of a run still going in another process.
    for (const name of readdirSync(LOG_ROOT)) {
      const pid = Number(/-(\d+)$/.exec(name)?.[1]);
      if (!isRunning(pid)) rmSync(join(LOG_ROOT, name), { recursive: true, force: true });
    }
    const dir = join(LOG_ROOT, `run-${new Date().toISOString().replaceAll(':', '-')}-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    process.env['SUITE_LOG_DIR'] = dir;
    process.env['SUITE_LOG_RUN'] = String(process.pid);
  }
  await bundleFunction('worker');
}

function isRunning(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
