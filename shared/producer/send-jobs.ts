import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { PermanentError, isJobError } from '../errors.ts';
import { parseJob } from '../jobs/parse-job.ts';
import { type Job, MAX_JOB_BYTES, USER_FIELDS } from '../jobs/schema.ts';
import { chunk } from '../queue/sqs.ts';
import { boundedText } from '../text.ts';

/** A job that was sent: its place in the input, its job id (given or assigned) and SQS's message id. */
export interface SentJob {
  /** Its place in the jobs given, from 0. */
  readonly index: number;
  /** Its job id, the one it had or the one it was given. */
  readonly jobId: string;
  /** SQS's id of the message. */
  readonly messageId: string;
}

/** A job that was not sent, and why. */
export interface UnsentJob {
  /** Its place in the jobs given, from 0. */
  readonly index: number;
  /** A contract code (`invalid_user_id`, …) for an invalid job; SQS's error code, or `not_attempted`, for a failed send. */
  readonly code: string;
  /** What is wrong, in words: the contract's reason, or SQS's message. */
  readonly reason: string;
}

/** What {@link sendJobs} did with each job. */
export interface SendJobsResult {
  /** Jobs SQS took, in the order given. */
  readonly sent: SentJob[];
  /** Jobs that break the contract; with any of them and no `skipInvalid`, nothing at all is sent. */
  readonly invalid: UnsentJob[];
  /** Valid jobs SQS did not take, or that were never tried after an earlier failure on a FIFO queue. */
  readonly failed: UnsentJob[];
}

/** Options of {@link sendJobs}. */
export interface SendJobsOptions {
  /** Send the valid jobs even when some are invalid. Default false: one invalid job stops the whole send. */
  readonly skipInvalid?: boolean;
  /** Called after each batch call with the number of jobs handled so far. */
  readonly onProgress?: (done: number, total: number) => void;
  /** The clock, in epoch milliseconds, read before each batch call to stamp `issuedAt` on jobs without one. Default `Date.now`. */
  readonly now?: () => number;
  /**
   * The key a FIFO deduplication id is made with ({@link deduplicationIdFor}): give the same secret on every
   * start of a producer whose retries may come from a new process; keep it from other producers. Default: a
   * random key per process, so a retry from the same process is dropped as the duplicate it is.
   */
  readonly deduplicationKey?: Uint8Array | string;
}

/** A valid job on its way: its body, and when the send is to stamp its `issuedAt`, the value to stamp. */
interface Outgoing {
  readonly index: number;
  readonly job: Job;
  /** The body sent, or, for a job to stamp, one as long as it will be (for sizing the batches). */
  readonly body: string;
  readonly unstamped?: Record<string, unknown>;
}

/** The contract alone: the deployment's policy (fields, roles) is the worker's to apply. */
const CONTRACT_ONLY = { allowedFields: new Set(USER_FIELDS), allowedRoles: undefined, allowedOrganizations: '*' as const };
/** Characters SQS allows in a FIFO message group or deduplication id, at most 128 of them. */
const SQS_ID = /^[\x21-\x7e]{1,128}$/;

/**
 * Validates jobs against the contract, then puts them on the jobs queue, ten per call (and 1 MiB at most).
 * Each job gets a `jobId` if it has none (a UUID), and an `issuedAt` if it has none: when its batch call is
 * made (`options.now`), a millisecond later than the previous such job of its user in this call where the
 * clock has not moved on, so that the worker, which applies a user's jobs newest-wins by `issuedAt`, keeps the
 * order given. A job's own `issuedAt` (when the change happened at its source) is kept as written. On a FIFO
 * queue its message group is its user ({@link messageGroupFor}) and its deduplication id keyed on its job id
 * ({@link deduplicationIdFor}), never a hash of the body, which the stamp makes differ between two sends of
 * one job: so a repeated job is never dropped, a producer's retry of the same job (same `jobId` and key,
 * within SQS's 5 minutes) is, and no other producer can guess the id to drop a job. Never throws for a
 * job's problem: every job ends in exactly one of `sent`, `invalid` or `failed`. On a FIFO queue the first
 * failed call stops the send, so no later job of a user overtakes an earlier one; the rest are reported
 * `not_attempted`.
 *
 * @example
 * ```ts
 * const result = await sendJobs(new SQSClient({}), queueUrl, [{ type: 'user.update', userId: 'auth0|1', changes: { blocked: true } }]);
 * for (const { index, reason } of [...result.invalid, ...result.failed]) console.error(`job ${index}: ${reason}`);
 * ```
 */
