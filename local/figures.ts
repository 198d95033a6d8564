/**
 * The figures `npm start` and `npm run bench` report about a drained backlog, computed the same way for
 * the worker and for any other handler: from what the tenant answered, what the event source mapping
 * delivered, and the tenant's rate limit.
 */
import type { TenantCounters } from './tenant/tenant.ts';
import { type Auth0Plan, bucketSpec } from '../shared/auth0/plans.ts';
import type { BucketCount, RateLimitSpec } from './tenant/rate-limit.ts';

/** Answers per HTTP status; 0 counts requests that got no answer (dropped connections). */
export type StatusCounts = Readonly<Record<number, number>>;

/** True for a Management API route as the tenant names it, `METHOD /api/v2/...` (not `/oauth/token`). */
export function isManagementRoute(route: string): boolean {
  return route.includes(' /api/v2/');
}

/** The tenant's Management API answers per status, leaving out `/oauth/token` and the JWKS. */
export function managementAnswers(requests: TenantCounters['requests']): Record<number, number> {
  const totals: Record<number, number> = {};
  for (const [route, byStatus] of requests) {
    if (!isManagementRoute(route)) continue;
    for (const [status, n] of byStatus) totals[status] = (totals[status] ?? 0) + n;
  }
  return totals;
}

/** `total` minus `part`, status by status: the tenant's answers without another caller's. */
export function subtractCounts(total: StatusCounts, part: StatusCounts): Record<number, number> {
  const result: Record<number, number> = { ...total };
  for (const [status, n] of Object.entries(part)) result[Number(status)] = (result[Number(status)] ?? 0) - n;
  return result;
}

/** What {@link computePacingFigures} needs. */
export interface PacingInput {
  /** Jobs enqueued. */
  readonly jobs: number;
  /** Records the event source mapping handed to the handler, resends and visibility retries included. */
  readonly recordsDelivered: number;
  /**
   * Jobs delivered at least once. Default `jobs`, which holds once the backlog is drained; a run cut short
   * may not have delivered every job yet, and its requeues are the deliveries beyond each job's first.
   */
  readonly jobsDelivered?: number;
  readonly invocations: number;
  /** The handler's own Management API answers per status (other callers' subtracted). */
  readonly answers: StatusCounts;
  readonly rateLimit: RateLimitSpec;
  /** Management API calls per second that other applications of the tenant make meanwhile. Default 0. */
  readonly otherCallsPerSecond?: number;
  /** From starting the handler until the queue was empty; undefined when it did not get there. */
  readonly wallMs: number | undefined;
}

/** The figures of one drained (or not) backlog. */
export interface PacingFigures {
  /** Management API calls, answered or not, 429s included. */
  readonly calls: number;
  readonly rateLimited: number;
  /** `rateLimited / calls`, 0 without calls. */
  readonly rateLimitedShare: number;
  /** Calls answered with anything but 429 (or not at all): what the bucket let through. */
  readonly admittedCalls: number;
  /**
   * The shortest time the admitted calls could have taken: the burst is free, the rest comes at the refill
   * rate left over by the other callers. `max(0, admitted − burst) / (refill − others)`; infinite when the
   * others take the whole refill and the burst was not enough.
   */
  readonly floorSeconds: number;
  /** Wall time over the floor; undefined when the run did not finish or the floor is zero or infinite. */
  readonly wallOverFloor: number | undefined;
  /** `(records delivered − jobs delivered) / jobs`: every delivery past a job's first, whatever sent it back. */
  readonly requeuesPerJob: number;
  readonly invocationsPerJob: number;
}

/**
 * Computes the figures of one run.
 *
 * @example
 * const figures = computePacingFigures({ jobs: 1000, recordsDelivered: 1250, invocations: 130, answers: { 200: 1100, 429: 40 }, rateLimit: { burst: 50, perSecond: 16 }, wallMs: 70_000 });
 * figures.requeuesPerJob; // 0.25
 */
export function computePacingFigures(input: PacingInput): PacingFigures {
  const left = input.rateLimit.perSecond - (input.otherCallsPerSecond ?? 0);
  let calls = 0;
  for (const n of Object.values(input.answers)) calls += n;
  const rateLimited = input.answers[429] ?? 0;
  const admittedCalls = calls - rateLimited - (input.answers[0] ?? 0);
  const beyondBurst = Math.max(0, admittedCalls - input.rateLimit.burst);
  // Other callers taking the whole refill leave nothing sustained: no finite floor.
  const floorSeconds = beyondBurst === 0 ? 0 : left > 0 ? beyondBurst / left : Number.POSITIVE_INFINITY;
  const jobs = Math.max(1, input.jobs);
  return {
    calls,
    rateLimited,
    rateLimitedShare: calls === 0 ? 0 : rateLimited / calls,
    admittedCalls,
    floorSeconds,
    wallOverFloor: input.wallMs === undefined || floorSeconds === 0 || !Number.isFinite(floorSeconds) ? undefined : input.wallMs / 1000 / floorSeconds,
    requeuesPerJob: (input.recordsDelivered - (input.jobsDelivered ?? input.jobs)) / jobs,
    invocationsPerJob: input.invocations / jobs,
  };
}

/** One bucket's share of a run. */
export interface BucketFigures {
  readonly bucket: string;
  readonly calls: number;
  readonly rateLimited: number;
  readonly floorSeconds: number;
}

/** Each bucket's calls, 429s and floor; the bucket with the longest floor binds. */
export function bucketFigures(plan: Auth0Plan, counts: Readonly<Record<string, BucketCount>>): BucketFigures[] {
  return Object.entries(counts)
    .map(([bucket, { calls, rateLimited }]) => {
      const spec = bucketSpec(plan, bucket);
      const admitted = calls - rateLimited;
      return { bucket, calls, rateLimited, floorSeconds: spec === undefined ? 0 : Math.max(0, admitted - spec.burst) / spec.perSecond };
    })
    .sort((a, b) => b.floorSeconds - a.floorSeconds);
}
