import { describe, expect, it } from 'vitest';
import { rateLimitDelayMs, readRateLimit } from '../../../shared/auth0/rate-limit.ts';

const now = Date.UTC(2026, 10, 23, 12, 0, 0);
const seconds = (ms: number) => String(Math.floor(ms / 1000));

describe('Function: rateLimitDelayMs()', () => {
  it('uses Retry-After seconds when present', () => {
    // Act
    const delay = rateLimitDelayMs(readRateLimit({ 'retry-after': '7', 'x-ratelimit-reset': seconds(now + 60_000) }, now), now);

    // Assess
    expect(delay).toBe(7_000);
  });

  it('uses a Retry-After HTTP date', () => {
    // Act
    const delay = rateLimitDelayMs(readRateLimit({ 'retry-after': new Date(now + 12_000).toUTCString() }, now), now);

    // Assess
    expect(delay).toBe(12_000);
  });

  it('treats x-ratelimit-reset as the time the bucket is full, not the time of the next allowed call', () => {
    // Prepare: enterprise bucket of 50 refilling 16/s, empty: full again in about 3.1 s, one call allowed in about 63 ms
    const headers = { 'x-ratelimit-limit': '50', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': seconds(now + 40_000) };

    // Act
    const delay = rateLimitDelayMs(readRateLimit(headers, now), now);

    // Assess: 40 s to fill 50 → 0.8 s per call, not the 40 s a naive client waits
    expect(delay).toBe(1_000);
    expect(rateLimitDelayMs(readRateLimit({ ...headers, 'x-ratelimit-limit': '10' }, now), now)).toBe(4_000);
  });

  it('clamps to [1 s, 15 min] and falls back to 1 s without headers', () => {
    // Act & Assess
    expect(rateLimitDelayMs(readRateLimit({ 'retry-after': '0' }, now), now)).toBe(1_000);
    expect(rateLimitDelayMs(readRateLimit({ 'retry-after': '86400' }, now), now)).toBe(900_000);
    expect(rateLimitDelayMs(readRateLimit({}, now), now)).toBe(1_000);
  });
});
