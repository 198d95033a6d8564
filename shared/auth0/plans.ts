/**
 * Auth0's Management API rate limits by plan, as Auth0 publishes them (FACTS.md, "Buckets are layered"):
 * an API-wide bucket where the plan has one, checked first, then the bucket of the call's endpoint group.
 * The tenant emulator enforces this table and the worker paces by it, so both follow one reading of the
 * published figures.
 */

/** The plans whose Management API limits Auth0 publishes. Essentials and Professional share theirs. */
export const AUTH0_PLANS = ['free', 'essentials', 'professional', 'enterprise', 'enterprise-non-production'] as const;
/** An Auth0 plan, as the Dashboard's subscription settings name it: the rate limits Auth0 publishes differ by plan. */
export type Auth0Plan = (typeof AUTH0_PLANS)[number];

/**
 * The endpoint groups this product's calls fall in. `other` is every endpoint no group of the plan names
 * (roles, role members, user roles): on Essentials and Professional a bucket of its own, elsewhere none.
 */
export const ENDPOINT_GROUPS = [
  'users-read',
  'users-write',
  'users-delete',
  'organizations-by-id',
  'organizations-by-name',
  'organization-members-read',
  'organization-members-write',
  'organization-member-roles-read',
  'organization-member-roles-write',
  'other',
] as const;
export type EndpointGroup = (typeof ENDPOINT_GROUPS)[number];

/** A token bucket: its size, and its refill per second. */
export interface BucketSpec {
  readonly burst: number;
  readonly perSecond: number;
  /**
   * `continuous` for a limit given per second; `per-second` for one given per minute, which Auth0 refills
   * once a second by a sixtieth of it (200/minute: 3.33 requests each second).
   */
  readonly refill: 'continuous' | 'per-second';
}

/** A plan's buckets: the API-wide one, if it has one, and each endpoint group's. */
export interface PlanLimits {
  readonly apiWide?: BucketSpec;
  readonly groups: Readonly<Partial<Record<EndpointGroup, BucketSpec>>>;
}

const perSecond = (burst: number, rate: number): BucketSpec => ({ burst, perSecond: rate, refill: 'continuous' });
const perMinute = (burst: number, rate: number): BucketSpec => ({ burst, perSecond: rate / 60, refill: 'per-second' });

/** Organization groups of Enterprise, production and non-production alike. */
const ENTERPRISE_GROUPS = {
  'organizations-by-name': perMinute(20, 200),
  'organization-members-read': perMinute(40, 500),
  'organization-members-write': perMinute(20, 200),
  'organization-member-roles-read': perMinute(20, 200),
  'organization-member-roles-write': perMinute(20, 200),
} as const;

/** Essentials and Professional: no API-wide bucket, a bucket per group, and one for every other endpoint together. */
const SELF_SERVICE_GROUPS = {
  'users-read': perMinute(40, 500),
  'users-write': perMinute(20, 200),
  'users-delete': perMinute(20, 200),
  'organizations-by-id': perMinute(20, 200),
  'organizations-by-name': perMinute(10, 100),
  'organization-members-read': perMinute(40, 500),
  'organization-members-write': perMinute(20, 200),
  'organization-member-roles-read': perMinute(20, 200),
  'organization-member-roles-write': perMinute(20, 200),
  other: perMinute(10, 150),
} as const;

/** Published Management API limits (December 2026), burst and refill, by plan. */
export const PLAN_LIMITS: Readonly<Record<Auth0Plan, PlanLimits>> = {
  free: { apiWide: perSecond(2, 2), groups: {} },
  essentials: { groups: SELF_SERVICE_GROUPS },
  professional: { groups: SELF_SERVICE_GROUPS },
  enterprise: { apiWide: perSecond(50, 16), groups: ENTERPRISE_GROUPS },
  'enterprise-non-production': { apiWide: perSecond(10, 2), groups: ENTERPRISE_GROUPS },
};

/**
 * The endpoint group of a Management API call, by method and route template (`/api/v2` optional).
 *
 * Auth0 does not say which group `GET /users-by-email` and `GET /users/{id}/organizations` belong to; they are
 * put in `users-read` here (the emulator does the same), and the pacer does not depend on it: it learns each
 * bucket from the answers of the calls it sends there.
 */
