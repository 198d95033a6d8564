/**
 * A virtual clock and a simulated tenant bucket, to run paced containers for minutes of tenant time in
 * milliseconds of real time. The bucket is the tenant emulator's own (`local/tenant/rate-limit.ts`):
 * integer `x-ratelimit-remaining`, `x-ratelimit-reset` in whole seconds when the bucket is full.
 */
import { type Pacer, createPacer } from '../../shared/auth0/pacer.ts';
import { readRateLimit } from '../../shared/auth0/rate-limit.ts';
import { RateLimitedError } from '../../shared/errors.ts';
import { createRandom } from '../../local/workload.ts';
import { type RateLimitSpec, createRateLimits, createTokenBucket } from '../../local/tenant/rate-limit.ts';
import { type BucketPacer, createBucketPacer } from '../../shared/auth0/bucket-pacer.ts';
import { type Auth0Plan, endpointGroup } from '../../shared/auth0/plans.ts';

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly fire: () => void;
}

/** A clock that moves only when {@link VirtualClock.runFor} moves it, firing sleeps in time order. */
export interface VirtualClock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Advances time by `ms`, firing every timer due, and letting promises settle between timers. */
  runFor(ms: number): Promise<void>;
}

export function createVirtualClock(start = 1_700_000_000_000): VirtualClock {
  let time = start;
  let seq = 0;
  let timers: Timer[] = [];
  const settle = async () => {
    for (let n = 0; n < 5; n++) await new Promise((resolve) => setImmediate(resolve));
  };
  return {
    now: () => time,
    sleep(ms, signal) {
      return new Promise<void>((resolve) => {
        if (signal?.aborted) return resolve();
        const timer: Timer = {
          at: time + Math.max(0, ms),
          seq: ++seq,
          fire: () => {
            signal?.removeEventListener('abort', cancel);
            resolve();
          },
        };
        const cancel = () => {
          timers = timers.filter((candidate) => candidate !== timer);
          resolve();
        };
        signal?.addEventListener('abort', cancel, { once: true });
        timers.push(timer);
      });
    },
    async runFor(ms) {
      const end = time + ms;
      await settle();
      for (;;) {
        timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
        const next = timers[0];
        if (next === undefined || next.at > end) break;
        timers.shift();
        time = Math.max(time, next.at);
        next.fire();
        await settle();
      }
      time = end;
    },
  };
}

/** Figures of a simulated run. */
export interface SimulationResult {
  /** Calls the bucket accepted, from the paced containers. */
  readonly accepted: number;
  /** Calls answered 429, from the paced containers. */
  readonly rateLimited: number;
  /** Calls refused by the pacers before any request (waits that did not fit). */
  readonly throttled: number;
  readonly interactiveCalls: number;
  readonly interactiveRateLimited: number;
  /** Lowest `x-ratelimit-remaining` any answer carried. */
  readonly lowestRemaining: number;
  /** Accepted calls per second of simulated time, after the first `warmupMs`. */
  readonly acceptedPerSecond: number;
  /** Accepted calls of each container, after the first `warmupMs`. */
  readonly acceptedByContainer: readonly number[];
}

/**
 * Runs `containers` paced containers, each with `lanes` callers in a loop, against one bucket for
 * `durationMs` of simulated time; optionally an unpaced interactive caller at `interactivePerSecond`.
 * Each call takes 20 to 80 ms; the bucket is taken halfway.
 */
