import { API_WIDE, type Auth0Plan, type BucketSpec, bucketSpec, bucketsOf } from '../../shared/auth0/plans.ts';

export { describePlan } from '../../shared/auth0/plans.ts';

/**
 * A rate limit as Auth0 publishes them: bucket size and refill per second; `refill: 'per-second'` for a limit
 * given per minute, which refills once a second (default `continuous`).
 */
export interface RateLimitSpec {
  readonly burst: number;
  readonly perSecond: number;
  readonly refill?: BucketSpec['refill'];
}

/** Auth0's published Management API limits (FACTS.md). */
export const RATE_LIMIT_PRESETS = {
  free: { burst: 2, perSecond: 2 },
  enterprise: { burst: 50, perSecond: 16 },
  'enterprise-non-production': { burst: 10, perSecond: 2 },
} as const satisfies Record<string, RateLimitSpec>;

/** The `/oauth/token` limit of the free plan. */
export const TOKEN_RATE_LIMIT: RateLimitSpec = { burst: 30, perSecond: 30 };

/** A token bucket that refills continuously, as Auth0's limits do. */
export interface TokenBucket {
  /** Takes one request from the bucket; false when it is empty. */
  take(): boolean;
  /** The `x-ratelimit-*` headers for the bucket as it is now. */
  headers(): Record<string, string>;
  readonly spec: RateLimitSpec;
}

/**
 * Creates a bucket. `x-ratelimit-reset` is the UNIX second at which the bucket is full again, which is
 * what Auth0 sends (and why waiting for it is longer than needed: see FACTS.md). A `per-second` bucket
 * gains a sixtieth of its per-minute rate at each whole second of the clock, as Auth0's per-minute
 * limits do; a `continuous` one refills smoothly.
 */
export function createTokenBucket(spec: RateLimitSpec, now: () => number): TokenBucket {
  const stepped = spec.refill === 'per-second';
  let tokens = spec.burst;
  let last = now();
  const refill = () => {
    const at = now();
    const gained = stepped ? (Math.floor(at / 1000) - Math.floor(last / 1000)) * spec.perSecond : ((at - last) / 1000) * spec.perSecond;
    tokens = Math.min(spec.burst, tokens + Math.max(0, gained));
    last = at;
    return at;
  };
  const fullAt = (at: number) => {
    const missing = spec.burst - tokens;
    if (missing <= 0) return at;
    return stepped ? (Math.floor(at / 1000) + Math.ceil(missing / spec.perSecond - 1e-9)) * 1000 : at + (missing / spec.perSecond) * 1000;
  };
  return {
    spec,
    take() {
      refill();
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    },
    headers() {
      const at = refill();
      return {
        'x-ratelimit-limit': String(spec.burst),
        'x-ratelimit-remaining': String(Math.floor(tokens)),
        'x-ratelimit-reset': String(Math.ceil(fullAt(at) / 1000)),
      };
    },
  };
}

/** Calls and 429s of one bucket. */
export interface BucketCount {
  calls: number;
  rateLimited: number;
}

/** The Management API's buckets on a plan (or one bucket for every call), as the tenant checks them. */
export interface RateLimits {
  /**
   * Takes one request from every bucket the call draws from, API-wide first (a call refused there takes
   * nothing from its group's); returns the bucket whose figures the answer carries: the one that refused
   * it, or else its group's where the plan has one, else the API-wide one.
   */
  take(method: string, route: string): { readonly allowed: boolean; readonly bucket: string };
  /** The `x-ratelimit-*` headers of a bucket as it is now. */
  headers(bucket: string): Record<string, string>;
  spec(bucket: string): RateLimitSpec;
  /** Calls and 429s per bucket, counting each call in every bucket it reached. */
  readonly counts: Map<string, BucketCount>;
}

/** The buckets of a plan, or a single bucket (key `api`) that every call draws from. */
export function createRateLimits(limits: { plan: Auth0Plan } | { single: RateLimitSpec }, now: () => number): RateLimits {
  const buckets = new Map<string, TokenBucket>();
  const counts = new Map<string, BucketCount>();
  const specOf = (key: string): RateLimitSpec => {
    if ('single' in limits) return limits.single;
    const spec = bucketSpec(limits.plan, key);
    if (spec === undefined) throw new Error(`the ${limits.plan} plan has no bucket ${key}`);
    return spec;
  };
  const bucket = (key: string): TokenBucket => {
    let found = buckets.get(key);
    if (found === undefined) {
      found = createTokenBucket(specOf(key), now);
      buckets.set(key, found);
    }
    return found;
  };
  const count = (key: string, allowed: boolean) => {
    const entry = counts.get(key) ?? { calls: 0, rateLimited: 0 };
    entry.calls += 1;
    if (!allowed) entry.rateLimited += 1;
    counts.set(key, entry);
  };
  return {
    counts,
    spec: specOf,
    take(method, route) {
      if ('single' in limits) {
        const allowed = bucket(API_WIDE).take();
        count(API_WIDE, allowed);
        return { allowed, bucket: API_WIDE };
      }
      const { keys, reported } = bucketsOf(limits.plan, method, route);
      for (const key of [...keys].reverse()) {
        const allowed = bucket(key).take();
        count(key, allowed);
        if (!allowed) return { allowed, bucket: key };
      }
      return { allowed: true, bucket: reported };
    },
    headers: (key) => bucket(key).headers(),
  };
}

/** Parses `free`, `enterprise`, `enterprise-non-production` or `BURST:PER_SECOND`. */
export function parseRateLimit(value: string): RateLimitSpec {
  if (value in RATE_LIMIT_PRESETS) return RATE_LIMIT_PRESETS[value as keyof typeof RATE_LIMIT_PRESETS];
  const match = /^(\d+):(\d+(?:\.\d+)?)$/.exec(value);
  if (match?.[1] === undefined || match[2] === undefined || Number(match[1]) < 1 || Number(match[2]) <= 0) {
    throw new Error(`rate limit must be free, enterprise, enterprise-non-production or BURST:PER_SECOND (e.g. 10:5), not ${JSON.stringify(value)}`);
  }
  return { burst: Number(match[1]), perSecond: Number(match[2]) };
}

/** Parses `--jitter MIN:MAX` (milliseconds, 0 ≤ MIN ≤ MAX ≤ 10000). */
export function parseJitter(value: string): { minMs: number; maxMs: number; seed: number } {
  const match = /^(\d+):(\d+)$/.exec(value);
  const [minMs, maxMs] = [Number(match?.[1]), Number(match?.[2])];
  if (match === null || minMs > maxMs || maxMs > 10_000) throw new Error(`must be MIN:MAX in milliseconds, MIN at most MAX, MAX at most 10000 (e.g. 20:200), not ${JSON.stringify(value)}`);
  return { minMs, maxMs, seed: 1 };
}
