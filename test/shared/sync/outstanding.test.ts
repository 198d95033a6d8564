import { describe, expect, it } from 'vitest';
import type { Entry, LedgerState } from '../../../shared/ledger/ledger.ts';
import { OUTSTANDING_FOR_MS, changesOf, membersAfter, nextOutstanding, parseOutstanding, stillOutstanding } from '../../../shared/sync/outstanding.ts';

const NOW = Date.UTC(2026, 11, 4, 12);
const entry = (at: number, kind: string, pending = false): Entry => ({ o: `${String(at).padStart(15, '0')}::ab`, k: `k${at}`, t: at, v: kind, ...(pending ? { p: true as const } : {}) });
const ledgerOf = (users: Record<string, Record<string, Entry>>) => ({
  read: async (userId: string): Promise<LedgerState | undefined> => (users[userId] === undefined ? undefined : { attributes: users[userId] ?? {}, recent: [] }),
});

describe('Function: stillOutstanding()', () => {
  it('keeps a change until the ledger records it at or after its order, done, and drops it once older than the wait', async () => {
    // Prepare
    const at = NOW - 60_000;
    const queued = [
      { userId: 'u1', roleId: 'rol_a', kind: 'remove' as const, issuedAt: at },
      { userId: 'u2', roleId: 'rol_a', kind: 'remove' as const, issuedAt: at },
      { userId: 'u3', roleId: 'rol_a', kind: 'remove' as const, issuedAt: at },
      { userId: 'u4', roleId: 'rol_a', kind: 'remove' as const, issuedAt: at },
      { userId: 'u5', roleId: 'rol_a', kind: 'remove' as const, issuedAt: NOW - OUTSTANDING_FOR_MS },
    ];
    const ledger = ledgerOf({
      u1: { 'role:rol_a': entry(at, 'remove') },
      u2: { 'role:rol_a': entry(at, 'remove', true) },
      u3: { 'role:rol_a': entry(at + 5, 'assign') },
      u4: { 'role:rol_b': entry(at, 'remove') },
    });

    // Act
    const waiting = await stillOutstanding(queued, { ledger, members: new Map(), now: NOW });

    // Assess: u1 applied, u3 overtaken by a newer job, u5 too old; u2 failed and waits, u4 not recorded yet
    expect(waiting.map((change) => change.userId)).toEqual(['u2', 'u4']);
  });

  it('finds a change by email under the id the members give it; an assignment of a user not among them still waits', async () => {
    // Prepare
    const at = NOW - 1_000;
    const queued = [
      { email: 'ada@example.com', roleId: 'rol_a', kind: 'assign' as const, issuedAt: at },
      { email: 'bob@example.com', roleId: 'rol_a', kind: 'assign' as const, issuedAt: at },
    ];
    const members = new Map([['rol_a', [{ user_id: 'auth0|ada', email: 'Ada@example.com' }]]]);

    // Act
    const waiting = await stillOutstanding(queued, { ledger: ledgerOf({ 'auth0|ada': { 'role:rol_a': entry(at, 'assign') } }), members, now: NOW });

    // Assess
    expect(waiting.map((change) => change.email)).toEqual(['bob@example.com']);
  });
});

describe('Function: membersAfter()', () => {
  it('adds the users of waiting assignments (by email without an id) and drops those of waiting removals', () => {
    // Act
    const after = membersAfter(new Map([['rol_a', [{ user_id: 'u1' }, { user_id: 'u2' }]]]), [
      { userId: 'u1', roleId: 'rol_a', kind: 'remove', issuedAt: 1 },
      { email: 'new@example.com', roleId: 'rol_a', kind: 'assign', issuedAt: 1 },
      { userId: 'u9', roleId: 'rol_unmanaged', kind: 'assign', issuedAt: 1 },
    ]);

    // Assess
    expect(after.get('rol_a')).toEqual([{ user_id: 'u2' }, { user_id: '', email: 'new@example.com' }]);
    expect(after.has('rol_unmanaged')).toBe(false);
  });
});

describe('Function: changesOf() and nextOutstanding()', () => {
  it('lists a run\'s role changes, and keeps the earlier ones it did not overtake', () => {
    // Prepare
    const jobs = [
      { jobId: 'a', groupId: 'id:u1', body: { type: 'roles.assign', userId: 'u1', roles: ['rol_a', 'rol_b'] } },
      { jobId: 'b', groupId: 'email:x', body: { type: 'roles.remove', email: 'X@example.com', roles: ['rol_a'] } },
      { jobId: 'c', groupId: 'id:u1', body: { type: 'user.update', userId: 'u1', changes: {} } },
    ];

    // Act
    const changes = changesOf(jobs, 7);
    const next = nextOutstanding([{ userId: 'u1', roleId: 'rol_a', kind: 'remove', issuedAt: 3 }, { userId: 'u2', roleId: 'rol_a', kind: 'remove', issuedAt: 3 }], changes);

    // Assess
    expect(changes).toEqual([
      { userId: 'u1', roleId: 'rol_a', kind: 'assign', issuedAt: 7 },
      { userId: 'u1', roleId: 'rol_b', kind: 'assign', issuedAt: 7 },
      { email: 'x@example.com', roleId: 'rol_a', kind: 'remove', issuedAt: 7 },
    ]);
    expect(next.map((change) => `${change.userId ?? change.email} ${change.roleId} ${change.issuedAt}`)).toEqual(['u2 rol_a 3', 'u1 rol_a 7', 'u1 rol_b 7', 'x@example.com rol_a 7']);
    expect(parseOutstanding(JSON.stringify(next))).toEqual(next);
    expect(parseOutstanding('not json')).toEqual([]);
  });
});
