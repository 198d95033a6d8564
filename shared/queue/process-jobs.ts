import type { MessageAttributeValue } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchItemFailure, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { type JobError, RateLimitedError, RetryableError, isJobError } from '../errors.ts';
import type { CallContext } from '../auth0/client.ts';
import { sleepFor } from '../auth0/pacer.ts';
import type { JobPlan, PlanJob } from '../jobs/apply-job.ts';
import { type JobPolicy, parseJob } from '../jobs/parse-job.ts';
import { JobIdSchema } from '../jobs/schema.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { Ledger, Stamp } from '../ledger/ledger.ts';
import type { WriteGroups } from '../jobs/write-groups.ts';
import { boundedText } from '../text.ts';
import { retryDelaySeconds } from './backoff.ts';
import { SMALL_BATCH_SIZE } from './batching.ts';
import { type Fate, type FateRules, MAX_MESSAGE_ATTRIBUTES, decideFate, isFifo, jobAgeSeconds, readRetryState, receiveCount, withTrustedRetryState } from './fate.ts';
import { firstAcceptedAt, stampOf } from './order.ts';
import { DEAD_LETTER_ATTRIBUTES, type DeadLetter, type QueueOps, type ResendEntry, type VisibilityChange, answeredBySqs, producerAttributesOf } from './sqs.ts';

/** What {@link processJobs} needs; built once per container. */
export interface ProcessJobsDeps {
  /** The policy of every record, unless the deployment declares producers. */
  readonly policy: JobPolicy;
  /**
   * The producers of a deployment that declares them, by their queue's ARN: a record is checked against the
   * policy of the queue it came from (its `eventSourceARN`), its `source` is that producer's name, and its
   * dead letter goes to that producer's dead-letter queue. A record from any other queue is left to that
   * queue's redrive policy.
   */
  readonly producers?: ReadonlyMap<string, Producer> | undefined;
  /** Told, before any call, the producer whose queue the invocation took (its pacing weight follows it). */
  readonly onProducer?: ((producer: Producer | undefined) => void) | undefined;
  /** Records worked on at once (each makes its Management API calls one after another). */
  readonly concurrency: number;
  /** Looks a job up and checks it; what it returns writes the job's chosen effects. */
  readonly planJob: PlanJob;
  /**
   * The ordering ledger: per user and attribute, the newest job wins and writes once. Undefined only when the
   * deployment turned ordering off (`ORDERING=unordered`): every job then writes all it says, in any order.
   */
  readonly ledger: Ledger | undefined;
  /** How far a job's `issuedAt` may lie after SQS accepted it (ISSUED_AT_SKEW_SECONDS). */
  readonly issuedAtSkewMs: number;
  /** How long a job holds its user while it writes; its calls are cut short before then. Default 30 s. */
  readonly leaseMs?: number;
  readonly queue: QueueOps;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly now: () => number;
  readonly random: () => number;
  /** How long a job may keep being retried, and the redrive budget of records kept in place. */
  readonly rules: FateRules;
  /** No record starts when less than this is left of the invocation. Default 5 s, at most a quarter of the time. */
  readonly startReserveMs?: number;
  /** Calls still in flight this long before the deadline are cut short. Default 1.5 s, at most a tenth of the time. */
  readonly abortReserveMs?: number;
  /**
   * The invocation's grouped writes (jobs writing one role or organization share a call), given the function
   * that frees a waiting job's slot. Without it, one call per job.
   */
  readonly writeGroups?: (park: <T>(waiting: Promise<T>) => Promise<T>) => WriteGroups;
}

/** What the worker knows of one producer: see {@link ProcessJobsDeps.producers}. */
export interface Producer {
  readonly name: string;
  readonly policy: JobPolicy;
  readonly dlqUrl: string;
  /** Its queue's redrive `maxReceiveCount`, when it differs from the deployment's (a FIFO producer's 100, say). */
  readonly maxReceiveCount?: number | undefined;
  /** Its weight in the split of the tenant's rate limit (default 1). */
  readonly share?: number | undefined;
  /** Its event source mapping's maximum concurrency. */
  readonly maxConcurrency?: number | undefined;
}

/** How long a record from a queue that is no producer's stays invisible each time: its redrive policy ends it. */
const UNKNOWN_QUEUE_DELAY_SECONDS = 300;

