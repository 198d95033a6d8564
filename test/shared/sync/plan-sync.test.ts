import { describe, expect, it } from 'vitest';
import { parseDesiredState } from '../../../shared/sync/desired-state.ts';
import { type ManagedRole, type RoleMember, metadataHash, planSync } from '../../../shared/sync/plan-sync.ts';

const managed: ManagedRole[] = [
  { ref: 'support-agent', id: 'rol_support', name: 'support-agent' },
  { ref: 'rol_billing', id: 'rol_billing', name: 'billing' },
];
const limits = { allowRemovals: true, maxRemovalShare: 0.1, maxRemovals: 1_000 };

const lines = (...users: object[]) => users.map((user) => JSON.stringify(user)).join('\n');

describe('Function: parseDesiredState()', () => {
  it('reads users by id or email, and reports bad lines by number without quoting them', () => {
    // Act
    const { users, invalid, lines: count } = parseDesiredState(
      [
        '{"userId":"auth0|1","roles":["support-agent"],"app_metadata":{"plan":"pro"}}',
        '',
        '{"email":"Ada@Example.com","roles":[]}',
        '{"userId":"auth0|2","email":"b@example.com","roles":[]}',
        '{"userId":"auth0|3","roles":"support-agent"}',
        'not json secret-value',
        '{"userId":"auth0|1","roles":[]}',
        '{"userId":"auth0|4","roles":[],"app_metadata":{"__proto__":{"x":1}}}',
        '{"userId":"auth0|5","roles":[],"extra":1}',
      ].join('\n'),
    );

    // Assess
    expect(users.map((user) => user.key)).toEqual(['id:auth0|1', 'email:ada@example.com']);
    expect(invalid.map((entry) => entry.line)).toEqual([4, 5, 6, 7, 8, 9]);
    expect(count).toBe(8);
    expect(JSON.stringify(invalid)).not.toContain('secret-value');
  });
});

describe('Function: planSync()', () => {
  const members = (entries: Record<string, RoleMember[]>) => new Map(Object.entries(entries));

  it('adds and removes only managed roles, matching members by id or email', () => {
    // Prepare: 20 support agents, so one removal is within 10 %
    const current = Array.from({ length: 20 }, (_, n) => ({ user_id: `auth0|${n}`, email: `u${n}@example.com` }));
    const desired = parseDesiredState(
      lines(
        ...current.slice(1).map((member, n) => (n % 2 === 0 ? { userId: member.user_id, roles: ['support-agent', 'other-role'] } : { email: member.email, roles: ['support-agent'] })),
        { userId: 'auth0|new', roles: ['support-agent', 'rol_billing'] },
      ),
    ).users;

    // Act
    const plan = planSync({ name: 'hr', desired, managed, members: members({ rol_support: current, rol_billing: [] }), manifest: {}, limits });

    // Assess
    expect(plan.adds.map((job) => job.body)).toEqual([expect.objectContaining({ type: 'roles.assign', userId: 'auth0|new', roles: ['rol_billing', 'rol_support'] })]);
    expect(plan.removes.map((job) => job.body)).toEqual([expect.objectContaining({ type: 'roles.remove', userId: 'auth0|0', roles: ['rol_support'] })]);
    expect(plan.removalsBlocked).toBeUndefined();
  });

  it('plans no removal at all when a truncated file would strip more than the limit from a role', () => {
    // Prepare: the file lost its second half
    const current = Array.from({ length: 100 }, (_, n) => ({ user_id: `auth0|${n}` }));
    const desired = parseDesiredState(lines(...current.slice(0, 50).map((member) => ({ userId: member.user_id, roles: ['support-agent'] })))).users;

    // Act
    const plan = planSync({ name: 'hr', desired, managed, members: members({ rol_support: current }), manifest: {}, limits });

    // Assess
    expect(plan.removes).toEqual([]);
    expect(plan.removalsBlocked).toEqual({ role: 'support-agent', removals: 50, members: 100, limit: 10 });
  });

  it('sends app_metadata only for lines that changed since the last run', () => {
    // Prepare
    const desired = parseDesiredState(lines({ userId: 'auth0|1', roles: [], app_metadata: { plan: 'pro', seats: 3 } }, { userId: 'auth0|2', roles: [], app_metadata: { plan: 'free' } })).users;
    const manifest = { 'id:auth0|1': metadataHash({ seats: 3, plan: 'pro' }) };

    // Act
    const plan = planSync({ name: 'hr', desired, managed, members: members({}), manifest, limits });

    // Assess
    expect(plan.updates.map((job) => job.body['userId'])).toEqual(['auth0|2']);
    expect(Object.keys(plan.manifest).sort()).toEqual(['id:auth0|1', 'id:auth0|2']);
  });

  it('derives job ids from the change, so two runs plan the same ids, and fits them in 64 characters', () => {
    // Prepare
    const desired = parseDesiredState(lines({ userId: 'auth0|1', roles: ['support-agent'] })).users;
    const input = { name: 'hr', desired, managed, members: members({}), manifest: {}, limits };

    // Act
    const first = planSync(input).adds[0]?.jobId;
    const second = planSync(input).adds[0]?.jobId;
    const other = planSync({ ...input, name: 'billing' }).adds[0]?.jobId;

    // Assess
    expect(first).toBe(second);
    expect(first).not.toBe(other);
    expect(first?.length).toBeLessThanOrEqual(64);
  });

  it('removes nothing when the sync may not remove', () => {
    // Act
    const plan = planSync({ name: 'hr', desired: [], managed, members: members({ rol_support: [{ user_id: 'auth0|1' }] }), manifest: {}, limits: { ...limits, allowRemovals: false } });

    // Assess
    expect(plan.removes).toEqual([]);
    expect(plan.removalsBlocked).toBeUndefined();
  });
});
