/**
 * The scheduled sync managing organization membership on the local stack: 5,000 users, two managed
 * organizations (one named by name, one by id), members' managed roles within them, and an unmanaged
 * organization it must not touch.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { createLocalSyncDeps, uploadDesiredState } from '../../local/sync.ts';
import { type TenantOrganization, type TenantRole, type TenantUser, organizationRolesOf, rolesOf } from '../../local/tenant/state.ts';
import { createRandom, seedTenant } from '../../local/workload.ts';
import { runSync } from '../../shared/sync/run-sync.ts';
import { startTestStack } from '../helpers/suite-logs.ts';
import { drained } from '../helpers/drained.ts';

const USERS = 5_000;
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, index) => from + index);

describe('Sync: two managed organizations on 5,000 users', () => {
  let stack: LocalStack;
  let deps: ReturnType<typeof createLocalSyncDeps>;
  let users: TenantUser[];
  let roles: TenantRole[];
  let acme: TenantOrganization;
  let globex: TenantOrganization;
  let initech: TenantOrganization;
  const lines: string[] = [];

  beforeAll(async () => {
    stack = await startTestStack({ build: false, rateLimit: { burst: 50, perSecond: 50 } });
    deps = createLocalSyncDeps(stack);
    const seeded = seedTenant(stack.tenant.state, { users: USERS, roles: 4, organizations: 3, random: createRandom(31) });
    ({ users, roles } = seeded);
    [acme, globex, initech] = seeded.organizations as [TenantOrganization, TenantOrganization, TenantOrganization];
    const [admin, viewer] = roles as [TenantRole, TenantRole];
    const state = stack.tenant.state;
    const join = (organization: TenantOrganization, index: number, held: string[] = []) => state.organizationMembers.get(organization.id)?.set(users[index]?.user_id ?? '', new Set(held));
    // Now: acme has users 0–999 (0–99 as admins), globex 500–1499, initech (unmanaged) 0–9
    for (const index of range(0, 1000)) join(acme, index, index < 100 ? [admin.id] : []);
    for (const index of range(500, 1500)) join(globex, index);
    for (const index of range(0, 10)) join(initech, index);

    // Wanted: acme loses 990–999 and gains 1000–1049 (1000–1009 as viewers); admins 0–89 stay, 90–99 lose the
    // role, 100–119 gain it; globex gains user 1500 (by email); lines naming initech are ignored.
    const managedNames = new Set([admin.name, viewer.name]);
    for (const [index, user] of users.entries()) {
      const organizations: Record<string, string[]> = {};
      if (index < 990 || (index >= 1000 && index < 1050)) organizations[acme.name] = index < 90 || (index >= 100 && index < 120) ? [admin.name] : index >= 1000 && index < 1010 ? [viewer.name] : [];
      if (index >= 500 && index <= 1500) organizations[globex.id] = [];
      if (index < 20) organizations[initech.name] = [];
      const tenantRoles = rolesOf(state, user.user_id).filter((role) => managedNames.has(role.name)).map((role) => role.name);
      lines.push(JSON.stringify({ ...(index === 1500 ? { email: user.email } : { userId: user.user_id }), roles: tenantRoles, organizations }));
    }
    await uploadDesiredState(deps.s3, 'b2b/users.jsonl', lines.join('\n'));
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  const managedDefinition = () => ({ name: 'b2b', source: { bucket: 'sync-sources', key: 'b2b/users.jsonl' }, allowRemovals: true, managedRoles: [roles[0]?.name ?? '', roles[1]?.id ?? ''], managedOrganizations: [acme.name, globex.id] });

  it('plans exactly the membership and organization-role jobs needed, the worker applies them, and a second run plans none', async () => {
    // Act: the first run, the worker, the second run
    const first = await runSync(managedDefinition(), deps);
    const worker = stack.startWorker({ maxConcurrency: 2 });
    expect(await drained(stack, { stalledFor: 30_000, atMost: 240_000 })).toBe(true);
    await worker.stop();
    const second = await runSync(managedDefinition(), deps);

    // Assess: 51 members added (10 of them with a role), 10 removed, 20 roles assigned to members, 10 removed
    expect(first.organizations).toEqual({ memberAdds: 51, memberRemoves: 10, roleAssigns: 30, roleRemoves: 10, removalsBlocked: undefined });
    expect(first).toMatchObject({ roleAdds: 0, roleRemoves: 0, metadataUpdates: 0, jobsEnqueued: 51 + 10 + 20 + 10 });
    expect(second.organizations).toEqual({ memberAdds: 0, memberRemoves: 0, roleAssigns: 0, roleRemoves: 0, removalsBlocked: undefined });
    expect(second.jobsEnqueued).toBe(0);
    const state = stack.tenant.state;
    const acmeMembers = new Set(state.organizationMembers.get(acme.id)?.keys());
    expect(acmeMembers).toEqual(new Set([...range(0, 990), ...range(1000, 1050)].map((index) => users[index]?.user_id)));
    expect(new Set(state.organizationMembers.get(globex.id)?.keys())).toEqual(new Set(range(500, 1501).map((index) => users[index]?.user_id)));
    expect(state.organizationMembers.get(initech.id)?.size).toBe(10);
    const admins = [...acmeMembers].filter((userId) => organizationRolesOf(state, acme.id, userId).some((role) => role.id === roles[0]?.id));
    expect(new Set(admins)).toEqual(new Set([...range(0, 90), ...range(100, 120)].map((index) => users[index]?.user_id)));
    expect(organizationRolesOf(state, acme.id, users[1005]?.user_id ?? '').map((role) => role.id)).toEqual([roles[1]?.id]);
  }, 360_000);
});
