import { type Auth0Plan, bucketSpec, bucketsOf, planFromAnswer } from './plans.ts';
import { type PaceLimits, type PaceTicket, type Pacer, type PacerOptions, type PacerState, createPacer } from './pacer.ts';
import type { RateLimitInfo } from './rate-limit.ts';

/** A Management API call as the pacer sees it: its method and route template. */
export interface PacedCall {
  readonly method: string;
  readonly route: string;
}

/** One paced call: a ticket from every bucket it draws from. */
export interface BucketTicket {
  readonly waitedMs: number;
  /** The bucket keys and their tickets, the group's first. */
  readonly tickets: ReadonlyArray<readonly [string, PaceTicket]>;
  /** The bucket the answer's headers describe, unless they say otherwise (see {@link BucketPacer.observe}). */
  readonly reported: string;
  readonly call: PacedCall;
}

/** Paces each call against every bucket it draws from. */
export interface BucketPacer {
  /**
   * Waits for room in each bucket the call draws from, its group's first (a call waiting on a small group's
   * bucket holds up no call of another group), then the API-wide one.
   *
   * @throws {RateLimitedError} code `throttled`, as {@link Pacer.acquire}; nothing is held then.
   */
  acquire(call: PacedCall, limits?: PaceLimits): Promise<BucketTicket>;
  /**
   * Feeds the answer's headers to the bucket they describe: the group's, or for a 429 whichever of the
   * call's buckets has the size the headers give (the one that refused it). The other buckets count the
   * call as taken, without figures.
   */
  observe(ticket: BucketTicket, info: RateLimitInfo, rateLimited: boolean): void;
  /** Ends a call that got no answer. */
  settle(ticket: BucketTicket): void;
  /** The plan the pacer goes by: the configured one, or the one the headers showed, or undefined while neither. */
  plan(): Auth0Plan | undefined;
  /** What each bucket's pacer believes, by bucket key. */
  state(): Record<string, PacerState>;
}

/** Options of {@link createBucketPacer}. */
export interface BucketPacerOptions extends PacerOptions {
  /** The tenant's plan (`AUTH0_PLAN`). Without it, the pacer learns it from the first answers that tell it. */
  readonly plan?: Auth0Plan | undefined;
}

/** The single bucket every call shares while the plan is not known. */
const UNKNOWN = 'tenant';

/**
 * Creates the container's pacer for a tenant whose limits are layered (FACTS.md, "Buckets are layered"):
 * one {@link createPacer} model per bucket, each fed only the answers that describe its bucket, so that a
 * jump in `x-ratelimit-limit` between an organization write (20) and a user update (50) is two buckets,
 * not one bucket whose limit keeps changing. Each model takes the plan's published refill as exact.
 *
 * Without a configured plan, every call shares one model (safe on any plan: it takes the smallest bucket it
 * has seen answers from as the whole tenant's) until an answer tells the plan: 2 is the free plan; a user
 * read or write answered with 40 or 20 is Essentials or Professional, with 50 Enterprise, with 10 Enterprise
 * non-production. From then on, the plan's buckets.
 *
 * @example
 * const pacer = createBucketPacer({ plan: 'professional', reserve: 0.2, share: 1, now: Date.now, random: Math.random });
 * const ticket = await pacer.acquire({ method: 'PATCH', route: '/api/v2/users/{id}' }, { waitUntil });
 * pacer.observe(ticket, readRateLimit(answer.headers, Date.now()), answer.status === 429);
 */
export function createBucketPacer(options: BucketPacerOptions): BucketPacer {
  let plan = options.plan;
  const pacers = new Map<string, Pacer>();
  const pacerFor = (key: string): Pacer => {
    let pacer = pacers.get(key);
    if (pacer === undefined) {
      const spec = plan === undefined ? undefined : bucketSpec(plan, key);
      pacer = createPacer({ ...options, ...(spec === undefined ? {} : { published: spec }) });
      pacers.set(key, pacer);
    }
    return pacer;
  };
  const bucketsFor = (call: PacedCall) => (plan === undefined ? { keys: [UNKNOWN], reported: UNKNOWN } : bucketsOf(plan, call.method, call.route));

  /** What the headers of an answer say of the plan, if anything. */
  const learnPlan = (call: PacedCall, limit: number | undefined) => {
    if (plan !== undefined || limit === undefined) return;
    plan = planFromAnswer(call.method, call.route, limit);
    // The shared model has been describing the bucket of the calls that told the plan: it goes on as that
    // bucket's, with the calls it still has out, instead of a new model that knows nothing of them.
    const shared = pacers.get(UNKNOWN);
    if (plan !== undefined && shared !== undefined) {
      const { reported } = bucketsOf(plan, call.method, call.route);
      if (!pacers.has(reported)) pacers.set(reported, shared);
    }
  };

  return {
    async acquire(call, limits = {}) {
      const { keys, reported } = bucketsFor(call);
      const tickets: Array<readonly [string, PaceTicket]> = [];
      let waitedMs = 0;
      try {
        for (const key of keys) {
          const ticket = await pacerFor(key).acquire(limits);
          tickets.push([key, ticket]);
          waitedMs += ticket.waitedMs;
        }
      } catch (error) {
        // The call never went: the buckets already passed count it as taken, which errs on the safe side.
        for (const [key, ticket] of tickets) pacerFor(key).settle(ticket);
        throw error;
      }
      return { tickets, reported, waitedMs, call };
    },

    observe(ticket, info, rateLimited) {
      learnPlan(ticket.call, info.limit);
      let described = ticket.reported;
      if (rateLimited && ticket.tickets.length > 1 && info.limit !== undefined) {
        const refusing = ticket.tickets.find(([key]) => pacerFor(key).state().limit === info.limit || (plan !== undefined && bucketSpec(plan, key)?.burst === info.limit));
        if (refusing !== undefined) described = refusing[0];
      }
      for (const [key, each] of ticket.tickets) {
        if (key === described) pacerFor(key).observe(each, info, rateLimited);
        else pacerFor(key).settle(each);
      }
    },

    settle(ticket) {
      for (const [key, each] of ticket.tickets) pacerFor(key).settle(each);
    },

    plan: () => plan,

    state() {
      return Object.fromEntries([...pacers].map(([key, pacer]) => [key, pacer.state()]));
    },
  };
}
