/** A rate limit as Auth0 publishes them: bucket size and refill per second. */
export interface RateLimitSpec {
  readonly burst: number;
  readonly perSecond: number;
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
 * what Auth0 sends (and why waiting for it is longer than needed: see FACTS.md).
 */
export function createTokenBucket(spec: RateLimitSpec, now: () => number): TokenBucket {
  let tokens = spec.burst;
  let last = now();
  const refill = () => {
    const at = now();
    tokens = Math.min(spec.burst, tokens + ((at - last) / 1000) * spec.perSecond);
    last = at;
    return at;
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
      const fullAt = at + ((spec.burst - tokens) / spec.perSecond) * 1000;
      return {
        'x-ratelimit-limit': String(spec.burst),
        'x-ratelimit-remaining': String(Math.floor(tokens)),
        'x-ratelimit-reset': String(Math.ceil(fullAt / 1000)),
      };
    },
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
