import { describe, expect, it } from 'vitest';
import { parseDesiredState } from '../../../shared/sync/desired-state.ts';
import { type ManagedRole, type RoleMember, metadataHash, planSync } from '../../../shared/sync/plan-sync.ts';
import { validateSyncDefinition } from '../../../shared/sync/run-sync.ts';
import { findDoubtfulLines } from '../../../shared/sync/doubtful-lines.ts';
import { approvalId } from '../../../shared/sync/removal-limit.ts';

const managed: ManagedRole[] = [
  { ref: 'support-agent', id: 'rol_support', name: 'support-agent' },
  { ref: 'rol_billing', id: 'rol_billing', name: 'billing' },
];
const limits = { allowRemovals: true, maxRemovalShare: 0.1, maxRemovals: 1_000, minRemovals: 1 };
const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);

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
    const plan = planSync({ name: 'hr', desired, managed, members: members({ rol_support: current, rol_billing: [] }), manifest: {}, limits, now: NOW });

    // Assess
    expect(plan.adds.map((job) => job.body)).toEqual([
      expect.objectContaining({ type: 'roles.assign', userId: 'auth0|new', roles: ['rol_billing'] }),
      expect.objectContaining({ type: 'roles.assign', userId: 'auth0|new', roles: ['rol_support'] }),
    ]);
    expect(plan.roleAdds).toBe(2);
    expect(plan.removes.map((job) => job.body)).toEqual([expect.objectContaining({ type: 'roles.remove', userId: 'auth0|0', roles: ['rol_support'] })]);
    expect(plan.removalsBlocked).toBeUndefined();
  });

  it('plans grants one role per job, ordered by role, so a batch of them shares one call per role', () => {
    // Prepare: users by id with both roles, by email with one, and one by email with both
    const desired = parseDesiredState(
      lines(
        { userId: 'auth0|b', roles: ['support-agent', 'rol_billing'] },
        { email: 'one@example.com', roles: ['rol_billing'] },
        { userId: 'auth0|a', roles: ['rol_billing', 'support-agent'] },
        { email: 'both@example.com', roles: ['support-agent', 'rol_billing'] },
      ),
    ).users;

    // Act
    const plan = planSync({ name: 'hr', desired, managed, members: members({ rol_support: [], rol_billing: [] }), manifest: {}, limits, now: NOW });

    // Assess: by role, then by user key (email: before id:); the user by email with two roles keeps one job (one lookup, one call)
    expect(plan.adds.map(({ body }) => [body['userId'] ?? body['email'], body['roles']])).toEqual([
      ['one@example.com', ['rol_billing']],
      ['auth0|a', ['rol_billing']],
      ['auth0|b', ['rol_billing']],
      ['auth0|a', ['rol_support']],
      ['auth0|b', ['rol_support']],
      ['both@example.com', ['rol_billing', 'rol_support']],
    ]);
    expect(plan.roleAdds).toBe(7);
    expect(new Set(plan.adds.map((job) => job.jobId)).size).toBe(6);
  });

  it('plans no removal at all when a truncated file would strip more than the limit from a role', () => {
    // Prepare: the file lost its second half
    const current = Array.from({ length: 100 }, (_, n) => ({ user_id: `auth0|${n}` }));
    const desired = parseDesiredState(lines(...current.slice(0, 50).map((member) => ({ userId: member.user_id, roles: ['support-agent'] })))).users;

    // Act
    const plan = planSync({ name: 'hr', desired, managed, members: members({ rol_support: current }), manifest: {}, limits, now: NOW });

    // Assess
    expect(plan.removes).toEqual([]);
    expect(plan.removalsBlocked).toEqual([{ role: 'support-agent', removals: 50, members: 100, limit: 10, approval: expect.stringMatching(/^approve_/) }]);
  });

  it('lets a small role lose one member, and withholds only the removals of a role over its limit', () => {
    // Prepare: 5 admins of whom 1 leaves; 100 support agents of whom 1 leaves; 10 billing members of whom 4 leave
    const admins = Array.from({ length: 5 }, (_, n) => ({ user_id: `auth0|a${n}` }));
    const agents = Array.from({ length: 100 }, (_, n) => ({ user_id: `auth0|s${n}` }));
    const billing = Array.from({ length: 10 }, (_, n) => ({ user_id: `auth0|s${n}` }));
    const desired = parseDesiredState(
      lines(...admins.slice(1).map((member) => ({ userId: member.user_id, roles: ['admin'] })), ...agents.slice(1).map((member, n) => ({ userId: member.user_id, roles: n < 6 ? ['support-agent', 'rol_billing'] : ['support-agent'] }))),
    ).users;
    const roles = [...managed, { ref: 'admin', id: 'rol_admin', name: 'admin' }];

    // Act
    const plan = planSync({ name: 'hr', desired, managed: roles, members: members({ rol_admin: admins, rol_support: agents, rol_billing: billing }), manifest: {}, limits, now: NOW });

    // Assess: one admin and one agent go; billing (4 of 10, over its limit of 1) keeps all, and auth0|s0 still loses support
    expect(plan.removes.map((job) => [job.body['userId'], job.body['roles']])).toEqual([
      ['auth0|s0', ['rol_support']],
      ['auth0|a0', ['rol_admin']],
    ]);
    expect(plan.removalsBlocked).toEqual([{ role: 'billing', removals: 4, members: 10, limit: 1, approval: approvalId('hr', 'role:rol_billing', ['auth0|s9', 'auth0|s8', 'auth0|s7', 'auth0|s0']) }]);
  });

  it('sends app_metadata only for lines that changed since the last run', () => {
    // Prepare
    const desired = parseDesiredState(lines({ userId: 'auth0|1', roles: [], app_metadata: { plan: 'pro', seats: 3 } }, { userId: 'auth0|2', roles: [], app_metadata: { plan: 'free' } })).users;
    const manifest = { 'id:auth0|1': { hash: metadataHash({ seats: 3, plan: 'pro' }), keys: ['plan', 'seats'], sentAt: NOW - 3_600_000 } };

    // Act
    const plan = planSync({ name: 'hr', desired, managed, members: members({}), manifest, limits, now: NOW });

    // Assess
    expect(plan.updates.map((job) => job.body['userId'])).toEqual(['auth0|2']);
    expect(Object.keys(plan.manifest).sort()).toEqual(['id:auth0|1', 'id:auth0|2']);
    expect(plan.manifest['id:auth0|2']).toEqual({ hash: metadataHash({ plan: 'free' }), keys: ['plan'], sentAt: NOW });
  });

  it('unsets the keys it sent before that the file dropped, and sends again an update older than a week, which may have been dead-lettered', () => {
    // Prepare: auth0|1 lost "seats" from its line; auth0|2's update was sent 8 days ago; auth0|3's line lost app_metadata
    const desired = parseDesiredState(
      lines({ userId: 'auth0|1', roles: [], app_metadata: { plan: 'pro' } }, { userId: 'auth0|2', roles: [], app_metadata: { plan: 'free' } }, { userId: 'auth0|3', roles: [] }),
    ).users;
    const manifest = {
      'id:auth0|1': { hash: metadataHash({ plan: 'pro', seats: 3 }), keys: ['plan', 'seats'], sentAt: NOW - 3_600_000 },
      'id:auth0|2': { hash: metadataHash({ plan: 'free' }), keys: ['plan'], sentAt: NOW - 8 * 86_400_000 },
      'id:auth0|3': { hash: metadataHash({ tier: 'gold' }), keys: ['tier'], sentAt: NOW - 3_600_000 },
    };

    // Act
    const plan = planSync({ name: 'hr', desired, managed, members: members({}), manifest, limits, now: NOW });

    // Assess
    expect(plan.updates.map((job) => [job.body['userId'], (job.body['changes'] as Record<string, unknown>)['app_metadata']])).toEqual([
      ['auth0|1', { plan: 'pro', seats: null }],
      ['auth0|2', { plan: 'free' }],
      ['auth0|3', { tier: null }],
    ]);
    expect(plan.manifest['id:auth0|3']).toBeUndefined();
  });

  it('never removes a role from a user whose line was skipped, and removes nothing while a skipped line names no user', () => {
    // Prepare: 100 members; auth0|7's line is invalid but names the user; then a line that is not JSON
    const current = Array.from({ length: 100 }, (_, n) => ({ user_id: `auth0|${n}` }));
    const wanted = current.filter((_, n) => n !== 7 && n !== 8).map((member) => JSON.stringify({ userId: member.user_id, roles: ['support-agent'] }));
    const named = parseDesiredState([...wanted, '{"userId":"auth0|7","roles":"support-agent"}'].join('\n'));
    const anonymous = parseDesiredState([...wanted, '{"userId":"auth0|7","roles":"support-agent"}', 'not json'].join('\n'));

    // Act
    const plan = planSync({ name: 'hr', desired: named.users, managed, members: members({ rol_support: current }), manifest: {}, limits, protectedKeys: named.protectedKeys, unattributedSkips: named.unattributed, now: NOW });
    const withheld = planSync({ name: 'hr', desired: anonymous.users, managed, members: members({ rol_support: current }), manifest: {}, limits, protectedKeys: anonymous.protectedKeys, unattributedSkips: anonymous.unattributed, now: NOW });

    // Assess: only auth0|8, truly absent, loses the role
    expect(plan.removes.map((job) => job.body['userId'])).toEqual(['auth0|8']);
    expect(withheld.removes).toEqual([]);
    expect(withheld.removalsWithheld).toContain('1 skipped line(s) name no user');
  });

  it('protects the user a skipped line names even through a stray space, and keeps what was sent to a user whose line was skipped', () => {
    // Prepare: alice's line fails on a trailing space in her email; bob's was sent {a, b} before and his line is skipped now
    const current = Array.from({ length: 20 }, (_, n) => ({ user_id: `auth0|${n}`, email: `u${n}@x.com` }));
    const parsed = parseDesiredState(
      [
        ...current.slice(2).map((member) => JSON.stringify({ userId: member.user_id, roles: ['support-agent'] })),
        JSON.stringify({ email: 'U0@x.com ', roles: ['support-agent'] }),
        JSON.stringify({ userId: 'auth0|1', roles: 'support-agent', app_metadata: { a: 1 } }),
      ].join('\n'),
    );
    const manifest = { 'id:auth0|1': { hash: metadataHash({ a: 1, b: 2 }), keys: ['a', 'b'], sentAt: NOW - 3_600_000 } };

    // Act
    const plan = planSync({ name: 'hr', desired: parsed.users, managed, members: members({ rol_support: current }), manifest, limits, protectedKeys: parsed.protectedKeys, unattributedSkips: parsed.unattributed, now: NOW });

    // Assess: nobody loses the role, and bob's entry survives for the run that reads his line again
    expect(plan.removes).toEqual([]);
    expect(plan.manifest['id:auth0|1']).toEqual(manifest['id:auth0|1']);
  });

  it('keeps the managed roles of a user whose line names a role that does not exist, and ignores roles that exist unmanaged', () => {
    // Prepare: auth0|1 misspelt "support-agnet"; auth0|2 lists an unmanaged role that exists
    const current = Array.from({ length: 20 }, (_, n) => ({ user_id: `auth0|${n}` }));
    const desired = parseDesiredState(
      lines(
        ...current.slice(3).map((member) => ({ userId: member.user_id, roles: ['support-agent'] })),
        { userId: 'auth0|1', roles: ['support-agnet'] },
        { userId: 'auth0|2', roles: ['read-only'] },
      ),
    ).users;

    // Act
    const doubtful = findDoubtfulLines(desired, { roles: new Set(['support-agent', 'rol_support', 'rol_billing', 'billing', 'read-only']), organizations: undefined });
    const plan = planSync({ name: 'hr', desired, managed, members: members({ rol_support: current }), manifest: {}, limits: { ...limits, maxRemovalShare: 1 }, protectedKeys: doubtful.protectedKeys, now: NOW });

    // Assess: auth0|0 (absent) and auth0|2 (wants only an unmanaged role) lose it; auth0|1 keeps it
    expect(plan.removes.map((job) => job.body['userId']).sort()).toEqual(['auth0|0', 'auth0|2']);
    expect(doubtful.unknownRoles).toEqual([{ line: 18, role: 'support-agnet' }]);
  });

  it("makes a blocked role's removals once the operator approves exactly them, and not when the removals changed since", () => {
    // Prepare: 3 of 10 billing members leave (limit 1)
    const current = Array.from({ length: 10 }, (_, n) => ({ user_id: `auth0|${n}` }));
    const staying = (from: number) => parseDesiredState(lines(...current.slice(from).map((member) => ({ userId: member.user_id, roles: ['rol_billing'] })))).users;
    const input = { name: 'hr', desired: staying(3), managed, members: members({ rol_billing: current }), manifest: {}, limits, now: NOW };
    const blocked = planSync(input).removalsBlocked?.[0];

    // Act
    const approved = planSync({ ...input, approvals: new Set([blocked?.approval ?? '']) });
    const changed = planSync({ ...input, desired: staying(4), approvals: new Set([blocked?.approval ?? '']) });

    // Assess: the approval made exactly those three removals; a fourth leaver needs a new approval
    expect(approved.removes.map((job) => job.body['userId'])).toEqual(['auth0|0', 'auth0|1', 'auth0|2']);
    expect(approved.removalsBlocked).toBeUndefined();
    expect(approved.removalsApproved).toEqual([blocked]);
    expect(changed.removes).toEqual([]);
    expect(changed.removalsBlocked?.[0]?.approval).not.toBe(blocked?.approval);
  });

  it('derives job ids from the change, so two runs plan the same ids, and fits them in 64 characters', () => {
    // Prepare
    const desired = parseDesiredState(lines({ userId: 'auth0|1', roles: ['support-agent'] })).users;
    const input = { name: 'hr', desired, managed, members: members({}), manifest: {}, limits, now: NOW };

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
    const plan = planSync({ name: 'hr', desired: [], managed, members: members({ rol_support: [{ user_id: 'auth0|1' }] }), manifest: {}, limits: { ...limits, allowRemovals: false }, now: NOW });

    // Assess
    expect(plan.removes).toEqual([]);
    expect(plan.removalsBlocked).toBeUndefined();
  });
});