const DEFAULT_START_RESERVE_MS = 5_000;
const DEFAULT_ABORT_RESERVE_MS = 1_500;
const DEFAULT_LEASE_MS = 30_000;
/**
 * A job's calls end this long before its claim on the user lapses, so that clocks a little apart never let a
 * second container write for the user while the first still does.
 */
const LEASE_MARGIN_MS = 3_000;
/** The closing SQS calls (resends, visibility changes) must be done this long before the deadline. */
const CLOSE_RESERVE_MS = 300;
/**
 * How long a job whose user another container holds waits for the claim before it goes back to the queue as
 * `user_busy`: it tries again after 100, 200, 400 and 800 ms (with jitter), each time once a slot is free
 * again (behind the records waiting for one), and only while other jobs of the invocation are at work or the
 * batch is small (fewer than {@link SMALL_BATCH_SIZE} records: Lambda hands over at most that many without a
 * batching window, and with one, fewer at the window's end means the queue had no more ready). A claim lasts one job's calls,
 * a fraction of a second unless that job waits for the rate limit; sent back at once, a job costs a resend
 * and comes back seconds later, and the last of a backlog's such jobs trickled in one batch window apart
 * (enterprise-2 with batches of 50: 21 jobs sent back, 1.08 × the floor).
 */
const BUSY_WAIT_MS = [100, 200, 400, 800] as const;
/** Longest error message kept in a dead-letter attribute or a log line, in code points. */
const MAX_ERROR_CHARS = 1_000;

