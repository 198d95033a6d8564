import type { Context, SQSBatchItemFailure, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { type JobError, RateLimitedError, RetryableError, isJobError } from '../errors.ts';
import type { ApplyJob } from '../jobs/apply-job.ts';
import { type JobPolicy, parseJob } from '../jobs/parse-job.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { rateLimitedDelaySeconds, retryDelaySeconds } from './backoff.ts';
import { type QueueOps, REQUEUE_ATTRIBUTE, type VisibilityChange } from './sqs.ts';

/** What {@link processJobs} needs; built once per container. */
export interface ProcessJobsDeps {
  readonly policy: JobPolicy;
  /** Records worked on at once (each makes its Management API calls one after another). */
  readonly concurrency: number;
  readonly applyJob: ApplyJob;
  readonly queue: QueueOps;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly now: () => number;
  readonly random: () => number;
  /** No record starts when less than this is left of the invocation. Default 5 s, at most a quarter of the time. */
  readonly startReserveMs?: number;
  /** Calls still in flight this long before the deadline are cut short. Default 1.5 s, at most a tenth of the time. */
  readonly abortReserveMs?: number;
}

/** How one record ended. */
type Outcome =
  | { readonly kind: 'applied' }
  | { readonly kind: 'dead_lettered'; readonly code: string }
  | { readonly kind: 'requeued'; readonly delaySeconds: number; readonly code: string; readonly resend?: boolean };

const DEFAULT_START_RESERVE_MS = 5_000;
const DEFAULT_ABORT_RESERVE_MS = 1_500;

/**
 * Processes one SQS batch of jobs and returns a partial batch response. Never throws for a record's problem:
 * - applied: acknowledged;
 * - rate limited (a 429, or no room in the tenant's bucket before the invocation ends, see the pacer):
 *   put back for the wait Auth0 asked for or the pacer projected (with jitter);
 * - retryable: made invisible for an exponential back-off from `ApproximateReceiveCount`, reported failed;
 * - permanent or invalid: sent to the dead-letter queue with its reason, acknowledged; if that send fails,
 *   reported failed instead. Nothing is dropped;
 * - FIFO: after a failure in a message group, the group's later records are reported failed unattempted;
 * - near the deadline no record starts; the rest are reported failed and come back at once.
 *
 * @example
 * export const handler: SQSHandler = (event, context) => processJobs(event, context, deps);
 */
export async function processJobs(event: SQSEvent, context: Pick<Context, 'getRemainingTimeInMillis'>, deps: ProcessJobsDeps): Promise<SQSBatchResponse> {
  const { logger, metrics, now } = deps;
  const started = now();
  const remaining = context.getRemainingTimeInMillis();
  // The reserves shrink for short function timeouts, so that a 3 s function still starts its records.
  const startBy = started + remaining - Math.min(deps.startReserveMs ?? DEFAULT_START_RESERVE_MS, remaining / 4);
  // AbortSignal.timeout() throws on a fractional delay.
  const signal = AbortSignal.timeout(Math.max(0, Math.floor(remaining - Math.min(deps.abortReserveMs ?? DEFAULT_ABORT_RESERVE_MS, remaining / 10))));

  const outcomes = new Map<SQSRecord, Outcome>();
  const lanes = toLanes(event.Records);
  let next = 0;
  const work = async () => {
    for (let lane = lanes[next++]; lane !== undefined; lane = lanes[next++]) {
      let blocked: Extract<Outcome, { kind: 'requeued' }> | undefined;
      for (const record of lane) {
        let outcome: Outcome;
        if (blocked !== undefined) {
          // FIFO: a later record of a failed group waits for the failed one, and comes back with it.
          outcome = { kind: 'requeued', delaySeconds: blocked.delaySeconds, code: 'fifo_order' };
        } else if (now() >= startBy) {
          outcome = { kind: 'requeued', delaySeconds: 0, code: 'deadline' };
        } else {
          outcome = await processRecord(record, { signal, waitUntil: startBy }, deps);
        }
        if (outcome.kind === 'requeued') blocked = outcome;
        outcomes.set(record, outcome);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(deps.concurrency, lanes.length) }, work));

  const batchItemFailures = await requeue(outcomes, deps);
  const counts = { applied: 0, dead_lettered: 0, requeued: 0 };
  for (const outcome of outcomes.values()) counts[outcome.kind]++;
  metrics.add('JobsApplied', counts.applied);
  metrics.add('JobsRequeued', counts.requeued);
  metrics.add('JobsDeadLettered', counts.dead_lettered);
  metrics.flush();
  logger.info('batch done', { records: event.Records.length, ...counts, durationMs: now() - started });
  return { batchItemFailures };
}

/** What every record of one invocation shares: the deadline's signal, and the last moment a call may start. */
interface InvocationLimits {
  readonly signal: AbortSignal;
  readonly waitUntil: number;
}

async function processRecord(record: SQSRecord, limits: InvocationLimits, deps: ProcessJobsDeps): Promise<Outcome> {
  const started = deps.now();
  let log = deps.logger.child({ messageId: record.messageId });
  let jobId: string | undefined;
  try {
    const job = parseJob(record.body, deps.policy);
    jobId = job.jobId;
    if (jobId !== undefined) log = log.child({ jobId });
    await deps.applyJob(job, { correlationId: jobId, signal: limits.signal, waitUntil: limits.waitUntil });
    log.info('job applied', { type: job.type, durationMs: deps.now() - started });
    return { kind: 'applied' };
  } catch (caught) {
    const error = toJobError(caught);
    const fields = { code: error.code, error: error.message, status: error.status, auth0ErrorCode: error.auth0ErrorCode };
    if (error.kind === 'permanent') {
      try {
        await deps.queue.sendToDeadLetter(deadLetterFor(record, error, jobId, deps.now()));
        log.error('job dead-lettered', fields);
        return { kind: 'dead_lettered', code: error.code };
      } catch (sendError) {
        log.error('job could not be dead-lettered; it stays on the queue', {
          ...fields,
          sendError: sendError instanceof Error ? sendError.name : 'unknown',
        });
        return { kind: 'requeued', delaySeconds: retryDelaySeconds(receiveCount(record), deps.random), code: 'dead_letter_failed' };
      }
    }
    const delaySeconds =
      error instanceof RateLimitedError
        ? rateLimitedDelaySeconds(error.retryAt - deps.now(), deps.random, Math.max(requeueCount(record), receiveCount(record) - 1))
      : error.code === 'deadline' ? 0 // cut short by the invocation's end, not by a fault: straight back
      : retryDelaySeconds(receiveCount(record), deps.random);
    // Rate-limited work on a standard queue goes back as a fresh delayed message: a 429 says nothing about
    // the job, so it must not spend the receives that the redrive policy counts towards the dead-letter queue.
    const resend = error instanceof RateLimitedError && !isFifo(record) && requeueCount(record) < MAX_RESENDS;
    // Throttling is normal operation under a backlog: counted in the metrics, logged at info. Faults warn.
    const level = error instanceof RateLimitedError ? 'info' : 'warn';
    log[level]('job requeued', { ...fields, delaySeconds, ...(resend ? { resend } : {}) });
    return { kind: 'requeued', delaySeconds, code: error.code, resend };
  }
}

/**
 * Puts requeued records back: rate-limited ones on a standard queue as fresh delayed messages (then
 * acknowledged), every other one, and any resend that failed, by changing its visibility and reporting it
 * as a batch item failure.
 */
async function requeue(outcomes: ReadonlyMap<SQSRecord, Outcome>, deps: ProcessJobsDeps): Promise<SQSBatchItemFailure[]> {
  const resends = new Map<string, Array<{ record: SQSRecord; delaySeconds: number }>>();
  for (const [record, outcome] of outcomes) {
    if (outcome.kind !== 'requeued' || !outcome.resend) continue;
    const batch = resends.get(record.eventSourceARN) ?? [];
    batch.push({ record, delaySeconds: outcome.delaySeconds });
    resends.set(record.eventSourceARN, batch);
  }
  const resent = new Set<string>();
  for (const [arn, batch] of resends) {
    const failed = await deps.queue.resend(arn, batch);
    for (const { record } of batch) if (!failed.has(record.messageId)) resent.add(record.messageId);
    if (failed.size > 0) deps.logger.warn('could not resend rate-limited records; changing their visibility instead', { count: failed.size });
  }

  const byQueue = new Map<string, VisibilityChange[]>();
  const failures: SQSBatchItemFailure[] = [];
  for (const [record, outcome] of outcomes) {
    if (outcome.kind !== 'requeued' || resent.has(record.messageId)) continue;
    failures.push({ itemIdentifier: record.messageId });
    const changes = byQueue.get(record.eventSourceARN) ?? [];
    changes.push({ messageId: record.messageId, receiptHandle: record.receiptHandle, delaySeconds: outcome.delaySeconds });
    byQueue.set(record.eventSourceARN, changes);
  }
  for (const [arn, changes] of byQueue) {
    const failed = await deps.queue.changeVisibility(arn, changes);
    if (failed.size > 0) {
      // Still reported failed: those records come back after the queue's own visibility timeout instead.
      deps.logger.warn('could not set the visibility of requeued records', { count: failed.size });
    }
  }
  return failures;
}

/** How often one job may be resent for rate limits before it is left to the redrive policy like any other. */
export const MAX_RESENDS = 100;

function isFifo(record: SQSRecord): boolean {
  return record.eventSourceARN.endsWith('.fifo');
}

/** How many times the job was already resent, from the attribute each resend carries. */
function requeueCount(record: SQSRecord): number {
  const count = Number(record.messageAttributes[REQUEUE_ATTRIBUTE]?.stringValue);
  return Number.isInteger(count) && count > 0 ? count : 0;
}

/**
 * Groups records into lanes worked one record after another: one lane per message group on a FIFO queue
 * (so per-user order holds), one lane per record otherwise.
 */
function toLanes(records: readonly SQSRecord[]): SQSRecord[][] {
  const groups = new Map<string, SQSRecord[]>();
  const lanes: SQSRecord[][] = [];
  for (const record of records) {
    const group = record.eventSourceARN.endsWith('.fifo') ? record.attributes.MessageGroupId : undefined;
    if (group === undefined) {
      lanes.push([record]);
      continue;
    }
    const key = `${record.eventSourceARN}\n${group}`;
    let lane = groups.get(key);
    if (lane === undefined) {
      lane = [];
      groups.set(key, lane);
      lanes.push(lane);
    }
    lane.push(record);
  }
  return lanes;
}

function deadLetterFor(record: SQSRecord, error: JobError, jobId: string | undefined, at: number) {
  const attributes: Record<string, string | number> = {
    reason: error.code,
    errorMessage: error.message.slice(0, 1_000),
    originalMessageId: record.messageId,
    sourceQueueArn: record.eventSourceARN,
    failedAt: new Date(at).toISOString(),
    receiveCount: receiveCount(record),
  };
  if (error.status !== undefined) attributes['httpStatus'] = error.status;
  if (error.auth0ErrorCode !== undefined) attributes['auth0ErrorCode'] = error.auth0ErrorCode;
  if (jobId !== undefined) attributes['jobId'] = jobId;
  return { body: record.body, attributes, groupId: record.attributes.MessageGroupId, deduplicationId: record.messageId };
}

function receiveCount(record: SQSRecord): number {
  const count = Number(record.attributes.ApproximateReceiveCount);
  return Number.isInteger(count) && count > 0 ? count : 1;
}

/** Anything that is not a product error is a bug or an unforeseen failure: keep the job and try again. */
function toJobError(error: unknown): JobError {
  if (isJobError(error)) return error;
  const name = error instanceof Error ? error.name : typeof error;
  return new RetryableError('internal_error', `unexpected ${name} while applying the job`, {}, { cause: error });
}
