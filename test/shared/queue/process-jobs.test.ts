import type { SQSRecord } from 'aws-lambda';
import type { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../shared/config.ts';
import { PermanentError, RateLimitedError, RetryableError } from '../../../shared/errors.ts';
import type { ApplyJob } from '../../../shared/jobs/apply-job.ts';
import type { Job } from '../../../shared/jobs/schema.ts';
import { RETRY_ATTRIBUTE } from '../../../shared/queue/fate.ts';
import { type ProcessJobsDeps, processJobs } from '../../../shared/queue/process-jobs.ts';
import type { SendFailure } from '../../../shared/queue/sqs.ts';
import { isSqsText } from '../../../shared/text.ts';
import { planOf } from '../../helpers/jobs.ts';
import { createProcessJobsDeps } from '../../helpers/process-jobs-deps.ts';
import { createWorkerDeps } from '../../../shared/worker.ts';
import { AUTH0_ERRORS, ORIGIN, createClock, createMockAgent, signAccessToken } from '../../helpers/auth0.ts';
import { FIFO_QUEUE_ARN, QUEUE_ARN, SENT_AT, createFakeQueue, lambdaContext, sqsEvent, sqsRecord } from '../../helpers/sqs.ts';
import { rememberSecrets, suiteLog } from '../../helpers/suite-logs.ts';

/** The lines these tests' loggers write, kept with the run's other logs. */
const unitLog = suiteLog('process-jobs');
rememberSecrets(['never-logged-secret']);

const job = (userId: string, extra: Partial<Job> = {}) => ({ type: 'user.update', userId, changes: { blocked: true }, ...extra });

describe('Function: processJobs()', () => {
  let clock: ReturnType<typeof createClock>;
  let lines: string[];

  beforeEach(() => {
    clock = createClock();
    lines = [];
  });

  const deps = (applyJob: ApplyJob, fake = createFakeQueue(), overrides: Partial<ProcessJobsDeps> = {}): ProcessJobsDeps =>
    createProcessJobsDeps({ planJob: planOf(applyJob), queue: fake.queue, now: clock.now, write: (line) => (lines.push(line), unitLog(line)), overrides });

  it('acknowledges applied jobs and publishes counts as embedded metrics', async () => {
    // Prepare
    const applied: string[] = [];
    const records = [sqsRecord(job('auth0|1')), sqsRecord(job('auth0|2'))];

    // Act
    const response = await processJobs(sqsEvent(records), lambdaContext(clock.now), deps(async (j) => {
      if (j.userId !== undefined) applied.push(j.userId);
    }));

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(applied.sort()).toEqual(['auth0|1', 'auth0|2']);
    const emf = lines.map((line) => JSON.parse(line)).find((entry) => entry._aws !== undefined);
    expect(emf).toMatchObject({ JobsApplied: 2, JobsRequeued: 0, JobsDeadLettered: 0 });
    expect(emf._aws.CloudWatchMetrics[0].Namespace).toBe('Test');
  });

  it("with producers, checks each record against the policy of the queue it came from, dead-letters into that producer's queue, and leaves a record of any other queue to its redrive policy", async () => {
    // Prepare: hr may block users; crm may change nicknames only
    const fake = createFakeQueue();
    const HR_ARN = 'arn:aws:sqs:eu-west-1:123456789012:hr-jobs';
    const CRM_ARN = 'arn:aws:sqs:eu-west-1:123456789012:crm-jobs';
    const producers = new Map([
      [HR_ARN, { name: 'hr', dlqUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/hr-dlq', policy: { allowedFields: new Set(['blocked'] as const), allowedRoles: new Set<string>(), producer: 'hr' } }],
      [CRM_ARN, { name: 'crm', dlqUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/crm-dlq', policy: { allowedFields: new Set(['nickname'] as const), allowedRoles: new Set<string>(), producer: 'crm' } }],
    ]);
    const told: Array<string | undefined> = [];
    const applied: string[] = [];
    const block = (userId: string) => ({ ...job(userId), source: 'hr' });

    // Act: the same job from each queue (crm's claims to be hr's), then one from a queue no producer owns
    const run = (records: SQSRecord[]) =>
      processJobs(sqsEvent(records), lambdaContext(clock.now), deps(async (j) => void applied.push(j.userId ?? ''), fake, { producers, onProducer: (producer) => told.push(producer?.name) }));
    const fromHr = await run([sqsRecord(block('auth0|hr'), { arn: HR_ARN })]);
    const fromCrm = await run([sqsRecord(block('auth0|crm'), { arn: CRM_ARN })]);
    const stray = sqsRecord(block('auth0|stray'), { arn: 'arn:aws:sqs:eu-west-1:123456789012:other' });
    const fromOther = await run([stray]);

    // Assess: hr's applied, crm's refused by crm's policy into crm's dead-letter queue, the stray kept on its queue
    expect(applied).toEqual(['auth0|hr']);
    expect(fromHr.batchItemFailures).toEqual([]);
    expect(fromCrm.batchItemFailures).toEqual([]);
    expect(fake.deadLetters).toHaveLength(1);
    expect(fake.deadLetters[0]).toMatchObject({ queueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/crm-dlq', attributes: { reason: 'field_not_allowed', errorMessage: 'changes to "blocked" are not allowed by producer crm (its allowedFields)' } });
    expect(fromOther.batchItemFailures).toEqual([{ itemIdentifier: stray.messageId }]);
    expect(fake.visibility.flatMap((entry) => entry.changes.map((change) => [entry.queueArn, change.delaySeconds]))).toEqual([['arn:aws:sqs:eu-west-1:123456789012:other', 300]]);
    expect(told).toEqual(['hr', 'crm', undefined]);
    // Log lines and metrics name the producer; the body's source is only its label
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries.find((entry) => entry['message'] === 'job applied')).toMatchObject({ producer: 'hr' });
    expect(entries.find((entry) => entry['message'] === 'job dead-lettered')).toMatchObject({ producer: 'crm', label: 'hr' });
    expect(entries.find((entry) => entry['message'] === 'record from an unknown queue')).toMatchObject({ code: 'unknown_queue', sourceQueueArn: 'arn:aws:sqs:eu-west-1:123456789012:other' });
    expect(entries.filter((entry) => entry['_aws'] !== undefined && entry['producer'] === 'crm').map((entry) => entry['JobsDeadLettered'])).toEqual([1]);
  });

  it('dead-letters invalid input with its reason and acknowledges it, without trying to apply it', async () => {
    // Prepare
    const fake = createFakeQueue();
    const record = sqsRecord('{"type":"user.update",', { receiveCount: 2 });
    let calls = 0;

    // Act
    const response = await processJobs(sqsEvent([record]), lambdaContext(clock.now), deps(async () => void calls++, fake));

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(calls).toBe(0);
    expect(fake.deadLetters).toHaveLength(1);
    expect(fake.deadLetters[0]).toMatchObject({
      body: record.body,
      attributes: {
        reason: 'malformed_json',
        errorMessage: 'job body is not valid JSON',
        originalMessageId: record.messageId,
        sourceQueueArn: QUEUE_ARN,
        firstSentAt: new Date(SENT_AT).toISOString(),
        receiveCount: 2,
      },
    });
  });

  it('dead-letters hostile bodies with attributes SQS accepts and log lines of bounded size', async () => {
    // Prepare: keys with NUL and a lone surrogate, a 300 KB key, an error cut through an emoji at 1,000 characters, a lone-surrogate user id
    const fake = createFakeQueue();
    const bodies = [
      '{"type":"user.update","userId":"a","changes":{"user_metadata":{"\\u0000x":{"__proto__":1}}}}',
      '{"type":"user.update","userId":"a","changes":{"user_metadata":{"\\ud800x":{"constructor":1}}}}',
      `{"type":"user.update","userId":"a","changes":{"user_metadata":{"${'k'.repeat(300_000)}":{"constructor":1}}}}`,
      '{"type":"user.update","userId":"auth0|\\ud800","changes":{"blocked":true}}',
      JSON.stringify(job('auth0|emoji')),
    ];
    const records = bodies.map((body) => sqsRecord(body));
    const refuse: ApplyJob = async () => {
      throw new PermanentError('http_400', `${'x'.repeat(999)}😀 and more`, { status: 400, auth0ErrorCode: 'invalid\u0000body' });
    };

    // Act
    const response = await processJobs(sqsEvent(records), lambdaContext(clock.now), deps(refuse, fake));

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(fake.deadLetters.map((letter) => letter.attributes['reason'])).toEqual(['forbidden_key', 'forbidden_key', 'forbidden_key', 'invalid_user_id', 'http_400']);
    for (const letter of fake.deadLetters) {
      for (const value of Object.values(letter.attributes)) expect(isSqsText(String(value))).toBe(true);
      expect(String(letter.attributes['errorMessage']).length).toBeLessThanOrEqual(1_001);
    }
    expect(Math.max(...lines.map((line) => line.length))).toBeLessThan(4_000);
  });

  it('keeps the producer\'s own attributes in a dead letter while SQS\'s ten leave room, the worker\'s first', async () => {
    // Prepare: a trace id and eight more of the producer's own, one of them named like a worker attribute
    const fake = createFakeQueue();
    const own = Object.fromEntries([['traceparent', '00-abc-def-01'], ['reason', 'the producer\'s'], ...Array.from({ length: 7 }, (_, n) => [`tag${n}`, `v${n}`])].map(([name, value]) => [name, { dataType: 'String', stringValue: value }]));
    const record = sqsRecord(job('auth0|gone', { jobId: 'crm-9' }), { attributes: own });
    const refuse: ApplyJob = async () => {
      throw new PermanentError('http_404', 'refused', { status: 404, auth0ErrorCode: 'inexistent_user' });
    };

    // Act
    await processJobs(sqsEvent([record]), lambdaContext(clock.now), deps(refuse, fake));

    // Assess: nine of the worker's (reason … jobId), so one of the producer's fits: the first, its trace id
    const letter = fake.deadLetters[0];
    expect(Object.keys(letter?.attributes ?? {})).toHaveLength(9);
    expect(letter?.attributes['reason']).toBe('http_404');
    expect(letter?.producerAttributes).toEqual({ traceparent: { DataType: 'String', StringValue: '00-abc-def-01' } });
  });

  it('dead-letters a permanent Auth0 refusal with the status, errorCode and jobId', async () => {
    // Prepare
    const fake = createFakeQueue();
    const record = sqsRecord(job('auth0|gone', { jobId: 'crm-7' }));
    const refuse: ApplyJob = async () => {
      throw new PermanentError('http_404', 'PATCH /api/v2/users/{id} was refused with HTTP 404: The user does not exist.', { status: 404, auth0ErrorCode: 'inexistent_user' });
    };

    // Act
    const response = await processJobs(sqsEvent([record]), lambdaContext(clock.now), deps(refuse, fake));

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(fake.deadLetters[0]?.attributes).toMatchObject({ reason: 'http_404', httpStatus: 404, auth0ErrorCode: 'inexistent_user', jobId: 'crm-7' });
  });

  it('reports the record failed, and loses nothing, when the dead-letter send fails', async () => {
    // Prepare
    const fake = createFakeQueue({ failDeadLetter: true });
    const record = sqsRecord('not json');

    // Act
    const response = await processJobs(sqsEvent([record]), lambdaContext(clock.now), deps(async () => {}, fake));

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
    expect(fake.delays().get(record.messageId)).toBeGreaterThanOrEqual(1);
  });

  it.each([
    ['SQS refused it', true, false],
    ['no answer came (SQS may have taken it)', 'unanswered', true],
  ] as const)('a dead letter that did not go, %s: the record stays on the queue, and the log says whether it may be dead-lettered twice', async (_name, failDeadLetter, mayBeDuplicated) => {
    // Prepare
    const fake = createFakeQueue({ failDeadLetter });
    const record = sqsRecord('not json');

    // Act
    const response = await processJobs(sqsEvent([record]), lambdaContext(clock.now), deps(async () => {}, fake));

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
    const logged = lines.map((line) => JSON.parse(line) as { level?: string; messageId?: string; mayBeDuplicated?: boolean }).filter((entry) => entry.level === 'ERROR');
    expect(logged).toEqual([expect.objectContaining({ messageId: record.messageId, ...(mayBeDuplicated ? { mayBeDuplicated: true } : {}) })]);
    if (!mayBeDuplicated) expect(logged[0]).not.toHaveProperty('mayBeDuplicated');
  });

  it('a resend that got no answer: the record comes back in place, and the log names the job that may come twice', async () => {
    // Prepare
    const fake = createFakeQueue({ failResend: 'unanswered' });
    const record = sqsRecord(job('auth0|1', { jobId: 'job-7' }));

    // Act
    const response = await processJobs(sqsEvent([record]), lambdaContext(clock.now), deps(async () => {
      throw new RateLimitedError(clock.now() + 10_000, 'rate limited');
    }, fake));

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
    const warned = lines.map((line) => JSON.parse(line) as { mayBeDuplicated?: boolean }).filter((entry) => entry.mayBeDuplicated === true);
    expect(warned).toEqual([expect.objectContaining({ messageId: record.messageId, jobId: 'job-7' })]);
  });

  it('resends a rate-limited job as a fresh message delayed by the wait Auth0 asked for, with jitter, and acknowledges it', async () => {
    // Prepare
    const fake = createFakeQueue();
    const record = sqsRecord(job('auth0|1'), { receiveCount: 4 });
    const limited: ApplyJob = async () => {
      throw new RateLimitedError(clock.now() + 10_000, 'rate limited');
    };

    // Act
    const response = await processJobs(sqsEvent([record]), lambdaContext(clock.now), deps(limited, fake));

    // Assess: 10 s plus half of a jitter window of 5 s doubled for each of the 3 earlier receives
    expect(response.batchItemFailures).toEqual([]);
    expect(fake.resent).toEqual([{ queueArn: QUEUE_ARN, messageId: record.messageId, delaySeconds: 30, retry: { firstSentAt: SENT_AT, attempts: 4 } }]);
    expect(fake.visibility).toEqual([]);
    expect(lines.map((line) => JSON.parse(line)).find((entry) => entry._aws)).toMatchObject({ JobsRequeued: 1, JobsApplied: 0 });
  });

  it('falls back to changing the visibility when the resend fails', async () => {
    // Prepare
    const fake = createFakeQueue({ failResend: true });
    const record = sqsRecord(job('auth0|1'));
    const limited: ApplyJob = async () => {
      throw new RateLimitedError(clock.now() + 10_000, 'rate limited');
    };

    // Act
    const response = await processJobs(sqsEvent([record]), lambdaContext(clock.now), deps(limited, fake));

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
    expect(fake.delays().get(record.messageId)).toBe(13);
  });

  it('on FIFO, changes the visibility of a rate-limited job instead, so order holds', async () => {
    // Prepare
    const fake = createFakeQueue();
    const record = sqsRecord(job('auth0|1'), { arn: FIFO_QUEUE_ARN, groupId: 'user-1' });
    const limited: ApplyJob = async () => {
      throw new RateLimitedError(clock.now() + 10_000, 'rate limited');
    };

    // Act
    const response = await processJobs(sqsEvent([record]), lambdaContext(clock.now), deps(limited, fake));

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
    expect(fake.resent).toEqual([]);
    expect(fake.delays().get(record.messageId)).toBe(13);
  });

  it('resends retryable failures too, backing off exponentially from the attempts the job carries, so no receive is spent', async () => {
    // Prepare: first tries, a job resent twice before (third try now), and one tried 5 times
    const fake = createFakeQueue();
    const carried = (attempts: number) => ({ [RETRY_ATTRIBUTE]: { dataType: 'String', stringValue: `${SENT_AT - 60_000}:${attempts}` } }) as SQSRecord['messageAttributes'];
    const records = [sqsRecord(job('auth0|1')), sqsRecord(job('auth0|2'), { attributes: carried(2) }), sqsRecord(job('auth0|3'), { attributes: carried(5) })];
    const failing: ApplyJob = async () => {
      throw new RetryableError('auth0_unavailable', 'HTTP 503', { status: 503 });
    };

    // Act
    const response = await processJobs(sqsEvent(records), lambdaContext(clock.now), deps(failing, fake));

    // Assess: ceilings 2, 8 and 64 s, half of each with random() = 0.5; the first-sent time carried along
    expect(response.batchItemFailures).toEqual([]);
    expect(fake.visibility).toEqual([]);
    expect(records.map((record) => fake.resendDelays().get(record.messageId))).toEqual([1, 4, 32]);
    expect(fake.resent.map((entry) => entry.retry)).toEqual([
      { firstSentAt: SENT_AT, attempts: 1 },
      { firstSentAt: SENT_AT - 60_000, attempts: 3 },
      { firstSentAt: SENT_AT - 60_000, attempts: 6 },
    ]);
  });

  it('keeps a job through an outage far longer than the redrive budget, and applies it when Auth0 is back', async () => {
    // Prepare: Auth0 down for 10 minutes; SQS delivers each resend when its delay ends, as a new message
    const fake = createFakeQueue();
    const downUntil = clock.now() + 600_000;
    let record = sqsRecord(job('auth0|1'));
    let applied = false;
    const applyJob: ApplyJob = async () => {
      if (clock.now() < downUntil) throw new RetryableError('auth0_unavailable', 'HTTP 503', { status: 503 });
      applied = true;
    };

    // Act
    let deliveries = 0;
    while (!applied && deliveries < 100) {
      deliveries += 1;
      await processJobs(sqsEvent([record]), lambdaContext(clock.now), deps(applyJob, fake, { random: () => 1 }));
      const resent = fake.resent.at(-1);
      if (applied || resent === undefined) break;
      clock.advance(resent.delaySeconds * 1000);
      record = sqsRecord(job('auth0|1'), { sentAt: clock.now() - resent.delaySeconds * 1000, attributes: { [RETRY_ATTRIBUTE]: { dataType: 'String', stringValue: `${resent.retry.firstSentAt}:${resent.retry.attempts}` } } });
    }

    // Assess: every delivery was a first receive, nothing was dead-lettered, and the job was applied
    expect(applied).toBe(true);
    expect(fake.deadLetters).toEqual([]);
    expect(fake.visibility).toEqual([]);
    expect(deliveries).toBeGreaterThan(5);
  });

  it('keeps resending a job throttled 150 times, with no cap that would hand it to the redrive policy', async () => {
    // Prepare: a job already tried 150 times over the last hour
    const fake = createFakeQueue();
    const record = sqsRecord(job('auth0|1'), { attributes: { [RETRY_ATTRIBUTE]: { dataType: 'String', stringValue: `${SENT_AT - 3_600_000}:150` } } });
    const limited: ApplyJob = async () => {
      throw new RateLimitedError(clock.now() + 2_000, 'rate limited');
    };

    // Act
    const response = await processJobs(sqsEvent([record]), lambdaContext(clock.now), deps(limited, fake));

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(fake.resent.map((entry) => entry.retry)).toEqual([{ firstSentAt: SENT_AT - 3_600_000, attempts: 151 }]);
  });

  it('publishes the age of the oldest job of the batch from its first send, not from the resend SQS knows', async () => {
    // Prepare: a fresh message of a job first sent 40 minutes ago, and a new job
    const resent = sqsRecord(job('auth0|1'), { sentAt: clock.now() - 5_000, attributes: { [RETRY_ATTRIBUTE]: { dataType: 'String', stringValue: `${clock.now() - 2_400_000}:7` } } });
    const fresh = sqsRecord(job('auth0|2'), { sentAt: clock.now() - 1_000 });

    // Act
    await processJobs(sqsEvent([resent, fresh]), lambdaContext(clock.now), deps(async () => {}));

    // Assess
    const emf = lines.map((line) => JSON.parse(line)).find((entry) => entry._aws !== undefined);
    expect(emf).toMatchObject({ OldestJobAgeSeconds: 2_400 });
    expect(emf._aws.CloudWatchMetrics[0].Metrics).toContainEqual({ Name: 'OldestJobAgeSeconds', Unit: 'Seconds' });
  });

  it('ends the closing SQS calls before the invocation times out, even when SQS stalls', async () => {
    // Prepare: SQS never answers the resend; 1 s left in the invocation
    const stalled = createFakeQueue();
    const queue = {
      ...stalled.queue,
      resend: (_arn: string, entries: readonly { record: SQSRecord }[], signal?: AbortSignal) =>
        new Promise<ReadonlyMap<string, SendFailure>>((resolve) => signal?.addEventListener('abort', () => resolve(new Map(entries.map((entry) => [entry.record.messageId, 'unanswered'] as const))))),
    };
    const record = sqsRecord(job('auth0|1'));
    const failing: ApplyJob = async () => {
      throw new RetryableError('network', 'socket hang up');
    };

    // Act
    const started = Date.now();
    const response = await processJobs(sqsEvent([record]), { getRemainingTimeInMillis: () => 1_000 }, deps(failing, stalled, { queue }));

    // Assess: back before the deadline, the record kept in place instead
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
  });

  it('dead-letters a job older than the maximum age as expired, with the last error', async () => {
    // Prepare: sent 25 h ago, Auth0 still failing
    const fake = createFakeQueue();
    const record = sqsRecord(job('auth0|1', { jobId: 'crm-1' }), { sentAt: clock.now() - 25 * 3_600_000 });
    const failing: ApplyJob = async () => {
      throw new RetryableError('auth0_unavailable', 'PATCH /api/v2/users/{id} failed with HTTP 503', { status: 503 });
    };

    // Act
    const response = await processJobs(sqsEvent([record]), lambdaContext(clock.now), deps(failing, fake));

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(fake.resent).toEqual([]);
    expect(fake.deadLetters[0]?.attributes).toMatchObject({ reason: 'expired', lastError: 'auth0_unavailable', httpStatus: 503, jobId: 'crm-1', firstSentAt: new Date(clock.now() - 25 * 3_600_000).toISOString() });
    expect(String(fake.deadLetters[0]?.attributes['errorMessage'])).toContain('HTTP 503');
  });

  it('retries afresh a job SQS moved to the dead-letter queue and a redrive brought back, keeping none of its old tries', async () => {
    // Prepare: the worker's retry state says 25 h and 7 tries; SQS marks the message as redriven from a dead-letter queue
    const fake = createFakeQueue();
    const old = { [RETRY_ATTRIBUTE]: { dataType: 'String', stringValue: `${clock.now() - 25 * 3_600_000}:7` } };
    const redriven = sqsRecord(job('auth0|1'), { sentAt: clock.now() - 25 * 3_600_000 + 60_000, attributes: old });
    redriven.attributes.DeadLetterQueueSourceArn = QUEUE_ARN;
    const limited: ApplyJob = async () => {
      throw new RateLimitedError(clock.now() + 2_000, 'rate limited');
    };

    // Act
    await processJobs(sqsEvent([redriven]), lambdaContext(clock.now), deps(limited, fake));

    // Assess: requeued as a first try, not dead-lettered as expired
    expect(fake.deadLetters).toEqual([]);
    expect(fake.resent).toEqual([expect.objectContaining({ messageId: redriven.messageId, retry: { firstSentAt: clock.now(), attempts: 1 } })]);
  });

  it('on FIFO, stretches the delays as the receives run out, and dead-letters with a reason rather than leaving the job to the redrive', async () => {
    // Prepare: maxReceiveCount 100; a record on its 80th receive (20 left, within the last quarter), one on its 100th
    const fake = createFakeQueue();
    const stretched = sqsRecord(job('auth0|1'), { arn: FIFO_QUEUE_ARN, groupId: 'a', receiveCount: 80, sentAt: clock.now() - 4 * 3_600_000 });
    const spent = sqsRecord(job('auth0|2'), { arn: FIFO_QUEUE_ARN, groupId: 'b', receiveCount: 100 });
    const limited: ApplyJob = async () => {
      throw new RateLimitedError(clock.now() + 2_000, 'rate limited');
    };

    // Act
    const response = await processJobs(sqsEvent([stretched, spent]), lambdaContext(clock.now), deps(limited, fake, { rules: { maxAgeMs: 86_400_000, maxReceiveCount: 100 } }));

    // Assess: the 20 hours left spread over 20 receives; the spent one dead-lettered with its reason
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: stretched.messageId }]);
    expect(fake.delays().get(stretched.messageId)).toBe(3_600);
    expect(fake.deadLetters[0]?.attributes).toMatchObject({ reason: 'receives_exhausted', lastError: 'rate_limited' });
  });

  it('keeps a record with ten attributes of its own in place rather than drop one, and never trusts a retry state from the future', async () => {
    // Prepare
    const fake = createFakeQueue();
    const full = Object.fromEntries(Array.from({ length: 10 }, (_, n) => [`a${n}`, { dataType: 'String', stringValue: String(n) }])) as SQSRecord['messageAttributes'];
    const crowded = sqsRecord(job('auth0|1'), { attributes: full });
    const forged = sqsRecord(job('auth0|2'), { attributes: { [RETRY_ATTRIBUTE]: { dataType: 'String', stringValue: `${clock.now() + 3_600_000}:0` } } });
    const failing: ApplyJob = async () => {
      throw new RetryableError('network', 'socket hang up');
    };

    // Act
    const response = await processJobs(sqsEvent([crowded, forged]), lambdaContext(clock.now), deps(failing, fake));

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: crowded.messageId }]);
    expect(fake.resent.map((entry) => [entry.messageId, entry.retry])).toEqual([[forged.messageId, { firstSentAt: SENT_AT, attempts: 1 }]]);
  });

  it('treats an unexpected exception as retryable and never throws', async () => {
    // Prepare
    const fake = createFakeQueue();
    const record = sqsRecord(job('auth0|1'));
    const broken: ApplyJob = async () => {
      throw new TypeError('Cannot read properties of undefined');
    };

    // Act
    const response = await processJobs(sqsEvent([record]), lambdaContext(clock.now), deps(broken, fake));

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(fake.resent.map((entry) => entry.messageId)).toEqual([record.messageId]);
    expect(lines.some((line) => line.includes('"code":"internal_error"'))).toBe(true);
  });

  it('still reports requeued records failed when neither a resend nor a visibility change goes through', async () => {
    // Prepare
    const fake = createFakeQueue({ failVisibility: true, failResend: true });
    const record = sqsRecord(job('auth0|1'));

    // Act
    const response = await processJobs(sqsEvent([record]), lambdaContext(clock.now), deps(async () => {
      throw new RetryableError('network', 'socket hang up');
    }, fake));

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
  });

  it('on FIFO, fails the later records of a failed group unattempted, and keeps other groups going', async () => {
    // Prepare
    const fake = createFakeQueue();
    const a = [1, 2, 3].map((n) => sqsRecord(job(`auth0|a${n}`), { arn: FIFO_QUEUE_ARN, groupId: 'user-a' }));
    const b = [1, 2].map((n) => sqsRecord(job(`auth0|b${n}`), { arn: FIFO_QUEUE_ARN, groupId: 'user-b' }));
    const attempted: string[] = [];
    const applyJob: ApplyJob = async (j) => {
      const id = j.userId ?? '';
      attempted.push(id);
      if (id === 'auth0|a1') throw new RetryableError('auth0_unavailable', 'HTTP 503');
    };

    // Act
    const response = await processJobs(sqsEvent([a[0]!, b[0]!, a[1]!, b[1]!, a[2]!]), lambdaContext(clock.now), deps(applyJob, fake));

    // Assess
    expect(response.batchItemFailures.map((failure) => failure.itemIdentifier).sort()).toEqual(a.map((record) => record.messageId).sort());
    expect(attempted.sort()).toEqual(['auth0|a1', 'auth0|b1', 'auth0|b2']);
    const delays = fake.delays();
    expect(new Set(a.map((record) => delays.get(record.messageId)))).toEqual(new Set([1]));
    expect(fake.visibility[0]?.queueArn).toBe(FIFO_QUEUE_ARN);
  });

  it('on FIFO, a dead-lettered record does not hold back the rest of its group', async () => {
    // Prepare
    const fake = createFakeQueue();
    const bad = sqsRecord('{}', { arn: FIFO_QUEUE_ARN, groupId: 'g' });
    const good = sqsRecord(job('auth0|1'), { arn: FIFO_QUEUE_ARN, groupId: 'g' });
    let applied = 0;

    // Act
    const response = await processJobs(sqsEvent([bad, good]), lambdaContext(clock.now), deps(async () => void applied++, fake));

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(applied).toBe(1);
    expect(fake.deadLetters[0]).toMatchObject({ groupId: 'g', deduplicationId: bad.messageId });
  });

  it('works in a short invocation: the reserves shrink with the time left, whatever its value', async () => {
    // Prepare: 3,001 ms left, less than the 5 s start reserve; a quarter of it is a fraction
    const records = [sqsRecord(job('auth0|1')), sqsRecord(job('auth0|2'))];
    let applied = 0;

    // Act
    const response = await processJobs(sqsEvent(records), { getRemainingTimeInMillis: () => 3_001 }, deps(async () => void applied++));

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(applied).toBe(2);
  });

  it('starts no record near the deadline and hands the rest back at once', async () => {
    // Prepare: 12 s left, 5 s reserved, each job takes 3 s, one at a time
    const fake = createFakeQueue();
    const records = Array.from({ length: 5 }, (_, n) => sqsRecord(job(`auth0|${n}`)));
    let attempted = 0;
    const slow: ApplyJob = async () => {
      attempted += 1;
      clock.advance(3_000);
    };

    // Act
    const response = await processJobs(sqsEvent(records), lambdaContext(clock.now, 12_000), deps(slow, fake, { concurrency: 1 }));

    // Assess: jobs start at 0, 3 and 6 s; at 9 s only 3 s are left
    expect(attempted).toBe(3);
    expect(response.batchItemFailures).toEqual([]);
    expect(fake.resent.map((entry) => [entry.messageId, entry.delaySeconds, entry.retry.attempts])).toEqual(records.slice(3).map((record) => [record.messageId, 0, 0]));
  });
});