export function endpointGroup(method: string, route: string): EndpointGroup {
  const path = route.startsWith('/api/v2') ? route.slice('/api/v2'.length) : route;
  const write = method !== 'GET';
  if (path.startsWith('/organizations/')) {
    if (path.startsWith('/organizations/name/')) return 'organizations-by-name';
    if (/^\/organizations\/[^/]+\/members\/[^/]+\/roles$/.test(path)) return write ? 'organization-member-roles-write' : 'organization-member-roles-read';
    if (/^\/organizations\/[^/]+\/members$/.test(path)) return write ? 'organization-members-write' : 'organization-members-read';
    if (/^\/organizations\/[^/]+$/.test(path) && !write) return 'organizations-by-id';
    return 'other';
  }
  if (path === '/users' || path === '/users-by-email' || /^\/users\/[^/]+(\/organizations)?$/.test(path)) {
    if (!write) return 'users-read';
    if (method === 'DELETE') return /^\/users\/[^/]+$/.test(path) ? 'users-delete' : 'other';
    return /^\/users(\/[^/]+)?$/.test(path) ? 'users-write' : 'other';
  }
  return 'other';
}

/** The bucket a call's answer describes, and those it draws from: its group's where the plan has one, the API-wide one. */
export interface CallBuckets {
  /** Every bucket the call draws from, the group's first. */
  readonly keys: readonly string[];
  /** The bucket the `x-ratelimit-*` headers of its answer describe. */
  readonly reported: string;
}

/** The key of the API-wide bucket among a plan's buckets. */
export const API_WIDE = 'api';

/** The buckets a call draws from on a plan. */
export function bucketsOf(plan: Auth0Plan, method: string, route: string): CallBuckets {
  const limits = PLAN_LIMITS[plan];
  const group = endpointGroup(method, route);
  const grouped = limits.groups[group] !== undefined;
  const keys = [...(grouped ? [group] : []), ...(limits.apiWide === undefined ? [] : [API_WIDE])];
  return { keys, reported: grouped ? group : API_WIDE };
}

/** The spec of a bucket key on a plan, if the plan has that bucket. */
export function bucketSpec(plan: Auth0Plan, key: string): BucketSpec | undefined {
  const limits = PLAN_LIMITS[plan];
  return key === API_WIDE ? limits.apiWide : limits.groups[key as EndpointGroup];
}

/** The plans' buckets, for help texts: `api 50/16 per s; organization-members-write 20/200 per min; …`. */
export function describePlan(plan: Auth0Plan): string {
  const limits = PLAN_LIMITS[plan];
  const entries = [...(limits.apiWide === undefined ? [] : [[API_WIDE, limits.apiWide] as const]), ...Object.entries(limits.groups)];
  return entries
    .map(([key, spec]) => (spec.refill === 'per-second' ? `${key} ${spec.burst}/${Math.round(spec.perSecond * 60)} per min` : `${key} ${spec.burst}/${spec.perSecond} per s`))
    .join('; ');
}

/**
 * The plan an answer's bucket size tells, where it tells one: 2 is the free plan's only bucket; a user read
 * answered with 40, or a user write with 20, is Essentials or Professional (their buckets are the same);
 * 50 on either is Enterprise, 10 Enterprise non-production. Other answers leave it open (a bucket of 10 for
 * roles is Professional's or Enterprise non-production's).
 */
export function planFromAnswer(method: string, route: string, limit: number | undefined): Auth0Plan | undefined {
  if (limit === 2) return 'free';
  const group = endpointGroup(method, route);
  if (group !== 'users-read' && group !== 'users-write' && group !== 'users-delete') return undefined;
  if (limit === 50) return 'enterprise';
  if (limit === 10) return 'enterprise-non-production';
  return limit === (group === 'users-read' ? 40 : 20) ? 'professional' : undefined;
}

/** Parses a plan name, or says which names there are. */
export function parsePlan(value: string): Auth0Plan {
  if ((AUTH0_PLANS as readonly string[]).includes(value)) return value as Auth0Plan;
  throw new Error(`the Auth0 plan must be one of ${AUTH0_PLANS.join(', ')}, not ${JSON.stringify(value)}`);
}