export async function sendJobs(sqs: Pick<SQSClient, 'send'>, queueUrl: string, jobs: readonly unknown[], options: SendJobsOptions = {}): Promise<SendJobsResult> {
  const fifo = queueUrl.endsWith('.fifo');
  const now = options.now ?? Date.now;
  const valid: Outgoing[] = [];
  const invalid: UnsentJob[] = [];
  jobs.forEach((input, index) => {
    try {
      // JSON.stringify gives undefined for undefined or a function, and throws for a BigInt: all invalid.
      const raw = typeof input === 'string' ? input : (JSON.stringify(input) ?? '');
      const job = parseJob(raw, CONTRACT_ONLY);
      if (job.jobId !== undefined && job.issuedAt !== undefined) {
        valid.push({ index, job, body: raw });
        return;
      }
      // The body as given, with what it lacks added: a job id now, the send time when its batch goes.
      const jobId = job.jobId ?? randomUUID();
      const value: Record<string, unknown> = { ...((typeof input === 'string' ? JSON.parse(input) : input) as Record<string, unknown>), jobId };
      const unstamped = job.issuedAt === undefined ? value : undefined;
      const body = JSON.stringify(unstamped === undefined ? value : stamped(unstamped, 0));
      if (Buffer.byteLength(body, 'utf8') > MAX_JOB_BYTES) {
        throw new PermanentError('oversized_job', `job body exceeds ${MAX_JOB_BYTES} bytes with the jobId or issuedAt sendJobs adds, and the worker would refuse it`);
      }
      valid.push({ index, job: { ...job, jobId }, body, ...(unstamped === undefined ? {} : { unstamped }) });
    } catch (error) {
      invalid.push({ index, code: isJobError(error) ? error.code : 'invalid_job', reason: isJobError(error) ? error.message : 'not a job' });
    }
  });
  if (fifo) {
    // One deduplication id per job: SQS would silently drop a second job with the same id (and report it sent).
    const first = new Map<string, number>();
    for (let position = 0; position < valid.length; position++) {
      const entry = valid[position];
      const jobId = entry?.job.jobId ?? '';
      const earlier = first.get(jobId);
      if (entry === undefined || earlier === undefined) {
        first.set(jobId, entry?.index ?? 0);
        continue;
      }
      invalid.push({ index: entry.index, code: 'duplicate_job_id', reason: `jobId ${JSON.stringify(jobId)} repeats job ${earlier}: a FIFO queue would drop this one as a duplicate; give each job its own jobId` });
      valid.splice(position--, 1);
    }
    invalid.sort((a, b) => a.index - b.index);
  }
  if (invalid.length > 0 && !options.skipInvalid) return { sent: [], invalid, failed: [] };

  const sent: SentJob[] = [];
  const failed: UnsentJob[] = [];
  /** Per user, the last instant stamped in this call. */
  const lastStamp = new Map<string, number>();
  let done = invalid.length;
  for (const batch of chunk(valid, (entry) => Buffer.byteLength(entry.body, 'utf8'))) {
    if (fifo && failed.length > 0) {
      for (const entry of batch) failed.push({ index: entry.index, code: 'not_attempted', reason: 'not sent: an earlier send to this FIFO queue failed, and order must hold' });
      continue;
    }
    const sentAt = now();
    const bodyOf = (entry: Outgoing) => {
      if (entry.unstamped === undefined) return entry.body;
      const user = messageGroupFor(entry.job);
      const at = Math.max(sentAt, (lastStamp.get(user) ?? -Infinity) + 1);
      lastStamp.set(user, at);
      return JSON.stringify(stamped(entry.unstamped, at));
    };
    try {
      const answer = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: batch.map((entry, position) => ({
            Id: String(position),
            MessageBody: bodyOf(entry),
            ...(fifo ? { MessageGroupId: messageGroupFor(entry.job), MessageDeduplicationId: deduplicationIdFor(entry.job, options.deduplicationKey) } : {}),
          })),
        }),
      );
      const ids = new Map((answer.Successful ?? []).map((entry) => [entry.Id, entry.MessageId ?? '']));
      const refused = new Map((answer.Failed ?? []).map((entry) => [entry.Id, entry]));
      batch.forEach((entry, position) => {
        const messageId = ids.get(String(position));
        const failure = refused.get(String(position));
        if (messageId !== undefined && failure === undefined) sent.push({ index: entry.index, jobId: entry.job.jobId ?? '', messageId });
        else failed.push({ index: entry.index, code: failure?.Code ?? 'unknown', reason: boundedText(failure?.Message ?? 'SQS did not say it took the message', 300) });
      });
    } catch (error) {
      const name = error instanceof Error ? error.name : 'Error';
      const message = error instanceof Error ? boundedText(error.message, 300) : '';
      for (const entry of batch) failed.push({ index: entry.index, code: name, reason: `the send failed: ${name}${message === '' ? '' : `: ${message}`}` });
    }
    done += batch.length;
    options.onProgress?.(done, jobs.length);
  }
  return { sent, invalid, failed };
}

