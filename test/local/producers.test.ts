/**
 * Producers on the local stack: each upstream system its own queue, dead-letter queue and policy. The worker
 * checks a job against the policy of the queue it came from, whatever the job's body says, and records the
 * producer's name as the job's source.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import { type LocalStack, readDeadLetters } from '../../local/stack.ts';
import { addOrganization, addRole, addUser } from '../../local/tenant/state.ts';
import { createDynamoLedger } from '../../shared/ledger/dynamodb-ledger.ts';
import { startTestStack } from '../helpers/suite-logs.ts';
import { drained } from '../helpers/drained.ts';

describe('Producers on the local stack', () => {
  let stack: LocalStack | undefined;

  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  const send = async (s: LocalStack, producer: string, jobs: ReadonlyArray<Record<string, unknown>>) => {
    const queue = s.producers.get(producer)?.jobs.url;
    for (let start = 0; start < jobs.length; start += 10) {
      await s.sqs.send(new SendMessageBatchCommand({ QueueUrl: queue, Entries: jobs.slice(start, start + 10).map((job, index) => ({ Id: String(index), MessageBody: JSON.stringify(job) })) }));
    }
  };

  it("applies a job exactly when its queue's producer allows it, whatever its body says, and records that producer as its source", async () => {
    // Prepare: hr may block users, grant admin and add members to acme; crm may only write app_metadata
    const s = (stack = await startTestStack({
      build: false,
      rateLimit: { burst: 50, perSecond: 50 },
      producers: [
        { name: 'hr', allowedFields: ['blocked'], allowedRoles: ['admin'], allowedOrganizations: ['acme'] },
        { name: 'crm', allowedFields: ['app_metadata'] },
      ],
    }));
    const state = s.tenant.state;
    const admin = addRole(state, { name: 'admin' });
    const acme = addOrganization(state, { name: 'acme' });
    const user = (name: string) => addUser(state, { email: `${name}@example.com`, connection: 'Username-Password-Authentication' }).user_id;
    // The same four jobs from each producer, each for its own user; crm's claim to be hr's in their body
    const jobs = (producer: string, source?: string) => [
      { type: 'user.update', userId: user(`${producer}-block`), changes: { blocked: true }, jobId: `${producer}-block`, ...(source === undefined ? {} : { source }) },
      { type: 'user.update', userId: user(`${producer}-plan`), changes: { app_metadata: { plan: 'gold' } }, jobId: `${producer}-plan`, ...(source === undefined ? {} : { source }) },
      { type: 'roles.assign', userId: user(`${producer}-admin`), roles: ['admin'], jobId: `${producer}-admin`, ...(source === undefined ? {} : { source }) },
      { type: 'org.members.add', userId: user(`${producer}-member`), organization: 'acme', jobId: `${producer}-member`, ...(source === undefined ? {} : { source }) },
    ];
    const hrJobs = jobs('hr');
    const crmJobs = jobs('crm', 'hr');
    await send(s, 'hr', hrJobs);
    await send(s, 'crm', crmJobs);

    // Act
    const worker = s.startWorker({ maxConcurrency: 2 });
    expect(await drained(s, { stalledFor: 30_000, atMost: 90_000 })).toBe(true);
    await worker.stop();

    // Assess: hr's three allowed jobs applied, its app_metadata job refused; crm's one allowed job applied, the other three refused
    const userOf = (job: Record<string, unknown>) => state.users.get(String(job['userId']));
    expect(userOf(hrJobs[0] ?? {})?.blocked).toBe(true);
    expect(state.members.get(admin.id)?.has(String(hrJobs[2]?.['userId']))).toBe(true);
    expect(state.organizationMembers.get(acme.id)?.has(String(hrJobs[3]?.['userId']))).toBe(true);
    expect(userOf(hrJobs[1] ?? {})?.app_metadata?.['plan']).toBeUndefined();
    expect(userOf(crmJobs[1] ?? {})?.app_metadata?.['plan']).toBe('gold');
    expect(userOf(crmJobs[0] ?? {})?.blocked).not.toBe(true);
    expect(state.members.get(admin.id)?.has(String(crmJobs[2]?.['userId']))).toBe(false);
    expect(state.organizationMembers.get(acme.id)?.has(String(crmJobs[3]?.['userId']))).toBe(false);
    // Each refusal is in its own producer's dead-letter queue, with a reason and a message naming that producer
    const lettersOf = async (producer: string) => {
      const dlq = s.producers.get(producer)?.dlq;
      if (dlq === undefined) throw new Error(`no producer ${producer}`);
      return (await readDeadLetters({ sqs: s.sqs, dlq })).map((letter) => ({
        // A job refused while parsing carries its id in its body only
        jobId: letter.MessageAttributes?.['jobId']?.StringValue ?? (JSON.parse(letter.Body ?? '{}') as { jobId?: string }).jobId,
        reason: letter.MessageAttributes?.['reason']?.StringValue,
        message: letter.MessageAttributes?.['errorMessage']?.StringValue,
      }));
    };
    const hrLetters = await lettersOf('hr');
    const crmLetters = (await lettersOf('crm')).sort((a, b) => String(a.jobId).localeCompare(String(b.jobId)));
    expect(hrLetters).toEqual([{ jobId: 'hr-plan', reason: 'field_not_allowed', message: expect.stringContaining('producer hr (its allowedFields)') }]);
    expect(crmLetters).toEqual([
      { jobId: 'crm-admin', reason: 'role_not_allowed', message: expect.stringContaining('producer crm') },
      { jobId: 'crm-block', reason: 'field_not_allowed', message: expect.stringContaining('producer crm (its allowedFields)') },
      { jobId: 'crm-member', reason: 'organization_not_allowed', message: expect.stringContaining('producer crm') },
    ]);
    // The ledger records the queue's producer as the source, not the body's claim
    const ledger = createDynamoLedger(new DynamoDBClient({ endpoint: s.dynamodb.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }), { tableName: s.dynamodb.ledgerTable, retentionMs: 86_400_000 });
    const recorded = await ledger.read(String(crmJobs[1]?.['userId']));
    expect(recorded?.recent.map((job) => [job.j, job.s])).toEqual([['crm-plan', 'crm']]);
    expect((await ledger.read(String(hrJobs[0]?.['userId'])))?.recent.map((job) => [job.j, job.s])).toEqual([['hr-block', 'hr']]);
  }, 120_000);
});
