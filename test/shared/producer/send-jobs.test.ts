import type { SendMessageBatchCommand, SendMessageBatchRequestEntry, SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { MAX_JOB_BYTES } from '../../../shared/jobs/schema.ts';
import { sendJobs } from '../../../shared/producer/send-jobs.ts';

/** An SQS client that takes every entry and keeps what it was sent. */
const createFakeSqs = () => {
  const entries: SendMessageBatchRequestEntry[] = [];
  const sqs = {
    send: async (command: SendMessageBatchCommand) => {
      const batch = command.input.Entries ?? [];
      entries.push(...batch);
      return { Successful: batch.map((entry) => ({ Id: entry.Id, MessageId: `m-${entries.indexOf(entry)}` })), Failed: [] };
    },
  } as unknown as Pick<SQSClient, 'send'>;
  return { sqs, entries };
};

const standardQueue = 'https://sqs.us-east-1.amazonaws.com/000000000000/jobs';
const fifoQueue = 'https://sqs.us-east-1.amazonaws.com/000000000000/jobs.fifo';
/** 2026-12-04T16:27:58.123Z */
const sendTime = Date.UTC(2026, 11, 4, 16, 27, 58, 123);

describe('Function: sendJobs()', () => {
  it('stamps issuedAt with the send time on a job without one, and keeps a job\'s own as written', async () => {
    // Prepare
    const { sqs, entries } = createFakeSqs();
    const own = '{"type":"roles.assign","userId":"auth0|2","roles":["support"],"jobId":"crm-2","issuedAt":"2026-12-04T09:00:00.123456789+01:00"}';
    const jobs = [
      { type: 'user.update', userId: 'auth0|1', changes: { blocked: true }, jobId: 'crm-1' },
      own,
      { type: 'roles.remove', email: 'ada@example.com', roles: ['support'], issuedAt: '2026-12-03T23:59:59Z' },
    ];

    // Act
    const result = await sendJobs(sqs, standardQueue, jobs, { now: () => sendTime });

    // Assess
    expect(result.invalid).toEqual([]);
    expect(result.sent.map((entry) => entry.index)).toEqual([0, 1, 2]);
    const bodies = entries.map((entry) => JSON.parse(entry.MessageBody ?? '{}') as Record<string, unknown>);
    expect(bodies[0]).toEqual({ ...jobs[0] as object, issuedAt: '2026-12-04T16:27:58.123Z' });
    // A job with both its jobId and issuedAt goes as the producer wrote it, byte for byte
    expect(entries[1]?.MessageBody).toBe(own);
    expect(bodies[2]).toMatchObject({ issuedAt: '2026-12-03T23:59:59Z', jobId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
  });

  it('stamps each batch when it is sent, and keeps a user\'s jobs of one call in the order given even when the clock stands still', async () => {
    // Prepare: 12 jobs, two batches; the clock moves 5 s between the batch calls, and not at all within one
    const { sqs, entries } = createFakeSqs();
    const times = [sendTime, sendTime + 5_000];
    const jobs = Array.from({ length: 12 }, (_, n) => ({ type: 'user.update', userId: [0, 4, 10].includes(n) ? 'auth0|ada' : `auth0|${n}`, changes: { blocked: n !== 4 } }));

    // Act
    await sendJobs(sqs, standardQueue, jobs, { now: () => times.shift() ?? Number.NaN });

    // Assess: Ada's jobs 0, 4 and 10 are stamped 0, 1 and 5,000 ms after the first call; every other job its batch's time
    const stamps = entries.map((entry) => (JSON.parse(entry.MessageBody ?? '{}') as { issuedAt: string }).issuedAt);
    const at = (ms: number) => new Date(sendTime + ms).toISOString();
    expect(stamps).toEqual([at(0), at(0), at(0), at(0), at(1), at(0), at(0), at(0), at(0), at(0), at(5_000), at(5_000)]);
    expect(times).toEqual([]);
  });

  it('reads the clock by default', async () => {
    // Prepare
    const { sqs, entries } = createFakeSqs();
    const before = Date.now();

    // Act
    await sendJobs(sqs, standardQueue, [{ type: 'user.update', userId: 'auth0|1', changes: { blocked: true } }]);

    // Assess
    const { issuedAt } = JSON.parse(entries[0]?.MessageBody ?? '{}') as { issuedAt: string };
    expect(Date.parse(issuedAt)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(issuedAt)).toBeLessThanOrEqual(Date.now());
  });

  it('on a FIFO queue deduplicates a resent job by its jobId, whatever issuedAt each send stamped', async () => {
    // Prepare
    const { sqs, entries } = createFakeSqs();
    const job = { type: 'user.update', userId: 'auth0|1', changes: { blocked: true }, jobId: 'block-1' };

    // Act
    await sendJobs(sqs, fifoQueue, [job], { now: () => sendTime });
    await sendJobs(sqs, fifoQueue, [job], { now: () => sendTime + 60_000 });

    // Assess: the bodies differ, the deduplication ids do not
    expect(new Set(entries.map((entry) => entry.MessageDeduplicationId)).size).toBe(1);
    expect(entries.map((entry) => (JSON.parse(entry.MessageBody ?? '{}') as { issuedAt: string }).issuedAt)).toEqual(['2026-12-04T16:27:58.123Z', '2026-12-04T16:28:58.123Z']);
  });

  it('on a FIFO queue keys the deduplication id, so another producer cannot guess it from the jobId', async () => {
    // Prepare
    const { sqs, entries } = createFakeSqs();
    const job = { type: 'roles.remove', userId: 'auth0|1', roles: ['admin'], jobId: 'offboard-1' };

    // Act: this process's key, another process's, and a key the producer keeps across restarts (twice)
    await sendJobs(sqs, fifoQueue, [job]);
    await sendJobs(sqs, fifoQueue, [job], { deduplicationKey: 'another producer' });
    await sendJobs(sqs, fifoQueue, [job], { deduplicationKey: 'kept secret' });
    await sendJobs(sqs, fifoQueue, [job], { deduplicationKey: 'kept secret' });

    // Assess
    const ids = entries.map((entry) => entry.MessageDeduplicationId ?? '');
    expect(ids.every((id) => /^[\w-]{43}$/.test(id) && !id.includes('offboard'))).toBe(true);
    expect(new Set(ids).size).toBe(3);
    expect(ids[2]).toBe(ids[3]);
  });

  it('refuses a job whose own issuedAt breaks the contract, and sends nothing', async () => {
    // Prepare
    const { sqs, entries } = createFakeSqs();

    // Act
    const result = await sendJobs(sqs, standardQueue, [
      { type: 'user.update', userId: 'auth0|1', changes: { blocked: true } },
      { type: 'user.update', userId: 'auth0|2', changes: { blocked: true }, issuedAt: '2026-12-04 16:27:58' },
    ]);

    // Assess
    expect(result.invalid).toEqual([{ index: 1, code: 'invalid_issued_at', reason: expect.stringContaining('issuedAt') }]);
    expect(entries).toEqual([]);
  });

  it('refuses a job that the added jobId and issuedAt would take over the size the worker accepts', async () => {
    // Prepare: a body 40 bytes under the limit, with neither field
    const job = { type: 'user.update', userId: 'auth0|1', changes: { user_metadata: { blob: '' } } };
    const blob = 'x'.repeat(MAX_JOB_BYTES - 40 - JSON.stringify(job).length);
    const { sqs, entries } = createFakeSqs();

    // Act
    const result = await sendJobs(sqs, standardQueue, [{ ...job, changes: { user_metadata: { blob } } }]);

    // Assess
    expect(result.invalid).toEqual([{ index: 0, code: 'oversized_job', reason: expect.stringContaining(`${MAX_JOB_BYTES} bytes`) }]);
    expect(entries).toEqual([]);
  });
});
