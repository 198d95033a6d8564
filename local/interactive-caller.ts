/**
 * Another application of the same tenant, calling the Management API at a steady pace while the worker
 * drains a backlog: a dashboard or a user-facing app that reads profiles (`GET /api/v2/users/{id}`). The
 * tenant's bucket is shared (FACTS.md), so its 429s measure how much the worker's pacing hurts everybody
 * else. It gets its own token and counts every answer, so that reports can subtract its calls from the
 * tenant's totals.
 */
import type { Tenant } from './tenant/tenant.ts';

/** Options of {@link startInteractiveCaller}. */
export interface InteractiveCallerOptions {
  /** The tenant to call; the caller registers its own application on it. */
  readonly tenant: Pick<Tenant, 'origin' | 'audience' | 'clients'>;
  /** Users whose profiles it reads, in turn. */
  readonly userIds: readonly string[];
  /** Calls started per second, whether or not earlier ones were answered (users do not wait). Default 2. */
  readonly callsPerSecond?: number;
  /** Client id of its application on the tenant. Default `interactive`. */
  readonly clientId?: string;
}

/** What the caller saw. */
export interface InteractiveCallerCounts {
  /** Management API calls made (answered or not). */
  readonly calls: number;
  /** Calls answered 429. */
  readonly rateLimited: number;
  /** Answers per status; 0 counts calls that got no answer (dropped connection), as the tenant counts them. */
  readonly byStatus: Readonly<Record<number, number>>;
  /** Tokens the tenant minted for it. */
  readonly tokensMinted: number;
}

/** A running caller. */
export interface InteractiveCaller {
  /** The calls per second it makes. */
  readonly callsPerSecond: number;
  /** Counts so far. */
  counts(): InteractiveCallerCounts;
  /** Stops calling, waits for the calls in flight, and returns the final counts. */
  stop(): Promise<InteractiveCallerCounts>;
}

/** The default pace: a handful of people working in a dashboard. */
export const INTERACTIVE_CALLS_PER_SECOND = 2;

/**
 * Registers the caller's application on the tenant (scope `read:users`), gets its token, then calls at a
 * steady pace until stopped.
 *
 * @example
 * const caller = await startInteractiveCaller({ tenant: stack.tenant, userIds: seeded.users.map((user) => user.user_id) });
 * // … drain the backlog
 * const { calls, rateLimited } = await caller.stop();
 */
export async function startInteractiveCaller(options: InteractiveCallerOptions): Promise<InteractiveCaller> {
  const { tenant, userIds } = options;
  const callsPerSecond = options.callsPerSecond ?? INTERACTIVE_CALLS_PER_SECOND;
  if (!(callsPerSecond > 0)) throw new RangeError('callsPerSecond must be positive');
  if (userIds.length === 0) throw new RangeError('userIds must name at least one user');
  const clientId = options.clientId ?? 'interactive';
  const clientSecret = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url');
  tenant.clients.set(clientId, { clientId, secrets: new Set([clientSecret]), scopes: ['read:users'], authorized: true });

  const byStatus: Record<number, number> = {};
  let calls = 0;
  let tokensMinted = 0;
  const accessToken = await fetchToken();

  async function fetchToken(): Promise<string> {
    // The token endpoint has its own bucket; a busy worker may empty it for a moment.
    for (let attempt = 1; ; attempt++) {
      const response = await fetch(`${tenant.origin}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret, audience: tenant.audience }),
      });
      const body = (await response.json()) as { access_token?: string };
      if (response.ok && typeof body.access_token === 'string') {
        tokensMinted += 1;
        return body.access_token;
      }
      if (attempt >= 5) throw new Error(`the interactive caller could not get a token: /oauth/token answered ${response.status}`);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }

  const inFlight = new Set<Promise<void>>();
  const call = async () => {
    const userId = userIds[calls % userIds.length] ?? '';
    calls += 1;
    let status = 0;
    try {
      const response = await fetch(`${tenant.origin}/api/v2/users/${encodeURIComponent(userId)}`, { headers: { authorization: `Bearer ${accessToken}` } });
      await response.arrayBuffer();
      status = response.status;
    } catch {
      // No answer: counted under 0, as the tenant counts a dropped connection.
    }
    byStatus[status] = (byStatus[status] ?? 0) + 1;
  };
  const timer = setInterval(() => {
    const pending = call().finally(() => inFlight.delete(pending));
    inFlight.add(pending);
  }, 1000 / callsPerSecond);

  const counts = (): InteractiveCallerCounts => ({ calls, rateLimited: byStatus[429] ?? 0, byStatus: { ...byStatus }, tokensMinted });
  return {
    callsPerSecond,
    counts,
    async stop() {
      clearInterval(timer);
      await Promise.all([...inFlight]);
      return counts();
    },
  };
}
