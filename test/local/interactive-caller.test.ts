import { afterEach, describe, expect, it } from 'vitest';
import { startInteractiveCaller } from '../../local/interactive-caller.ts';
import { addUser } from '../../local/tenant/state.ts';
import { type Tenant, startTenant } from '../../local/tenant/tenant.ts';

describe('Function: startInteractiveCaller()', () => {
  let tenant: Tenant | undefined;

  afterEach(async () => {
    await tenant?.stop();
    tenant = undefined;
  });

  it('gets its own token, calls at its pace and counts every answer the tenant counted, 429s included', async () => {
    // Prepare: a bucket of 3 that refills once a second, so a caller at 20/s meets 429s
    tenant = await startTenant({ rateLimit: { burst: 3, perSecond: 1 } });
    const user = addUser(tenant.state, { email: 'someone@example.com', connection: 'Username-Password-Authentication' });

    // Act
    const caller = await startInteractiveCaller({ tenant, userIds: [user.user_id], callsPerSecond: 20 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const counts = await caller.stop();

    // Assess
    expect(counts.tokensMinted).toBe(1);
    expect(tenant.counters.tokensIssued).toBe(1);
    expect(counts.calls).toBeGreaterThanOrEqual(6);
    expect(counts.byStatus[200]).toBeGreaterThanOrEqual(3);
    expect(counts.rateLimited).toBeGreaterThan(0);
    expect(counts.rateLimited + (counts.byStatus[200] ?? 0)).toBe(counts.calls);
    expect(tenant.counters.requests.get('GET /api/v2/users/{id}')?.get(429)).toBe(counts.rateLimited);
  });
});
