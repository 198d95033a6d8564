import type { SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { RateLimitedError, RetryableError } from '../../../shared/errors.ts';
import { DEAD_LETTER_ATTRIBUTES, RETRY_ATTRIBUTE, decideFate, withTrustedRetryState } from '../../../shared/queue/fate.ts';
import { SENT_AT, sqsRecord } from '../../helpers/sqs.ts';

const ROLE_ID = 'AROAEXAMPLEWORKER0001';
const RULES = { maxAgeMs: 86_400_000, maxReceiveCount: 5, ownRoleId: ROLE_ID };
const throttled = () => new RateLimitedError(SENT_AT + 2_000, 'PATCH /api/v2/users/{id} was rate limited');
const text = (value: string) => ({ dataType: 'String', stringValue: value });
const from = (senderId: string, attributes: SQSRecord['messageAttributes']) => {
  const record = sqsRecord({ type: 'user.update', userId: 'auth0|1', changes: { blocked: true } }, { attributes });
  return { ...record, attributes: { ...record.attributes, SenderId: senderId } };
};

describe('Function: withTrustedRetryState()', () => {
  it("reads the retry state only from the worker role's own sends", () => {
    // Prepare: sent long ago and tried 40 times, says the attribute
    const forged = from('AIDAPRODUCERUSER00001', { [RETRY_ATTRIBUTE]: text('1:40'), traceId: text('t-1') });
    const own = from(`${ROLE_ID}:auth0-queue-worker`, { [RETRY_ATTRIBUTE]: text('1:40') });

    // Act
    const forgedFate = decideFate(withTrustedRetryState(forged, ROLE_ID), throttled(), SENT_AT + 1_000, RULES, () => 0.5);
    const ownFate = decideFate(withTrustedRetryState(own, ROLE_ID), throttled(), SENT_AT + 1_000, RULES, () => 0.5);

    // Assess: the producer's claim is dropped (its own attribute kept), the worker's is read
    expect(withTrustedRetryState(forged, ROLE_ID).messageAttributes).toEqual({ traceId: text('t-1') });
    expect(forgedFate).toMatchObject({ kind: 'requeue', via: 'resend', retry: { firstSentAt: SENT_AT, attempts: 1 } });
    expect(ownFate).toMatchObject({ kind: 'dead_letter', error: { code: 'expired' } });
  });

  it('reads every record as it is when the role is not known (WORKER_ROLE_ID unset)', () => {
    // Act
    const record = from('AIDAPRODUCERUSER00001', { [RETRY_ATTRIBUTE]: text('1:40') });

    // Assess
    expect(withTrustedRetryState(record, undefined)).toBe(record);
  });
});

describe('Function: decideFate()', () => {
  it("resends a console-redriven dead letter with the worker's diagnostics, keeping its order and the producer's attribute", () => {
    // Prepare: the ten attributes of a dead letter, one of them the producer's trace id
    const attributes = Object.fromEntries(DEAD_LETTER_ATTRIBUTES.filter((name) => name !== 'jobId').map((name) => [name, text(name === 'firstSentAt' ? new Date(SENT_AT - 60_000).toISOString() : 'x')]));
    const record = from('AIDAOPERATOR000000001', { ...attributes, traceId: text('t-1') });

    // Act
    const fate = decideFate(withTrustedRetryState(record, ROLE_ID), throttled(), SENT_AT + 1_000, RULES, () => 0.5);

    // Assess
    expect(Object.keys(record.messageAttributes)).toHaveLength(10);
    expect(fate).toMatchObject({ kind: 'requeue', via: 'resend' });
  });

  it("sends a job whose user another job holds back in 1 s, counting no attempt: a claim lasts one job's calls, and the last such jobs of a backlog are its tail", () => {
    // Prepare
    const record = sqsRecord({ type: 'user.update', userId: 'auth0|1', changes: { blocked: true } });
    const busy = new RetryableError('user_busy', 'another job of this user is being applied; it is tried again shortly');

    // Act
    const delays = [0, 0.49, 0.51, 0.999].map((draw) => decideFate(record, busy, SENT_AT + 1_000, RULES, () => draw));

    // Assess
    expect(delays).toEqual([1, 1, 1, 1].map((delaySeconds) => expect.objectContaining({ kind: 'requeue', delaySeconds, retry: { firstSentAt: SENT_AT, attempts: 0 } })));
  });
});
