import type { SQSRecord } from 'aws-lambda';
import { createHash } from 'node:crypto';
import { PermanentError } from '../errors.ts';
import type { Stamp } from '../ledger/ledger.ts';
import { type Job, parseIssuedAt } from '../jobs/schema.ts';
import { RETRY_ATTRIBUTE } from './fate.ts';

/** The dead letter's attribute holding when its job was first sent (ISO 8601), kept by a console redrive. */
export const DEAD_LETTER_FIRST_SENT_ATTRIBUTE = 'firstSentAt';

/**
 * When SQS first accepted a record's job: the earliest of its own `SentTimestamp`, the first send the worker's
 * retry state carries across resends, and the first send a redriven dead letter carries. A claimed first send
 * later than the record's own is ignored, so a producer's attribute can make its job older, never newer.
 */
export function firstAcceptedAt(record: SQSRecord, now: number): number {
  const sentAt = positive(Number(record.attributes.SentTimestamp)) ?? now;
  const retried = positive(Number(/^(\d{1,15}):\d{1,9}$/.exec(record.messageAttributes[RETRY_ATTRIBUTE]?.stringValue ?? '')?.[1]));
  const redriven = positive(Date.parse(record.messageAttributes[DEAD_LETTER_FIRST_SENT_ATTRIBUTE]?.stringValue ?? ''));
  return Math.min(sentAt, ...[retried, redriven].filter((at): at is number => at !== undefined && at <= sentAt));
}

/**
 * A job's place among its user's jobs: its order (`issuedAt`, else when SQS first accepted it; within one
 * millisecond, a FIFO message's sequence number, then a hash of the body, so that ties break the same way
 * everywhere) and its key (the producer's `jobId` with a hash of the job, else the order), so that every
 * delivery of one job, and every send of one body under one `jobId`, has one key.
 *
 * @throws {PermanentError} `invalid_issued_at` when `issuedAt` lies more than `skewMs` after SQS accepted the
 *   job: a producer's clock running ahead would otherwise put the user's attributes out of reach of every
 *   later job.
 * @example
 * const stamp = stampOf(job, record, { skewMs: 300_000, now: Date.now() });
 */
export function stampOf(job: Job, record: SQSRecord, options: { readonly skewMs: number; readonly now: number }): Stamp {
  const acceptedAt = firstAcceptedAt(record, options.now);
  let at = acceptedAt;
  if (job.issuedAt !== undefined) {
    const issuedAt = parseIssuedAt(job.issuedAt);
    if (issuedAt === undefined) throw new PermanentError('invalid_issued_at', 'issuedAt is not an RFC 3339 date-time with an offset, such as 2026-12-04T16:27:58.123Z');
    if (issuedAt > acceptedAt + options.skewMs) {
      throw new PermanentError(
        'invalid_issued_at',
        `issuedAt lies ${Math.round((issuedAt - acceptedAt) / 1000)} s after SQS accepted the job, more than the allowed clock skew of ${Math.round(options.skewMs / 1000)} s (ISSUED_AT_SKEW_SECONDS): check the producer's clock`,
      );
    }
    at = issuedAt;
  }
  // Within one millisecond: a FIFO group's own order (SQS's sequence number grows within a group), then the body.
  const sequence = /^\d{1,40}$/.test(record.attributes.SequenceNumber ?? '') ? (record.attributes.SequenceNumber ?? '').padStart(40, '0') : '';
  const order = `${String(at).padStart(15, '0')}:${sequence}:${hash(record.body)}`;
  if (job.jobId === undefined) return { order, key: `o:${order}`, ...(job.source === undefined ? {} : { source: job.source }) };
  // The whole job, issuedAt included: a producer that sends one change again at a later time (a sync run
  // restoring a role it removed, with the same content-derived jobId) sends a new job, not a duplicate.
  return { order, key: `j:${job.jobId}:${hash(JSON.stringify(job))}`, jobId: job.jobId, ...(job.source === undefined ? {} : { source: job.source }) };
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

function positive(value: number): number | undefined {
  return Number.isSafeInteger(value) && value > 0 ? value : undefined;
}
