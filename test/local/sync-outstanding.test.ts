/**
 * The sync and the changes earlier runs queued that are not applied yet, on the local stack: a run neither
 * queues one again nor lets one undo what the file says now.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalStack, queueDepth } from '../../local/stack.ts';
import { createLocalSyncDeps, uploadDesiredState } from '../../local/sync.ts';
import { type TenantRole, type TenantUser, addRole, addUser, rolesOf } from '../../local/tenant/state.ts';
import { CONNECTION } from '../../local/workload.ts';
import { runSync } from '../../shared/sync/run-sync.ts';
import { startTestStack } from '../helpers/suite-logs.ts';
import { drained } from '../helpers/drained.ts';

describe('Sync: role changes still on the queue from an earlier run', () => {
  let stack: LocalStack;
  let deps: ReturnType<typeof createLocalSyncDeps>;
  let users: TenantUser[];
  let support: TenantRole;

  beforeAll(async () => {
    stack = await startTestStack({ build: false, rateLimit: { burst: 50, perSecond: 50 } });
    deps = createLocalSyncDeps(stack);
    support = addRole(stack.tenant.state, { name: 'support-agent', description: 'support' });
    // Twenty members, so that the removal limit (10%) allows one removal
    users = Array.from({ length: 20 }, (_, n) => addUser(stack.tenant.state, { email: `agent-${n}@example.com`, connection: CONNECTION }));
    stack.tenant.state.members.set(support.id, new Set(users.map((user) => user.user_id)));
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
  });

  const sync = async (withoutFirst: boolean) => {
    const lines = users.map((user, n) => JSON.stringify({ userId: user.user_id, roles: n === 0 && withoutFirst ? [] : [support.name] }));
    const source = await uploadDesiredState(deps.s3, 'hr/agents.jsonl', lines.join('\n'));
    return runSync({ name: 'hr', source, managedRoles: [support.name], allowRemovals: true }, deps);
  };
  const drain = async () => {
    const worker = stack.startWorker({ maxConcurrency: 2 });
    expect(await drained(stack, { stalledFor: 30_000, atMost: 120_000 })).toBe(true);
    await worker.stop();
  };

  it('a removal still queued is not queued again, and is met by a newer assignment once the file restores the role', async () => {
    // Act: run 1 removes agent 0; run 2, with the same file, before the worker ran; run 3 after the file restored the role
    const first = await sync(true);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const second = await sync(true);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const third = await sync(false);
    const queued = await queueDepth(stack);
    await drain();
    const fourth = await sync(false);

    // Assess: one removal, never twice; the restoring assignment wins though both were on the queue together
    expect([first.roleRemoves, first.outstanding]).toEqual([1, 0]);
    expect([second.jobsEnqueued, second.outstanding]).toEqual([0, 1]);
    expect([third.roleAdds, third.jobsEnqueued, third.outstanding]).toEqual([1, 1, 1]);
    expect(queued).toBe(2);
    expect(rolesOf(stack.tenant.state, users[0]?.user_id ?? '').map((role) => role.id)).toEqual([support.id]);
    expect([fourth.jobsEnqueued, fourth.outstanding]).toEqual([0, 0]);
  }, 300_000);
});
