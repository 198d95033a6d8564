import type { SQSRecord } from 'aws-lambda';
import { type JobError, PermanentError, RateLimitedError } from '../errors.ts';
import { rateLimitedDelaySeconds, retryDelaySeconds } from './backoff.ts';

/**
 * The message attribute the worker carries on every job it sends back to the queue: `{firstSentAt}:{attempts}`,
 * the epoch milliseconds the job was first sent and how often it was tried. A resend is a new message, so
 * without it the job's age and history would start again each time.
 */
export const RETRY_ATTRIBUTE = 'auth0-queue-worker.retry';
/** The attribute earlier versions counted resends in; dropped on the next resend. */
export const LEGACY_REQUEUE_ATTRIBUTE = 'requeues';
/** SQS takes at most ten message attributes per message. */
export const MAX_MESSAGE_ATTRIBUTES = 10;
/**
 * Longest visibility change: SQS caps a message's invisibility at 12 h from its receive, and the function
 * has run up to 15 min of it already.
 */
const MAX_VISIBILITY_SECONDS = 43_200 - 900;

/** What decides a record's fate beyond the record and its error: the deployment's limits. */
export interface FateRules {
  /** A job not applied this long after it was first sent is dead-lettered as `expired` (JOB_MAX_AGE_SECONDS). */
  readonly maxAgeMs: number;
  /** The jobs queue's redrive `maxReceiveCount` (MAX_RECEIVE_COUNT): receives a record kept in place may spend. */
  readonly maxReceiveCount: number;
  /** The worker role's unique id (WORKER_ROLE_ID): see {@link withTrustedRetryState}. */
  readonly ownRoleId?: string | undefined;
}

/** A job's history, as far as the queue can tell. */
export interface RetryState {
  /** Epoch milliseconds the job was first sent to the queue. */
  readonly firstSentAt: number;
  /** Tries before this receive. */
  readonly attempts: number;
}

/** What happens to one record. */
export type Fate =
  | { readonly kind: 'applied' }
  /** Sent to the dead-letter queue with `error.code` as its reason, then acknowledged. */
  | { readonly kind: 'dead_letter'; readonly error: JobError }
  | {
      readonly kind: 'requeue';
      /**
       * `resend`: a new delayed message carrying {@link RETRY_ATTRIBUTE}, the record acknowledged, so no
       * receive of the redrive budget is spent; `visibility`: the record itself made invisible for the delay
       * and reported failed (FIFO, where a new message would lose its place in the group, or a record with no
       * attribute left for the retry state).
       */
      readonly via: 'resend' | 'visibility';
      readonly delaySeconds: number;
      readonly error: JobError;
      /** The state the requeued job carries. */
      readonly retry: RetryState;
    };

/**
 * Error codes of records that were not tried (the invocation was about to end before they started, an
 * earlier record of their FIFO group failed, or another job held their user): no attempt is counted and they
 * come back at once, or after a few seconds for a busy user. A record cut short while running (`deadline`)
 * was tried, and backs off like any retryable failure.
 */
const NOT_TRIED = new Set(['not_started', 'fifo_order', 'user_busy']);
/**
 * A job whose user another job holds comes back after 1 s, the shortest delay that is not at once: a claim lasts
 * one job's calls, and the job has already waited for it up to 1.5 s inside the invocation while others were
 * at work. The last such jobs of a backlog make its tail, their delay plus a batching window: at 1 to 5 s, the
 * interactive bench configuration ended 2 to 3.6 s after its last full batch (two jobs sent back as it ended
 * coming in 2 and 4 s later); at 1 or 2 s, enterprise-6 still ended 2.1 s after its last full batch, on two
 * jobs sent back for 2 s. Jobs of one user sent back together come back together, most likely in one batch,
 * where they run one after another in one lane.
 */
const BUSY_DELAY_SECONDS = 1;