export async function simulate(options: {
  readonly spec: RateLimitSpec;
  readonly containers: number;
  /** The deployment's maximum concurrency, which the pacers are told; default `containers`. */
  readonly maxContainers?: number;
  readonly lanes: number;
  readonly durationMs: number;
  readonly reserve?: number;
  readonly share?: number;
  readonly interactivePerSecond?: number;
  /** Container `i` starts `i × staggerMs` after the first and stops as long before the end: a backlog's start and tail. */
  readonly staggerMs?: number;
  /** Milliseconds each lane may wait before the pacer refuses (the invocation's budget). Default 20 s. */
  readonly budgetMs?: number;
  readonly warmupMs?: number;
  readonly seed?: number;
  /** Network time per call, ms: [min, max]; default [20, 80]. */
  readonly latencyMs?: readonly [number, number];
  /** When the tenant reads the bucket for the headers: as it admits the call (default), or as the answer leaves, after its own work. */
  readonly headersAt?: 'admission' | 'answer';
  /** The tenant's own time per call, between admission and answer, ms. Default 0. */
  readonly serviceMs?: number;
  /** Each container's part of the refill while all are busy (the pacer's `evenShare`); default an even split. */
  readonly evenShares?: readonly number[];
  /** Containers that have no work at all (an idle producer's): they make no call. */
  readonly idle?: readonly number[];
}): Promise<SimulationResult> {
  const clock = createVirtualClock();
  const random = createRandom(options.seed ?? 7);
  const bucket = createTokenBucket(options.spec, clock.now);
  const warmupMs = options.warmupMs ?? 5_000;
  const startAt = clock.now();
  const endAt = startAt + options.durationMs;
  let accepted = 0;
  let acceptedAfterWarmup = 0;
  let rateLimited = 0;
  let throttled = 0;
  let interactiveCalls = 0;
  let interactiveRateLimited = 0;
  let lowestRemaining = Number.POSITIVE_INFINITY;
  const acceptedByContainer = Array.from({ length: options.containers }, () => 0);

  /** One request: half the latency to the tenant, the bucket decides, half back with the headers. */
  const request = async (): Promise<{ ok: boolean; headers: Record<string, string> }> => {
    const [minLatency, maxLatency] = options.latencyMs ?? [20, 80];
    const latency = minLatency + random() * (maxLatency - minLatency);
    await clock.sleep(latency / 2);
    const ok = bucket.take();
    let headers = bucket.headers();
    if (options.serviceMs !== undefined) await clock.sleep(options.serviceMs);
    if (options.headersAt === 'answer') headers = bucket.headers();
    lowestRemaining = Math.min(lowestRemaining, Number(headers['x-ratelimit-remaining']));
    await clock.sleep(latency / 2);
    return { ok, headers };
  };

  const lane = async (pacer: Pacer, container: number) => {
    const stagger = (options.staggerMs ?? 0) * container;
    if (stagger > 0) await clock.sleep(stagger);
    while (clock.now() < endAt - stagger) {
      let ticket;
      try {
        ticket = await pacer.acquire({ waitUntil: clock.now() + (options.budgetMs ?? 20_000) });
      } catch (error) {
        if (!(error instanceof RateLimitedError)) throw error;
        throttled += 1;
        await clock.sleep(Math.max(1_000, error.retryAt - clock.now()));
        continue;
      }
      const answer = await request();
      pacer.observe(ticket, readRateLimit(answer.headers, clock.now()), !answer.ok);
      if (answer.ok) {
        accepted += 1;
        if (clock.now() - startAt >= warmupMs) {
          acceptedAfterWarmup += 1;
          acceptedByContainer[container] = (acceptedByContainer[container] ?? 0) + 1;
        }
      } else {
        rateLimited += 1;
      }
    }
  };

  const interactive = async (perSecond: number) => {
    while (clock.now() < endAt) {
      await clock.sleep(1000 / perSecond);
      interactiveCalls += 1;
      if (!(await request()).ok) interactiveRateLimited += 1;
    }
  };

  const running: Array<Promise<void>> = [];
  for (let c = 0; c < options.containers; c++) {
    if (options.idle?.includes(c)) continue;
    const evenShare = options.evenShares?.[c];
    const pacer = createPacer({
      reserve: options.reserve ?? 0.2,
      share: options.share ?? 1,
      containers: options.maxContainers ?? options.containers,
      ...(evenShare === undefined ? {} : { evenShare: () => evenShare }),
      now: clock.now,
      random,
      sleep: clock.sleep,
    });
    for (let l = 0; l < options.lanes; l++) running.push(lane(pacer, c));
  }
  if (options.interactivePerSecond !== undefined) running.push(interactive(options.interactivePerSecond));
  await clock.runFor(options.durationMs + 30_000);
  await Promise.all(running);
  return {
    accepted,
    rateLimited,
    throttled,
    interactiveCalls,
    interactiveRateLimited,
    lowestRemaining,
    acceptedPerSecond: acceptedAfterWarmup / ((options.durationMs - warmupMs) / 1000),
    acceptedByContainer,
  };
}

/** Figures of a simulated run against a plan's layered buckets, per bucket. */
export interface LayeredSimulationResult {
  /** Calls the tenant accepted and answered 429, by bucket (a call counts in every bucket it reached). */
  readonly buckets: Record<string, { readonly calls: number; readonly rateLimited: number }>;
  /** Accepted calls per second after the warm-up, by the call's endpoint group. */
  readonly acceptedPerSecond: Record<string, number>;
  readonly accepted: number;
  readonly rateLimited: number;
  readonly throttled: number;
  /** The plan the first container's pacer went by at the end. */
  readonly plan: string | undefined;
}

/**
 * Runs `containers` containers of `lanes` callers each against a plan's buckets (the emulator's own),
 * each call drawn from `mix` by weight; every call goes through a {@link createBucketPacer}.
 */
