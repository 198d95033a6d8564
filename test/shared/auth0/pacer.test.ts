import { describe, expect, it } from 'vitest';
import { createPacer } from '../../../shared/auth0/pacer.ts';
import { readRateLimit } from '../../../shared/auth0/rate-limit.ts';
import { RateLimitedError } from '../../../shared/errors.ts';
import { RATE_LIMIT_PRESETS } from '../../../local/tenant/rate-limit.ts';
import { createVirtualClock, simulate } from '../../helpers/simulated-tenant.ts';

const headers = (limit: number, remaining: number, resetAt: number) => ({
  'x-ratelimit-limit': String(limit),
  'x-ratelimit-remaining': String(remaining),
  'x-ratelimit-reset': String(Math.ceil(resetAt / 1000)),
});

describe('Function: createPacer()', () => {
  it('lets one call out before the first answer, then as many as the bucket holds above the reserve', async () => {
    // Prepare
    const clock = createVirtualClock();
    const pacer = createPacer({ reserve: 0.2, share: 1, now: clock.now, random: () => 0, sleep: clock.sleep });
    let started = 0;
    const go = () => pacer.acquire().then((ticket) => (started++, ticket));

    // Act: four callers at once, before any answer
    const first = go();
    const others = [go(), go(), go()];
    await clock.runFor(100);
    const startedBeforeAnswer = started;
    // The answer: 10 requests left of 50, full again in 2.5 s (16/s)
    pacer.observe(await first, readRateLimit(headers(50, 10, clock.now() + 2_500), clock.now()), false);
    await clock.runFor(0);

    // Assess: 10 left and a reserve of 10 (20% of 50): the others wait for the refill, then go in turn
    expect(startedBeforeAnswer).toBe(1);
    expect(started).toBe(1);
    await clock.runFor(1_000);
    expect(started).toBe(4);
    await Promise.all(others);
  });

  it('refuses at once, as throttled and without a call, a wait that would pass waitUntil, saying when to come back', async () => {
    // Prepare: the bucket is empty and refills at 2/s (free plan); one container
    const clock = createVirtualClock();
    const pacer = createPacer({ reserve: 0.2, share: 1, containers: 1, now: clock.now, random: () => 0, sleep: clock.sleep });
    const ticket = await pacer.acquire();
    pacer.observe(ticket, readRateLimit(headers(2, 0, clock.now() + 1_000), clock.now()), false);

    // Act
    const refused = await pacer.acquire({ waitUntil: clock.now() + 100 }).catch((error: unknown) => error);

    // Assess: the level is taken as 0.5 (remaining 0 means somewhere in [0, 1)); a call needs 1.4 (one plus
    // the reserve of 0.4), so 0.9 must refill: 450 ms at 2/s
    expect(refused).toBeInstanceOf(RateLimitedError);
    expect(refused).toMatchObject({ code: 'throttled' });
    const wait = (refused as RateLimitedError).retryAt - clock.now();
    expect(wait).toBeGreaterThan(300);
    expect(wait).toBeLessThan(1_000);
    expect(pacer.state().inFlight).toBe(0);
  });

  it('keeps the published refill when an answer arrives a round trip after Auth0 set its reset', async () => {
    // Prepare: enterprise (50, 16/s), the bucket empty; Auth0 says full again at a second 3.15 s after it
    // answered, and the answer is read 100 ms later
    const clock = createVirtualClock(1_700_000_000_000);
    const pacer = createPacer({ reserve: 0.2, share: 1, containers: 1, now: clock.now, random: () => 0, sleep: clock.sleep });
    const ticket = await pacer.acquire();
    const answeredAt = clock.now();
    await clock.runFor(100);

    // Act
    pacer.observe(ticket, readRateLimit({ 'x-ratelimit-limit': '50', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String((answeredAt + 3_150) / 1000) }, clock.now()), false);

    // Assess: 49 / 3.05 s would read as 16.07/s, above the published 16/s
    expect(pacer.state().refillPerSecond).toBe(16);
  });

  it('after a 429, holds every call for the Retry-After Auth0 gave', async () => {
    // Prepare
    const clock = createVirtualClock();
    const pacer = createPacer({ reserve: 0.2, share: 1, now: clock.now, random: () => 0, sleep: clock.sleep });
    const ticket = await pacer.acquire();
    const at = clock.now();
    pacer.observe(ticket, readRateLimit({ ...headers(50, 0, at + 1_000), 'retry-after': '4' }, at), true);

    // Act
    let startedAt: number | undefined;
    const next = pacer.acquire().then(() => (startedAt = clock.now()));
    await clock.runFor(10_000);
    await next;

    // Assess
    expect((startedAt ?? 0) - at).toBeGreaterThanOrEqual(4_000);
    expect((startedAt ?? 0) - at).toBeLessThan(5_000);
  });

  it('stops waiting when the invocation is cut short', async () => {
    // Prepare
    const clock = createVirtualClock();
    const pacer = createPacer({ reserve: 0.2, share: 1, now: clock.now, random: () => 0, sleep: clock.sleep });
    const ticket = await pacer.acquire();
    pacer.observe(ticket, readRateLimit(headers(2, 0, clock.now() + 60_000), clock.now()), false);
    const abort = new AbortController();

    // Act
    const waiting = pacer.acquire({ signal: abort.signal }).catch((error: unknown) => error);
    await clock.runFor(100);
    abort.abort();
    await clock.runFor(0);

    // Assess
    expect(await waiting).toMatchObject({ code: 'deadline', retryable: true });
  });

  // Whole minutes of a tenant's bucket shared by paced containers, on a virtual clock (test/helpers/simulated-tenant.ts).
  it.each([
    ['enterprise, 1 container', RATE_LIMIT_PRESETS.enterprise, 1],
    ['enterprise, 2 containers', RATE_LIMIT_PRESETS.enterprise, 2],
    ['enterprise, 6 containers', RATE_LIMIT_PRESETS.enterprise, 6],
    ['enterprise, 10 containers', RATE_LIMIT_PRESETS.enterprise, 10],
    ['enterprise non-production, 2 containers', RATE_LIMIT_PRESETS['enterprise-non-production'], 2],
    ['free plan, 1 container', RATE_LIMIT_PRESETS.free, 1],
    ['free plan, 2 containers (an even share each: the bucket cannot take both at once above the reserve)', RATE_LIMIT_PRESETS.free, 2],
  ])('%s: uses the refill with at most one call in a hundred answered 429', async (_name, spec, containers) => {
    // Act
    const result = await simulate({ spec, containers, lanes: 4, durationMs: 90_000 });

    // Assess
    expect(result.rateLimited / (result.accepted + result.rateLimited)).toBeLessThanOrEqual(0.01);
    expect(result.acceptedPerSecond).toBeGreaterThanOrEqual(spec.perSecond * 0.9);
  });

  it.each([
    ['starting together', {}],
    ['starting together, answers arriving 20 to 200 ms after the call', { latencyMs: [20, 200] as const }],
  ])('free plan, 2 containers %s: no call answered 429, the start included, in any of 6 runs', async (_name, variant) => {
    // Act: two cold containers of 4 lanes on a full bucket of 2
    const runs = [];
    for (const seed of [1, 2, 3, 4, 5, 6]) runs.push(await simulate({ spec: RATE_LIMIT_PRESETS.free, containers: 2, lanes: 4, durationMs: 90_000, seed, ...variant }));

    // Assess: the second container's second call no longer meets the token the first one's first call took,
    // and the two keep apart in time; the whole refill is still used
    expect(runs.map((run) => run.rateLimited)).toEqual([0, 0, 0, 0, 0, 0]);
    for (const run of runs) expect(run.acceptedPerSecond).toBeGreaterThanOrEqual(1.9);
  });

  it('does not let one container starve another (enterprise non-production: a bucket of 10, 2/s)', async () => {
    // Act
    const result = await simulate({ spec: RATE_LIMIT_PRESETS['enterprise-non-production'], containers: 2, lanes: 4, durationMs: 90_000 });

    // Assess: no container had to give up waiting within its 20 s budget
    expect(result.throttled).toBe(0);
    expect(result.rateLimited).toBe(0);
  });

  // A container that took a full bucket for being alone, and used the whole refill, drew a 429 every few
  // seconds once answers came off plan (up to 29 in 208 calls in these runs); each keeps an even share now.
  it.each([
    ['answers arriving 20 to 200 ms after the call, at random', { latencyMs: [20, 200] as const }],
    ['the tenant reading its bucket for the headers as the answer leaves, 50 ms after admitting the call', { headersAt: 'answer' as const, serviceMs: 50 }],
    ['the second container starting 3 s after the first, and stopping 3 s before it', { staggerMs: 3_000 }],
  ])('free plan, 2 containers, %s: at most one call in a hundred answered 429, in every run', async (_name, variant) => {
    // Act
    const runs = [];
    for (const seed of [1, 2, 3, 4, 5, 6]) runs.push(await simulate({ spec: RATE_LIMIT_PRESETS.free, containers: 2, lanes: 4, durationMs: 90_000, seed, ...variant }));

    // Assess: and an even share each, the whole refill between them
    for (const run of runs) {
      expect(run.rateLimited / (run.accepted + run.rateLimited)).toBeLessThanOrEqual(0.01);
      expect(run.acceptedPerSecond).toBeGreaterThanOrEqual('staggerMs' in variant ? 1.7 : 1.9);
    }
  });

  // More containers than the bucket holds: they divide time (slots on the clock they share), a little under
  // their part of the refill. Spacing alone had 63 of 238 calls answered 429 (26%); with the slots, seeds 1
  // to 8 measured 4 to 10 of about 245 (1.6 to 4.1%; late answers: 4 to 12, up to 4.9%), short of the 1%
  // every other case keeps: keep maxConcurrency at 2 on the free plan.
  it.each([
    ['answers 20 to 80 ms after the call', {}, 0.05],
    ['answers 20 to 200 ms after the call', { latencyMs: [20, 200] as const }, 0.06],
  ])('free plan, 6 containers, %s: few calls answered 429 in every run (measured bounds, not 0.01), and 0.85 of the refill used', async (_name, variant, ceiling) => {
    // Act
    const runs = [];
    for (const seed of [1, 2, 3, 4]) runs.push(await simulate({ spec: RATE_LIMIT_PRESETS.free, containers: 6, lanes: 4, durationMs: 120_000, seed, ...variant }));

    // Assess
    for (const run of runs) {
      expect(run.rateLimited / (run.accepted + run.rateLimited)).toBeLessThanOrEqual(ceiling);
      expect(run.acceptedPerSecond).toBeGreaterThanOrEqual(0.85 * 2);
    }
  });

  // A bucket larger than any Auth0 publishes (a raised limit, or the local stack's fast one) that the calls
  // never drain: its headers never bound the refill from above. The pacer held each container to the lower
  // bound the headers allowed, a few calls a second (a sync's 747 jobs took over 7 minutes instead of seconds).
  it.each([1, 4])('a fast bucket whose refill no answer bounds (200, 200/s), %i container(s) of 10 lanes: calls are not held to a guess of the refill', async (containers) => {
    // Act
    const result = await simulate({ spec: { burst: 200, perSecond: 200 }, containers, lanes: 10, durationMs: 60_000, latencyMs: [5, 30] });

    // Assess: the bucket's refill less the reserve, within a tenth, and nothing refused
    expect(result.acceptedPerSecond).toBeGreaterThanOrEqual(200 * 0.8 * 0.9);
    expect(result.rateLimited / (result.accepted + result.rateLimited)).toBeLessThanOrEqual(0.01);
  });

  // Producers: a bulk producer (share 1) and another (share 2), 2 containers each, every container told its
  // part (share / sum of shares / the producer's containers). Measured over seeds 1 to 3: 1.60 to 1.70 times
  // the calls for the share of 2, not 2: a container above its part keeps what it takes while the bucket is
  // contended, as the headers cannot say whose calls emptied it.
  it('splits the refill by the producers\' shares while both have work, and gives an idle producer\'s part to the other', async () => {
    // Act
    const evenShares = [1 / 6, 1 / 6, 1 / 3, 1 / 3];
    const both = await simulate({ spec: RATE_LIMIT_PRESETS.enterprise, containers: 4, lanes: 4, durationMs: 120_000, evenShares });
    const even = await simulate({ spec: RATE_LIMIT_PRESETS.enterprise, containers: 4, lanes: 4, durationMs: 120_000 });
    const alone = await simulate({ spec: RATE_LIMIT_PRESETS.enterprise, containers: 4, lanes: 4, durationMs: 120_000, evenShares, idle: [2, 3] });

    // Assess: the share of 2 gets more than 3 calls for every 2 of the share of 1; equal parts split evenly
    const calls = (result: typeof both, containers: readonly number[]) => containers.reduce((sum, c) => sum + (result.acceptedByContainer[c] ?? 0), 0);
    expect(calls(both, [2, 3]) / calls(both, [0, 1])).toBeGreaterThan(1.5);
    expect(calls(even, [2, 3]) / calls(even, [0, 1])).toBeGreaterThan(0.9);
    expect(calls(even, [2, 3]) / calls(even, [0, 1])).toBeLessThan(1.1);
    // …and the tenant's whole refill used, with no 429, whether the other producer works or not
    for (const result of [both, even, alone]) {
      expect(result.acceptedPerSecond).toBeGreaterThanOrEqual(0.95 * 16);
      expect(result.rateLimited).toBe(0);
    }
  });

  it('keeps the deployment under RATE_LIMIT_SHARE of the refill', async () => {
    // Act
    const result = await simulate({ spec: RATE_LIMIT_PRESETS.enterprise, containers: 2, lanes: 4, durationMs: 90_000, share: 0.5 });

    // Assess
    expect(result.acceptedPerSecond).toBeLessThanOrEqual(8 * 1.03);
    expect(result.acceptedPerSecond).toBeGreaterThanOrEqual(8 * 0.9);
  });

  it('leaves the reserve to another application of the tenant: its calls are never refused', async () => {
    // Act: 2 containers drain a backlog while an interactive caller makes 2 calls a second
    const result = await simulate({ spec: RATE_LIMIT_PRESETS.enterprise, containers: 2, lanes: 4, durationMs: 90_000, interactivePerSecond: 2 });

    // Assess: the worker takes the rest of the refill
    expect(result.interactiveCalls).toBeGreaterThan(150);
    expect(result.interactiveRateLimited).toBe(0);
    expect(result.rateLimited).toBe(0);
    expect(result.acceptedPerSecond).toBeGreaterThanOrEqual((16 - 2) * 0.9);
  });
});