/**
 * Processes one SQS batch of jobs and returns a partial batch response. Never throws for a record's problem.
 * Each record is tried (unless the invocation is about to end, or an earlier record of its FIFO group
 * failed) and its fate decided in one place, {@link decideFate}: applied, dead-lettered with a reason, or
 * requeued with a delay. Dead letters are sent as records end (in order within a FIFO group); a failed send
 * keeps the record on the queue. Requeued records are resent as new delayed messages or made invisible in
 * place, in as few SQS calls as possible, before the invocation's deadline.
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
  const closeSignal = AbortSignal.timeout(Math.max(0, Math.floor(remaining - Math.min(CLOSE_RESERVE_MS, remaining / 20))));

  // One event source mapping per producer's queue: an invocation's records all come from one of them.
  const batchProducer = event.Records[0] === undefined ? undefined : deps.producers?.get(event.Records[0].eventSourceARN);
  deps.onProducer?.(batchProducer);
  const fates = new Map<SQSRecord, Fate>();
  // A retry state only the worker can have written: a producer's own is dropped here (SenderId).
  const lanes = toLanes(event.Records.map((record) => withTrustedRetryState(record, deps.rules.ownRoleId)));
  const users = createUserQueue();
  // `concurrency` lanes at work at once; a job waiting for a grouped write frees its slot for the next lane,
  // and once every job still running waits for one, the groups go out.
  let groups: WriteGroups | undefined;
  const slots = createSlots(deps.concurrency, () => groups?.flushAll());
  groups = deps.writeGroups?.(slots.park);
  // A batch Lambda could not fill: the queue had little else ready, so a job waiting alone keeps no work waiting.
  const smallBatch = event.Records.length < SMALL_BATCH_SIZE;
  let superseded = 0;
  let skippedEffects = 0;
  let oldestAgeSeconds = 0;
  const work = async (lane: readonly SQSRecord[]) => {
    await slots.acquire();
    try {
      let blocked: Extract<Fate, { kind: 'requeue' }> | undefined;
      for (const record of lane) {
        oldestAgeSeconds = Math.max(oldestAgeSeconds, jobAgeSeconds(record, now()));
        let log = deps.logger.child({ messageId: record.messageId });
        let fate: Fate;
        let jobId: string | undefined;
        const producer = deps.producers?.get(record.eventSourceARN);
        if (producer !== undefined) log = log.child({ producer: producer.name });
        const rules = producer?.maxReceiveCount === undefined ? deps.rules : { ...deps.rules, maxReceiveCount: producer.maxReceiveCount };
        if (deps.producers !== undefined && producer === undefined) {
          // No policy applies to it, and no dead-letter queue is known for it: it stays on its queue, whose
          // redrive policy moves it to that queue's own dead-letter queue once its receives are spent.
          const error = new RetryableError('unknown_queue', 'the record came from a queue that is no producer of this deployment (PRODUCERS); it stays on that queue until its redrive policy moves it');
          fate = { kind: 'requeue', via: 'visibility', delaySeconds: UNKNOWN_QUEUE_DELAY_SECONDS, error, retry: readRetryState(record, now()) };
          log.error('record from an unknown queue', { code: error.code, error: error.message, sourceQueueArn: record.eventSourceARN });
        } else if (blocked !== undefined) {
          // FIFO: a later record of a failed group waits for the failed one, and comes back with it.
          fate = decideFate(record, new RetryableError('fifo_order', 'an earlier job of its FIFO message group was requeued'), now(), rules, deps.random);
          if (fate.kind === 'requeue') fate = { ...fate, delaySeconds: Math.max(fate.delaySeconds, blocked.delaySeconds) };
        } else if (now() >= startBy) {
          fate = decideFate(record, new RetryableError('not_started', 'not started: the invocation is about to end'), now(), rules, deps.random);
        } else {
          const tried = await tryRecord(record, producer, { signal, waitUntil: startBy, groups, park: slots.park, waitIsFree: () => smallBatch || slots.held() > 1 }, deps, log, users);
          jobId = tried.jobId;
          if (tried.label !== undefined) log = log.child({ label: tried.label });
          if (tried.superseded === true) superseded++;
          skippedEffects += tried.skipped ?? 0;
          fate = decideFate(record, tried.error, now(), rules, deps.random);
        }
        const loggedJobId = jobId ?? peekJobId(record.body);
        if (loggedJobId !== undefined) log = log.child({ jobId: loggedJobId });
        if (fate.kind === 'dead_letter') fate = await deadLetter(record, producer, fate.error, jobId, deps, log, signal);
        if (fate.kind === 'requeue' && fate.error.code !== 'unknown_queue') {
          blocked = fate;
          logRequeue(log, fate);
        }
        fates.set(record, fate);
      }
    } finally {
      slots.release();
    }
  };
  await Promise.all(lanes.map(work));

  const batchItemFailures = await requeue(fates, deps, closeSignal);
  const counts = { applied: 0, dead_lettered: 0, requeued: 0 };
  for (const fate of fates.values()) counts[fate.kind === 'applied' ? 'applied' : fate.kind === 'dead_letter' ? 'dead_lettered' : 'requeued']++;
  metrics.add('JobsApplied', counts.applied - superseded);
  metrics.add('JobsSuperseded', superseded);
  metrics.add('EffectsSkipped', skippedEffects);
  metrics.add('JobsRequeued', counts.requeued);
  metrics.add('JobsDeadLettered', counts.dead_lettered);
  metrics.maximum('OldestJobAgeSeconds', oldestAgeSeconds);
  metrics.flush(batchProducer === undefined ? undefined : { name: 'producer', value: batchProducer.name });
  logger.info('batch done', { ...(batchProducer === undefined ? {} : { producer: batchProducer.name }), records: event.Records.length, ...counts, applied: counts.applied - superseded, superseded, oldestJobAgeSeconds: oldestAgeSeconds, durationMs: now() - started });
  return { batchItemFailures };
}

/** What every record of one invocation shares: the deadline's signal, the last moment a call may start, its groups. */
interface InvocationLimits {
  readonly signal: AbortSignal;
  readonly waitUntil: number;
  readonly groups: WriteGroups | undefined;
  /** Frees the job's slot while it waits (for its group, or for an earlier job of its user). */
  readonly park: <T>(waiting: Promise<T>) => Promise<T>;
  /**
   * True while a job waiting for its user's claim costs nothing: another job of the invocation holds a slot (the
   * wait does not keep the invocation alive), or the batch was small (the queue had little else ready to poll).
   */
  readonly waitIsFree: () => boolean;
}

/** How a record's job ended, when it did not fail. */
interface Tried {
  readonly error?: JobError;
  readonly jobId?: string;
  /** The job wrote nothing: a newer job (or its own earlier delivery) already wrote every attribute. */
  readonly superseded?: boolean;
  /** Effects it did not write because a newer job had. */
  readonly skipped?: number;
  /**
   * The body's own `source`, when the record came from a producer's queue and names something else: only the
   * producer's label (from the parsed job; from the body itself only when it did not parse).
   */
  readonly label?: string;
}