export async function simulateLayered(options: {
  readonly plan: Auth0Plan;
  /** The pacer's setting: the plan, or undefined to learn it from the headers. */
  readonly configuredPlan?: Auth0Plan | undefined;
  readonly mix: ReadonlyArray<{ readonly method: string; readonly route: string; readonly weight: number }>;
  readonly containers: number;
  readonly lanes: number;
  readonly durationMs: number;
  readonly reserve?: number;
  readonly warmupMs?: number;
  readonly seed?: number;
  /** Network time per call, ms: [min, max]; default [20, 80]. */
  readonly latencyMs?: readonly [number, number];
  /** Lane `i` makes only calls of `mix[i % mix.length]` (weights ignored): kinds of work that do not wait on each other. */
  readonly dedicatedLanes?: boolean;
  /** `single`: one model for every call, as the worker paced before it knew of endpoint groups. */
  readonly model?: 'per-bucket' | 'single';
}): Promise<LayeredSimulationResult> {
  const clock = createVirtualClock();
  const random = createRandom(options.seed ?? 7);
  const limits = createRateLimits({ plan: options.plan }, clock.now);
  const warmupMs = options.warmupMs ?? 10_000;
  const startAt = clock.now();
  const endAt = startAt + options.durationMs;
  const [minLatency, maxLatency] = options.latencyMs ?? [20, 80];
  const totalWeight = options.mix.reduce((sum, entry) => sum + entry.weight, 0);
  const pick = () => {
    let left = random() * totalWeight;
    for (const entry of options.mix) {
      left -= entry.weight;
      if (left < 0) return entry;
    }
    return options.mix[options.mix.length - 1] ?? { method: 'GET', route: '/api/v2/users/{id}', weight: 1 };
  };
  let accepted = 0;
  let rateLimited = 0;
  let throttled = 0;
  const acceptedByGroup: Record<string, number> = {};

  const lane = async (pacer: BucketPacer, index: number) => {
    while (clock.now() < endAt) {
      const call = options.dedicatedLanes ? (options.mix[index % options.mix.length] ?? pick()) : pick();
      let ticket;
      try {
        ticket = await pacer.acquire(call, { waitUntil: clock.now() + 20_000 });
      } catch (error) {
        if (!(error instanceof RateLimitedError)) throw error;
        throttled += 1;
        await clock.sleep(Math.max(1_000, error.retryAt - clock.now()));
        continue;
      }
      const latency = minLatency + random() * (maxLatency - minLatency);
      await clock.sleep(latency / 2);
      const taken = limits.take(call.method, call.route);
      const headers = limits.headers(taken.bucket);
      await clock.sleep(latency / 2);
      pacer.observe(ticket, readRateLimit(headers, clock.now()), !taken.allowed);
      if (taken.allowed) {
        accepted += 1;
        const group = endpointGroup(call.method, call.route);
        if (clock.now() - startAt >= warmupMs) acceptedByGroup[group] = (acceptedByGroup[group] ?? 0) + 1;
      } else {
        rateLimited += 1;
      }
    }
  };

  const running: Array<Promise<void>> = [];
  const pacers: BucketPacer[] = [];
  for (let c = 0; c < options.containers; c++) {
    const pacerOptions = { reserve: options.reserve ?? 0.2, share: 1, containers: options.containers, now: clock.now, random, sleep: clock.sleep };
    const pacer = options.model === 'single' ? singleModel(createPacer(pacerOptions)) : createBucketPacer({ ...pacerOptions, plan: options.configuredPlan });
    pacers.push(pacer);
    for (let l = 0; l < options.lanes; l++) running.push(lane(pacer, l));
  }
  await clock.runFor(options.durationMs + 30_000);
  await Promise.all(running);
  const seconds = (options.durationMs - warmupMs) / 1000;
  return {
    buckets: Object.fromEntries(limits.counts),
    acceptedPerSecond: Object.fromEntries(Object.entries(acceptedByGroup).map(([group, n]) => [group, n / seconds])),
    accepted,
    rateLimited,
    throttled,
    plan: pacers[0]?.plan(),
  };
}

/** One {@link Pacer} for every call, behind the per-bucket interface. */
function singleModel(pacer: Pacer): BucketPacer {
  return {
    async acquire(call, limits) {
      const ticket = await pacer.acquire(limits);
      return { tickets: [['tenant', ticket]], reported: 'tenant', waitedMs: ticket.waitedMs, call };
    },
    observe: (ticket, info, rateLimited) => ticket.tickets[0] && pacer.observe(ticket.tickets[0][1], info, rateLimited),
    settle: (ticket) => ticket.tickets[0] && pacer.settle(ticket.tickets[0][1]),
    plan: () => undefined,
    state: () => ({ tenant: pacer.state() }),
  };
}
