/**
 * The scheduled sync on the local stack: a tenant of 5,000 users, a desired-state file on S3 (fauxqs),
 * the sync's paced reads against the tenant emulator, its jobs applied by the worker bundle.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalStack, queueDepth } from '../../local/stack.ts';
import { SYNC_BUCKET, createLocalSyncDeps, uploadDesiredState } from '../../local/sync.ts';
import type { TenantRole } from '../../local/tenant/state.ts';
import { rolesOf } from '../../local/tenant/state.ts';
import { createRandom, generateDesiredState, seedTenant } from '../../local/workload.ts';
import { runSync } from '../../shared/sync/run-sync.ts';
import { drained } from '../helpers/drained.ts';
import { startTestStack } from '../helpers/suite-logs.ts';

const USERS = 5_000;

describe('Sync: 5,000 users through the local stack', () => {
  let stack: LocalStack;
  let deps: ReturnType<typeof createLocalSyncDeps>;
  let managed: TenantRole[];
  const lines: string[] = [];
  const expected = { roleAdds: 0, roleRemoves: 0, addUsers: 0, removeUsers: 0, updates: 0 };
  const desiredRoles = new Map<string, Set<string>>();

  beforeAll(async () => {
    // Reads run against a small bucket (10, refilling 5/s) to show the pacing; the worker gets a fast one later.
    stack = await startTestStack({ build: false, rateLimit: { burst: 10, perSecond: 5 } });
    deps = createLocalSyncDeps(stack);
    const random = createRandom(21);
    const seeded = seedTenant(stack.tenant.state, { users: USERS, roles: 10, random });
    managed = seeded.roles.slice(0, 3);
    const generated = generateDesiredState(stack.tenant.state, seeded.users, managed);
    lines.push(...generated.lines);
    Object.assign(expected, generated.expected);
    for (const [userId, roles] of generated.expected.roles) desiredRoles.set(userId, roles);
    // Invalid lines that each name a user (one naming none would withhold every removal of the run).
    lines.splice(100, 0, '{"userId":"auth0|broken","roles":"support"}', '{"email":"not-an-email","roles":[]}', '{"userId":"auth0|x","roles":[],"extra":true}');
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  const definition = (key: string, overrides: object = {}) => ({
    name: 'hr',
    source: { bucket: SYNC_BUCKET, key },
    managedRoles: managed.map((role, index) => (index === 0 ? role.id : role.name)),
    allowRemovals: true,
    ...overrides,
  });

  const depth = () => queueDepth(stack);

  it('a dry run reports the plan and enqueues nothing', async () => {
    // Prepare
    await uploadDesiredState(deps.s3, 'hr/users.jsonl', lines.join('\n'));

    // Act
    const report = await runSync(definition('hr/users.jsonl', { dryRun: true }), deps);

    // Assess
    expect(report).toMatchObject({ dryRun: true, roleAdds: expected.roleAdds, roleRemoves: expected.roleRemoves, metadataUpdates: expected.updates, jobsEnqueued: 0 });
    expect(await depth()).toBe(0);
  }, 120_000);

  it('a first run enqueues exactly the needed jobs, reports invalid lines, keeps reads within half the bucket, and the worker applies them', async () => {
    // Act
    const startedBefore = Date.now();
    const report = await runSync(definition('hr/users.jsonl'), deps);
    const queued = await depth();
    const issuedAt = new Set((stack.fauxqs.inspectQueue('jobs')?.messages.ready ?? []).map((message) => (JSON.parse(message.body) as { issuedAt?: string }).issuedAt));
    stack.tenant.setRateLimit({ burst: 200, perSecond: 200 });
    const worker = stack.startWorker({ maxConcurrency: 4 });
    // As long as the queue keeps shrinking: a loaded machine drains slower, and stuck work still fails here.
    const emptied = await drained(stack, { stalledFor: 30_000, atMost: 420_000 });
    await worker.stop();
    stack.tenant.setRateLimit({ burst: 10, perSecond: 5 });

    // Assess: the plan
    expect(emptied).toBe(true);
    expect(report.aborted).toBeUndefined();
    expect(report).toMatchObject({ roleAdds: expected.roleAdds, roleRemoves: expected.roleRemoves, metadataUpdates: expected.updates });
    expect(report.jobsEnqueued).toBe(expected.addUsers + expected.removeUsers + expected.updates);
    expect(queued).toBe(report.jobsEnqueued);
    // Every job carries the run's start as its order
    expect([...issuedAt]).toEqual([expect.any(String)]);
    expect(Date.parse([...issuedAt][0] ?? '')).toBeGreaterThanOrEqual(startedBefore);
    expect(report.runId).toBe(([...issuedAt][0] ?? '').replace(/[:.]/g, '-'));
    expect(report.skippedLines.map((entry) => entry.line)).toEqual([101, 102, 103]);
    // Reads: three role lookups at most, one per unmanaged role the lines name (whether it exists: at most the
    // other 7 seeded roles), and one page of 100 members at a time, never below half the bucket
    // (5 of 10) by more than the one request whole-number headers leave unknown
    const members = managed.reduce((sum, role) => sum + (stack.tenant.state.members.get(role.id)?.size ?? 0), 0);
    expect(report.readsSpent).toBeLessThanOrEqual(2 + Math.ceil(members / 100) + managed.length + 7);
    expect(report.unknownRoles).toEqual([]);
    expect(report.lowestRemaining).toBeGreaterThanOrEqual(4);
    // The tenant: every user holds exactly the desired managed roles, and the changed metadata
    const managedIds = new Set(managed.map((role) => role.id));
    const wrong = [...desiredRoles].filter(([userId, roles]) => {
      const held = rolesOf(stack.tenant.state, userId).map((role) => role.id).filter((id) => managedIds.has(id));
      return held.length !== roles.size || held.some((id) => !roles.has(id));
    });
    expect(wrong).toEqual([]);
    expect([...stack.tenant.state.users.values()].filter((user) => user.app_metadata['plan'] === 'pro')).toHaveLength(expected.updates);
    const written = await deps.s3.send(new GetObjectCommand({ Bucket: SYNC_BUCKET, Key: 'hr/users.jsonl.report.json' }));
    expect(JSON.parse((await written.Body?.transformToString()) ?? '{}')).toMatchObject({ runId: report.runId, jobsEnqueued: report.jobsEnqueued });
  }, 540_000);

  it('a second run enqueues nothing', async () => {
    // Act
    const report = await runSync(definition('hr/users.jsonl'), deps);

    // Assess
    expect(report).toMatchObject({ roleAdds: 0, roleRemoves: 0, metadataUpdates: 0, jobsEnqueued: 0 });
    expect(await depth()).toBe(0);
  }, 120_000);

  it('a truncated file trips the removal limit and removes nothing', async () => {
    // Prepare: the export stopped half-way
    await uploadDesiredState(deps.s3, 'hr/truncated.jsonl', lines.slice(0, lines.length / 2).join('\n'));

    // Act
    const report = await runSync(definition('hr/truncated.jsonl'), deps);

    // Assess
    expect(report.removalsBlocked?.map((group) => group.role).sort()).toEqual(managed.map((role) => role.name).sort());
    for (const group of report.removalsBlocked ?? []) expect(group.removals).toBeGreaterThan(group.limit);
    expect(report.roleRemoves).toBe(0);
  }, 120_000);

  it('aborts when too many lines are invalid', async () => {
    // Prepare
    await uploadDesiredState(deps.s3, 'hr/garbage.jsonl', ['{"userId":"auth0|1","roles":[]}', 'garbage', 'more garbage'].join('\n'));

    // Act
    const report = await runSync(definition('hr/garbage.jsonl'), deps);

    // Assess
    expect(report.aborted).toContain('2 of 3 lines are invalid');
    expect(report.jobsEnqueued).toBe(0);
    expect(report.readsSpent).toBe(0);
  }, 60_000);

  it('aborts unread a source larger than maxSourceBytes, and survives a corrupt manifest by sending its updates again', async () => {
    // Prepare
    await uploadDesiredState(deps.s3, 'hr/large.jsonl', lines.slice(0, 50).join('\n'));
    await uploadDesiredState(deps.s3, 'hr/small.jsonl', lines.slice(0, 50).join('\n'));
    await uploadDesiredState(deps.s3, 'hr/small.jsonl.manifest.json', '{"truncated');

    // Act
    const large = await runSync(definition('hr/large.jsonl', { maxSourceBytes: 1_000 }), deps);
    const corrupt = await runSync(definition('hr/small.jsonl', { dryRun: true, allowRemovals: false }), deps);

    // Assess
    expect(large.aborted).toContain('larger than maxSourceBytes (1000 bytes)');
    expect(large.readsSpent).toBe(0);
    expect(corrupt.aborted).toBeUndefined();
    expect(corrupt.manifestUnreadable).toContain('not valid JSON');
  }, 120_000);
});
