import type { ManagementCall, ManagementClient } from '../auth0/client.ts';
import { type BucketTicket, type PacedCall, createBucketPacer } from '../auth0/bucket-pacer.ts';
import type { Auth0Plan } from '../auth0/plans.ts';
import { RateLimitedError } from '../errors.ts';
import type { OrganizationMember } from './plan-organizations.ts';
import type { RoleMember } from './plan-sync.ts';

/** Keeps the sync's reads from running the tenant's bucket dry. */
export interface ReadPacer {
  /** Waits, if needed, until the read leaves each bucket it draws from above the reserve. */
  beforeRead(call: PacedCall): Promise<void>;
  /** Reads made so far. */
  readonly reads: number;
  /** Lowest `x-ratelimit-remaining` seen after a read, if any. */
  readonly lowestRemaining: number | undefined;
  /** Counts one read and feeds the bucket its answer described to the pacer; `rateLimited` for a 429. */
  afterRead(rateLimited?: boolean): void;
}

/**
 * Creates the sync's read pacer: the worker's pacer (`shared/auth0/bucket-pacer.ts`, bucket by bucket), one read at a
 * time, with a reserve of `1 - readShare` of each bucket kept for everything else on the tenant (dashboards,
 * Terraform, user-facing apps, the worker). The sync is a scheduled batch reader, so it waits here as long
 * as it takes; the worker never waits past its invocation.
 */
export function createReadPacer(options: { client: ManagementClient; readShare: number; now: () => number; sleep: (ms: number) => Promise<void>; plan?: Auth0Plan | undefined }): ReadPacer {
  const { client } = options;
  const pacer = createBucketPacer({ reserve: 1 - options.readShare, share: 1, containers: 1, now: options.now, random: Math.random, sleep: (ms) => options.sleep(ms), plan: options.plan });
  let ticket: BucketTicket | undefined;
  let reads = 0;
  let lowestRemaining: number | undefined;
  return {
    async beforeRead(call) {
      ticket = await pacer.acquire(call);
    },
    afterRead(rateLimited = false) {
      reads += 1;
      const info = client.lastRateLimit();
      if (ticket !== undefined) {
        if (info === undefined) pacer.settle(ticket);
        else pacer.observe(ticket, info, rateLimited);
        ticket = undefined;
      }
      const remaining = info?.remaining;
      if (remaining !== undefined) lowestRemaining = Math.min(lowestRemaining ?? remaining, remaining);
    },
    get reads() {
      return reads;
    },
    get lowestRemaining() {
      return lowestRemaining;
    },
  };
}

/**
 * Every item of a list Auth0 pages by checkpoint (`from`/`take`), which works past the 1,000 results offset
 * paging stops at: each page is paced, and a 429 waits for the time Auth0 asked for and reads it again.
 */
async function readCheckpointPages(
  client: ManagementClient,
  call: Omit<ManagementCall, 'query'> & { readonly query: Readonly<Record<string, string | number | boolean>> },
  key: string,
  pacer: ReadPacer,
  sleep: (ms: number) => Promise<void>,
  now: () => number,
): Promise<Array<Record<string, unknown>>> {
  const items: Array<Record<string, unknown>> = [];
  let from: string | undefined;
  for (;;) {
    await pacer.beforeRead(call);
    let body: unknown;
    try {
      body = await client.call({ ...call, query: { ...call.query, ...(from === undefined ? {} : { from }) } });
    } catch (error) {
      if (!(error instanceof RateLimitedError)) throw error;
      pacer.afterRead(true);
      await sleep(Math.max(0, error.retryAt - now()));
      continue;
    }
    pacer.afterRead();
    const page = body as Record<string, unknown> | undefined;
    const list = Array.isArray(page?.[key]) ? (page[key] as unknown[]) : [];
    for (const item of list) if (typeof item === 'object' && item !== null) items.push(item as Record<string, unknown>);
    const next = page?.['next'];
    if (typeof next !== 'string' || next === '' || list.length === 0) return items;
    from = next;
  }
}

/** Every current member of a role. */
export async function readRoleMembers(client: ManagementClient, roleId: string, pacer: ReadPacer, sleep: (ms: number) => Promise<void>, now: () => number): Promise<RoleMember[]> {
  const call = { method: 'GET', route: '/api/v2/roles/{id}/users', params: { id: roleId }, query: { take: 100 }, scopes: ['read:users', 'read:roles', 'read:role_members'] } as const;
  const users = await readCheckpointPages(client, call, 'users', pacer, sleep, now);
  return users.flatMap((user) => (typeof user['user_id'] === 'string' ? [{ user_id: user['user_id'], ...(typeof user['email'] === 'string' ? { email: user['email'] } : {}) }] : []));
}

/**
 * Every current member of an organization with the roles it holds there (`fields=user_id,email,roles`: Auth0
 * leaves roles out unless asked, and then also wants `read:organization_member_roles`).
 */
export async function readOrganizationMembers(client: ManagementClient, organizationId: string, pacer: ReadPacer, sleep: (ms: number) => Promise<void>, now: () => number): Promise<OrganizationMember[]> {
  const call = {
    method: 'GET',
    route: '/api/v2/organizations/{id}/members',
    params: { id: organizationId },
    query: { take: 50, fields: 'user_id,email,roles', include_fields: true },
    scopes: ['read:organization_members'],
  } as const;
  const members = await readCheckpointPages(client, call, 'members', pacer, sleep, now);
  return members.flatMap((member) => {
    if (typeof member['user_id'] !== 'string') return [];
    const roles = (Array.isArray(member['roles']) ? (member['roles'] as Array<{ id?: unknown }>) : []).map((role) => role.id).filter((id): id is string => typeof id === 'string');
    return [{ user_id: member['user_id'], ...(typeof member['email'] === 'string' ? { email: member['email'] } : {}), roles }];
  });
}
