import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Effect, type Intent, type LedgerState, type Stamp, compareStamps, decide, foldLapsedIntent, record } from '../../../shared/ledger/ledger.ts';

const EMPTY: LedgerState = { attributes: {}, recent: [] };
const stamp = (at: number, key = `o:${at}`): Stamp => ({ order: `${String(at).padStart(15, '0')}:00`, key });
const blocked = (value: boolean): Effect => ({ attribute: 'blocked', kind: String(value) });
const role = (kind: 'assign' | 'remove', id = 'rol_admin'): Effect => ({ attribute: `role:${id}`, kind });

/** The ledger after one job wrote what `decide` chose. */
const apply = (state: LedgerState, intent: Intent, outcome: 'applied' | 'pending' = 'applied') => record(state, intent, decide(state, intent.stamp, intent.effects), outcome, 1);

describe('Function: decide()', () => {
  it('writes every effect of the first job of a user', () => {
    // Act
    const decision = decide(EMPTY, stamp(10), [blocked(true), role('assign')]);

    // Assess
    expect(decision).toEqual({ write: [blocked(true), role('assign')], skipped: [], duplicate: false });
  });

  it('skips, per attribute, what a newer job already wrote, and writes the rest', () => {
    // Prepare: the newer job wrote blocked only
    const state = apply(EMPTY, { stamp: stamp(20), effects: [blocked(false)] });

    // Act
    const decision = decide(state, stamp(10), [blocked(true), { attribute: 'app_metadata.plan', kind: 'set' }]);

    // Assess
    expect(decision.write).toEqual([{ attribute: 'app_metadata.plan', kind: 'set' }]);
    expect(decision.skipped).toEqual([blocked(true)]);
  });

  it('takes an assignment and a removal of one role as two values of one attribute: the newest wins either way', () => {
    // Prepare
    const removedLater = apply(EMPTY, { stamp: stamp(20), effects: [role('remove')] });
    const assignedLater = apply(EMPTY, { stamp: stamp(20), effects: [role('assign')] });

    // Act
    const lateGrant = decide(removedLater, stamp(10), [role('assign')]);
    const lateRevoke = decide(assignedLater, stamp(10), [role('remove')]);
    const newerGrant = decide(removedLater, stamp(30), [role('assign')]);

    // Assess
    expect(lateGrant.write).toEqual([]);
    expect(lateRevoke.write).toEqual([]);
    expect(newerGrant.write).toEqual([role('assign')]);
  });

  it('writes nothing again for a job already applied, whatever came since', () => {
    // Prepare
    const once = apply(EMPTY, { stamp: stamp(10, 'j:a'), effects: [blocked(true)] });

    // Act
    const again = decide(once, stamp(10, 'j:a'), [blocked(true)]);
    const resentLater = decide(once, stamp(50, 'j:a'), [blocked(true)]);

    // Assess
    expect(again).toMatchObject({ write: [], duplicate: true });
    expect(resentLater).toMatchObject({ write: [], duplicate: true });
  });

  it('lets the job that left an attribute pending write it again, and keeps older jobs out of it', () => {
    // Prepare: the newer job failed and will be retried
    const pending = apply(EMPTY, { stamp: stamp(20, 'j:new'), effects: [blocked(false)] }, 'pending');

    // Act
    const older = decide(pending, stamp(10, 'j:old'), [blocked(true)]);
    const retried = decide(pending, stamp(20, 'j:new'), [blocked(false)]);

    // Assess
    expect(pending.attributes['blocked']).toMatchObject({ k: 'j:new', p: true });
    expect(older.write).toEqual([]);
    expect(retried.write).toEqual([blocked(false)]);
  });

  it('voids an organization role older than a newer removal of the membership', () => {
    // Prepare
    const removed = apply(EMPTY, { stamp: stamp(20), effects: [{ attribute: 'org:org_1', kind: 'remove' }] });
    const orgRole = (at: number) => decide(removed, stamp(at), [{ attribute: 'org:org_1/role:rol_x', kind: 'assign', voidedBy: { attribute: 'org:org_1', kind: 'remove' } }]);

    // Act, Assess
    expect(orgRole(10).write).toEqual([]);
    expect(orgRole(30).write).toHaveLength(1);
  });

  it('orders jobs of one millisecond by key, the same way everywhere', () => {
    // Act, Assess
    expect(compareStamps(stamp(10, 'a'), stamp(10, 'b'))).toBe(-1);
    expect(compareStamps(stamp(11, 'a'), stamp(10, 'b'))).toBe(1);
    expect(compareStamps(stamp(10, 'a'), stamp(10, 'a'))).toBe(0);
  });
});

describe('Function: record()', () => {
  it('keeps one history line per job, newest last, at most twenty', () => {
    // Prepare
    let state = EMPTY;
    for (let at = 1; at <= 25; at++) state = apply(state, { stamp: stamp(at), effects: [blocked(at % 2 === 0)] });
    state = apply(state, { stamp: stamp(3), effects: [blocked(true)] });

    // Assess
    expect(state.recent).toHaveLength(20);
    expect(state.recent.at(-1)).toMatchObject({ o: stamp(3).order, r: 'superseded', n: 1 });
    expect(state.recent.at(-2)).toMatchObject({ o: stamp(25).order, r: 'applied', n: 0 });
  });

  it('records nothing for a released job', () => {
    // Act
    const state = record(EMPTY, { stamp: stamp(1), effects: [blocked(true)] }, decide(EMPTY, stamp(1), [blocked(true)]), 'released', 1);

    // Assess
    expect(state).toBe(EMPTY);
  });
});