/** Parses and applies one record; resolves with the product error it ended with, if any. Never throws. */
async function tryRecord(record: SQSRecord, producer: Producer | undefined, limits: InvocationLimits, deps: ProcessJobsDeps, log: Logger, users: UserQueue): Promise<Tried> {
  const started = deps.now();
  let jobId: string | undefined;
  let label: string | undefined;
  let parsed = false;
  try {
    const policy = producer?.policy ?? deps.policy;
    const job = parseJob(record.body, policy);
    parsed = true;
    jobId = job.jobId;
    if (producer !== undefined && job.source !== undefined && job.source !== producer.name) {
      label = boundedText(job.source, 100);
      log = log.child({ label });
    }
    // The producer is the queue's, whatever the body says: a body's `source` is only the producer's own label.
    const stamped = stampOf(job, record, { skewMs: deps.issuedAtSkewMs, now: started });
    const stamp = producer === undefined ? stamped : { ...stamped, source: producer.name };
    const context = { correlationId: jobId, signal: limits.signal, waitUntil: limits.waitUntil, groups: limits.groups, policy };
    const plan = await deps.planJob(job, context);
    const { ledger } = deps;
    if (ledger === undefined) {
      await plan.apply(plan.effects, context);
      log.child({ jobId }).info('job applied', { type: job.type, durationMs: deps.now() - started });
      return { ...(jobId === undefined ? {} : { jobId }), ...(label === undefined ? {} : { label }) };
    }
    // One job of a user at a time in this container; the ledger's claim keeps other containers out.
    const outcome = await users.run(plan.userId, () => applyInOrder(ledger, plan, stamp, context, limits, deps, log), limits.park);
    const fields = { type: job.type, durationMs: deps.now() - started, skipped: outcome.skipped };
    if (outcome.superseded) log.child({ jobId }).info('job superseded: a newer job already wrote what it writes', { ...fields, duplicate: outcome.duplicate });
    else log.child({ jobId }).info('job applied', fields);
    return { ...(jobId === undefined ? {} : { jobId }), ...(label === undefined ? {} : { label }), superseded: outcome.superseded, skipped: outcome.skipped };
  } catch (caught) {
    if (producer !== undefined && !parsed) {
      const source = peekSource(record.body);
      if (source !== producer.name) label = source;
    }
    return { error: toJobError(caught), ...(jobId === undefined ? {} : { jobId }), ...(label === undefined ? {} : { label }) };
  }
}

/**
 * Claims the job's user in the ledger, writes the effects for which the job is the newest, and records how it
 * ended. Never writes without a claim that names the effects, so the ledger knows of every write.
 */
async function applyInOrder(ledger: Ledger, plan: JobPlan, stamp: Stamp, context: CallContext, limits: InvocationLimits, deps: ProcessJobsDeps, log: Logger): Promise<{ superseded: boolean; skipped: number; duplicate: boolean }> {
  const claim = await claimWhenFree(ledger, plan, stamp, limits, deps);
  const { write, skipped, duplicate } = claim.decision;
  if (write.length === 0) {
    await claim.finish('superseded', limits.signal);
    return { superseded: true, skipped: skipped.length, duplicate };
  }
  const leaseEnds = claim.until - LEASE_MARGIN_MS;
  try {
    await plan.apply(write, {
      ...context,
      signal: AbortSignal.any([limits.signal, AbortSignal.timeout(Math.max(0, Math.floor(leaseEnds - deps.now())))]),
      waitUntil: Math.min(limits.waitUntil, leaseEnds),
    });
  } catch (error) {
    // Retried later: the job keeps its place, so that no older job overtakes it meanwhile.
    await claim.finish(isJobError(error) && !error.retryable ? 'released' : 'pending', limits.signal).catch((finishError: unknown) => {
      log.warn('the ordering ledger could not record a failed job; its claim lapses instead', { code: isJobError(finishError) ? finishError.code : 'internal_error' });
    });
    throw error;
  }
  try {
    await claim.finish('applied', limits.signal);
  } catch (error) {
    // The write reached Auth0: the job is done. Its claim, which names its effects, lapses, and the user's
    // next job records them as pending (written again by nobody older).
    deps.metrics.add('LedgerRecordFailed');
    log.warn('job applied, but the ordering ledger could not record it; its claim lapses instead', { code: isJobError(error) ? error.code : 'internal_error' });
  }
  return { superseded: false, skipped: skipped.length, duplicate };
}

