/** Longest delay SQS allows on a message (`DelaySeconds`), and the cap of every back-off here. */
export const MAX_DELAY_SECONDS = 900;
/**
 * Most doublings of the rate-limit jitter window: enough to spread a backlog several times the rate limit,
 * few enough that no job waits minutes behind an idle bucket.
 */
const MAX_JITTER_DOUBLINGS = 3;
/** Base of the exponential back-off for retryable failures. */
const RETRY_BASE_SECONDS = 2;

/**
 * Seconds before a rate-limited job comes back: the wait Auth0 asked for, plus jitter so that jobs put
 * back together do not all return in the same second. The jitter window is half the wait (at least 1 s)
 * and doubles with each earlier requeue of the same job (three times at most), so a backlog far larger than the rate limit spreads
 * itself out instead of cycling through the queue every second. Clamped to [1 s, 15 min].
 */
export function rateLimitedDelaySeconds(waitMs: number, random: () => number, earlierRequeues = 0): number {
  const base = Math.max(0, waitMs) / 1000;
  const window = Math.max(1, base / 2) * 2 ** Math.min(Math.max(0, earlierRequeues), MAX_JITTER_DOUBLINGS);
  return clamp(Math.ceil(base + random() * window));
}

/**
 * Seconds to keep a job invisible after a retryable failure: exponential back-off with full jitter
 * (uniform between 1 s and 2 s × 2^(receives − 1)), capped at 15 min.
 * See https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
 */
export function retryDelaySeconds(receiveCount: number, random: () => number): number {
  const exponent = Number.isFinite(receiveCount) ? Math.min(Math.max(0, receiveCount - 1), 20) : 0;
  const ceiling = Math.min(MAX_DELAY_SECONDS, RETRY_BASE_SECONDS * 2 ** exponent);
  return clamp(Math.ceil(random() * ceiling));
}

function clamp(seconds: number): number {
  return Number.isFinite(seconds) ? Math.min(MAX_DELAY_SECONDS, Math.max(1, seconds)) : 1;
}
