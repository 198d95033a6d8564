/**
 * How the event source mapping hands jobs to the worker, by default: the construct deploys these, and the
 * local stack's `npm start` and `npm run bench` run with them.
 *
 * Larger batches give grouped calls (see docs/behaviour.md, Grouped calls) several jobs for one role or one
 * organization: with 5 targets, a batch of 10 holds about 2 jobs per target, a batch of 50 about 10. Lambda
 * needs a batching window for a batch above 10 records. On the free plan a container gets about one call a
 * second, so a batch of 50 outlasts the invocation and its unstarted jobs go back to the queue: batches of
 * 10 there. The figures that chose these are in docs/benchmarks.md.
 */
import type { Auth0Plan } from '../auth0/plans.ts';

/** Records per invocation on a standard queue. */
export const DEFAULT_BATCH_SIZE = 50;
/** Seconds the event source mapping gathers records for a batch, on a standard queue. */
export const DEFAULT_BATCHING_WINDOW_SECONDS = 1;
/** Records per invocation on a FIFO queue (Lambda takes at most 10, and no batching window), and on the free plan. */
export const SMALL_BATCH_SIZE = 10;

/**
 * The batch size to deploy when none is given: 10 on FIFO, on the free plan, and with a batching window
 * set to none (Lambda's own default then, as before larger batches were the default); else 50.
 */
export function defaultBatchSize(options: { readonly fifo: boolean; readonly plan?: Auth0Plan | undefined; readonly windowSeconds?: number | undefined }): number {
  return options.fifo || options.plan === 'free' || options.windowSeconds === 0 ? SMALL_BATCH_SIZE : DEFAULT_BATCH_SIZE;
}

/** The batching window to deploy with a batch size when none is given: Lambda needs one above 10 records. */
export function defaultBatchingWindowSeconds(batchSize: number): number {
  return batchSize > 10 ? DEFAULT_BATCHING_WINDOW_SECONDS : 0;
}
