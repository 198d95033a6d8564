import { GetQueueAttributesCommand, type SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { parseArgs } from 'node:util';
import { DEAD_LETTER_FIRST_SENT_ATTRIBUTE } from '../queue/order.ts';
import { DEAD_LETTER_ATTRIBUTES } from '../queue/sqs.ts';
import { type DeadLetterView, attributesOf, scanDeadLetters } from './dead-letters.ts';
import { awsConfig, readArgs } from './args.ts';
import { DISCOVERY_HELP } from './discover.ts';
import type { CliIo } from './io.ts';

export const DLQ_HELP = `Usage: auth0-queue-worker dlq [--stack NAME [--producer NAME] | --dlq-url URL] [--turn-over] [--json]
       auth0-queue-worker dlq redrive [--stack NAME | --dlq-url URL --queue-url URL] [--reason R]… [--job ID]… [--max N] [--reissue] [--dry-run] [--json]
       auth0-queue-worker dlq discard [--stack NAME | --dlq-url URL] (--reason R… | --job ID… | --all) [--max N] [--dry-run] [--json]

dlq: what the dead-letter queue holds, by reason (count, oldest, a few job ids). It only receives (it needs
sqs:ReceiveMessage, and sqs:GetQueueAttributes for the counts): each letter it reads stays hidden from other
readers for a few seconds (it says how many), then comes back by itself. On a FIFO queue SQS hands out a
group's later letters only once the earlier ones are deleted, so it reads the first letters of each group and
says how many of about how many it read; --turn-over reads them all.

dlq redrive: sends the chosen letters' jobs back to the jobs queue, deleting each letter only after its job
was sent (a crash sends a job twice at worst, never loses it). Fix the cause first: a job redriven unchanged
fails again for the same reason. A redriven job keeps its place among its user's jobs: it cannot undo what a
newer job wrote. --reissue gives it a new place (issuedAt now), to apply it again over newer jobs on purpose.

dlq discard: deletes the chosen letters for good, for jobs that must never run (a producer's mistake, a user
deleted since): name them by --reason, by --job, or --all. It prints the job id of every letter it deleted (--json too),
so that what was dropped is on record. Try --dry-run first.

${DISCOVERY_HELP}
  --dlq-url URL       the dead-letter queue (default: DLQ_URL)
  --turn-over         dlq on a FIFO queue: read every letter by sending each again to the tail of its group and
                      deleting the original, once, in order (needs sqs:SendMessage and sqs:DeleteMessage on it)
  --queue-url URL     redrive: the jobs queue (default: JOBS_QUEUE_URL)
  --reason R          redrive or discard only letters with this reason (repeat for several; none: the letters SQS
                      moved itself); redrive's default: all
  --job ID            redrive or discard only the letters of this job id (repeat for several); with --reason,
                      letters that match both
  --all               discard: every letter, whatever its reason
  --max N             redrive or discard at most N letters
  --reissue           redrive: the jobs are newer than any so far (issuedAt now), so they apply over newer jobs
  --dry-run           redrive or discard: say what would be done, do nothing
  --region R          AWS region (default: the SDK's)
  --endpoint-url URL  an SQS endpoint other than AWS's (a local emulator)
  --json              print the result as JSON
  --help              this text
`;

/** Job ids shown per reason. */
const SHOWN_IDS = 3;
/** Distinct error messages shown under each reason; --json lists them all. */
const SHOWN_ERRORS = 3;

/**
 * How long a read-only summary hides each letter it reads: the scan's likely length (50 letters a second, slower
 * than SQS answers) and 5 s more, so that letters do not come back while it runs; 30 s when the count is unknown.
 */
function summaryHideSeconds(letters: number | undefined): number {
  return letters === undefined ? 30 : Math.min(300, 5 + Math.ceil(letters / 50));
}

/** `auth0-queue-worker dlq [redrive]`. Resolves with the exit status. */
export async function runDlq(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = readArgs(() => parse(argv), DLQ_HELP, io);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const action = positionals[0] ?? 'summary';
  const dlqUrl = values['dlq-url'] ?? io.env['DLQ_URL'];
  const queueUrl = values['queue-url'] ?? io.env['JOBS_QUEUE_URL'];
  const max = values.max === undefined ? Number.POSITIVE_INFINITY : Number(values.max);
  const fifo = dlqUrl?.endsWith('.fifo') ?? false;
  const problem =
    positionals.length > 1 || !['summary', 'redrive', 'discard'].includes(action) ? `unknown dlq action ${JSON.stringify(positionals.join(' '))} (dlq, dlq redrive or dlq discard)`
    : dlqUrl === undefined ? 'give --dlq-url (or set DLQ_URL)'
    : action === 'redrive' && queueUrl === undefined ? 'give --queue-url (or set JOBS_QUEUE_URL): where redriven jobs go'
    : !(Number.isInteger(max) || max === Number.POSITIVE_INFINITY) || max < 1 ? '--max must be a whole number, 1 or more'
    : values['turn-over'] && (action !== 'summary' || !fifo) ? '--turn-over is for dlq (the summary) on a FIFO dead-letter queue; a standard one is read in full without it'
    : action === 'summary' && (values.max !== undefined || values.reason !== undefined || values.job !== undefined || values.reissue === true || values['dry-run'] === true || values.all === true)
      ? `${[values.max !== undefined ? '--max' : '', values.reason !== undefined ? '--reason' : '', values.job !== undefined ? '--job' : '', values.reissue === true ? '--reissue' : '', values['dry-run'] === true ? '--dry-run' : '', values.all === true ? '--all' : ''].filter(Boolean).join(', ')} choose what dlq redrive or dlq discard acts on; plain dlq reads every letter and changes none`
    : action === 'discard' && values.reason === undefined && values.job === undefined && values.all !== true ? 'dlq discard deletes letters for good: name them with --reason R or --job ID (repeat for several), or give --all'
    : action === 'discard' && (values.reason !== undefined || values.job !== undefined) && values.all === true ? `--all and ${values.reason !== undefined ? '--reason' : '--job'}: give one of them`
    : action === 'discard' && values.reissue === true ? '--reissue is for dlq redrive; dlq discard sends nothing'
    : action === 'redrive' && values.all === true ? '--all is for dlq discard; dlq redrive takes every letter unless --reason names some'
    : undefined;
  if (problem !== undefined || dlqUrl === undefined) {
    io.stderr.write(`${problem} (see --help)\n`);
    return 2;
  }

  const sqs = io.createSqsClient(awsConfig(values.region, values['endpoint-url']));
  const reasons = new Set(values.reason ?? []);
  const jobIds = new Set(values.job ?? []);
  const redrive = action === 'redrive';
  const discard = action === 'discard';
  const readOnly = !redrive && !discard && !values['turn-over'];
  // What the command must do on a FIFO queue, said before it does anything.
  if (fifo && readOnly) {
    io.stderr.write('FIFO dead-letter queue: read only, this shows the first letters of each group (SQS hands out the next only once they are deleted); dlq --turn-over shows every letter by sending each again to the tail of its group and deleting the original (needs sqs:SendMessage and sqs:DeleteMessage on the queue)\n');
  } else if (fifo && !redrive && !discard) {
    io.stderr.write('FIFO dead-letter queue: --turn-over sends each letter again to the tail of its group and deletes the original, once, in order (needs sqs:SendMessage and sqs:DeleteMessage on the queue)\n');
  } else if (fifo && (reasons.size > 0 || jobIds.size > 0 || max !== Number.POSITIVE_INFINITY || values['dry-run'])) {
    io.stderr.write(`FIFO dead-letter queue: each letter not ${discard ? 'discarded' : 'redriven'} is sent again to the tail of its group and the original deleted, to read past it (needs sqs:SendMessage on the queue as well)\n`);
  }
  // How many letters the queue holds, visible or hidden by a reader: to say how many this run did not read.
  const counts = await queueCounts(sqs, dlqUrl);
  const hideSeconds = summaryHideSeconds(counts === undefined ? undefined : counts.visible + counts.held);
  const chosen = (letter: DeadLetterView) => (reasons.size === 0 || reasons.has(letter.reason)) && (jobIds.size === 0 || (letter.jobId !== undefined && jobIds.has(letter.jobId)));
  // Any queue in the account may name this one as its dead-letter queue (CloudFormation cannot give it a
  // redrive-allow policy naming the jobs queue without a dependency cycle): a letter from another queue is
  // never redriven as a job.
  const foreign: DeadLetterView[] = [];
  const ours = (letter: DeadLetterView) => {
    const source = letter.message.MessageAttributes?.['sourceQueueArn']?.StringValue ?? letter.message.Attributes?.['DeadLetterQueueSourceArn'];
    const mine = queueUrl !== undefined && source !== undefined && sameQueue(source, queueUrl);
    if (!mine) foreign.push(letter);
    return mine;
  };
  let picked = 0;
  const fifoJobs = queueUrl?.endsWith('.fifo') ?? false;
  const progress = io.stderr.isTTY === true && !values.json;

  let result: Awaited<ReturnType<typeof scanDeadLetters>>;
  const changed = { moved: 0, 'turned-over': 0 };
  try {
    result = await scanDeadLetters(sqs, dlqUrl, {
      onChange: (change) => void (changed[change] += 1),
      ...(readOnly ? { readOnly, visibilitySeconds: hideSeconds } : {}),
      decide: (letter) => {
        if (discard) {
          if (!chosen(letter) || picked >= max) return 'keep';
        } else if (!redrive || !chosen(letter) || picked >= max || !ours(letter)) {
          return 'keep';
        }
        picked += 1;
        return values['dry-run'] ? 'keep' : 'move';
      },
      move: async (letter) => {
        // Discarding sends nothing: the scan deletes the letter once this resolves.
        if (discard) return undefined;
        const original = letter.message.MessageAttributes?.['originalMessageId']?.StringValue ?? letter.message.MessageId ?? '';
        const firstSentAt = letter.message.MessageAttributes?.[DEAD_LETTER_FIRST_SENT_ATTRIBUTE]?.StringValue;
        const { MessageId } = await sqs.send(
          new SendMessageCommand({
            QueueUrl: queueUrl,
            MessageBody: values.reissue ? reissued(letter.message.Body ?? '', new Date().toISOString()) : (letter.message.Body ?? ''),
            // The producer's own attributes and the job's order go along; the letter's reason and other worker
            // attributes stay behind, so that they never change how the job is retried.
            MessageAttributes: {
              ...producerAttributesOfLetter(letter),
              ...(!values.reissue && firstSentAt !== undefined ? { [DEAD_LETTER_FIRST_SENT_ATTRIBUTE]: { DataType: 'String', StringValue: firstSentAt } } : {}),
            },
            // The same deduplication id for a second try of the same letter: FIFO drops the duplicate.
            ...(fifoJobs ? { MessageGroupId: letter.message.Attributes?.['MessageGroupId'] ?? `redrive-${original}`, MessageDeduplicationId: `redrive-${original}`.slice(0, 128) } : {}),
          }),
        );
        return MessageId;
      },
      ...(progress ? { onProgress: (seen: number) => io.stderr.write(`\r${seen.toLocaleString('en-US')} letters read`) } : {}),
    });
  } catch (error) {
    if (progress) io.stderr.write('\n');
    const name = error instanceof Error ? error.name : 'Error';
    const what =
      changed.moved + changed['turned-over'] === 0
        ? readOnly || values['dry-run'] === true
          ? 'Nothing was changed.'
          : discard
            ? 'Nothing was deleted.'
            : 'Nothing was moved.'
        : discard
          ? `${[`${changed.moved} letter(s) discarded`, changed['turned-over'] > 0 ? `${changed['turned-over']} turned over` : ''].filter(Boolean).join(' and ')} before it stopped. Run the command again for the rest.`
          : `${[changed.moved > 0 ? `${changed.moved} letter(s) redriven` : '', changed['turned-over'] > 0 ? `${changed['turned-over']} turned over` : ''].filter(Boolean).join(' and ')} before it stopped, each deleted only once sent: none was lost. Run the command again for the rest.`;
    io.stderr.write(`stopped: ${name}${error instanceof Error && error.message !== '' ? `: ${error.message}` : ''}. ${what} ${failureHint(error, redrive ? 'redrive' : discard ? 'discard' : values['turn-over'] === true ? 'turn-over' : 'read')}\n`);
    return 1;
  }
  if (progress) io.stderr.write('\n');

  const groups = byReason(result.letters);
  const about = counts === undefined ? undefined : counts.visible + counts.held;
  // Letters the queue held when the run began that it did not read: hidden by another reader, or (read-only FIFO)
  // behind their groups' first letters.
  const unread = about === undefined ? undefined : Math.max(0, about - result.letters.length);
  const partial = fifo && readOnly && unread !== undefined && unread > 0;
  if (values.json) {
    io.stdout.write(
      `${JSON.stringify(
        {
          dlqUrl,
          total: result.letters.length,
          reasons: groups.map((group) => ({ reason: group.reason, count: group.letters.length, oldest: new Date(group.oldest).toISOString(), jobIds: group.jobIds, errors: group.errors })),
          ...(redrive
            ? { moved: result.moved.length, wouldMove: values['dry-run'] ? picked : undefined }
            : discard
              ? { discarded: result.moved.length, discardedJobIds: jobIdsOf(result.moved), wouldDiscard: values['dry-run'] ? picked : undefined }
              : { readOnly, hiddenSeconds: readOnly ? hideSeconds : undefined, approximateTotal: about }),
          unread,
        },
        null,
        2,
      )}\n`,
    );
    return 0;
  }
  const out: string[] = [];
  const now = Date.now();
  if (discard) {
    if (values['dry-run']) {
      out.push(`would discard ${picked.toLocaleString('en-US')} of ${result.letters.length.toLocaleString('en-US')} dead letter(s) in ${dlqUrl}; nothing was deleted`);
    } else {
      const discardedBy = byReason(result.moved);
      out.push(`discarded ${result.moved.length.toLocaleString('en-US')} of ${result.letters.length.toLocaleString('en-US')} dead letter(s) in ${dlqUrl}${discardedBy.length === 0 ? '' : `: ${discardedBy.map((group) => `${group.reason} ${group.letters.length}`).join(', ')}`}`);
      const ids = jobIdsOf(result.moved);
      if (ids.length > 0) out.push(`job ids: ${ids.join(', ')}`);
      out.push(`${(result.letters.length - result.moved.length).toLocaleString('en-US')} left in ${dlqUrl}`);
    }
  } else if (!redrive) {
    out.push(
      partial
        ? `${result.letters.length.toLocaleString('en-US')} of about ${(about ?? 0).toLocaleString('en-US')} dead letter(s) read in ${dlqUrl} (the first of each group; dlq --turn-over reads them all)`
        : `${result.letters.length.toLocaleString('en-US')} dead letter(s) in ${dlqUrl}`,
    );
    if (groups.length > 0) {
      out.push(`  ${'reason'.padEnd(24)} ${'count'.padStart(6)}  ${'oldest'.padEnd(32)} job ids`);
      for (const group of groups) {
        out.push(`  ${group.reason.padEnd(24)} ${String(group.letters.length).padStart(6)}  ${`${new Date(group.oldest).toISOString()} (${age(now - group.oldest)})`.padEnd(32)} ${group.jobIds.join(', ')}${group.letters.length > group.jobIds.length ? ', …' : ''}`);
        // What Auth0 (or the worker) said, which names the fix: a missing scope, the answer's error code.
        for (const error of group.errors.slice(0, SHOWN_ERRORS)) {
          const answer = [error.httpStatus, error.auth0ErrorCode].filter((part) => part !== undefined).join(' ');
          out.push(`      ${String(error.count).padStart(4)} × ${answer === '' ? '' : `${answer}: `}${error.message.length > 160 ? `${error.message.slice(0, 159)}…` : error.message}`);
        }
        if (group.errors.length > SHOWN_ERRORS) out.push(`           … and ${group.errors.length - SHOWN_ERRORS} other message(s) (--json lists them all)`);
      }
      out.push('Read docs/contract.md (Why a job is dead-lettered) for each reason; once fixed: auth0-queue-worker dlq redrive --reason <reason> …');
    }
    if (readOnly && result.letters.length > 0) out.push(`Read only: each letter read stays hidden from other readers (a redrive too) for ${hideSeconds} s, then comes back by itself.`);
  } else if (values['dry-run']) {
    out.push(`would redrive ${picked.toLocaleString('en-US')} of ${result.letters.length.toLocaleString('en-US')} dead letter(s) to ${queueUrl}; nothing was moved`);
  } else {
    const movedBy = byReason(result.moved);
    out.push(`${values.reissue ? 'reissued (issuedAt now, applied over newer jobs) and ' : ''}redrove ${result.moved.length.toLocaleString('en-US')} of ${result.letters.length.toLocaleString('en-US')} dead letter(s) to ${queueUrl}${movedBy.length === 0 ? '' : `: ${movedBy.map((group) => `${group.reason} ${group.letters.length}`).join(', ')}`}`);
    out.push(`${(result.letters.length - result.moved.length).toLocaleString('en-US')} left in ${dlqUrl}`);
  }
  if (redrive && foreign.length > 0) {
    const sources = [...new Set(foreign.map((letter) => letter.message.MessageAttributes?.['sourceQueueArn']?.StringValue ?? letter.message.Attributes?.['DeadLetterQueueSourceArn'] ?? 'no source'))];
    out.push(`${foreign.length.toLocaleString('en-US')} letter(s) came from another queue (${sources.slice(0, 3).join(', ')}${sources.length > 3 ? ', …' : ''}), not ${queueUrl}: left in place, never sent as jobs. Only the jobs queue should name this dead-letter queue in its redrive policy.`);
  }
  if (unread !== undefined && unread > 0 && !partial) {
    out.push(`About ${unread.toLocaleString('en-US')} more were not read, most likely hidden by another reader (a dlq summary hides the letters it reads for a few seconds, a redrive until it moves them): run again once they are back.`);
  }
  io.stdout.write(`${out.join('\n')}\n`);
  return 0;
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      'dlq-url': { type: 'string' },
      'queue-url': { type: 'string' },
      reason: { type: 'string', multiple: true },
      job: { type: 'string', multiple: true },
      max: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      'turn-over': { type: 'boolean', default: false },
      reissue: { type: 'boolean', default: false },
      all: { type: 'boolean', default: false },
      region: { type: 'string' },
      'endpoint-url': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
}

/**
 * The dead-letter queue's letters: visible, and hidden by a reader (sqs:GetQueueAttributes, a read). Unknown
 * when they cannot be read: the command goes on without them.
 */
async function queueCounts(sqs: Pick<SQSClient, 'send'>, dlqUrl: string): Promise<{ visible: number; held: number } | undefined> {
  try {
    const { Attributes = {} } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
    return { visible: Number(Attributes.ApproximateNumberOfMessages ?? 0), held: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0) };
  } catch {
    return undefined;
  }
}

