import { describe, expect, it } from 'vitest';
import { rateLimitedDelaySeconds, retryDelaySeconds } from '../../../shared/queue/backoff.ts';

const fixed = (value: number) => () => value;

describe('Function: retryDelaySeconds()', () => {
  it('grows exponentially with the receive count under full jitter', () => {
    // Act & Assess: the ceiling doubles from 2 s
    expect(retryDelaySeconds(1, fixed(0.999))).toBe(2);
    expect(retryDelaySeconds(2, fixed(0.999))).toBe(4);
    expect(retryDelaySeconds(5, fixed(0.999))).toBe(32);
    expect(retryDelaySeconds(5, fixed(0.5))).toBe(16);
  });

  it('stays within [1 s, 15 min]', () => {
    // Act & Assess
    expect(retryDelaySeconds(1, fixed(0))).toBe(1);
    expect(retryDelaySeconds(40, fixed(0.999))).toBe(900);
    expect(retryDelaySeconds(Number.NaN, fixed(0.999))).toBe(2);
  });
});

describe('Function: rateLimitedDelaySeconds()', () => {
  it('waits at least what Auth0 asked, with up to half of it again as jitter', () => {
    // Act & Assess
    expect(rateLimitedDelaySeconds(10_000, fixed(0))).toBe(10);
    expect(rateLimitedDelaySeconds(10_000, fixed(0.999))).toBe(15);
    expect(rateLimitedDelaySeconds(500, fixed(0))).toBe(1);
    expect(rateLimitedDelaySeconds(500, fixed(0.999))).toBe(2);
  });

  it('widens the jitter window with each earlier requeue of the same job', () => {
    // Act & Assess: a 2 s wait has a 1 s window, then 2 s, 4 s, … 
    expect(rateLimitedDelaySeconds(2_000, fixed(0.999), 0)).toBe(3);
    expect(rateLimitedDelaySeconds(2_000, fixed(0.999), 1)).toBe(4);
    expect(rateLimitedDelaySeconds(2_000, fixed(0.999), 3)).toBe(10);
    expect(rateLimitedDelaySeconds(2_000, fixed(0), 3)).toBe(2);
  });

  it('is capped at 15 min', () => {
    // Act & Assess
    expect(rateLimitedDelaySeconds(3_600_000, fixed(0.5))).toBe(900);
  });
});
