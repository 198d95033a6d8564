import { describe, expect, it } from 'vitest';
import type { DesiredUser } from '../../../shared/sync/desired-state.ts';
import { type OrganizationMember, planOrganizations } from '../../../shared/sync/plan-organizations.ts';
import { syncJobMaker } from '../../../shared/sync/plan-sync.ts';

const ACME = { ref: 'acme', id: 'org_acme1', name: 'acme' };
const ADMIN = { ref: 'admin', id: 'rol_admin1', name: 'admin' };
const user = (n: number, organizations?: Record<string, string[]>): DesiredUser => ({ key: `id:auth0|${n}`, userId: `auth0|${n}`, roles: [], ...(organizations === undefined ? {} : { organizations }), line: n + 1 });
const member = (n: number, roles: string[] = []): OrganizationMember => ({ user_id: `auth0|${n}`, roles });

const plan = (desired: DesiredUser[], members: OrganizationMember[], overrides: { allowRemovals?: boolean; protectedKeys?: string[]; removalsWithheld?: boolean; maxRemovalShare?: number } = {}) =>
  planOrganizations({
    desired,
    organizations: [ACME],
    members: new Map([[ACME.id, members]]),
    managedRoles: [ADMIN],
    limits: { allowRemovals: overrides.allowRemovals ?? true, maxRemovalShare: overrides.maxRemovalShare ?? 0.5, maxRemovals: 1_000 },
    protectedKeys: new Set(overrides.protectedKeys ?? []),
    removalsWithheld: overrides.removalsWithheld ?? false,
    job: syncJobMaker('test'),
  });

describe('Function: planOrganizations()', () => {
  it('adds members with their managed roles, by organization id or name, and ignores unmanaged roles and organizations', () => {
    // Act
    const result = plan([user(1, { acme: ['admin', 'unmanaged'] }), user(2, { org_acme1: [] }), user(3, { 'other-org': ['admin'] })], []);

    // Assess
    expect(result.jobs.map((job) => job.body)).toEqual([
      expect.objectContaining({ type: 'org.members.add', userId: 'auth0|1', organization: ACME.id, roles: [ADMIN.id] }),
      expect.objectContaining({ type: 'org.members.add', userId: 'auth0|2', organization: ACME.id }),
    ]);
    expect(result.jobs[1]?.body).not.toHaveProperty('roles');
    expect(result).toMatchObject({ memberAdds: 2, roleAssigns: 1, memberRemoves: 0 });
  });

  it('plans the same job ids on every run, and nothing when the organization already matches', () => {
    // Act
    const once = plan([user(1, { acme: ['admin'] })], []);
    const again = plan([user(1, { acme: ['admin'] })], []);
    const matching = plan([user(1, { acme: ['admin'] })], [member(1, [ADMIN.id])]);

    // Assess
    expect(once.jobs.map((job) => job.jobId)).toEqual(again.jobs.map((job) => job.jobId));
    expect([...matching.jobs, ...matching.removes]).toEqual([]);
  });

  it('removes members and roles only when allowed, never a protected user, none when withheld or over the limit', () => {
    // Prepare: members 1–4; the lines keep 1 (without its role) and name 2 only on a skipped line
    const desired = [user(1, { acme: [] })];
    const members = [member(1, [ADMIN.id]), member(2), member(3), member(4)];

    // Act
    const allowed = plan(desired, members, { protectedKeys: ['id:auth0|2'], maxRemovalShare: 0.5 });
    const off = plan(desired, members, { allowRemovals: false });
    const withheld = plan(desired, members, { removalsWithheld: true });
    const overLimit = plan(desired, members, { maxRemovalShare: 0.25 });

    // Assess
    expect(allowed.removes.map((job) => [job.body['type'], job.body['userId']])).toEqual([
      ['org.members.remove', 'auth0|3'],
      ['org.members.remove', 'auth0|4'],
      ['org.roles.remove', 'auth0|1'],
    ]);
    expect(allowed).toMatchObject({ memberRemoves: 2, roleRemoves: 1 });
    for (const result of [off, withheld, overLimit]) expect(result.removes).toEqual([]);
    expect(overLimit.removalsBlocked).toEqual({ organization: 'acme', removals: 3, members: 4, limit: 1 });
  });
});