/** The job ids of letters, `(no job id)` for a letter without one, in the order given. */
function jobIdsOf(letters: readonly DeadLetterView[]): string[] {
  return letters.map((letter) => letter.jobId ?? '(no job id)');
}

/** Letters grouped by reason, the largest group first. */
function byReason(letters: readonly DeadLetterView[]) {
  const groups = new Map<string, DeadLetterView[]>();
  for (const letter of letters) groups.set(letter.reason, [...(groups.get(letter.reason) ?? []), letter]);
  return [...groups]
    .map(([reason, members]) => ({
      reason,
      letters: members,
      oldest: Math.min(...members.map((letter) => letter.deadLetteredAt)),
      jobIds: members.flatMap((letter) => (letter.jobId === undefined ? [] : [letter.jobId])).slice(0, SHOWN_IDS),
      errors: errorsOf(members),
    }))
    .sort((a, b) => b.letters.length - a.letters.length || a.reason.localeCompare(b.reason));
}

/** Distinct errors behind a reason, the most common first: what Auth0 answered, which holds the fix. */
function errorsOf(letters: readonly DeadLetterView[]): Array<{ message: string; httpStatus?: number; auth0ErrorCode?: string; count: number }> {
  const errors = new Map<string, { message: string; httpStatus?: number; auth0ErrorCode?: string; count: number }>();
  for (const letter of letters) {
    const attribute = (name: string) => letter.message.MessageAttributes?.[name]?.StringValue;
    const message = attribute('errorMessage') ?? '(no error message: SQS itself moved the job after its receives ran out)';
    const status = Number(attribute('httpStatus'));
    const auth0ErrorCode = attribute('auth0ErrorCode');
    const key = JSON.stringify([message, status, auth0ErrorCode]);
    const entry = errors.get(key) ?? { message, ...(Number.isInteger(status) && status > 0 ? { httpStatus: status } : {}), ...(auth0ErrorCode === undefined ? {} : { auth0ErrorCode }), count: 0 };
    entry.count += 1;
    errors.set(key, entry);
  }
  return [...errors.values()].sort((a, b) => b.count - a.count || a.message.localeCompare(b.message));
}