/**
 * Claims the job's user in the ledger; while another container holds the user, waits a moment with its slot
 * freed ({@link BUSY_WAIT_MS}) and tries again, then gives up with `user_busy`.
 */
async function claimWhenFree(ledger: Ledger, plan: JobPlan, stamp: Stamp, limits: InvocationLimits, deps: ProcessJobsDeps) {
  for (let attempt = 0; ; attempt++) {
    if (deps.now() >= limits.waitUntil) throw new RetryableError('not_started', 'not started: the invocation is about to end');
    // AbortSignal.timeout() throws on a fractional delay: the lease is whole milliseconds.
    const leaseMs = Math.floor(Math.min(deps.leaseMs ?? DEFAULT_LEASE_MS, limits.waitUntil - deps.now() + LEASE_MARGIN_MS));
    try {
      return await ledger.claim(plan.userId, { stamp, effects: plan.effects }, leaseMs, limits.signal);
    } catch (error) {
      const waitMs = BUSY_WAIT_MS[attempt];
      if (!isJobError(error) || error.code !== 'user_busy' || waitMs === undefined) throw error;
      const jittered = Math.round(waitMs * (0.75 + deps.random() / 2));
      // Waiting is free only while other jobs keep the invocation busy, or when there is little else to poll:
      // alone in a full batch, the job would hold the container idle (roles-bulk, where a claim lasts while its
      // group waits for the bucket: 9% slower). Sent back from a small batch at the end of a backlog, it came
      // back alone again and again while the claim lasted (enterprise-6: three times, 1 s apart).
      if (deps.now() + jittered >= limits.waitUntil || limits.signal.aborted || !limits.waitIsFree()) throw error;
      await limits.park(sleepFor(jittered, limits.signal));
    }
  }
}

/** The invocation's work slots: `acquire` waits for one, in order; `park` frees one while a job waits. */
interface Slots {
  acquire(): Promise<void>;
  release(): void;
  park<T>(waiting: Promise<T>): Promise<T>;
  /** Slots held now. */
  held(): number;
}

/** Slots for `size` lanes at once; `onQuiet` runs whenever none is held and none is asked for. */
function createSlots(size: number, onQuiet: () => void): Slots {
  let free = Math.max(1, size);
  const waiting: Array<() => void> = [];
  const slots: Slots = {
    async acquire() {
      if (free > 0) {
        free -= 1;
        return;
      }
      await new Promise<void>((resolve) => waiting.push(resolve));
    },
    release() {
      const next = waiting.shift();
      if (next !== undefined) {
        next();
        return;
      }
      free += 1;
      if (free === Math.max(1, size)) onQuiet();
    },
    held: () => Math.max(1, size) - free,
    async park(parked) {
      slots.release();
      try {
        return await parked;
      } finally {
        await slots.acquire();
      }
    },
  };
  return slots;
}

/** Runs one task per user at a time, in the order they were asked for. */
interface UserQueue {
  /**
   * Runs `task` once the user's earlier tasks are done; `park` frees the caller's slot while it waits, so that
   * an earlier job of the user waiting for its group (which needs the slots quiet) is never held up by it.
   */
  run<T>(userId: string, task: () => Promise<T>, park?: <U>(waiting: Promise<U>) => Promise<U>): Promise<T>;
}

function createUserQueue(): UserQueue {
  const tails = new Map<string, Promise<unknown>>();
  return {
    run(userId, task, park) {
      const previous = tails.get(userId);
      const result = previous === undefined ? task() : (park === undefined ? previous : park(previous)).then(task, task);
      const tail = result.catch(() => undefined);
      tails.set(userId, tail);
      void tail.then(() => {
        if (tails.get(userId) === tail) tails.delete(userId);
      });
      return result;
    },
  };
}

