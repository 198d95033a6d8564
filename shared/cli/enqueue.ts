import { SQSClient } from '@aws-sdk/client-sqs';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { validateJob } from '../jobs/contract.ts';
import { type SendJobsResult, type UnsentJob, sendJobs } from '../producer/send-jobs.ts';
import { awsConfig, readArgs } from './args.ts';
import { DISCOVERY_HELP } from './discover.ts';
import type { CliIo } from './io.ts';

export const ENQUEUE_HELP = `Usage: auth0-queue-worker enqueue FILE|- [--stack NAME | --queue-url URL] [--skip-invalid] [--dry-run] [--json]

Validates every job of FILE (JSON Lines, or one JSON array; - reads standard input) against the job
contract, then sends them to the jobs queue, ten per call. With any invalid job nothing is sent, unless
--skip-invalid. A job without an issuedAt gets the send time. On a FIFO queue each job's user is its
message group, and its deduplication id an HMAC of its jobId under a key of this run (a job without a
jobId gets one), which no other producer can guess.

${DISCOVERY_HELP}
  --queue-url URL     the jobs queue (default: JOBS_QUEUE_URL)
  --region R          AWS region (default: the SDK's, from AWS_REGION or your profile)
  --endpoint-url URL  an SQS endpoint other than AWS's (a local emulator)
  --skip-invalid      send the valid jobs even if some are invalid
  --dry-run           validate every job and send nothing (no queue needed)
  --json              print the result as JSON: sent, invalid and failed, each with its line
  --help              this text

Exit status: 0 when every job was sent (or skipped as invalid with --skip-invalid; with --dry-run, when
every job is valid), 1 otherwise (a file with no job included), 2 for a usage error (a missing file too).
`;

/** Most problems listed in the human output; --json lists all. */
const LISTED = 20;

/**
 * `auth0-queue-worker enqueue`: a file of jobs onto the jobs queue, through the producer module.
 *
 * @returns the process exit status.
 */
export async function runEnqueue(argv: readonly string[], io: CliIo): Promise<number> {
  const args = readArgs(() => parse(argv), ENQUEUE_HELP, io);
  if (typeof args === 'number') return args;
  const { values, positionals } = args;
  const queueUrl = values['queue-url'] ?? io.env['JOBS_QUEUE_URL'];
  const [file] = positionals;
  const dryRun = values['dry-run'];
  if (file === undefined || positionals.length > 1 || (queueUrl === undefined && !dryRun)) {
    io.stderr.write(`${file === undefined || positionals.length > 1 ? 'give one FILE, or - for standard input' : 'give --stack NAME or --queue-url (or set JOBS_QUEUE_URL), or --dry-run to validate only'} (see --help)\n`);
    return 2;
  }

  let text: string;
  try {
    text = file === '-' ? await io.readStdin() : await readFile(file, 'utf8');
  } catch (error) {
    const code = error instanceof Error && 'code' in error ? String(error.code) : 'unreadable';
    // A file that is not there is a mistake in the command line; one that cannot be read is a failure.
    if (code === 'ENOENT' || code === 'EISDIR') {
      io.stderr.write(`${file}: ${code === 'ENOENT' ? 'no such file' : 'a directory, not a file'} (see --help)\n`);
      return 2;
    }
    io.stderr.write(`cannot read ${file}: ${code}\n`);
    return 1;
  }
  const parsed = splitJobs(text);
  if ('error' in parsed) {
    io.stderr.write(`${file}: ${parsed.error}\n`);
    return 1;
  }
  const { jobs, lines, unit } = parsed;
  if (jobs.length === 0) {
    io.stderr.write(`${file === '-' ? 'standard input' : file} holds no job: nothing to ${dryRun ? 'validate' : 'send'}\n`);
    return 1;
  }
  if (dryRun || queueUrl === undefined) return validateOnly(jobs, lines, unit, values.json, io);

  const sqs = io.createSqsClient(awsConfig(values.region, values['endpoint-url']));
  const progress = io.stderr.isTTY === true && !values.json;
  const result = await sendJobs(sqs, queueUrl, jobs, {
    skipInvalid: values['skip-invalid'],
    ...(progress ? { onProgress: (done: number, total: number) => io.stderr.write(`\r${bar(done, total)}`) } : {}),
  });
  if (progress) io.stderr.write('\n');

  const where = (entry: UnsentJob) => ({ [unit]: lines[entry.index] ?? entry.index + 1, code: entry.code, reason: entry.reason });
  if (values.json) {
    io.stdout.write(`${JSON.stringify({ queueUrl, sent: result.sent.length, invalid: result.invalid.map(where), failed: result.failed.map(where) }, null, 2)}\n`);
  } else {
    io.stdout.write(summary(result, jobs.length, queueUrl, lines, unit, values['skip-invalid']));
  }
  const ok = result.failed.length === 0 && (result.invalid.length === 0 || values['skip-invalid']);
  return ok ? 0 : 1;
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      'queue-url': { type: 'string' },
      region: { type: 'string' },
      'endpoint-url': { type: 'string' },
      'skip-invalid': { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
}

/**
 * The jobs of a file: one JSON array, or JSON Lines (blank lines ignored; a line that is not JSON stays a
 * job, to be reported invalid). Keeps each job's line number, or its item number in an array.
 */
export function splitJobs(text: string): { jobs: unknown[]; lines: number[]; unit: 'line' | 'item' } | { error: string } {
  if (text.trimStart().startsWith('[')) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return { error: 'starts with [ but is not one valid JSON array; give a JSON array, or one job per line' };
    }
    if (!Array.isArray(value)) return { error: 'is not a JSON array' };
    return { jobs: value, lines: value.map((_, index) => index + 1), unit: 'item' };
  }
  const jobs: unknown[] = [];
  const lines: number[] = [];
  text.split('\n').forEach((row, index) => {
    if (row.trim() === '') return;
    jobs.push(row.trim());
    lines.push(index + 1);
  });
  return { jobs, lines, unit: 'line' };
}

