/** Auth0's rate-limit headers from one answer, as numbers. */
export interface RateLimitInfo {
  /** Bucket size (`x-ratelimit-limit`). */
  readonly limit: number | undefined;
  /** Requests left in the bucket (`x-ratelimit-remaining`). */
  readonly remaining: number | undefined;
  /** Epoch milliseconds when the bucket is full again (`x-ratelimit-reset` is in seconds). */
  readonly resetAt: number | undefined;
  /** Milliseconds to wait, from `Retry-After` (seconds or an HTTP date), when present. */
  readonly retryAfterMs: number | undefined;
}

type Headers = Readonly<Record<string, string | string[] | undefined>>;

/**
 * Shortest and longest wait after a 429. The shortest is 1 s although one request refills sooner (free
 * plan 0.5 s, enterprise about 60 ms): SQS delays are whole seconds, and a container that resumes at once
 * with several calls in flight only earns the tenant more 429s (measured with `npm start`).
 */
export const MIN_RATE_LIMIT_DELAY_MS = 1_000;
export const MAX_RATE_LIMIT_DELAY_MS = 900_000;
/** Wait assumed when a 429 carries no usable header. */
const DEFAULT_RATE_LIMIT_DELAY_MS = 1_000;

/** Reads the rate-limit headers Auth0 puts on every answer. */
export function readRateLimit(headers: Headers, now: number): RateLimitInfo {
  const reset = toNumber(headers['x-ratelimit-reset']);
  return {
    limit: toNumber(headers['x-ratelimit-limit']),
    remaining: toNumber(headers['x-ratelimit-remaining']),
    resetAt: reset === undefined ? undefined : reset * 1000,
    retryAfterMs: parseRetryAfter(first(headers['retry-after']), now),
  };
}

/**
 * How long to wait after a 429 before the next call, in milliseconds, clamped to [1 s, 15 min].
 *
 * `Retry-After` wins when present. Otherwise `x-ratelimit-reset` says when the bucket is *full*, not when
 * one request is allowed (see FACTS.md): the bucket refills evenly, so one request is allowed after
 * (time until full) / (requests missing), which for the free plan (burst 2, 2/s) is half a second,
 * not the whole second to the reset.
 */
export function rateLimitDelayMs(info: RateLimitInfo, now: number): number {
  let wait: number;
  if (info.retryAfterMs !== undefined) {
    wait = info.retryAfterMs;
  } else if (info.resetAt !== undefined && info.limit !== undefined && info.limit > 0) {
    const untilFull = Math.max(0, info.resetAt - now);
    const missing = Math.max(1, info.limit - (info.remaining ?? 0));
    wait = untilFull / missing;
  } else {
    wait = DEFAULT_RATE_LIMIT_DELAY_MS;
  }
  return Math.min(MAX_RATE_LIMIT_DELAY_MS, Math.max(MIN_RATE_LIMIT_DELAY_MS, Math.ceil(wait)));
}

function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function toNumber(value: string | string[] | undefined): number | undefined {
  const text = first(value);
  if (text === undefined || text.trim() === '') return undefined;
  const number = Number(text);
  return Number.isFinite(number) ? number : undefined;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