/** Sends a record to the dead-letter queue; when SQS does not take it, the record stays on the queue instead. */
async function deadLetter(record: SQSRecord, producer: Producer | undefined, error: JobError, jobId: string | undefined, deps: ProcessJobsDeps, log: Logger, signal: AbortSignal): Promise<Fate> {
  const fields = errorFields(error);
  try {
    const letter = deadLetterFor(record, error, jobId, deps.now());
    await deps.queue.sendToDeadLetter(producer === undefined ? letter : { ...letter, queueUrl: producer.dlqUrl }, signal);
    log.error('job dead-lettered', fields);
    return { kind: 'dead_letter', error };
  } catch (sendError) {
    const sendFields = { ...fields, sendError: sendError instanceof Error ? sendError.name : 'unknown' };
    // No answer (the deadline, a dropped connection): SQS may have taken the dead letter, and the job, back
    // on the queue, is then dead-lettered a second time. Said, so that a duplicate dead letter is explained.
    if (answeredBySqs(sendError)) log.error('job could not be dead-lettered; it stays on the queue', sendFields);
    else log.error('the dead-letter queue did not answer; the job stays on the queue, and may be dead-lettered twice', { ...sendFields, mayBeDuplicated: true });
    const retry = readRetryState(record, deps.now());
    // In place, so that SQS's own redrive still takes the job to the dead-letter queue if this keeps failing.
    return {
      kind: 'requeue',
      via: 'visibility',
      delaySeconds: retryDelaySeconds(receiveCount(record), deps.random),
      error: new RetryableError('dead_letter_failed', `the dead-letter queue did not take the job (${fields.code})`),
      retry,
    };
  }
}

/**
 * The job id of a record that was not parsed (not started, held behind its FIFO group, or invalid), for its
 * log lines only, and only when it is one the contract accepts (1 to 64 visible ASCII characters).
 */
function peekJobId(body: string): string | undefined {
  try {
    const { jobId } = JSON.parse(body) as { jobId?: unknown };
    return JobIdSchema.safeParse(jobId).success ? (jobId as string) : undefined;
  } catch {
    return undefined;
  }
}

/** A record's `source`, for its log lines only: a short text, or nothing. */
function peekSource(body: string): string | undefined {
  try {
    const { source } = JSON.parse(body) as { source?: unknown };
    return typeof source === 'string' && source !== '' ? boundedText(source, 100) : undefined;
  } catch {
    return undefined;
  }
}

function logRequeue(log: Logger, fate: Extract<Fate, { kind: 'requeue' }>): void {
  // Throttling and the invocation's end are normal operation under a backlog: logged at info. Faults warn.
  const quiet = fate.error instanceof RateLimitedError || fate.error.code === 'not_started' || fate.error.code === 'fifo_order';
  log[quiet ? 'info' : 'warn']('job requeued', { ...errorFields(fate.error), delaySeconds: fate.delaySeconds, via: fate.via, attempts: fate.retry.attempts });
}

function errorFields(error: JobError) {
  return {
    code: error.code,
    error: boundedText(error.message, MAX_ERROR_CHARS),
    status: error.status,
    auth0ErrorCode: error.auth0ErrorCode === undefined ? undefined : boundedText(error.auth0ErrorCode, 100),
  };
}

/**
 * Puts requeued records back: those to resend as fresh delayed messages (then acknowledged), every other
 * one, and any resend that failed, by changing its visibility and reporting it as a batch item failure.
 * Every call is cut short by `signal`, before the invocation times out; a record whose change did not go
 * through is still reported failed and comes back after the queue's visibility timeout.
 */