function summary(result: SendJobsResult, total: number, queueUrl: string, lines: readonly number[], unit: string, skipInvalid: boolean): string {
  const out: string[] = [];
  const list = (entries: readonly UnsentJob[]) => {
    for (const entry of entries.slice(0, LISTED)) out.push(`  ${unit} ${lines[entry.index] ?? entry.index + 1}: ${entry.code}: ${entry.reason}`);
    if (entries.length > LISTED) out.push(`  … and ${entries.length - LISTED} more (--json lists them all)`);
  };
  const count = (n: number) => n.toLocaleString('en-US');
  if (result.invalid.length > 0 && !skipInvalid) {
    out.push(`${count(result.invalid.length)} of ${count(total)} jobs are invalid; nothing was sent (fix them, or add --skip-invalid to send the ${count(total - result.invalid.length)} valid ones):`);
    list(result.invalid);
    return `${out.join('\n')}\n`;
  }
  out.push(`sent ${count(result.sent.length)} of ${count(total)} jobs to ${queueUrl}; ${count(result.invalid.length)} invalid skipped; ${count(result.failed.length)} not sent`);
  if (result.invalid.length > 0) {
    out.push('skipped as invalid:');
    list(result.invalid);
  }
  if (result.failed.length > 0) {
    out.push(`not sent (send them again: ${result.failed.length === total ? 'all of them' : `the ${unit}s below`}):`);
    list(result.failed);
  }
  return `${out.join('\n')}\n`;
}

/** `--dry-run`: every job checked against the contract, nothing sent. */
function validateOnly(jobs: readonly unknown[], lines: readonly number[], unit: string, json: boolean, io: CliIo): number {
  const invalid = jobs.flatMap((job, index) => {
    const check = validateJob(job);
    return check.ok ? [] : [{ index, code: check.code, reason: check.reason }];
  });
  const count = (n: number) => n.toLocaleString('en-US');
  if (json) {
    io.stdout.write(`${JSON.stringify({ valid: jobs.length - invalid.length, invalid: invalid.map((entry) => ({ [unit]: lines[entry.index] ?? entry.index + 1, code: entry.code, reason: entry.reason })) }, null, 2)}\n`);
  } else {
    const out = [`${count(jobs.length - invalid.length)} of ${count(jobs.length)} jobs are valid; nothing was sent (--dry-run)`];
    for (const entry of invalid.slice(0, LISTED)) out.push(`  ${unit} ${lines[entry.index] ?? entry.index + 1}: ${entry.code}: ${entry.reason}`);
    if (invalid.length > LISTED) out.push(`  … and ${invalid.length - LISTED} more (--json lists them all)`);
    io.stdout.write(`${out.join('\n')}\n`);
  }
  return invalid.length === 0 ? 0 : 1;
}

function bar(done: number, total: number): string {
  const width = 30;
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')}`;
}

/** The SQS client of the command line: the SDK's credential chain and region, requests to the configured endpoint. */
export function createCliSqsClient(config: { region?: string; endpoint?: string }): SQSClient {
  return new SQSClient({ ...config, useQueueUrlAsEndpoint: false });
}