function age(ms: number): string {
  const minutes = Math.max(0, Math.round(ms / 60_000));
  return minutes < 120 ? `${minutes} min` : minutes < 2_880 ? `${Math.round(minutes / 60)} h` : `${Math.round(minutes / 1_440)} d`;
}

/**
 * A job's body with `issuedAt` set to `now`, for `--reissue`; a body that is not a JSON object goes as it was
 * (the worker dead-letters it again with its reason).
 */
function reissued(body: string, now: string): string {
  try {
    const job = JSON.parse(body) as unknown;
    if (typeof job !== 'object' || job === null || Array.isArray(job)) return body;
    return JSON.stringify({ ...job, issuedAt: now });
  } catch {
    return body;
  }
}

/** A letter's attributes that are not the worker's: the producer's own, which go back with the job. */
function producerAttributesOfLetter(letter: DeadLetterView) {
  return Object.fromEntries(Object.entries(attributesOf(letter.message)).filter(([name]) => !(DEAD_LETTER_ATTRIBUTES as readonly string[]).includes(name)));
}

/**
 * Whether an SQS queue ARN (`arn:aws:sqs:{region}:{account}:{name}`) and a queue URL (`…/{account}/{name}`)
 * name the same queue, by account and name.
 */
function sameQueue(arn: string, url: string): boolean {
  const [, , , , account, name] = arn.split(':');
  const path = url.replace(/[?#].*$/, '').split('/').filter((part) => part !== '');
  return account !== undefined && name !== undefined && path.at(-2) === account && path.at(-1) === name;
}

/** What to check when SQS could not be reached or refused: the endpoint, the credentials, or the permissions. */
function failureHint(error: unknown, action: 'read' | 'turn-over' | 'redrive' | 'discard'): string {
  const writes = action !== 'read';
  const name = error instanceof Error ? error.name : '';
  const text = `${name} ${error instanceof Error ? error.message : String(error)} ${String((error as { code?: unknown } | undefined)?.code ?? '')} ${String(((error as { cause?: { code?: unknown } } | undefined)?.cause)?.code ?? '')}`;
  if (/CredentialsProviderError|Could not load credentials|ExpiredToken|InvalidClientTokenId|UnrecognizedClient/i.test(text)) {
    return 'Check the AWS credentials: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or run aws sso login.';
  }
  if (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|TimeoutError|socket hang up/i.test(text)) {
    return 'Check where it looked: the queue URL (--dlq-url or --stack), --region, and --endpoint-url if you gave one.';
  }
  if (/AccessDenied|not authorized|KMS/i.test(text)) {
    const moves = ', sqs:SendMessage and sqs:DeleteMessage there, and sqs:SendMessage on the jobs queue';
    const more = { read: '', 'turn-over': moves, redrive: moves, discard: ', sqs:DeleteMessage there (and sqs:SendMessage on a FIFO one, to read past the letters kept)' }[action];
    return `Check the permissions: sqs:ReceiveMessage and sqs:GetQueueAttributes on the dead-letter queue${more} (and kms:Decrypt${writes ? ', kms:GenerateDataKey' : ''} under a customer-managed key).`;
  }
  if (/NonExistentQueue|QueueDoesNotExist/i.test(text)) return 'Check the queue URL (--dlq-url or --stack): no such queue.';
  return 'Run the command again; if it stops the same way, run auth0-queue-worker doctor.';
}
