import { bundleFunction } from '../infra/build.ts';

/**
 * Builds the worker bundle once, before any test file runs: the local-stack tests run in parallel and all load
 * `dist/worker/index.mjs`, which a build in one file could otherwise rewrite while another file's containers read it.
 */
export async function setup(): Promise<void> {
  await bundleFunction('worker');
}