describe('Function: foldLapsedIntent()', () => {
  it('keeps what a stopped job would have written as pending, at its place', () => {
    // Prepare: the stopped job was newer on blocked, older on the role
    const state = apply(EMPTY, { stamp: stamp(30), effects: [role('remove')] });

    // Act
    const folded = foldLapsedIntent(state, { stamp: stamp(20, 'j:stopped'), effects: [blocked(true), role('assign')] }, 5);

    // Assess
    expect(folded.attributes['blocked']).toMatchObject({ k: 'j:stopped', p: true, v: 'true' });
    expect(folded.attributes['role:rol_admin']).toMatchObject({ v: 'remove', o: stamp(30).order });
  });
});

/**
 * The ledger's promise, over random histories: jobs of a few users, delivered in any order, some twice, some
 * failing and retried later, some stopped midway (their claim lapsing and folded in), end in the state that
 * applying every job once, in order, gives.
 */
describe('Property: any delivery order ends as the serial application in order', () => {
  const ATTRIBUTES = ['blocked', 'name', 'app_metadata.plan', 'app_metadata.tier', 'role:rol_a', 'role:rol_b', 'org:org_1'];
  const KINDS: Record<string, string[]> = {
    blocked: ['true', 'false'],
    name: ['set', 'unset'],
    'app_metadata.plan': ['set', 'unset'],
    'app_metadata.tier': ['set', 'unset'],
    'role:rol_a': ['assign', 'remove'],
    'role:rol_b': ['assign', 'remove'],
    'org:org_1': ['add', 'remove'],
  };
  const job = fc.record({
    user: fc.constantFrom('u1', 'u2', 'u3'),
    at: fc.integer({ min: 0, max: 40 }),
    effects: fc.uniqueArray(fc.constantFrom(...ATTRIBUTES), { minLength: 1, maxLength: 4 }).chain((attributes) =>
      fc.tuple(...attributes.map((attribute) => fc.constantFrom(...(KINDS[attribute] ?? [])).map((kind): Effect => ({ attribute, kind })))),
    ),
  });
  /** What happens to one delivery: it applies, fails and comes back later, or its container stops after the write. */
  const fate = fc.constantFrom('ok', 'ok', 'ok', 'retry', 'crash');

  it('holds over 1,000 histories', () => {
    fc.assert(
      fc.property(
        fc.array(job, { minLength: 1, maxLength: 12 }),
        fc.array(fc.tuple(fc.nat(), fate), { minLength: 0, maxLength: 30 }),
        (jobs, schedule) => {
          const stamped = jobs.map((each, index) => ({ ...each, stamp: stamp(each.at, `j:${index}`) }));
          // Serial, in order: each attribute ends with the kind of the newest job that touches it.
          const expected = new Map<string, string>();
          for (const each of [...stamped].sort((a, b) => compareStamps(a.stamp, b.stamp))) {
            for (const effect of each.effects) expected.set(`${each.user} ${effect.attribute}`, effect.kind);
          }

          // Deliveries: every job once, then the schedule's extra deliveries (duplicates), in the schedule's order.
          const ledgers = new Map<string, LedgerState>();
          const leases = new Map<string, Intent>();
          const tenant = new Map<string, string>();
          /** Writes per job and attribute: once, unless the job's container stopped after writing. */
          const writes = new Map<string, number>();
          const stopped = new Set<number>();
          const queue = stamped.map((_, index) => index);
          for (const [pick] of schedule) queue.splice(pick % (queue.length + 1), 0, pick % stamped.length);
          const fates = schedule.map(([, each]) => each);
          for (let step = 0; step < queue.length && step < 500; step++) {
            const each = stamped[queue[step] ?? 0];
            if (each === undefined) continue;
            let state = ledgers.get(each.user) ?? EMPTY;
            const lapsed = leases.get(each.user);
            if (lapsed !== undefined) {
              state = foldLapsedIntent(state, lapsed, step);
              leases.delete(each.user);
            }
            const intent = { stamp: each.stamp, effects: each.effects };
            const decision = decide(state, each.stamp, each.effects);
            const outcome = decision.write.length === 0 ? 'superseded' : (fates[step] ?? 'ok');
            if (outcome === 'retry') {
              // Failed before writing: its place is kept, and it comes back later.
              ledgers.set(each.user, record(state, intent, decision, 'pending', step));
              queue.push(queue[step] ?? 0);
              continue;
            }
            for (const effect of decision.write) {
              tenant.set(`${each.user} ${effect.attribute}`, effect.kind);
              writes.set(`${queue[step]} ${effect.attribute}`, (writes.get(`${queue[step]} ${effect.attribute}`) ?? 0) + 1);
            }
            if (outcome === 'crash') {
              stopped.add(queue[step] ?? 0);
              // Written, then the container stopped before the ledger heard: the claim lapses; SQS delivers again.
              ledgers.set(each.user, state);
              leases.set(each.user, intent);
              queue.push(queue[step] ?? 0);
              continue;
            }
            ledgers.set(each.user, record(state, intent, decision, outcome === 'superseded' ? 'superseded' : 'applied', step));
          }
          expect(Object.fromEntries(tenant)).toEqual(Object.fromEntries(expected));
          const repeated = [...writes].filter(([key, count]) => count > 1 && !stopped.has(Number(key.split(' ')[0])));
          expect(repeated).toEqual([]);
        },
      ),
      { numRuns: 1_000 },
    );
  });
});