/**
 * The one place a record's fate is decided, from the record, how it ended and the time:
 * - applied: acknowledged;
 * - a permanent error: dead-lettered with its reason;
 * - anything else (rate limited, throttled, an outage, the invocation's end) is retried until the job is older
 *   than `maxAgeMs`, then dead-lettered as `expired` with the last error. Throttling and outages never spend
 *   the redrive budget: on a standard queue the job goes back as a new delayed message that carries its
 *   first-sent time and attempts; where it must stay in place (FIFO), the delays stretch as the receives run
 *   out, so that the last receive comes when the job expires. A record whose receives are spent before that
 *   is dead-lettered here with the reason `receives_exhausted` rather than redriven without one.
 *
 * Delays: what Auth0 or the pacer asked for, with jitter widening per attempt, for rate limits; capped
 * exponential back-off with full jitter (2 s doubling to 15 min) for other failures; none for a record the
 * invocation's end cut short.
 *
 * @example
 * const fate = decideFate(record, error, Date.now(), { maxAgeMs: 86_400_000, maxReceiveCount: 5 }, Math.random);
 */
export function decideFate(record: SQSRecord, error: JobError | undefined, now: number, rules: FateRules, random: () => number): Fate {
  if (error === undefined) return { kind: 'applied' };
  if (error.kind === 'permanent') return { kind: 'dead_letter', error };

  const state = readRetryState(record, now);
  const ageMs = now - state.firstSentAt;
  if (ageMs >= rules.maxAgeMs) return { kind: 'dead_letter', error: giveUp('expired', error, `the job was not applied within ${hours(rules.maxAgeMs)} of being sent (JOB_MAX_AGE_SECONDS)`) };

  const tried = !NOT_TRIED.has(error.code);
  const attempts = state.attempts + (tried ? 1 : 0);
  let delaySeconds =
    error instanceof RateLimitedError ? rateLimitedDelaySeconds(error.retryAt - now, random, state.attempts)
    : tried ? retryDelaySeconds(attempts, random)
    : error.code === 'user_busy' ? BUSY_DELAY_SECONDS
    : 0;
  const retry = { firstSentAt: state.firstSentAt, attempts };

  if (!isFifo(record) && hasRoomForRetryState(record)) return { kind: 'requeue', via: 'resend', delaySeconds, error, retry };

  // In place: this record's receives count toward the redrive policy.
  const receives = receiveCount(record);
  const left = rules.maxReceiveCount - receives;
  if (left <= 0) {
    return { kind: 'dead_letter', error: giveUp('receives_exhausted', error, `the job was received ${receives} times, the queue's maxReceiveCount (MAX_RECEIVE_COUNT)`) };
  }
  // Once a quarter of the receives is left, spread what remains of the job's life over them.
  if (left <= Math.max(1, Math.ceil(rules.maxReceiveCount / 4))) {
    delaySeconds = Math.max(delaySeconds, Math.ceil((rules.maxAgeMs - ageMs) / 1000 / left));
  }
  return { kind: 'requeue', via: 'visibility', delaySeconds: Math.min(delaySeconds, MAX_VISIBILITY_SECONDS), error, retry };
}

/**
 * The job's first-sent time and attempts: from {@link RETRY_ATTRIBUTE} when the worker resent it, else from
 * the message itself (`SentTimestamp`, and the receives before this one). An attribute that cannot be the
 * worker's (malformed, or claiming a first send after this message's own) is ignored, and so is every
 * earlier try of a message redriven from a dead-letter queue.
 */
export function readRetryState(record: SQSRecord, now: number): RetryState {
  // A message SQS itself moved to a dead-letter queue and a redrive brought back carries the source queue's
  // ARN in DeadLetterQueueSourceArn: its retry state and timestamps belong to the tries that failed, so its
  // retries start afresh. (Its order, read by firstAcceptedAt, is kept.)
  if (record.attributes.DeadLetterQueueSourceArn !== undefined) return { firstSentAt: now, attempts: 0 };
  const sentAt = positiveInteger(record.attributes.SentTimestamp) ?? now;
  const earlierReceives = receiveCount(record) - 1;
  const match = /^(\d{1,15}):(\d{1,9})$/.exec(record.messageAttributes[RETRY_ATTRIBUTE]?.stringValue ?? '');
  const firstSentAt = Number(match?.[1]);
  if (match === null || !(firstSentAt > 0 && firstSentAt <= sentAt)) return { firstSentAt: sentAt, attempts: earlierReceives };
  return { firstSentAt, attempts: Number(match[2]) + earlierReceives };
}

