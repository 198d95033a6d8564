import { describe, expect, it } from 'vitest';
import { createState } from '../../local/tenant/state.ts';
import { compareState, createRandom, generateOutOfOrderPairs, generateWorkload, isApplied, seedTenant, throttleOlderWrite } from '../../local/workload.ts';

describe('Function: generateWorkload()', () => {
  it('with validOnly, generates only jobs that must apply, each with the change it makes', () => {
    // Prepare
    const state = createState();
    const random = createRandom(3);
    const seeded = seedTenant(state, { users: 50, roles: 5, random });

    // Act
    const workload = generateWorkload(state, seeded, { jobs: 200, random, validOnly: true });

    // Assess
    expect(workload.jobs).toHaveLength(200);
    expect(workload.jobs.every((job) => job.expectedReason === undefined && job.effect !== undefined)).toBe(true);
    expect(workload.jobs.some((job) => job.body.includes('"email"'))).toBe(true);
  });

  it('without validOnly, still mixes in jobs that must fail', () => {
    // Prepare
    const state = createState();
    const random = createRandom(3);
    const seeded = seedTenant(state, { users: 50, roles: 5, random });

    // Act
    const workload = generateWorkload(state, seeded, { jobs: 200, random });

    // Assess
    expect(workload.jobs.filter((job) => job.expectedReason !== undefined).length).toBeGreaterThan(10);
    expect(workload.jobs.filter((job) => job.expectedReason !== undefined).every((job) => job.effect === undefined)).toBe(true);
  });

  it('expects exactly the end state that applying every valid job produces', () => {
    // Prepare
    const state = createState();
    const random = createRandom(5);
    const seeded = seedTenant(state, { users: 30, roles: 4, random });
    const workload = generateWorkload(state, seeded, { jobs: 120, random, validOnly: true });
    expect(workload.jobs.some((job) => isApplied(state, job))).toBe(false);

    // Act: apply each job's change directly, as the Management API would
    for (const { effect } of workload.jobs) {
      if (effect?.kind === 'metadata') state.users.get(effect.userId)!.app_metadata[effect.key] = effect.value;
      else if (effect?.kind === 'role' && effect.held) state.members.get(effect.roleId)?.add(effect.userId);
      else if (effect?.kind === 'role') state.members.get(effect.roleId)?.delete(effect.userId);
    }

    // Assess
    expect(workload.jobs.every((job) => isApplied(state, job))).toBe(true);
    expect(compareState(state, workload.expected)).toEqual([]);
  });

  it('with organization jobs, mixes in every org.* type and expects the memberships they leave', () => {
    // Prepare
    const state = createState();
    const random = createRandom(7);
    const seeded = seedTenant(state, { users: 80, roles: 4, organizations: 3, organizationMembers: true, random });

    // Act
    const workload = generateWorkload(state, seeded, { jobs: 400, random, organizationJobs: true });

    // Assess
    for (const type of ['org.members.add', 'org.members.remove', 'org.roles.assign', 'org.roles.remove']) {
      expect(workload.jobs.some((job) => job.body.includes(`"type":"${type}"`) && job.expectedReason === undefined)).toBe(true);
    }
    expect(workload.jobs.some((job) => job.expectedReason === 'not_a_member')).toBe(true);
    expect(workload.jobs.some((job) => job.expectedReason === 'organization_not_found')).toBe(true);
    // The untouched tenant differs from what the jobs ask for exactly in memberships and roles
    const differences = compareState(state, workload.expected);
    expect(differences.some((line) => line.includes('membership of org_'))).toBe(true);
  });
});

describe('Function: generateOutOfOrderPairs()', () => {
  it('pairs a newer and an older job per attribute, expects the newer value, and throttles only the older write', () => {
    // Prepare
    const state = createState();
    const random = createRandom(7);
    const seeded = seedTenant(state, { users: 20, roles: 4, random });
    const workload = generateWorkload(state, seeded, { jobs: 40, random, validOnly: true });

    // Act
    const pairs = generateOutOfOrderPairs(seeded, workload.expected, workload.touched, { count: 8, random, now: Date.UTC(2026, 11, 4) });
    const bodies = pairs.jobs.map((job) => JSON.parse(job.body) as { jobId: string; issuedAt: string; userId: string; changes?: { app_metadata: Record<string, string> }; type: string; roles?: string[] });

    // Assess: the newer job issued a second after the older; a delayed older job queued after its newer one,
    // a throttled one before it
    expect(pairs.count).toBe(8);
    for (const older of bodies.filter((body) => body.jobId.endsWith('-older'))) {
      const newerAt = bodies.findIndex((body) => body.jobId === older.jobId.replace(/-older$/, '-newer'));
      const olderAt = bodies.indexOf(older);
      expect(Date.parse(bodies[newerAt]?.issuedAt ?? '') - Date.parse(older.issuedAt)).toBe(1_000);
      expect(olderAt > newerAt).toBe(pairs.jobs[olderAt]?.delaySeconds !== undefined);
    }
    const metadata = bodies.find((body) => body.changes !== undefined);
    const [key] = Object.keys(metadata?.changes?.app_metadata ?? {});
    expect(workload.expected.appMetadata.get(metadata?.userId ?? '')?.[key ?? '']).toBe('newer');
    expect(pairs.jobs.some((job) => job.delaySeconds !== undefined)).toBe(true);
    // The throttle answers the older job's write once, never the newer one's
    const throttled = [...pairs.throttle].find((write) => write.startsWith('PATCH '));
    const [, userId, keyValue] = throttled?.split(' ') ?? [];
    const [throttledKey] = keyValue?.split('=') ?? [];
    const write = (value: string) => ({ method: 'PATCH', route: 'PATCH /api/v2/users/{id}', params: [userId ?? ''], body: { app_metadata: { [throttledKey ?? '']: value } } });
    expect(throttleOlderWrite(pairs, write('newer'))).toBeUndefined();
    expect(throttleOlderWrite(pairs, write('older'))?.status).toBe(429);
    expect(throttleOlderWrite(pairs, write('older'))).toBeUndefined();
  });
});
