/**
 * The worker's retry state cannot be forged, and a dead letter brought back by a console redrive retries as
 * well as a fresh job, on the local stack: SenderId as SQS sets it (through local/sqs-senders.ts), fauxqs, the
 * tenant emulator and the worker bundle.
 */
import { SendMessageCommand, type MessageAttributeValue } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import { type LocalStack, readDeadLetters } from '../../local/stack.ts';
import { addUser } from '../../local/tenant/state.ts';
import { CONNECTION } from '../../local/workload.ts';
import { startTestStack } from '../helpers/suite-logs.ts';
import { drained } from '../helpers/drained.ts';

const TOO_MANY = {
  status: 429,
  body: { statusCode: 429, error: 'Too Many Requests', message: 'Global limit has been reached', errorCode: 'too_many_requests' },
  headers: { 'x-ratelimit-limit': '50', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000) + 1) },
};

describe('Retry state on the local stack', () => {
  let stack: LocalStack | undefined;
  const output: string[] = [];

  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
    output.length = 0;
  });

  /** Sends one job with the given attributes; Auth0 answers its first write 429; the worker runs until the queue is empty. */
  const throttledOnce = async (attributes: Record<string, MessageAttributeValue>) => {
    const s = (stack = await startTestStack({ build: false, rateLimit: { burst: 50, perSecond: 50 } }));
    const ada = addUser(s.tenant.state, { email: 'ada@example.com', connection: CONNECTION });
    let throttled = 0;
    s.tenant.faults.intercept = (request) => (request.route === 'PATCH /api/v2/users/{id}' && throttled++ === 0 ? TOO_MANY : undefined);
    await s.sqs.send(new SendMessageCommand({ QueueUrl: s.jobs.url, MessageBody: JSON.stringify({ type: 'user.update', userId: ada.user_id, changes: { blocked: true } }), MessageAttributes: attributes }));
    const worker = s.startWorker({ maxConcurrency: 1, onOutput: (line) => output.push(line) });
    await drained(s, 30_000);
    await worker.stop();
    const requeued = output.filter((line) => line.includes('"message":"job requeued"')).map((line) => JSON.parse(line) as Record<string, unknown>);
    return { s, blocked: s.tenant.state.users.get(ada.user_id)?.blocked, throttled, requeued, deadLetters: await readDeadLetters(s) };
  };
  const text = (value: string): MessageAttributeValue => ({ DataType: 'String', StringValue: value });

  it('a producer that sets the retry attribute itself (sent long ago, tried often) gets a fresh job, not an expired one', async () => {
    // Act
    const { blocked, throttled, requeued, deadLetters } = await throttledOnce({ 'auth0-queue-worker.retry': text('1:40'), traceId: text('t-1') });

    // Assess: the forged state was ignored; the job waited once, as any first throttle does, and applied
    expect(deadLetters).toEqual([]);
    expect([blocked, throttled]).toEqual([true, 2]);
    expect(requeued).toEqual([expect.objectContaining({ code: 'rate_limited', via: 'resend', attempts: 1 })]);
  }, 60_000);

  it('a dead letter redriven from the console, with the worker\'s ten diagnostics, is resent on a throttle, not kept in place to spend receives', async () => {
    // Prepare: the attributes an expired dead letter carries, which a console redrive keeps
    const diagnostics = {
      reason: text('expired'),
      errorMessage: text('the job was not applied within 24 h of being sent (JOB_MAX_AGE_SECONDS)'),
      originalMessageId: text('00000000-0000-4000-8000-000000000001'),
      sourceQueueArn: text('arn:aws:sqs:us-east-1:000000000000:jobs'),
      firstSentAt: text(new Date(Date.now() - 60_000).toISOString()),
      receiveCount: { DataType: 'Number', StringValue: '3' },
      lastError: text('http_503'),
      httpStatus: { DataType: 'Number', StringValue: '503' },
      auth0ErrorCode: text('temporarily_unavailable'),
      jobId: text('job-1'),
    };

    // Act
    const { blocked, requeued, deadLetters } = await throttledOnce(diagnostics);

    // Assess
    expect(deadLetters).toEqual([]);
    expect(blocked).toBe(true);
    expect(requeued).toEqual([expect.objectContaining({ code: 'rate_limited', via: 'resend' })]);
  }, 60_000);
});