describe('Function: validateSyncDefinition()', () => {
  const base = { name: 'hr', source: { bucket: 'b', key: 'k' }, managedRoles: ['support-agent'] };

  it.each([
    [{ allowRemovals: 'false' }, 'allowRemovals must be true or false'],
    [{ dryRun: 'true' }, 'dryRun must be true or false'],
    [{ maxRemovals: 'ten' }, 'maxRemovals must be a whole number'],
    [{ maxRemovals: Number.NaN }, 'maxRemovals must be a whole number'],
    [{ maxRemovalShare: '0.1' }, 'maxRemovalShare must be a number from 0 to 1'],
    [{ managedRoles: [''] }, 'managedRoles must list'],
    [{ minRemovals: -1 }, 'minRemovals must be a whole number'],
  ])('refuses %o', (override, text) => {
    // Act & Assess
    expect(() => validateSyncDefinition({ ...base, ...override } as never)).toThrow(text);
  });

  it('accepts a well-typed definition', () => {
    // Act & Assess
    expect(() => validateSyncDefinition({ ...base, allowRemovals: false, maxRemovals: 10, maxRemovalShare: 0.2 })).not.toThrow();
  });
});

describe('Function: parseDesiredState() against the job contract', () => {
  it('skips, and protects the user of, a line whose jobs the worker would refuse', () => {
    // Act: an over-long email, a dotted top-level key, a bidirectional control in a nested key
    const long = `${'a'.repeat(250)}@example.com`;
    const { users, invalid, protectedKeys } = parseDesiredState(
      lines(
        { email: long, roles: [] },
        { userId: 'auth0|1', roles: [], app_metadata: { 'plan.tier': 'pro' } },
        { userId: 'auth0|2', roles: [], app_metadata: { plan: { 'tier\u202e': 'pro' } } },
        { userId: 'auth0|3', roles: [], app_metadata: { plan: { 'tier.name': 'pro' } } },
      ),
    );

    // Assess
    expect(invalid.map((entry) => [entry.line, entry.reason.split(':')[0]])).toEqual([
      [1, 'email'],
      [2, 'app_metadata.plan.tier'],
      [3, 'app_metadata.plan.tier\ufffd'],
    ]);
    expect(users.map((user) => user.key)).toEqual(['id:auth0|3']);
    expect([...protectedKeys].sort()).toEqual(['email:' + long, 'id:auth0|1', 'id:auth0|2']);
  });
});
