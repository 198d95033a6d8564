import type { ManagementClient } from '../auth0/client.ts';
import { RateLimitedError } from '../errors.ts';
import type { RoleMember } from './plan-sync.ts';

/** Keeps the sync's reads from running the tenant's bucket dry. */
export interface ReadPacer {
  /** Waits, if needed, until a read leaves the bucket above the reserve. */
  beforeRead(): Promise<void>;
  /** Reads made so far. */
  readonly reads: number;
  /** Lowest `x-ratelimit-remaining` seen after a read, if any. */
  readonly lowestRemaining: number | undefined;
  /** Counts one read and notes the bucket it left. */
  afterRead(): void;
}

/**
 * Creates a pacer that keeps at least `1 - readShare` of the tenant's bucket for everything else on the
 * tenant (dashboards, Terraform, user-facing apps). It reads the bucket from the headers of the latest
 * answer and waits for the refill, estimated from `x-ratelimit-reset` (when the bucket is full again).
 * The sync is a scheduled batch reader, so it waits here; the worker never does.
 */
export function createReadPacer(options: { client: ManagementClient; readShare: number; now: () => number; sleep: (ms: number) => Promise<void> }): ReadPacer {
  const { client, now, sleep } = options;
  let reads = 0;
  let lowestRemaining: number | undefined;
  return {
    async beforeRead() {
      const info = client.lastRateLimit();
      if (info?.limit === undefined || info.remaining === undefined || info.resetAt === undefined) return;
      const reserve = Math.ceil(info.limit * (1 - options.readShare));
      if (info.remaining > reserve) return;
      // The bucket refills evenly until the reset: (limit - remaining) requests over (reset - now).
      const untilFull = Math.max(1, info.resetAt - now());
      const perRequest = untilFull / Math.max(1, info.limit - info.remaining);
      await sleep(Math.ceil((reserve + 1 - info.remaining) * perRequest));
    },
    afterRead() {
      reads += 1;
      const remaining = client.lastRateLimit()?.remaining;
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
 * Every current member of a role, by checkpoint paging (`from`/`take`), which works past the 1,000 results
 * offset paging stops at. A 429 waits for the time Auth0 asked for and reads the page again.
 */
export async function readRoleMembers(client: ManagementClient, roleId: string, pacer: ReadPacer, sleep: (ms: number) => Promise<void>, now: () => number): Promise<RoleMember[]> {
  const members: RoleMember[] = [];
  let from: string | undefined;
  for (;;) {
    await pacer.beforeRead();
    let body: unknown;
    try {
      body = await client.call({
        method: 'GET',
        route: '/api/v2/roles/{id}/users',
        params: { id: roleId },
        query: { take: 100, ...(from === undefined ? {} : { from }) },
        scopes: ['read:users', 'read:roles', 'read:role_members'],
      });
    } catch (error) {
      if (!(error instanceof RateLimitedError)) throw error;
      pacer.afterRead();
      await sleep(Math.max(0, error.retryAt - now()));
      continue;
    }
    pacer.afterRead();
    const page = body as { users?: Array<{ user_id?: unknown; email?: unknown }>; next?: unknown };
    for (const user of page.users ?? []) {
      if (typeof user.user_id === 'string') members.push({ user_id: user.user_id, ...(typeof user.email === 'string' ? { email: user.email } : {}) });
    }
    if (typeof page.next !== 'string' || page.next === '' || (page.users ?? []).length === 0) return members;
    from = page.next;
  }
}
