/**
 * The tenant emulator driven by the official `auth0` SDK, a client no one here wrote: if the SDK's token
 * handling, typed errors, rate-limit headers and paging work against the emulator, its wire format is
 * Auth0's.
 */
import { ManagementClient, ManagementError } from 'auth0';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_SCOPES, type Tenant, startTenant } from '../../local/tenant/tenant.ts';

const DOMAIN = 'acme.eu.auth0.com';

describe('Emulator: the official auth0 SDK against startTenant()', () => {
  let tenant: Tenant;
  let management: ManagementClient;

  beforeAll(async () => {
    tenant = await startTenant({ rateLimit: { burst: 500, perSecond: 500 }, clients: [{ clientId: 'sdk-client', clientSecret: 'sdk-secret', scopes: [...ALL_SCOPES] }] });
    // The SDK always speaks https to {domain}; its fetch is pointed at the emulator on loopback.
    const toEmulator: typeof fetch = (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      return fetch(url.replace(`https://${DOMAIN}`, tenant.origin), init);
    };
    management = new ManagementClient({ domain: DOMAIN, audience: tenant.audience, clientId: 'sdk-client', clientSecret: 'sdk-secret', fetch: toEmulator, maxRetries: 0 });
  });

  afterAll(async () => {
    await tenant.stop();
  });

  it('gets a token by client credentials and creates, reads, updates and deletes a user', async () => {
    // Act
    const created = await management.users.create({ connection: 'Username-Password-Authentication', email: 'Grace@Example.com', password: 'a-Long-passw0rd', app_metadata: { plan: 'free', keep: 1 } });
    const updated = await management.users.update(created.user_id ?? '', { app_metadata: { plan: 'pro', keep: null } });
    const found = await management.users.listUsersByEmail({ email: 'grace@example.com' });
    await management.users.delete(created.user_id ?? '');

    // Assess
    expect(created.user_id).toMatch(/^auth0\|[0-9a-f]{24}$/);
    expect(created.email).toBe('grace@example.com');
    expect(updated.app_metadata).toEqual({ plan: 'pro' });
    expect(found.map((user) => user.user_id)).toEqual([created.user_id]);
    expect(tenant.state.users.has(created.user_id ?? '')).toBe(false);
    expect(tenant.counters.tokensIssued).toBe(1);
  });

  it('answers errors as typed ManagementErrors with Auth0 bodies', async () => {
    // Prepare
    const user = await management.users.create({ connection: 'db', email: 'dup@example.com', password: 'a-Long-passw0rd' });

    // Act
    const missing = await management.users.get('auth0|nobody').catch((caught: unknown) => caught);
    const duplicate = await management.users.create({ connection: 'db', email: 'dup@example.com', password: 'a-Long-passw0rd' }).catch((caught: unknown) => caught);
    const invalid = await management.users.roles.assign(user.user_id ?? '', { roles: [] }).catch((caught: unknown) => caught);

    // Assess
    expect(missing).toBeInstanceOf(ManagementError);
    expect(missing).toMatchObject({ statusCode: 404, body: { statusCode: 404, error: 'Not Found', message: 'The user does not exist.', errorCode: 'inexistent_user' } });
    expect(duplicate).toMatchObject({ statusCode: 409, body: { errorCode: 'auth0_idp_error', message: 'The user already exists.' } });
    expect(invalid).toMatchObject({ statusCode: 400, body: { errorCode: 'invalid_body' } });
  });

  it('sends the rate-limit headers on every answer', async () => {
    // Prepare: a bucket of 50 that barely refills, so the counts are exact
    tenant.setRateLimit({ burst: 50, perSecond: 0.001 });

    // Act
    await management.roles.list({ per_page: 5 });
    const { rawResponse } = await management.users.listUsersByEmail({ email: 'x@example.com' }).withRawResponse();
    tenant.setRateLimit({ burst: 500, perSecond: 500 });

    // Assess
    expect(rawResponse.headers.get('x-ratelimit-limit')).toBe('50');
    expect(rawResponse.headers.get('x-ratelimit-remaining')).toBe('48');
    expect(Number(rawResponse.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Math.floor(Date.now() / 1000) + 1_000);
  });

  it('pages role members by checkpoint (from/take) to the end', async () => {
    // Prepare: 120 members, more than two pages
    const role = await management.roles.create({ name: 'paging-role' });
    const ids: string[] = [];
    for (let n = 0; n < 120; n++) {
      const user = await management.users.create({ connection: 'db', email: `member-${n}@example.com`, password: 'a-Long-passw0rd' });
      ids.push(user.user_id ?? '');
    }
    for (let start = 0; start < ids.length; start += 50) await management.roles.users.assign(role.id ?? '', { users: ids.slice(start, start + 50) });

    // Act
    const seen: string[] = [];
    for await (const member of await management.roles.users.list(role.id ?? '', { take: 50 })) seen.push(member.user_id ?? '');

    // Assess
    expect(seen).toEqual(ids);
    expect(tenant.counters.requests.get('GET /api/v2/roles/{id}/users')?.get(200)).toBe(3);
  });

  it('pages roles by offset with totals', async () => {
    // Prepare
    for (const name of ['offset-a', 'offset-b', 'offset-c', 'offset-d', 'offset-e']) await management.roles.create({ name });

    // Act
    const page = await management.roles.list({ name_filter: 'offset-', page: 1, per_page: 2, include_totals: true });

    // Assess
    expect(page.data.map((role) => role.name)).toEqual(['offset-c', 'offset-d']);
    expect(page.response).toMatchObject({ start: 2, limit: 2, total: 5 });
  });

  it('answers 429 with Auth0 body and headers once the bucket is empty, and the SDK types it', async () => {
    // Prepare: the free plan's burst of 2, refilling slowly enough not to matter here
    tenant.setRateLimit({ burst: 2, perSecond: 0.01 });

    // Act
    const answers = await Promise.allSettled([1, 2, 3].map(() => management.roles.list().then(() => 'ok')));
    tenant.setRateLimit({ burst: 500, perSecond: 500 });

    // Assess
    const refused = answers.filter((answer) => answer.status === 'rejected').map((answer) => (answer as PromiseRejectedResult).reason);
    expect(answers.filter((answer) => answer.status === 'fulfilled')).toHaveLength(2);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ name: 'TooManyRequestsError', statusCode: 429, body: { errorCode: 'too_many_requests', message: 'Global limit has been reached' } });
    expect(refused[0].rawResponse.headers.get('x-ratelimit-remaining')).toBe('0');
  });

  it('filters roles by name, case-insensitively and by part of the name', async () => {
    // Prepare
    await management.roles.create({ name: 'Support-Agent' });
    await management.roles.create({ name: 'senior-support-agent' });

    // Act
    const page = await management.roles.list({ name_filter: 'support-agent' });

    // Assess
    expect(page.data.map((role) => role.name).sort()).toEqual(['Support-Agent', 'senior-support-agent']);
  });

  it('manages organizations, their members and member roles (separate from tenant-wide roles), with Auth0 errors', async () => {
    // Prepare
    const user = await management.users.create({ connection: 'db', email: 'b2b-member@example.com', password: 'a-Long-passw0rd' });
    const userId = user.user_id ?? '';
    const role = await management.roles.create({ name: 'org-admin' });
    const roleId = role.id ?? '';

    // Act
    const created = await management.organizations.create({ name: 'acme-corp', display_name: 'Acme Corp' });
    const byName = await management.organizations.getByName('acme-corp');
    const byId = await management.organizations.get(created.id ?? '');
    await management.organizations.members.create(created.id ?? '', { members: [userId] });
    await management.organizations.members.create(created.id ?? '', { members: [userId] });
    await management.organizations.members.roles.assign(created.id ?? '', userId, { roles: [roleId] });
    const members = await management.organizations.members.list(created.id ?? '', {});
    const memberRoles = await management.organizations.members.roles.list(created.id ?? '', userId, {});
    const tenantWide = await management.users.roles.list(userId, {});
    const organizationsOfUser = await management.users.organizations.list(userId, {});
    await management.organizations.members.roles.delete(created.id ?? '', userId, { roles: [roleId] });
    const rolesAfterRemoval = await management.organizations.members.roles.list(created.id ?? '', userId, {});
    await management.organizations.members.delete(created.id ?? '', { members: [userId] });
    const membersAfterRemoval = await management.organizations.members.list(created.id ?? '', {});
    const unknown = await management.organizations.getByName('no-such-org').catch((caught: unknown) => caught);
    const duplicate = await management.organizations.create({ name: 'acme-corp' }).catch((caught: unknown) => caught);
    const badName = await management.organizations.create({ name: 'Acme Corp' }).catch((caught: unknown) => caught);
    const emptyRoles = await management.organizations.members.roles.assign(created.id ?? '', userId, { roles: [] }).catch((caught: unknown) => caught);

    // Assess
    expect(created).toMatchObject({ id: expect.stringMatching(/^org_/), name: 'acme-corp', display_name: 'Acme Corp' });
    expect(byName.id).toBe(created.id);
    expect(byId.name).toBe('acme-corp');
    expect(members.data.map((member) => member.user_id)).toEqual([userId]);
    expect(memberRoles.data.map((held) => held.id)).toEqual([roleId]);
    expect(tenantWide.data).toEqual([]);
    expect(organizationsOfUser.data.map((organization) => organization.id)).toEqual([created.id]);
    expect(rolesAfterRemoval.data).toEqual([]);
    expect(membersAfterRemoval.data).toEqual([]);
    expect(unknown).toMatchObject({ statusCode: 404, body: { error: 'Not Found', message: 'No organization found by that id or name' } });
    expect(duplicate).toMatchObject({ statusCode: 409 });
    expect(badName).toMatchObject({ statusCode: 400, body: { errorCode: 'invalid_body' } });
    expect(emptyRoles).toMatchObject({ statusCode: 400, body: { errorCode: 'invalid_body' } });
  });

  it('answers 409 "No more roles can be assigned" past the member role limit', async () => {
    // Prepare: a tenant whose members may hold one role per organization
    const limited = await startTenant({ rateLimit: { burst: 100, perSecond: 100 }, organizationMemberRoleLimit: 1, clients: [{ clientId: 'c', clientSecret: 'limited-secret', scopes: [...ALL_SCOPES] }] });
    const client = new ManagementClient({ domain: DOMAIN, audience: limited.audience, clientId: 'c', clientSecret: 'limited-secret', maxRetries: 0, fetch: (input, init) => fetch(String(input instanceof Request ? input.url : input).replace(`https://${DOMAIN}`, limited.origin), init) });
    try {
      const user = await client.users.create({ connection: 'db', email: 'limited@example.com', password: 'a-Long-passw0rd' });
      const [first, second] = await Promise.all([client.roles.create({ name: 'r1' }), client.roles.create({ name: 'r2' })]);
      const organization = await client.organizations.create({ name: 'limited-org' });
      await client.organizations.members.create(organization.id ?? '', { members: [user.user_id ?? ''] });
      await client.organizations.members.roles.assign(organization.id ?? '', user.user_id ?? '', { roles: [first.id ?? ''] });

      // Act
      const refused = await client.organizations.members.roles.assign(organization.id ?? '', user.user_id ?? '', { roles: [second.id ?? ''] }).catch((caught: unknown) => caught);
      const client2 = limited.clients.get('c');
      if (client2 !== undefined) client2.scopes = ALL_SCOPES.filter((scope) => scope !== 'read:organization_member_roles');
      const narrowed = new ManagementClient({ domain: DOMAIN, audience: limited.audience, clientId: 'c', clientSecret: 'limited-secret', maxRetries: 0, fetch: (input, init) => fetch(String(input instanceof Request ? input.url : input).replace(`https://${DOMAIN}`, limited.origin), init) });
      const withRoles = await narrowed.organizations.members.list(organization.id ?? '', { fields: 'user_id,roles', include_fields: true }).catch((caught: unknown) => caught);
      const withoutRoles = await narrowed.organizations.members.list(organization.id ?? '', {});

      // Assess
      expect(refused).toMatchObject({ statusCode: 409, body: { message: 'No more roles can be assigned to this organization member' } });
      // Member roles are listed only with read:organization_member_roles, as Auth0 documents
      expect(withRoles).toMatchObject({ statusCode: 403, body: { errorCode: 'insufficient_scope' } });
      expect(withoutRoles.data.map((member) => member.user_id)).toEqual([user.user_id]);
    } finally {
      await limited.stop();
    }
  });
});
