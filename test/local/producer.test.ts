/**
 * A producer's view: jobs posted through the package's producer entry point, imported by the package's name
 * as another Node service would, and applied by the worker on the local stack.
 */
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { type SendJobsResult, sendJobs } from 'auth0-queue-worker/producer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { rolesOf } from '../../local/tenant/state.ts';
import { createRandom, seedTenant } from '../../local/workload.ts';
import { startTestStack } from '../helpers/suite-logs.ts';
import { drained } from '../helpers/drained.ts';

describe('Producer: auth0-queue-worker/producer on the local stack', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startTestStack({ build: false, rateLimit: { burst: 50, perSecond: 50 } });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('validates and sends jobs that the worker then applies, reporting the invalid one by its index', async () => {
    // Prepare
    const { users, roles } = seedTenant(stack.tenant.state, { users: 5, roles: 2, random: createRandom(4) });
    const [ada, bob] = users;
    const [role] = roles;
    const jobs = [
      { type: 'user.update', userId: ada?.user_id, changes: { app_metadata: { plan: 'pro' } } },
      { type: 'roles.assign', email: bob?.email, roles: [role?.name] },
      { type: 'user.update', userId: ada?.user_id, email: ada?.email, changes: { blocked: true } },
    ];

    // Act
    const result: SendJobsResult = await sendJobs(stack.sqs, stack.jobs.url, jobs, { skipInvalid: true });
    const worker = stack.startWorker({ maxConcurrency: 2 });
    expect(await drained(stack, { stalledFor: 30_000, atMost: 90_000 })).toBe(true);
    await worker.stop();

    // Assess
    expect(result.sent.map((entry) => entry.index)).toEqual([0, 1]);
    expect(result.invalid).toEqual([{ index: 2, code: 'invalid_target', reason: expect.stringContaining('exactly one') }]);
    expect(stack.tenant.state.users.get(ada?.user_id ?? '')?.app_metadata['plan']).toBe('pro');
    expect(rolesOf(stack.tenant.state, bob?.user_id ?? '').map((held) => held.id)).toContain(role?.id);
  }, 150_000);
});

describe('Producer: FIFO deduplication ids another producer cannot guess', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startTestStack({ build: false, fifo: true, rateLimit: { burst: 50, perSecond: 50 } });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it("a producer that sends first with a job's id as deduplication id does not silence that job", async () => {
    // Prepare: an offboarding with a predictable jobId; another producer sends its own message under that id first
    const { users, roles } = seedTenant(stack.tenant.state, { users: 2, roles: 1, random: createRandom(7) });
    const [ada] = users;
    const [role] = roles;
    stack.tenant.state.members.get(role?.id ?? '')?.add(ada?.user_id ?? '');
    await stack.sqs.send(
      new SendMessageCommand({
        QueueUrl: stack.jobs.url,
        MessageBody: JSON.stringify({ type: 'user.update', userId: ada?.user_id, changes: { nickname: 'decoy' } }),
        MessageGroupId: `id:${ada?.user_id}`,
        MessageDeduplicationId: 'offboard-ada-2026-12-04',
      }),
    );

    // Act
    const result = await sendJobs(stack.sqs, stack.jobs.url, [{ type: 'roles.remove', userId: ada?.user_id, roles: [role?.name], jobId: 'offboard-ada-2026-12-04' }]);
    const worker = stack.startWorker({ maxConcurrency: 1 });
    expect(await drained(stack, { stalledFor: 30_000, atMost: 90_000 })).toBe(true);
    await worker.stop();

    // Assess: SQS took both, and the offboarding applied
    expect(result.sent).toHaveLength(1);
    expect(stack.tenant.state.users.get(ada?.user_id ?? '')?.nickname).toBe('decoy');
    expect(rolesOf(stack.tenant.state, ada?.user_id ?? '').map((held) => held.id)).not.toContain(role?.id);
  }, 150_000);
});
