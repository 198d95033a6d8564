import { RateLimitedError, RetryableError } from '../errors.ts';
import type { RateLimitInfo } from './rate-limit.ts';

/** Options of {@link createPacer}. */
export interface PacerOptions {
  /** Share of the tenant's bucket never used (0 to 0.99): room for the tenant's other applications. */
  readonly reserve: number;
  /**
   * Share of the bucket's refill (0.05 to 1) the deployment may use. Below 1, each container keeps to
   * `share × refill / containers`, so that the deployment stays under it however many containers run.
   */
  readonly share: number;
  /**
   * Containers that may call at once: the event source mapping's maximum concurrency. On a bucket too
   * small for all of them to call together (the free plan's 2, say), each keeps to an even share of the
   * refill. Default 2.
   */
  readonly containers?: number;
  /**
   * This container's part of the refill while every container is busy, from 0 to 1: what it may always count
   * on, and all it takes on a bucket too small to share by the headers. Read at each call, so that it can
   * change between invocations. Default `1 / containers`, an even split. A deployment with producers weights
   * it by the producer of the invocation: `share / (sum of shares) / the producer's maxConcurrency`, so that
   * producers with work split the refill by their shares, and an idle producer's part goes to the others.
   */
  readonly evenShare?: () => number;
  readonly now: () => number;
  readonly random: () => number;
  /** Sleeps `ms`, resolving early (never rejecting) when `signal` aborts. Default: a timer. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /**
   * The bucket's published size and refill, when the plan is known: taken as exact while the headers show
   * that size and do not contradict the refill. Without it, the refill is looked up by size among Auth0's
   * figures, or learnt from the headers.
   */
  readonly published?: { readonly burst: number; readonly perSecond: number } | undefined;
}

/** One paced call: hand it back to {@link Pacer.observe} or {@link Pacer.settle} when the call ends. */
export interface PaceTicket {
  readonly seq: number;
  /** How long the call waited for the bucket, in milliseconds. */
  readonly waitedMs: number;
}

