import { describe, expect, it } from 'vitest';
import { createState } from '../../local/tenant/state.ts';
import { compareState, createRandom, generateWorkload, isApplied, seedTenant } from '../../local/workload.ts';

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
