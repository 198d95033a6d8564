/**
 * Grouped writes on the local stack: role grants and organization memberships from larger batches share
 * calls (one per role or organization and batch), each job keeps its own fate, and the ledger still orders.
 */
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import { type LocalStack, readDeadLetters } from '../../local/stack.ts';
import { addUser } from '../../local/tenant/state.ts';
import { createRandom, seedTenant } from '../../local/workload.ts';
import { startTestStack } from '../helpers/suite-logs.ts';
import { drained } from '../helpers/drained.ts';

describe('Grouped writes on the local stack', () => {
  let stack: LocalStack | undefined;

  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  const enqueue = async (s: LocalStack, jobs: ReadonlyArray<Record<string, unknown>>) => {
    for (let start = 0; start < jobs.length; start += 10) {
      await s.sqs.send(new SendMessageBatchCommand({ QueueUrl: s.jobs.url, Entries: jobs.slice(start, start + 10).map((job, index) => ({ Id: String(index), MessageBody: JSON.stringify(job) })) }));
    }
  };

  it('the local event source mapping gathers a batch for its window, as Lambda does, and refuses more than 10 records without one', async () => {
    // Prepare: 5 jobs now, 20 more a moment later
    const s = (stack = await startTestStack({ build: false, rateLimit: { burst: 50, perSecond: 50 } }));
    const { users } = seedTenant(s.tenant.state, { users: 25, roles: 1, random: createRandom(9) });
    const jobs = users.map((user, n) => ({ type: 'user.update', userId: user.user_id, changes: { nickname: `gathered-${n}` }, jobId: `gathered-${n}` }));
    await enqueue(s, jobs.slice(0, 5));
    const batches: number[] = [];

    // Act
    expect(() => s.startWorker({ maxConcurrency: 1, batchSize: 50 })).toThrow(/batch size 50 needs a batching window/);
    const worker = s.startWorker({ maxConcurrency: 1, batchSize: 50, batchingWindowMs: 2_000, onReceive: (messages) => batches.push(messages.length) });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await enqueue(s, jobs.slice(5));
    expect(await drained(s, { stalledFor: 30_000, atMost: 60_000 })).toBe(true);
    await worker.stop();

    // Assess: the jobs sent within the window came in the first batch
    expect(batches).toEqual([25]);
  }, 120_000);

  it('grants roles and adds members in one call per role or organization and batch; an unknown user fails alone', async () => {
    // Prepare: 60 grants over 2 roles and 40 memberships over 2 organizations, one unknown user in each kind
    const s = (stack = await startTestStack({ build: false, rateLimit: { burst: 50, perSecond: 50 } }));
    const { roles, organizations } = seedTenant(s.tenant.state, { users: 4, roles: 2, organizations: 2, random: createRandom(5) });
    const state = s.tenant.state;
    const fresh = Array.from({ length: 60 }, (_, n) => addUser(state, { email: `grouped-${n}@example.com`, connection: 'Username-Password-Authentication' }));
    const grants = fresh.slice(0, 60).map((user, n) => ({ type: 'roles.assign', userId: n === 7 ? 'auth0|nobody' : user.user_id, roles: [roles[n % 2]?.id], jobId: `grant-${n}` }));
    const memberships = fresh.slice(0, 40).map((user, n) => ({ type: 'org.members.add', userId: n === 11 ? 'auth0|nobody' : user.user_id, organization: organizations[n % 2]?.name, jobId: `member-${n}` }));
    await enqueue(s, [...grants, ...memberships]);

    // Act: batches of up to 50 records gathered for up to a second
    const worker = s.startWorker({ maxConcurrency: 1, batchSize: 50, batchingWindowMs: 1_000 });
    expect(await drained(s, { stalledFor: 30_000, atMost: 120_000 })).toBe(true);
    await worker.stop();

    // Assess: every other job applied
    for (const grant of grants.filter((job) => job.userId !== 'auth0|nobody')) expect(state.members.get(grant.roles[0] ?? '')?.has(grant.userId)).toBe(true);
    for (const job of memberships.filter((each) => each.userId !== 'auth0|nobody')) {
      const organization = organizations.find((each) => each.name === job.organization);
      expect(state.organizationMembers.get(organization?.id ?? '')?.has(job.userId)).toBe(true);
    }
    // Only the two unknown users dead-lettered: the grant with the per-user route's answer, the membership with the list's
    const letters = await readDeadLetters(s);
    const reasons = letters.map((letter) => `${letter.MessageAttributes?.['jobId']?.StringValue} ${letter.MessageAttributes?.['reason']?.StringValue}`).sort();
    expect(reasons).toEqual(['grant-7 http_404', 'member-11 http_400']);
    // Writes: 100 jobs in a handful of calls, the splits that found the two unknown users included
    const writes = s.tenant.writes.length + (s.tenant.counters.requests.get('POST /api/v2/roles/{id}/users')?.get(400) ?? 0) + (s.tenant.counters.requests.get('POST /api/v2/organizations/{id}/members')?.get(400) ?? 0);
    expect(writes / 100).toBeLessThanOrEqual(0.35);
    expect(s.tenant.writes.filter((write) => write.route === 'POST /api/v2/roles/{id}/users').length).toBeGreaterThan(0);
    expect(s.tenant.writes.filter((write) => write.route === 'POST /api/v2/organizations/{id}/members').length).toBeGreaterThan(0);
  }, 180_000);
});
