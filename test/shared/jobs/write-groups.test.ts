/**
 * Grouped writes against the tenant emulator over loopback, with the product's own Management API client: one
 * call for many users, and the split that finds the one user a call was refused for.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ManagementClient } from '../../../shared/auth0/client.ts';
import { createAuth0Client } from '../../../shared/auth0/create-auth0-client.ts';
import { PermanentError, RateLimitedError } from '../../../shared/errors.ts';
import { type WriteGroups, createWriteGroups } from '../../../shared/jobs/write-groups.ts';
import { createLogger } from '../../../shared/logger.ts';
import { type Tenant, startTenant } from '../../../local/tenant/tenant.ts';
import { addOrganization, addRole, addUser } from '../../../local/tenant/state.ts';
import { suiteLog } from '../../helpers/suite-logs.ts';

const SECRET = 'write-groups-test-secret';

describe('Function: createWriteGroups()', () => {
  let tenant: Tenant;
  let users: string[];
  let roleId: string;
  let organizationId: string;

  /** The worker's client, as the `groups` application (every scope it needs) or as `narrow` (no role-users scope). */
  const clientWith = (clientId: 'groups' | 'narrow' = 'groups'): ManagementClient =>
    createAuth0Client({
      origin: tenant.origin,
      audience: tenant.audience,
      readCredentials: async () => ({ clientId, clientSecret: SECRET }),
      httpTimeoutMs: 5_000,
      now: Date.now,
      logger: createLogger({ service: 'worker', level: 'debug', write: suiteLog('write-groups') }),
    });

  beforeEach(async () => {
    tenant = await startTenant({ rateLimit: { burst: 1_000, perSecond: 1_000 }, clients: [
      { clientId: 'groups', clientSecret: SECRET, scopes: ['create:role_members', 'update:users', 'create:organization_members', 'delete:organization_members'] },
      { clientId: 'narrow', clientSecret: SECRET, scopes: ['update:users'] },
    ] });
    users = Array.from({ length: 8 }, (_, n) => addUser(tenant.state, { email: `user-${n}@example.com`, connection: 'Username-Password-Authentication' }).user_id);
    roleId = addRole(tenant.state, { name: 'support' }).id;
    organizationId = addOrganization(tenant.state, { name: 'acme' }).id;
  });

  afterEach(async () => {
    await tenant.stop();
  });

  const routesCalled = () => tenant.writes.map((write) => write.route);
  const outcomes = (writes: Array<Promise<void>>) => Promise.all(writes.map((write) => write.then(() => 'done', (error: unknown) => (error instanceof PermanentError || error instanceof RateLimitedError ? error.code : String(error)))));

  it('grants one role to every user of the group in one call, once the group is full', async () => {
    // Prepare
    const groups = createWriteGroups({ client: clientWith(), maxItems: 8, lingerMs: 60_000 });

    // Act
    const results = await outcomes(users.map((userId) => groups.write({ kind: 'role.users', roleId }, userId, {})));

    // Assess
    expect(results).toEqual(users.map(() => 'done'));
    expect(routesCalled()).toEqual(['POST /api/v2/roles/{id}/users']);
    expect([...(tenant.state.members.get(roleId) ?? [])].sort()).toEqual([...users].sort());
  });

  it('sends an open group after its linger, or at once when flushed', async () => {
    // Prepare
    const lingering = createWriteGroups({ client: clientWith(), maxItems: 100, lingerMs: 50 });
    const flushed = createWriteGroups({ client: clientWith(), maxItems: 100, lingerMs: 60_000 });

    // Act
    const byLinger = outcomes(users.slice(0, 3).map((userId) => lingering.write({ kind: 'org.members.add', organizationId }, userId, {})));
    const byFlush = outcomes(users.slice(3).map((userId) => flushed.write({ kind: 'org.members.add', organizationId }, userId, {})));
    flushed.flushAll();

    // Assess
    expect(await byLinger).toEqual(['done', 'done', 'done']);
    expect(await byFlush).toEqual(['done', 'done', 'done', 'done', 'done']);
    expect(routesCalled()).toEqual(['POST /api/v2/organizations/{id}/members', 'POST /api/v2/organizations/{id}/members']);
    expect(tenant.state.organizationMembers.get(organizationId)?.size).toBe(8);
  });

  it.each([
    ['role grants (POST /roles/{id}/users; the user alone goes by POST /users/{id}/roles, which names the fault)', 'role.users', 'http_404'],
    ['organization members (POST /organizations/{id}/members)', 'org.members.add', 'http_400'],
  ] as const)('%s: a call refused for one unknown user is split until that user is alone; only its job fails', async (_name, kind, reason) => {
    // Prepare: the fifth of eight users does not exist, and Auth0 refuses the whole list
    const groups = createWriteGroups({ client: clientWith(), maxItems: 8, lingerMs: 60_000 });
    const named = users.map((userId, n) => (n === 4 ? 'auth0|nobody' : userId));
    const target = kind === 'role.users' ? { kind, roleId } : { kind, organizationId };

    // Act
    const results = await outcomes(named.map((userId) => groups.write(target, userId, {})));

    // Assess: the seven others hold the role (membership); at most 1 + 2 × log2(8) calls
    expect(results).toEqual(named.map((userId) => (userId === 'auth0|nobody' ? reason : 'done')));
    const holders = kind === 'role.users' ? [...(tenant.state.members.get(roleId) ?? [])] : [...(tenant.state.organizationMembers.get(organizationId)?.keys() ?? [])];
    expect(holders.sort()).toEqual(named.filter((userId) => userId !== 'auth0|nobody').sort());
    expect(tenant.writes.length).toBeLessThanOrEqual(1 + 2 * 3);
  });

  it('fails every job of a call refused for all of them (a 404 for the role, a 429), without splitting', async () => {
    // Prepare
    const groups = createWriteGroups({ client: clientWith(), maxItems: 4, lingerMs: 60_000 });
    const limited = createWriteGroups({ client: clientWith(), maxItems: 4, lingerMs: 60_000 });

    // Act
    const noRole = await outcomes(users.slice(0, 4).map((userId) => groups.write({ kind: 'role.users', roleId: 'rol_doesnotexist1' }, userId, {})));
    tenant.faults.stormUntil = Date.now() + 60_000;
    const stormed = await outcomes(users.slice(4).map((userId) => limited.write({ kind: 'org.members.remove', organizationId }, userId, {})));

    // Assess: one call each
    expect(noRole).toEqual(['http_404', 'http_404', 'http_404', 'http_404']);
    expect(stormed).toEqual(['rate_limited', 'rate_limited', 'rate_limited', 'rate_limited']);
    expect(tenant.counters.requests.get('POST /api/v2/roles/{id}/users')?.get(404)).toBe(1);
    expect(tenant.counters.requests.get('DELETE /api/v2/organizations/{id}/members')?.get(429)).toBe(1);
  });

  it('keeps two jobs of one user together, and sends the user once', async () => {
    // Prepare
    const groups: WriteGroups = createWriteGroups({ client: clientWith(), maxItems: 3, lingerMs: 60_000 });
    const [first = '', second = ''] = users;

    // Act
    const writes = outcomes([first, first, second].map((userId) => groups.write({ kind: 'role.users', roleId }, userId, {})));
    groups.flushAll();
    const results = await writes;

    // Assess
    expect(results).toEqual(['done', 'done', 'done']);
    expect(tenant.writes).toEqual([expect.objectContaining({ route: 'POST /api/v2/roles/{id}/users', body: { users: [first, second] } })]);
  });

  it('grants roles user by user when the token may not use POST /roles/{id}/users (update:users only)', async () => {
    // Prepare
    const groups = createWriteGroups({ client: clientWith('narrow'), maxItems: 4, lingerMs: 60_000 });

    // Act
    const first = await outcomes(users.slice(0, 4).map((userId) => groups.write({ kind: 'role.users', roleId }, userId, {})));
    const later = await outcomes(users.slice(4).map((userId) => groups.write({ kind: 'role.users', roleId }, userId, {})));

    // Assess: the token's scopes are checked before any request, then never asked again
    expect([...first, ...later]).toEqual(users.map(() => 'done'));
    expect(routesCalled()).toEqual(users.map(() => 'POST /api/v2/users/{id}/roles'));
    expect(tenant.state.members.get(roleId)?.size).toBe(8);
  });
});
