/**
 * How the event source mapping hands jobs to the worker, by default: the construct deploys these, and the
 * local stack's `npm start` and `npm run bench` run with them.
 *
 * Larger batches give grouped calls (see the README's "Grouped calls") several jobs for one role or one
 * organization: with 5 targets, a batch of 10 holds about 4 of them, so each grouped call carries 2 or 3
 * users; a batch of 50 carries about 10. Lambda needs a batching window for a batch above 10 records.
 * The figures that chose these are in the README's "Pacing benchmark".
 */

/** Records per invocation on a standard queue. */
export const DEFAULT_BATCH_SIZE = 50;
/** Seconds the event source mapping gathers records for a batch, on a standard queue. */
export const DEFAULT_BATCHING_WINDOW_SECONDS = 1;
/** Records per invocation on a FIFO queue: Lambda takes at most 10, and no batching window. */
export const FIFO_BATCH_SIZE = 10;