/**
 * The record as the worker may read it: without {@link RETRY_ATTRIBUTE} (and the legacy one) unless the worker
 * itself sent it. SQS sets `SenderId` on every message, and no producer can send as the worker's role
 * (`{role id}:{session}`), so a producer cannot make its job look old, tried, or due to expire. Without
 * `ownRoleId` every record is read as it is.
 */
export function withTrustedRetryState(record: SQSRecord, ownRoleId: string | undefined): SQSRecord {
  if (ownRoleId === undefined || record.attributes.SenderId?.startsWith(`${ownRoleId}:`)) return record;
  if (record.messageAttributes[RETRY_ATTRIBUTE] === undefined && record.messageAttributes[LEGACY_REQUEUE_ATTRIBUTE] === undefined) return record;
  const { [RETRY_ATTRIBUTE]: _retry, [LEGACY_REQUEUE_ATTRIBUTE]: _legacy, ...messageAttributes } = record.messageAttributes;
  return { ...record, messageAttributes };
}

/** The value of {@link RETRY_ATTRIBUTE} for a state. */
export function formatRetryState(state: RetryState): string {
  return `${Math.round(state.firstSentAt)}:${state.attempts}`;
}

/** How long ago, in whole seconds, the record's job was first sent. */
export function jobAgeSeconds(record: SQSRecord, now: number): number {
  return Math.max(0, Math.floor((now - readRetryState(record, now).firstSentAt) / 1000));
}

/** True when a resend can add the retry state without dropping one of the attributes it carries. */
function hasRoomForRetryState(record: SQSRecord): boolean {
  return Object.keys(record.messageAttributes).filter(isCarriedAttribute).length < MAX_MESSAGE_ATTRIBUTES;
}

/**
 * The attributes the worker gives a dead letter (ten at most with the producer's own). `dlq redrive` sends a
 * job back with `firstSentAt` (its order) and the producer's attributes, never the others.
 */
export const DEAD_LETTER_ATTRIBUTES = ['reason', 'errorMessage', 'originalMessageId', 'sourceQueueArn', 'firstSentAt', 'receiveCount', 'lastError', 'httpStatus', 'auth0ErrorCode', 'jobId'] as const;
const DIAGNOSTICS: ReadonlySet<string> = new Set([RETRY_ATTRIBUTE, LEGACY_REQUEUE_ATTRIBUTE, ...DEAD_LETTER_ATTRIBUTES.filter((name) => name !== 'firstSentAt')]);

/**
 * Whether a resend carries an attribute into the new message: the producer's own do, and a redriven job's
 * `firstSentAt` (its order); the worker's retry state (written afresh) and a dead letter's diagnostics, which
 * a console redrive brings back and which would otherwise leave no room for the retry state, do not.
 */
export function isCarriedAttribute(name: string): boolean {
  return !DIAGNOSTICS.has(name);
}

/** A permanent error that ends a job which could have succeeded, keeping the last error's details. */
function giveUp(code: 'expired' | 'receives_exhausted', last: JobError, why: string): PermanentError {
  return new PermanentError(code, `${why}; last error ${last.code}: ${last.message}`, {
    ...(last.status === undefined ? {} : { status: last.status }),
    ...(last.auth0ErrorCode === undefined ? {} : { auth0ErrorCode: last.auth0ErrorCode }),
  }, { cause: last });
}

function hours(ms: number): string {
  const h = ms / 3_600_000;
  return h >= 1 && Number.isInteger(h) ? `${h} h` : `${Math.round(ms / 1000)} s`;
}

export function isFifo(record: SQSRecord): boolean {
  return record.eventSourceARN.endsWith('.fifo');
}

export function receiveCount(record: SQSRecord): number {
  return positiveInteger(record.attributes.ApproximateReceiveCount) ?? 1;
}

function positiveInteger(value: string | undefined): number | undefined {
  const number = Number(value);
  return Number.isSafeInteger(number) && number > 0 ? number : undefined;
}
