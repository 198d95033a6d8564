import { describe, expect, it } from 'vitest';
import type { Job } from '../../../shared/jobs/schema.ts';
import { RETRY_ATTRIBUTE } from '../../../shared/queue/fate.ts';
import { firstAcceptedAt, stampOf } from '../../../shared/queue/order.ts';
import { SENT_AT, sqsRecord } from '../../helpers/sqs.ts';

const SKEW = { skewMs: 300_000, now: SENT_AT + 1_000 };
const job = (extra: Partial<Job> = {}) => ({ type: 'user.update', userId: 'auth0|1', changes: { blocked: true }, ...extra }) as Job;
const string = (value: string) => ({ dataType: 'String', stringValue: value });

describe('Function: firstAcceptedAt()', () => {
  it('takes the earliest of the record, the retry state and a redriven letter, never a time after the record', () => {
    // Prepare
    const plain = sqsRecord(job());
    const resent = sqsRecord(job(), { sentAt: SENT_AT + 60_000, attributes: { [RETRY_ATTRIBUTE]: string(`${SENT_AT}:2`) } });
    const redriven = sqsRecord(job(), { sentAt: SENT_AT + 86_400_000, attributes: { firstSentAt: string(new Date(SENT_AT - 5_000).toISOString()) } });
    const forged = sqsRecord(job(), { attributes: { firstSentAt: string(new Date(SENT_AT + 3_600_000).toISOString()), [RETRY_ATTRIBUTE]: string(`${SENT_AT + 10}:0`) } });

    // Act, Assess
    expect(firstAcceptedAt(plain, SKEW.now)).toBe(SENT_AT);
    expect(firstAcceptedAt(resent, SKEW.now)).toBe(SENT_AT);
    expect(firstAcceptedAt(redriven, SKEW.now)).toBe(SENT_AT - 5_000);
    expect(firstAcceptedAt(forged, SKEW.now)).toBe(SENT_AT);
  });
});

describe('Function: stampOf()', () => {
  it('orders by issuedAt when given, else by when SQS first accepted the job', () => {
    // Act
    const issued = stampOf(job({ issuedAt: new Date(SENT_AT - 1_000).toISOString() }), sqsRecord(job()), SKEW);
    const accepted = stampOf(job(), sqsRecord(job()), SKEW);

    // Assess
    expect(issued.order.startsWith(`${String(SENT_AT - 1_000).padStart(15, '0')}:`)).toBe(true);
    expect(accepted.order.startsWith(`${String(SENT_AT).padStart(15, '0')}:`)).toBe(true);
  });

  it('gives every delivery of one job one stamp, one key to one body sent again under its jobId, a new key to a new issuedAt', () => {
    // Prepare
    const body = job({ jobId: 'crm-1' });
    const later = job({ jobId: 'crm-1', issuedAt: new Date(SENT_AT + 500).toISOString() });

    // Act
    const first = stampOf(body, sqsRecord(body), SKEW);
    const redelivered = stampOf(body, sqsRecord(body, { receiveCount: 3 }), SKEW);
    const resent = stampOf(body, sqsRecord(body, { sentAt: SENT_AT + 900 }), { ...SKEW, now: SENT_AT + 1_000 });
    const reissued = stampOf(later, sqsRecord(later), SKEW);

    // Assess
    expect(redelivered).toEqual(first);
    expect(resent.key).toBe(first.key);
    expect(resent.order > first.order).toBe(true);
    expect(reissued.key).not.toBe(first.key);
  });

  it('breaks a tie of one millisecond by the FIFO sequence number before the body', () => {
    // Prepare: two jobs of one group sent together, the later one's body hashing lower or higher
    const first = sqsRecord(job({ changes: { name: 'b' } }), { groupId: 'auth0|1' });
    const second = sqsRecord(job({ changes: { name: 'a' } }), { groupId: 'auth0|1' });

    // Act
    const [a, b] = [first, second].map((record) => stampOf(JSON.parse(record.body) as Job, record, SKEW));

    // Assess
    expect((a?.order ?? '') < (b?.order ?? '')).toBe(true);
  });

  it('dead-letters an issuedAt later than SQS accepted the job beyond the clock skew, naming the setting', () => {
    // Act
    const ahead = () => stampOf(job({ issuedAt: new Date(SENT_AT + 300_001).toISOString() }), sqsRecord(job()), SKEW);
    const within = () => stampOf(job({ issuedAt: new Date(SENT_AT + 299_000).toISOString() }), sqsRecord(job()), SKEW);

    // Assess
    expect(ahead).toThrow(expect.objectContaining({ code: 'invalid_issued_at', retryable: false, message: expect.stringContaining('ISSUED_AT_SKEW_SECONDS') }));
    expect(within).not.toThrow();
  });
});