async function requeue(fates: ReadonlyMap<SQSRecord, Fate>, deps: ProcessJobsDeps, signal: AbortSignal): Promise<SQSBatchItemFailure[]> {
  const resends = new Map<string, ResendEntry[]>();
  for (const [record, fate] of fates) {
    if (fate.kind !== 'requeue' || fate.via !== 'resend') continue;
    const batch = resends.get(record.eventSourceARN) ?? [];
    batch.push({ record, delaySeconds: fate.delaySeconds, retry: fate.retry });
    resends.set(record.eventSourceARN, batch);
  }
  const resent = new Set<string>();
  for (const [arn, batch] of resends) {
    const failed = await deps.queue.resend(arn, batch, signal);
    for (const { record } of batch) {
      if (!failed.has(record.messageId)) resent.add(record.messageId);
      else if (failed.get(record.messageId) === 'unanswered') {
        // SQS may have taken the new message: the job may come twice (applied once, thanks to the ledger).
        const jobId = peekJobId(record.body);
        deps.logger.warn('a resend got no answer; the job stays on the queue, and may come twice', { messageId: record.messageId, ...(jobId === undefined ? {} : { jobId }), mayBeDuplicated: true });
      }
    }
    if (failed.size > 0) deps.logger.warn('could not resend requeued records; changing their visibility instead', { count: failed.size });
  }

  const byQueue = new Map<string, VisibilityChange[]>();
  const failures: SQSBatchItemFailure[] = [];
  for (const [record, fate] of fates) {
    if (fate.kind !== 'requeue' || resent.has(record.messageId)) continue;
    failures.push({ itemIdentifier: record.messageId });
    const changes = byQueue.get(record.eventSourceARN) ?? [];
    changes.push({ messageId: record.messageId, receiptHandle: record.receiptHandle, delaySeconds: fate.delaySeconds });
    byQueue.set(record.eventSourceARN, changes);
  }
  for (const [arn, changes] of byQueue) {
    const failed = await deps.queue.changeVisibility(arn, changes, signal);
    if (failed.size > 0) {
      // Still reported failed: those records come back after the queue's own visibility timeout instead.
      deps.logger.warn('could not set the visibility of requeued records', { count: failed.size });
    }
  }
  return failures;
}

/**
 * Groups records into lanes worked one record after another: one lane per message group on a FIFO queue
 * (so per-user order holds), one lane per record otherwise.
 */
function toLanes(records: readonly SQSRecord[]): SQSRecord[][] {
  const groups = new Map<string, SQSRecord[]>();
  const lanes: SQSRecord[][] = [];
  for (const record of records) {
    const group = isFifo(record) ? record.attributes.MessageGroupId : undefined;
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

/**
 * The dead letter of a record: its body as it came, and attributes SQS accepts whatever the error says, ten at
 * most (SQS's limit). When it failed is the dead letter's own `SentTimestamp`.
 */
function deadLetterFor(record: SQSRecord, error: JobError, jobId: string | undefined, at: number): DeadLetter {
  const attributes: Record<string, string | number> = {
    reason: error.code,
    errorMessage: boundedText(error.message, MAX_ERROR_CHARS),
    originalMessageId: record.messageId,
    sourceQueueArn: record.eventSourceARN,
    // The job's order for a redrive: when SQS first took it, across resends and earlier redrives.
    firstSentAt: new Date(firstAcceptedAt(record, at)).toISOString(),
    receiveCount: receiveCount(record),
  };
  if (isJobError(error.cause)) attributes['lastError'] = error.cause.code;
  if (error.status !== undefined) attributes['httpStatus'] = error.status;
  if (error.auth0ErrorCode !== undefined) attributes['auth0ErrorCode'] = boundedText(error.auth0ErrorCode, 100);
  if (jobId !== undefined) attributes['jobId'] = boundedText(jobId, 256);
  // The producer's own attributes (a trace id, say) fill what is left of SQS's ten, in SQS's order; one named
  // like one of the worker's, and any beyond the ten, is dropped.
  const producerAttributes: Record<string, MessageAttributeValue> = {};
  let room = MAX_MESSAGE_ATTRIBUTES - Object.keys(attributes).length;
  for (const [name, value] of Object.entries(producerAttributesOf(record))) {
    if (room <= 0) break;
    if ((DEAD_LETTER_ATTRIBUTES as readonly string[]).includes(name)) continue;
    producerAttributes[name] = value;
    room -= 1;
  }
  return { body: record.body, attributes, producerAttributes, groupId: record.attributes.MessageGroupId, deduplicationId: record.messageId };
}

/** Anything that is not a product error is a bug or an unforeseen failure: keep the job and try again. */
function toJobError(error: unknown): JobError {
  if (isJobError(error)) return error;
  const name = error instanceof Error ? error.name : typeof error;
  return new RetryableError('internal_error', `unexpected ${name} while applying the job`, {}, { cause: error });
}