/** When the caller must give up waiting. */
export interface PaceLimits {
  /** Epoch milliseconds: a call that cannot start by then is refused with a `throttled` {@link RateLimitedError}. */
  readonly waitUntil?: number | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** What the pacer believes of the tenant's bucket, for logs and diagnostics. */
export interface PacerState {
  readonly limit: number | undefined;
  /** Estimated requests in the bucket now. */
  readonly level: number | undefined;
  /** Estimated refill of the whole bucket, requests per second. */
  readonly refillPerSecond: number | undefined;
  /** Estimated rate at which the tenant's other callers (other containers included) take from it. */
  readonly othersPerSecond: number;
  readonly inFlight: number;
  readonly waiting: number;
}

/** The container's pacer of Management API calls. */
export interface Pacer {
  /**
   * Resolves when the call may start without taking the bucket below the reserve, counting this
   * container's calls in flight. Callers are served in order.
   *
   * @throws {RateLimitedError} code `throttled`, with the projected start as `retryAt`, when the call
   *   could not start before `waitUntil`; no request was made.
   */
  acquire(limits?: PaceLimits): Promise<PaceTicket>;
  /** Feeds the rate-limit headers of the answer to a paced call; `rateLimited` for a 429. */
  observe(ticket: PaceTicket, info: RateLimitInfo, rateLimited: boolean): void;
  /** Ends a paced call that got no answer (a network error or a timeout). */
  settle(ticket: PaceTicket): void;
  state(): PacerState;
}

/** Time constant of the estimate of the other callers' rate: long enough to smooth integer headers. */
const OTHERS_TIME_CONSTANT_MS = 3_000;
/** Smallest `share` honoured (RATE_LIMIT_SHARE's lower bound). */
const MIN_SHARE = 0.05;
/** An estimate older than this is not projected forward: the next call probes the bucket alone. */
const STALE_MS = 10_000;
/**
 * Refill per second of the Management API limits Auth0 publishes, by bucket size (FACTS.md): when the
 * headers allow the published figure, it is taken as exact; the headers alone pin it down only slowly.
 */
const PUBLISHED_REFILL: Readonly<Record<number, number>> = { 2: 2, 10: 2, 50: 16 };
/** How far Auth0's headers may be behind this container's clock: a round trip and some clock skew. */
const HEADER_SKEW_SECONDS = 0.25;
/** Jitter added to a wait, as a share of the time one request takes to refill, so containers do not move in lockstep. */
const JITTER_SHARE = 0.5;
/**
 * How far each answer pulls the projected level toward the middle of what `remaining` allows: the whole
 * number alone would leave the projection free to drift anywhere within one request, which on a small
 * bucket (the free plan's 2) is the difference between a call and a 429.
 */
const MEASUREMENT_GAIN = 0.35;
/**
 * Answers a container needs within the others' time constant, at an even share of the refill, to tell
 * what the other containers take: below it (6 containers on a bucket refilling 3.3/s), each keeps to an
 * even share instead (measured on the virtual clock: 6% of calls answered 429 otherwise).
 */
const MIN_ANSWERS_TO_ESTIMATE = 3;
/**
 * The pace of containers that divide time (see slotting), as a share of their part of the refill: under it,
 * so that the bucket keeps a request in hand for calls that arrive off plan (6 containers on the free plan,
 * virtual clock, seeds 1 to 8: at most 3 of about 242 calls answered 429 at 0.9, 7 of 253 at 0.95; answers
 * 20 to 200 ms late: at most 9 of 241 at 0.9, 19 of 257 at 0.95).
 */
const SLOTTED_PACE = 0.9;
/** Upper bound of a single sleep, after which the waiter looks again. */
const MAX_SLEEP_MS = 5_000;

interface Waiter {
  readonly jitter: number;
  wake: AbortController;
}

/**
 * Creates a container's pacer. It keeps a model of the tenant's Management API bucket, fed by the
 * `x-ratelimit-*` headers of every answer:
 *
 * - the bucket size is `x-ratelimit-limit`; `x-ratelimit-remaining` bounds the level (an integer: the
 *   level is at least that and less than one more);
 * - the refill follows from `x-ratelimit-reset`, which is when the bucket is *full* again (not when one
 *   more request is allowed, see FACTS.md): `(limit − remaining) / (reset − now)`;
 * - between answers the level is projected forward with the refill, minus this container's own calls
 *   since the answer, minus what the tenant's other callers take: their rate is learnt from how far each
 *   answer falls below the projection (smoothed over a few seconds).
 *
 * A call starts once the projected level, after this call and every call of the container still in
 * flight, stays at or above the reserve, and no sooner than the container's own rate allows. Several
 * containers share one bucket and see each other only through the headers; each counts the others among
 * "other callers" and spaces its calls at what is left to it (never less than an even share), so that
 * together they hold the level at the reserve rather than each taking the whole refill. On a bucket too
 * small for every container to call at once, each keeps strictly to an even share. Waits for the level
 * carry jitter so that containers do not call in lockstep. Nothing here sleeps past `waitUntil`: a wait that does not fit is refused at once with
 * a {@link RateLimitedError} (`throttled`) saying when to try again, for the queue to put the work back.
 *
 * @example
 * const pacer = createPacer({ reserve: 0.2, share: 1, now: Date.now, random: Math.random });
 * const ticket = await pacer.acquire({ waitUntil: deadline });
 * const answer = await send();
 * pacer.observe(ticket, readRateLimit(answer.headers, Date.now()), answer.status === 429);
 */
export function createPacer(options: PacerOptions): Pacer {
  const { now, random } = options;
  const sleep = options.sleep ?? sleepFor;
  const reserveShare = Math.min(0.99, Math.max(0, options.reserve));
  const share = Math.min(1, Math.max(MIN_SHARE, options.share));
  const containers = Math.max(1, Math.floor(options.containers ?? 2));
  /** The refill (requests per second) this container may always count on: see {@link PacerOptions.evenShare}. */
  const evenPart = (total: number): number => {
    const part = options.evenShare?.();
    return total * (part !== undefined && part > 0 && part <= 1 ? part : 1 / containers);
  };

  // The model, anchored at the latest answer: the level then, and the calls it already counted.
  let limit: number | undefined;
  let level = 0;
  let anchorAt = 0;
  let anchorSeq = 0;
  let known = false;
  /** Exponentially decayed sum of what other callers took (requests); divided by the time constant, a rate. */
  let othersTaken = 0;
  let othersAt = 0;
  // Bounds of the refill (requests per second) that every answer so far allows; see observe().
  let refillLow = 0;
  let refillHigh = Number.POSITIVE_INFINITY;
  /** No call before this (epoch ms), after a 429. */
  let holdUntil = 0;
  /** When this container's own rate allows its next call (epoch ms). */
  let nextOwnStart = 0;
  /** When a call began before the refill was known, and so set no spacing: the first answer sets it. */
  let unspacedAt: number | undefined;
  /** This container's time slot in each frame, when the bucket is slotted (see {@link slotting}). */
  let slot: number | undefined;

  let started = 0;
  const inFlight = new Set<number>();
  const queue: Waiter[] = [];

  /** The refill, in requests per second: the middle of its bounds, or the lower bound while there is no upper one. */
  const refill = (): number | undefined => {
    const published = limit === undefined ? undefined : options.published?.burst === limit ? options.published.perSecond : PUBLISHED_REFILL[limit];
    if (published !== undefined && published >= refillLow && published <= refillHigh) return published;
    if (refillLow === 0 && !Number.isFinite(refillHigh)) return undefined;
    return Number.isFinite(refillHigh) ? (refillLow + refillHigh) / 2 : refillLow;
  };
  /**
   * True when the refill is known: published, or bounded from above by the headers. A bucket the calls never
   * drain (one larger than any Auth0 publishes) only ever shows a lower bound, and spacing calls at that
   * held a container of 10 lanes to 7 calls a second on a bucket refilling 200 a second; until an upper
   * bound shows, the projected level alone paces the calls.
   */
  const refillKnown = (): boolean => {
    const published = limit === undefined ? undefined : options.published?.burst === limit ? options.published.perSecond : PUBLISHED_REFILL[limit];
    return (published !== undefined && published >= refillLow && published <= refillHigh) || Number.isFinite(refillHigh);
  };
  const othersRate = (at: number): number => (othersTaken * Math.exp(-(at - othersAt) / OTHERS_TIME_CONSTANT_MS)) / (OTHERS_TIME_CONSTANT_MS / 1000);
  /**
   * Requests per second this container can count on: the refill, less what the others take, but never
   * less than an even share. Without that floor, one container that happens to call more looks to the
   * others like a tenant too busy to call, and starves them (measured: a container of two on a bucket of
   * 10 waited past its invocation, again and again).
   */
  const available = (at: number, total: number): number => Math.max(evenPart(total), total - Math.max(0, othersRate(at)));
  /**
   * Requests kept in the bucket: the configured share of it, but with several containers never fewer than one
   * per container and one more, where the bucket has room beside them. Each other container may have a call
   * out that no answer here has shown yet, and `remaining` is rounded down. At a share's 2 of a bucket of 10
   * (Professional's "other endpoints"), the level held at the reserve left no room for that: 2 containers
   * granting roles drew about 1 call in 110 answered 429 with answers 1 to 5 ms late (virtual clock, seeds 1
   * to 10; up to 2% in npm run bench roles-bulk), 6 containers of a mixed load 1 to 6 in about 313 (seeds
   * 1, 2, 3, 7); with 3 and 7 kept, none in either. The free plan's bucket of 2 has no such room: there
   * containers keep to even spacing or slots instead (see small, slotting).
   */
  const reserveTokens = (size: number) => {
    const floor = containers > 1 && size - (containers + 1) >= 1 ? containers + 1 : 0;
    return Math.min(Math.max(0, size - 1), Math.max(reserveShare * size, floor));
  };

  /**
   * True when the bucket, above the reserve, cannot take one call from every container at once. Then a
   * container cannot tell from whole-number headers whether another called a moment ago, and the only
   * safe pace is an even share of the refill each, kept strictly: spaced so, containers never overdraw
   * the bucket whatever their phase (measured in the simulation: 0.4% 429s for two containers on the
   * free plan, against 27% when each paced by what it saw the others take).
   */
  const small = (size: number, total: number | undefined = refill()): boolean =>
    size - reserveTokens(size) < 2 * containers || (total !== undefined && (total / containers) * (OTHERS_TIME_CONSTANT_MS / 1000) < MIN_ANSWERS_TO_ESTIMATE);
  /** The rate at which this container's calls are spaced, requests per second. */
  const ownRate = (at: number, total: number): number => {
    // Below a share of 1, the deployment as a whole keeps under it: each container to its part of it. The
    // headers cannot tell how many containers run (a full bucket shows nobody's calls), so no more is safe.
    if (share < 1) return share * evenPart(total);
    // On a small bucket, an even share, always. A full bucket does not mean the others are idle: at an even
    // share each, calls that interleave leave it full before every call. A container that took a full
    // bucket for being alone and used the whole refill drew a 429 every few seconds, alternating with the
    // other (measured on the virtual clock, free plan, 2 containers: up to 29 in 208 calls once answers
    // arrive 20 to 200 ms off plan, the headers are read as the answer leaves, or one container starts
    // seconds after the other; 1 in 190 in each case without the rule).
    if (limit !== undefined && small(limit)) return evenPart(total);
    return available(at, total);
  };

  /**
   * More containers than the bucket holds (6 on the free plan's bucket of 2): every container's part of the
   * refill is less than a call a second, no header tells a container when the others call, and spacing alone
   * left a quarter of the calls answered 429 (virtual clock, 6 containers, 120 s: 63 of 238), as containers
   * drifted into each other's phase. There the containers divide time instead, on the clock they share: a
   * frame of `1 / (pace × part)` seconds holds one slot per container (3.3 s and 0.56 s on the free plan);
   * each container calls in its own slot, a quarter into it, one call per frame, and after a 429 (another
   * container had the slot) moves to another slot at random. Until the first answer, the plan's published
   * bucket, if known, says whether to.
   */
  const slotting = (total: number | undefined = refill()): { frameMs: number; slotMs: number; slots: number } | undefined => {
    const size = limit ?? options.published?.burst;
    const perSecond = total ?? options.published?.perSecond;
    if (size === undefined || perSecond === undefined || perSecond <= 0 || !(containers > size)) return undefined;
    const frameMs = 1000 / (SLOTTED_PACE * share * evenPart(perSecond));
    // One slot per request the bucket refills in a frame: as many as the containers sharing it evenly.
    const slots = Math.max(1, Math.round(perSecond / (share * evenPart(perSecond))));
    return { frameMs, slotMs: frameMs / slots, slots };
  };
  /** The first time at or after `from` that falls a quarter into this container's slot. */
  const nextSlotTime = (from: number, slots: { frameMs: number; slotMs: number; slots: number }): number => {
    slot ??= Math.floor(random() * slots.slots);
    const offset = (slot % slots.slots) * slots.slotMs + slots.slotMs / 4;
    return offset + Math.ceil((from - offset) / slots.frameMs) * slots.frameMs;
  };

  /** When the waiter at `index` in the queue may start (epoch ms), or Infinity while only an answer can tell. */
  const startTime = (index: number, at: number, jitter: number): number => {
    const slots = slotting();
    if (slots !== undefined) return nextSlotTime(Math.max(at, holdUntil, nextOwnStart), slots) + index * slots.frameMs;
    if (!known || limit === undefined || at - anchorAt > STALE_MS) {
      // Nothing to project from: one call at a time until an answer describes the bucket.
      return inFlight.size === 0 && index === 0 ? Math.max(at, holdUntil) : Number.POSITIVE_INFINITY;
    }
    const size = limit;
    const pending = started - anchorSeq; // calls since the anchor: in flight, or ended without an answer
    const needed = Math.min(size, reserveTokens(size) + pending + index + 1);
    // More calls out than the bucket holds above the reserve: only an answer can tell when there is room.
    // With none in flight no answer will come, so the head goes once the bucket would be full.
    if (reserveTokens(size) + pending + index + 1 > size && (inFlight.size > 0 || index > 0)) return Number.POSITIVE_INFINITY;
    const total = refill();
    const missing = needed - level;
    let startAt: number;
    if (missing <= 0) startAt = at;
    else if (total === undefined) startAt = inFlight.size === 0 && index === 0 ? anchorAt + 1_000 : Number.POSITIVE_INFINITY;
    else startAt = anchorAt + (missing / available(at, total)) * 1000 + (jitter * JITTER_SHARE * 1000) / total;
    startAt = Math.max(startAt, holdUntil);
    // Spread this container's calls at its own rate, so that containers sharing the bucket interleave
    // instead of all calling the moment the projected level allows.
    if (total !== undefined && refillKnown()) startAt = Math.max(startAt, nextOwnStart + (index * 1000) / ownRate(at, total));
    return startAt;
  };

  const wakeAll = () => {
    for (const waiter of queue) waiter.wake.abort();
  };

  const begin = (waited: number): PaceTicket => {
    started += 1;
    inFlight.add(started);
    const total = refill();
    const slots = slotting(total);
    if (slots !== undefined) {
      // The next call in a later frame: past the middle of this slot.
      nextOwnStart = now() + slots.slotMs / 2;
    } else if (total !== undefined && refillKnown()) {
      const at = now();
      const spacing = 1000 / ownRate(at, total);
      // On a bucket with room for every container, one call of credit: a container that fell behind its
      // rate may catch up by one call. On a small one, none: the even spacing is what keeps it safe.
      const credit = limit !== undefined && small(limit) ? 0 : spacing;
      nextOwnStart = Math.max(at - credit, nextOwnStart) + spacing;
    } else {
      unspacedAt ??= now();
    }
    return { seq: started, waitedMs: waited };
  };

  return {
    async acquire(limits = {}) {
      const firstAt = now();
      const waiter: Waiter = { jitter: random(), wake: new AbortController() };
      queue.push(waiter);
      try {
        for (;;) {
          if (limits.signal?.aborted) throw new RetryableError('deadline', 'a call waiting for room in the rate limit was cut short: the invocation is about to time out');
          const at = now();
          const index = queue.indexOf(waiter);
          const startAt = startTime(index, at, waiter.jitter);
          if (index === 0 && startAt <= at) return begin(at - firstAt);
          // An infinite start waits for an answer to tell more, but not past `waitUntil` either.
          if (limits.waitUntil !== undefined && (Number.isFinite(startAt) ? startAt > limits.waitUntil : at >= limits.waitUntil)) {
            const retryAt = Number.isFinite(startAt) ? startAt : at + 1_000;
            throw new RateLimitedError(retryAt, `no room in the tenant's rate limit before the invocation ends (next call in about ${Math.ceil((retryAt - at) / 1000)} s)`, {}, { code: 'throttled' });
          }
          waiter.wake = new AbortController();
          const signals = limits.signal === undefined ? waiter.wake.signal : AbortSignal.any([waiter.wake.signal, limits.signal]);
          const until = Math.min(startAt, limits.waitUntil ?? Number.POSITIVE_INFINITY, at + MAX_SLEEP_MS);
          await sleep(Math.max(1, until - at), signals);
        }
      } finally {
        queue.splice(queue.indexOf(waiter), 1);
        wakeAll();
      }
    },

    observe(ticket, info, rateLimited) {
      inFlight.delete(ticket.seq);
      const at = now();
      if (rateLimited) {
        // Do not call again before the bucket has one request above the reserve (Retry-After, if given, wins).
        const size = info.limit ?? limit ?? 1;
        const perRequest = info.resetAt !== undefined ? Math.max(0, info.resetAt - at) / Math.max(1, size - (info.remaining ?? 0)) : 1_000;
        holdUntil = Math.max(holdUntil, at + (info.retryAfterMs ?? perRequest * (1 + reserveTokens(size))));
      }
      if (info.limit === undefined || info.remaining === undefined || info.limit <= 0) {
        wakeAll();
        return;
      }
      if (info.resetAt !== undefined && info.resetAt > at && info.remaining < info.limit) {
        // `remaining` is rounded down and `reset` up to a whole second, so each answer bounds the refill:
        // (missing − 1) / (reset − now) < refill < missing / (reset − now − 1 s). Auth0 set the headers a
        // round trip before `now` (and its clock is not ours), so the bounds are widened by that much.
        const missing = info.limit - info.remaining;
        const untilFull = (info.resetAt - at) / 1000;
        const low = (missing - 1) / (untilFull + HEADER_SKEW_SECONDS);
        const high = untilFull - HEADER_SKEW_SECONDS > 1 ? missing / (untilFull - 1 - HEADER_SKEW_SECONDS) : Number.POSITIVE_INFINITY;
        if (low > refillHigh || high < refillLow) {
          // This answer contradicts the bounds so far: the tenant's limit changed. Start again from it.
          refillLow = low;
          refillHigh = high;
        } else {
          refillLow = Math.max(refillLow, low);
          refillHigh = Math.min(refillHigh, high);
        }
      }
      limit = info.limit;
      if (ticket.seq < anchorSeq) {
        wakeAll();
        return; // an older answer than the one the model stands on
      }
      const remaining = Math.min(info.remaining, info.limit);
      // A 429 took nothing from the bucket; every other call up to this one did.
      const mine = ticket.seq - anchorSeq - (rateLimited ? 1 : 0);
      const total = refill() ?? 0;
      // The level this answer should show if the others took what they have been taking. `remaining` is a
      // whole number, so the level is in [remaining, remaining + 1): the projection is pulled part of the
      // way toward the middle of that, then kept inside it. What the others took is the refill since the
      // anchor less this container's calls and the new level.
      const elapsed = (at - anchorAt) / 1000;
      const projected = known ? Math.min(info.limit, level + available(at, total) * elapsed) - mine : remaining + 0.5;
      const observed = Math.min(info.limit, Math.max(projected + MEASUREMENT_GAIN * (remaining + 0.5 - projected), remaining), remaining + 0.999);
      if (known) {
        const taken = Math.min(info.limit, level + total * elapsed) - mine - observed;
        othersTaken = othersTaken * Math.exp(-(at - othersAt) / OTHERS_TIME_CONSTANT_MS) + taken;
        othersAt = at;
      }
      level = observed;
      anchorAt = at;
      anchorSeq = ticket.seq;
      known = true;
      // On a small bucket the containers keep apart in time, as each keeps an even share of exactly the
      // refill: two that call a moment apart leave the network's jitter to decide which finds it empty
      // (virtual clock, free plan, 2 containers kept in step: about 1 call in 10 answered 429).
      // - A cold container's first call went before the refill was known, and set no spacing: its first
      //   answer sets it, and a container that found another's call already taken from the bucket (it was
      //   not first) starts half a spacing later. Without this, its second call went as the first answer
      //   came, into the token the other's first call had just taken: one 429 per start (npm run bench
      //   free-2: 1 in about 148 calls, run after run).
      // - A 429 means another container called just before: this one moves half a spacing away.
      const slots = slotting(total > 0 ? total : undefined);
      if (slots !== undefined) {
        // Another container had this slot: move to another one, at random.
        if (rateLimited && slots.slots > 1) slot = ((slot ?? 0) + 1 + Math.floor(random() * (slots.slots - 1))) % slots.slots;
      } else if (total > 0 && refillKnown() && small(info.limit, total)) {
        const spacing = 1000 / ownRate(at, total);
        if (unspacedAt !== undefined) {
          const second = !rateLimited && remaining < info.limit - 1;
          nextOwnStart = Math.max(nextOwnStart, unspacedAt + spacing * (second ? 1.5 : 1));
        } else if (rateLimited) {
          nextOwnStart = Math.max(nextOwnStart, at) + spacing / 2;
        }
      }
      unspacedAt = undefined;
      wakeAll();
    },

    settle(ticket) {
      inFlight.delete(ticket.seq);
      wakeAll();
    },

    state() {
      const at = now();
      const total = refill();
      const projectedLevel =
        known && limit !== undefined && total !== undefined ? Math.min(limit, level + (available(at, total) * (at - anchorAt)) / 1000) - (started - anchorSeq) : undefined;
      return { limit, level: projectedLevel, refillPerSecond: total, othersPerSecond: Math.max(0, othersRate(at)), inFlight: inFlight.size, waiting: queue.length };
    },
  };
}

/** Resolves after `ms`, or at once when `signal` aborts; never rejects. */
export function sleepFor(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