describe('Function: createWorkerDeps() wired with processJobs()', () => {
  let agent: MockAgent;

  beforeEach(() => {
    agent = createMockAgent();
  });

  afterEach(async () => {
    agent.assertNoPendingInterceptors();
    await agent.close();
  });

  const env = { AUTH0_DOMAIN: 'acme.eu.auth0.com', AUTH0_SECRET_ID: 'auth0-m2m', DLQ_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/jobs-dlq', JOB_CONCURRENCY: '1', ORDERING: 'unordered' };

  const wire = async (clock: ReturnType<typeof createClock>, lines: string[], extraEnv: Record<string, string> = {}) => {
    const fake = createFakeQueue();
    const token = await signAccessToken({ now: clock.now() });
    agent.get(ORIGIN).intercept({ path: '/oauth/token', method: 'POST' }).reply(200, { access_token: token, expires_in: 86_400, token_type: 'Bearer' });
    const deps = createWorkerDeps(loadConfig({ ...env, ...extraEnv }), {
      dispatcher: agent,
      queue: fake.queue,
      readCredentials: async () => ({ clientId: 'client-1', clientSecret: 'never-logged-secret' }),
      now: clock.now,
      random: () => 0,
      // Waiting for the rate limit moves the test clock instead of the wall clock.
      sleep: async (ms) => clock.advance(Math.ceil(ms)),
      write: (line) => (lines.push(line), unitLog(line)),
    });
    return { fake, token, deps };
  };

  it('cuts a call short before the deadline and hands its record back, backing off as for any failure', async () => {
    // Prepare: 1.7 s left and 1.5 s kept for the end, so calls are cut after 0.2 s; Auth0 answers after 5 s
    const clock = createClock();
    const lines: string[] = [];
    const { fake, deps } = await wire(clock, lines);
    agent.get(ORIGIN).intercept({ path: '/api/v2/users/auth0%7C1', method: 'PATCH' }).reply(200, {}).delay(5_000);
    const record = sqsRecord(job('auth0|1'));

    // Act
    const started = Date.now();
    const response = await processJobs(sqsEvent([record]), { getRemainingTimeInMillis: () => 1_700 }, { ...deps, startReserveMs: 0, abortReserveMs: 1_500 });

    // Assess
    expect(Date.now() - started).toBeLessThan(4_000);
    // random() = 0 gives the back-off's 1 s floor; the call counts as an attempt
    expect(response.batchItemFailures).toEqual([]);
    expect(fake.resendDelays().get(record.messageId)).toBe(1);
    expect(fake.resent[0]?.retry.attempts).toBe(1);
    expect(lines.some((line) => line.includes('"code":"deadline"'))).toBe(true);
  });

  it('after a 429, requeues that job, waits in the invocation for the bucket to refill, applies the rest, and logs no secret, token or metadata value', async () => {
    // Prepare: one record at a time; the first call is answered 429 with the bucket empty until 10 s from now
    const clock = createClock();
    const lines: string[] = [];
    const { fake, token, deps } = await wire(clock, lines, { JOB_CONCURRENCY: '1', ALLOWED_FIELDS: 'app_metadata' });
    const records = Array.from({ length: 5 }, (_, n) =>
      sqsRecord({ type: 'user.update', userId: `auth0|${n}`, changes: { app_metadata: { plan: 'metadata-value-xyz' } } }),
    );
    const pool = agent.get(ORIGIN);
    pool
      .intercept({ path: '/api/v2/users/auth0%7C0', method: 'PATCH' })
      .reply(429, AUTH0_ERRORS.tooManyRequests, { headers: { 'x-ratelimit-limit': '2', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.floor(clock.now() / 1000) + 10) } });
    let calledAt: number | undefined;
    for (const n of [1, 2, 3, 4]) {
      pool.intercept({ path: `/api/v2/users/auth0%7C${n}`, method: 'PATCH' }).reply(200, () => {
        calledAt ??= clock.now();
        return {};
      });
    }
    const before = clock.now();

    // Act
    const response = await processJobs(sqsEvent(records), lambdaContext(clock.now), deps);

    // Assess: the 429'd job goes back for the 5 s one request needs to refill (10 s for 2); the next call
    // waited that long and more (the reserve) inside the invocation; nothing else was requeued
    expect(response.batchItemFailures).toHaveLength(0);
    expect([...fake.resendDelays().values()]).toEqual([5]);
    expect((calledAt ?? before) - before).toBeGreaterThanOrEqual(5_000);
    const output = lines.join('\n');
    expect(output).toContain('"RateLimited":1');
    expect(output).toContain('"JobsApplied":4');
    const metrics = lines.filter((line) => line.includes('"_aws"')).map((line) => JSON.parse(line) as Record<string, number>);
    expect(metrics.reduce((sum, line) => sum + (line['CallsPaced'] ?? 0), 0)).toBeGreaterThanOrEqual(1);
    expect(output).toContain('"TokensFetched":1');
    const levels = lines.map((line) => (JSON.parse(line) as { level?: string }).level).filter((level) => level !== undefined);
    expect(levels).toContain('INFO');
    expect(levels).not.toContain('WARN');
    expect(output).not.toContain(token);
    expect(output).not.toContain('never-logged-secret');
    expect(output).not.toContain('metadata-value-xyz');
  });

  it('keeps one token for the container across invocations', async () => {
    // Prepare
    const clock = createClock();
    const lines: string[] = [];
    const { deps } = await wire(clock, lines);
    agent.get(ORIGIN).intercept({ path: '/api/v2/users/auth0%7C1', method: 'PATCH' }).reply(200, {}).times(3);

    // Act
    for (let invocation = 0; invocation < 3; invocation++) {
      clock.advance(60_000);
      const response = await processJobs(sqsEvent([sqsRecord(job('auth0|1'))]), lambdaContext(clock.now), deps);
      expect(response.batchItemFailures).toEqual([]);
    }

    // Assess
    const fetched = lines.filter((line) => line.includes('"TokensFetched"')).map((line) => JSON.parse(line).TokensFetched);
    expect(fetched).toEqual([1]);
  });
});
