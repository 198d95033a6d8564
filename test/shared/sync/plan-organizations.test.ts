import { describe, expect, it } from 'vitest';
import type { DesiredUser } from '../../../shared/sync/desired-state.ts';
import { type OrganizationMember, planOrganizations } from '../../../shared/sync/plan-organizations.ts';
import { syncJobMaker } from '../../../shared/sync/plan-sync.ts';
import { findDoubtfulLines } from '../../../shared/sync/doubtful-lines.ts';

const ACME = { ref: 'acme', id: 'org_acme1', name: 'acme' };
const ADMIN = { ref: 'admin', id: 'rol_admin1', name: 'admin' };
const user = (n: number, organizations?: Record<string, string[]>): DesiredUser => ({ key: `id:auth0|${n}`, userId: `auth0|${n}`, roles: [], ...(organizations === undefined ? {} : { organizations }), line: n + 1 });
const member = (n: number, roles: string[] = []): OrganizationMember => ({ user_id: `auth0|${n}`, roles });

const plan = (desired: DesiredUser[], members: OrganizationMember[], overrides: { allowRemovals?: boolean; protectedKeys?: Iterable<string>; removalsWithheld?: boolean; maxRemovalShare?: number } = {}) =>
  planOrganizations({
    name: 'test',
    desired,
    organizations: [ACME],
    members: new Map([[ACME.id, members]]),
    managedRoles: [ADMIN],
    limits: { allowRemovals: overrides.allowRemovals ?? true, maxRemovalShare: overrides.maxRemovalShare ?? 0.5, maxRemovals: 1_000, minRemovals: 1 },
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
    expect(overLimit.removalsBlocked).toEqual([{ organization: 'acme', removals: 3, members: 4, limit: 1, approval: expect.stringMatching(/^approve_/) }]);
  });

  it('holds role removals in an organization to the same limit as member removals', () => {
    // Prepare: four admins in acme; the lines keep all four members but take every role away
    const desired = [1, 2, 3, 4].map((n) => user(n, { acme: [] }));
    const members = [1, 2, 3, 4].map((n) => member(n, [ADMIN.id]));

    // Act
    const result = plan(desired, members, { maxRemovalShare: 0.5 });

    // Assess
    expect(result.removes).toEqual([]);
    expect(result.removalsBlocked).toEqual([{ organization: 'acme', removals: 4, members: 4, limit: 2, approval: expect.stringMatching(/^approve_/) }]);
  });

  it('keeps the memberships and roles of a user whose line names a role that exists nowhere, and reports it', () => {
    // Prepare
    const desired = [user(1, { acme: ['admn'] }), user(2, { acme: ['known-elsewhere'] })];
    const doubtful = findDoubtfulLines(desired, { roles: new Set(['admin', ADMIN.id, 'known-elsewhere']), organizations: new Set(['acme', ACME.id]) });

    // Act
    const result = plan(desired, [member(1, [ADMIN.id]), member(2, [ADMIN.id])], { maxRemovalShare: 1, protectedKeys: doubtful.protectedKeys });

    // Assess: user 1 (a misspelling) loses nothing; user 2 names an existing unmanaged role, which is ignored
    expect(doubtful.unknownRoles).toEqual([{ line: 2, role: 'admn' }]);
    expect(result.removes.map((job) => [job.body['type'], job.body['userId']])).toEqual([['org.roles.remove', 'auth0|2']]);
  });

  it('keeps the memberships of a user whose line misspells a managed organization, and reports the line', () => {
    // Prepare: 20 members of acme; user 1 wrote "acme-crop"; user 2 is gone from the file
    const members = Array.from({ length: 20 }, (_, n) => member(n + 1));
    const desired = [user(1, { 'acme-crop': [] }), ...members.slice(2).map((_, n) => user(n + 3, { acme: [] }))];
    const doubtful = findDoubtfulLines(desired, { roles: new Set([ADMIN.ref, ADMIN.id]), organizations: new Set([ACME.ref, ACME.id, ACME.name]) });

    // Act
    const result = plan(desired, members, { maxRemovalShare: 0.1, protectedKeys: doubtful.protectedKeys });

    // Assess
    expect(doubtful.unknownOrganizations).toEqual([{ line: 2, organization: 'acme-crop' }]);
    expect(result.removes.map((job) => job.body['userId'])).toEqual(['auth0|2']);
  });

  it('withholds the removals of the one organization over its limit, and makes the others\'', () => {
    // Prepare: acme loses 3 of its 4 members (limit 1); globex loses 1 of its 2 (the floor of 1 allows it)
    const globex = { ref: 'globex', id: 'org_globex1', name: 'globex' };

    // Act
    const result = planOrganizations({
      name: 'test',
      desired: [user(1, { acme: [], globex: [] })],
      organizations: [ACME, globex],
      members: new Map([[ACME.id, [1, 2, 3, 4].map((n) => member(n))], [globex.id, [1, 5].map((n) => member(n))]]),
      managedRoles: [ADMIN],
      limits: { allowRemovals: true, maxRemovalShare: 0.1, maxRemovals: 1_000, minRemovals: 1 },
      protectedKeys: new Set(),
      removalsWithheld: false,
      job: syncJobMaker('test'),
    });

    // Assess
    expect(result.removes.map((job) => [job.body['organization'], job.body['userId']])).toEqual([[globex.id, 'auth0|5']]);
    expect(result.removalsBlocked?.map((group) => [group.organization, group.removals, group.limit])).toEqual([['acme', 3, 1]]);
    expect(result.memberRemoves).toBe(1);
  });

  it('reads only a line\'s own organizations, so a managed organization named "constructor" is no trap', () => {
    // Act
    const result = planOrganizations({
      name: 'test',
      desired: [user(1, {})],
      organizations: [{ ref: 'constructor', id: 'org_c1', name: 'constructor' }],
      members: new Map([['org_c1', []]]),
      managedRoles: [ADMIN],
      limits: { allowRemovals: true, maxRemovalShare: 1, maxRemovals: 10, minRemovals: 1 },
      protectedKeys: new Set(),
      removalsWithheld: false,
      job: syncJobMaker('test'),
    });

    // Assess
    expect(result.jobs).toEqual([]);
  });
});