/**
 * A job with its `issuedAt`. `toISOString` writes 24 characters for any year from 0 to 9999, so a body stamped
 * at any real time is exactly as long as one stamped at 0, which sizes the batches before the send.
 */
function stamped(value: Record<string, unknown>, at: number): Record<string, unknown> {
  return { ...value, issuedAt: new Date(at).toISOString() };
}

/**
 * The FIFO message group of a job: its user, as `id:{userId}` or `email:{email in lower case}` (the sync
 * groups the same way), so each user's jobs apply in order. A target SQS cannot carry as a group id (over 128
 * characters, or outside printable ASCII) is hashed: `sha256:{hex}`.
 */
export function messageGroupFor(job: Job): string {
  const key = job.userId !== undefined ? `id:${job.userId}` : `email:${job.email.toLowerCase()}`;
  return SQS_ID.test(key) ? key : `sha256:${createHash('sha256').update(key).digest('hex')}`;
}

/**
 * The FIFO deduplication id of a job: an HMAC of its job id under the producer's key (43 characters). Keyed,
 * so that no other producer can compute it: SQS drops, and reports sent, any message whose deduplication id
 * it saw in the last 5 minutes, so an id another producer could guess (a job id, a hash of the body) would
 * let it silence a job (a scheduled revocation, say) by sending first. Never a hash of the body: a resend of
 * one job carries a later `issuedAt` when {@link sendJobs} stamped it, and must still be dropped as the
 * duplicate it is.
 *
 * @param job - the job whose deduplication id this is
 * @param key - the producer's key; default: a random key made once per process
 */
export function deduplicationIdFor(job: Job, key: Uint8Array | string = PROCESS_KEY): string {
  if (job.jobId === undefined) throw new TypeError('a job needs a jobId to be deduplicated');
  return createHmac('sha256', key).update(`auth0-queue-worker deduplication\n${job.jobId}`).digest('base64url');
}

/** This process's deduplication key, when the producer gives none. */
const PROCESS_KEY = randomBytes(32);
