import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { createHash, randomUUID } from 'node:crypto';
import { isJobError } from '../errors.ts';
import { parseJob } from '../jobs/parse-job.ts';
import { type Job, USER_FIELDS } from '../jobs/schema.ts';
import { chunk } from '../queue/sqs.ts';
import { boundedText } from '../text.ts';

/** A job that was sent: its place in the input, its job id (given or assigned) and SQS's message id. */
export interface SentJob {
  readonly index: number;
  readonly jobId: string;
  readonly messageId: string;
}

/** A job that was not sent, and why. */
export interface UnsentJob {
  readonly index: number;
  /** A contract code (`invalid_user_id`, …) for an invalid job; SQS's error code, or `not_attempted`, for a failed send. */
  readonly code: string;
  readonly reason: string;
}

/** What {@link sendJobs} did with each job. */
export interface SendJobsResult {
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
}

/** The contract alone: the deployment's policy (fields, roles) is the worker's to apply. */
const CONTRACT_ONLY = { allowedFields: new Set(USER_FIELDS), allowedRoles: undefined, allowedOrganizations: '*' as const };
/** Characters SQS allows in a FIFO message group or deduplication id, at most 128 of them. */
const SQS_ID = /^[\x21-\x7e]{1,128}$/;

/**
 * Validates jobs against the contract, then puts them on the jobs queue, ten per call (and 1 MiB at most).
 * Each job gets a `jobId` if it has none (a UUID), and on a FIFO queue its message group is its user
 * ({@link messageGroupFor}) and its deduplication id its job id, so that a repeated job is never dropped and
 * a producer's retry of the same job is. Never throws for a job's problem: every job ends in exactly one of
 * `sent`, `invalid` or `failed`. On a FIFO queue the first failed call stops the send, so no later job of a
 * user overtakes an earlier one; the rest are reported `not_attempted`.
 *
 * @example
 * const result = await sendJobs(new SQSClient({}), queueUrl, [{ type: 'user.update', userId: 'auth0|1', changes: { blocked: true } }]);
 * for (const { index, reason } of [...result.invalid, ...result.failed]) console.error(`job ${index}: ${reason}`);
 */
export async function sendJobs(sqs: Pick<SQSClient, 'send'>, queueUrl: string, jobs: readonly unknown[], options: SendJobsOptions = {}): Promise<SendJobsResult> {
  const fifo = queueUrl.endsWith('.fifo');
  const valid: Array<{ index: number; job: Job; body: string }> = [];
  const invalid: UnsentJob[] = [];
  jobs.forEach((input, index) => {
    try {
      // JSON.stringify gives undefined for undefined or a function, and throws for a BigInt: all invalid.
      const raw = typeof input === 'string' ? input : (JSON.stringify(input) ?? '');
      const job = parseJob(raw, CONTRACT_ONLY);
      if (job.jobId !== undefined) {
        valid.push({ index, job, body: raw });
        return;
      }
      // The body as given, with the assigned job id added.
      const jobId = randomUUID();
      const value = (typeof input === 'string' ? JSON.parse(input) : input) as Record<string, unknown>;
      valid.push({ index, job: { ...job, jobId }, body: JSON.stringify({ ...value, jobId }) });
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
  let done = invalid.length;
  for (const batch of chunk(valid, (entry) => Buffer.byteLength(entry.body, 'utf8'))) {
    if (fifo && failed.length > 0) {
      for (const entry of batch) failed.push({ index: entry.index, code: 'not_attempted', reason: 'not sent: an earlier send to this FIFO queue failed, and order must hold' });
      continue;
    }
    try {
      const answer = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: batch.map((entry, position) => ({
            Id: String(position),
            MessageBody: entry.body,
            ...(fifo ? { MessageGroupId: messageGroupFor(entry.job), MessageDeduplicationId: deduplicationIdFor(entry.job) } : {}),
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
 * The FIFO message group of a job: its user, as `id:{userId}` or `email:{email in lower case}` (the sync
 * groups the same way), so each user's jobs apply in order. A target SQS cannot carry as a group id (over 128
 * characters, or outside printable ASCII) is hashed: `sha256:{hex}`.
 */
export function messageGroupFor(job: Job): string {
  const key = job.userId !== undefined ? `id:${job.userId}` : `email:${job.email.toLowerCase()}`;
  return SQS_ID.test(key) ? key : `sha256:${createHash('sha256').update(key).digest('hex')}`;
}

/** The FIFO deduplication id of a job: its job id, which the contract keeps to 64 visible ASCII characters. */
export function deduplicationIdFor(job: Job): string {
  if (job.jobId === undefined) throw new TypeError('a job needs a jobId to be deduplicated');
  return job.jobId;
}
