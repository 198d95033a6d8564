/**
 * The emulator's rate limits by plan (FACTS.md, "Buckets are layered"): the API-wide bucket where the plan
 * has one, then the endpoint group's; the headers describe the group's bucket; per-minute buckets refill
 * once a second.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenBucket } from '../../local/tenant/rate-limit.ts';
import { addOrganization, addRole, addUser } from '../../local/tenant/state.ts';
import { ALL_SCOPES, type Tenant, startTenant } from '../../local/tenant/tenant.ts';
import { endpointGroup } from '../../shared/auth0/plans.ts';
import { createClock } from '../helpers/auth0.ts';

const CLIENT = { clientId: 'plan-client', clientSecret: 'secret-1', scopes: [...ALL_SCOPES] };

describe('Emulator: rate limits by plan', () => {
  let tenant: Tenant | undefined;
  afterEach(async () => {
    await tenant?.stop();
    tenant = undefined;
  });

  const start = async (plan: 'professional' | 'enterprise', clock = createClock()) => {
    tenant = await startTenant({ plan, clients: [CLIENT], now: clock.now });
    const t = tenant;
    const user = addUser(t.state, { email: 'ada@example.com', connection: 'Username-Password-Authentication' });
    const role = addRole(t.state, { name: 'support' });
    const organization = addOrganization(t.state, { name: 'acme' });
    const answer = await fetch(`${t.origin}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'client_credentials', client_id: CLIENT.clientId, client_secret: CLIENT.clientSecret, audience: t.audience }),
    });
    const bearer = ((await answer.json()) as { access_token: string }).access_token;
    const call = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${t.origin}/api/v2${path}`, {
        method,
        headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      await response.arrayBuffer();
      return { status: response.status, limit: response.headers.get('x-ratelimit-limit'), remaining: response.headers.get('x-ratelimit-remaining'), reset: response.headers.get('x-ratelimit-reset') };
    };
    return { t, user, role, organization, call, clock };
  };

  it('Professional: the roles bucket (10) runs dry while user writes (20) go on, each answer describing its own bucket', async () => {
    // Prepare
    const { t, user, role, call } = await start('professional');

    // Act: 11 role grants, then a user update
    const grants = [];
    for (let n = 0; n < 11; n++) grants.push(await call('POST', `/roles/${role.id}/users`, { users: [user.user_id] }));
    const update = await call('PATCH', `/users/${encodeURIComponent(user.user_id)}`, { app_metadata: { plan: 'pro' } });

    // Assess
    expect(grants.slice(0, 10).map((answer) => answer.status)).toEqual(Array(10).fill(200));
    expect(grants[10]).toMatchObject({ status: 429, limit: '10', remaining: '0' });
    expect(update).toMatchObject({ status: 200, limit: '20', remaining: '19' });
    expect(t.bucketCounts()).toEqual({ other: { calls: 11, rateLimited: 1 }, 'users-write': { calls: 1, rateLimited: 0 } });
  });

  it('Enterprise: organization member writes (20) are refused while the API-wide bucket (50) still answers, and draw from both', async () => {
    // Prepare
    const { t, user, organization, call } = await start('enterprise');

    // Act
    const adds = [];
    for (let n = 0; n < 21; n++) adds.push(await call('POST', `/organizations/${organization.id}/members`, { members: [user.user_id] }));
    const read = await call('GET', `/users/${encodeURIComponent(user.user_id)}`);

    // Assess
    expect(adds[19]).toMatchObject({ status: 204, limit: '20', remaining: '0' });
    expect(adds[20]).toMatchObject({ status: 429, limit: '20' });
    expect(read).toMatchObject({ status: 200, limit: '50', remaining: '28' });
    expect(t.bucketCounts()).toEqual({ api: { calls: 22, rateLimited: 0 }, 'organization-members-write': { calls: 21, rateLimited: 1 } });
  });

  it('a per-minute bucket refills once a second, by a sixtieth of its rate, and its reset is the second it is full', async () => {
    // Prepare: Professional's other endpoints, 10 / 150 per minute (2.5 each second)
    const clock = createClock(Date.UTC(2026, 11, 5, 12, 0, 0, 100));
    const bucket = createTokenBucket({ burst: 10, perSecond: 2.5, refill: 'per-second' }, clock.now);
    for (let n = 0; n < 10; n++) bucket.take();

    // Act and assess: nothing within the second, 2.5 at its end
    expect(bucket.headers()).toEqual({ 'x-ratelimit-limit': '10', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.floor(clock.now() / 1000) + 4) });
    clock.advance(899);
    expect(bucket.take()).toBe(false);
    clock.advance(1);
    expect(bucket.headers()['x-ratelimit-remaining']).toBe('2');
    expect([bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, false]);
    clock.advance(1_000);
    expect(bucket.headers()['x-ratelimit-remaining']).toBe('3');
  });

  it('adds network time to every answer, within the jitter it is given', async () => {
    // Prepare
    tenant = await startTenant({ rateLimit: { burst: 100, perSecond: 100 }, jitter: { minMs: 80, maxMs: 120, seed: 7 }, clients: [CLIENT] });

    // Act
    const took: number[] = [];
    for (let n = 0; n < 5; n++) {
      const started = performance.now();
      await (await fetch(`${tenant.origin}/.well-known/jwks.json`)).arrayBuffer();
      took.push(performance.now() - started);
    }

    // Assess: never less than the least jitter (more is the machine's own time)
    for (const ms of took) expect(ms).toBeGreaterThanOrEqual(79);
  });

  it('puts each route in its endpoint group', () => {
    expect(
      [
        ['GET', '/api/v2/users/{id}'],
        ['GET', '/api/v2/users-by-email'],
        ['PATCH', '/api/v2/users/{id}'],
        ['POST', '/api/v2/users'],
        ['DELETE', '/api/v2/users/{id}'],
        ['POST', '/api/v2/users/{id}/roles'],
        ['DELETE', '/api/v2/users/{id}/roles'],
        ['GET', '/api/v2/roles'],
        ['POST', '/api/v2/roles/{id}/users'],
        ['GET', '/api/v2/organizations/{id}'],
        ['GET', '/api/v2/organizations/name/{name}'],
        ['POST', '/api/v2/organizations/{id}/members'],
        ['DELETE', '/api/v2/organizations/{id}/members'],
        ['GET', '/api/v2/organizations/{id}/members'],
        ['POST', '/api/v2/organizations/{id}/members/{user_id}/roles'],
        ['GET', '/api/v2/organizations/{id}/members/{user_id}/roles'],
      ].map(([method, route]) => endpointGroup(method ?? '', route ?? '')),
    ).toEqual([
      'users-read',
      'users-read',
      'users-write',
      'users-write',
      'users-delete',
      'other',
      'other',
      'other',
      'other',
      'organizations-by-id',
      'organizations-by-name',
      'organization-members-write',
      'organization-members-write',
      'organization-members-read',
      'organization-member-roles-write',
      'organization-member-roles-read',
    ]);
  });
});
