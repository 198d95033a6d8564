import { CreateQueueCommand, DeleteMessageCommand, GetQueueAttributesCommand, type Message, ReceiveMessageCommand, SQSClient, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitJobs } from '../../../shared/cli/enqueue.ts';
import { runCommand } from '../../helpers/cli.ts';
import { startLocalSqs } from '../../helpers/sqs.ts';

const region = 'us-east-1';

describe('Command: auth0-queue-worker enqueue, against the fauxqs SQS emulator', () => {
  let local: Awaited<ReturnType<typeof startLocalSqs>>;
  let sqs: SQSClient;
  let dir: string;

  beforeAll(async () => {
    local = await startLocalSqs(region);
    ({ sqs } = local);
    dir = mkdtempSync(join(tmpdir(), 'enqueue-'));
  });

  afterAll(async () => {
    await local.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const createQueue = async (name: string, attributes: Record<string, string> = {}) => {
    const { QueueUrl = '' } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    return QueueUrl;
  };
  const depth = async (url: string) => {
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }));
    return Number(Attributes?.['ApproximateNumberOfMessages'] ?? 0);
  };
  /** Runs the command in-process; `wrap` may replace the SQS client (to inject a failure). */
  const cli = (argv: string[], wrap: (client: SQSClient) => Pick<SQSClient, 'send'> = (client) => client, stdin = '') =>
    runCommand(argv, { sqs: () => wrap(sqs), stdin });
  /** 10,000 jobs, with three invalid ones at lines 17, 5,000 and 9,999. */
  const writeJobs = (name: string) => {
    const lines = Array.from({ length: 10_000 }, (_, n) => JSON.stringify({ type: 'user.update', userId: `auth0|user-${n}`, changes: { blocked: n % 2 === 0 }, jobId: `bulk-${n}` }));
    lines[16] = '{"type":"user.update","userId":"auth0|a","email":"a@example.com","changes":{"blocked":true}}';
    lines[4_999] = 'not json';
    lines[9_998] = '{"type":"roles.assign","userId":"../admin","roles":["admin"]}';
    const file = join(dir, name);
    writeFileSync(file, `${lines.join('\n')}\n`);
    return file;
  };

  it('sends nothing when any job is invalid, and names each invalid line with its reason', async () => {
    // Prepare
    const queueUrl = await createQueue('enqueue-strict');
    const file = writeJobs('strict.jsonl');

    // Act
    const { status, stdout } = await cli(['enqueue', file, '--queue-url', queueUrl]);

    // Assess
    expect(status).toBe(1);
    expect(await depth(queueUrl)).toBe(0);
    expect(stdout).toContain('3 of 10,000 jobs are invalid; nothing was sent');
    expect(stdout).toContain('line 17: invalid_target');
    expect(stdout).toContain('line 5000: malformed_json');
    expect(stdout).toContain('line 9999: invalid_user_id');
  });

  it('with --skip-invalid sends the 9,997 valid jobs and says what it skipped', async () => {
    // Prepare
    const queueUrl = await createQueue('enqueue-skip');
    const file = writeJobs('skip.jsonl');

    // Act
    const { status, stdout } = await cli(['enqueue', file, '--queue-url', queueUrl, '--skip-invalid', '--json']);

    // Assess
    const result = JSON.parse(stdout) as { sent: number; invalid: Array<{ line: number; code: string }>; failed: unknown[] };
    expect(status).toBe(0);
    expect(result.sent).toBe(9_997);
    expect(result.invalid.map((entry) => entry.line)).toEqual([17, 5_000, 9_999]);
    expect(result.failed).toEqual([]);
    expect(await depth(queueUrl)).toBe(9_997);
  }, 60_000);

  it('reports exactly the lines a send that failed partway did not send', async () => {
    // Prepare: the 50th batch call fails (lines 491 to 500); the 80th answers with one entry refused
    const queueUrl = await createQueue('enqueue-failing');
    const lines = Array.from({ length: 1_000 }, (_, n) => JSON.stringify({ type: 'user.update', userId: `auth0|u${n}`, changes: { blocked: true }, jobId: `j-${n}` }));
    const file = join(dir, 'failing.jsonl');
    writeFileSync(file, lines.join('\n'));
    let calls = 0;
    const failing = (client: SQSClient) => ({
      send: async (command: SendMessageBatchCommand) => {
        calls += 1;
        if (calls === 50) throw Object.assign(new Error('We encountered an internal error. Please try again.'), { name: 'InternalError' });
        if (calls !== 80) return client.send(command);
        const answer = await client.send(new SendMessageBatchCommand({ ...command.input, Entries: command.input.Entries?.filter((entry) => entry.Id !== '3') }));
        return { ...answer, Failed: [{ Id: '3', Code: 'ThrottlingException', SenderFault: false, Message: 'Rate exceeded' }] };
      },
    }) as unknown as Pick<SQSClient, 'send'>;

    // Act
    const { status, stdout } = await cli(['enqueue', file, '--queue-url', queueUrl], failing);

    // Assess
    expect(status).toBe(1);
    expect(stdout).toContain('sent 989 of 1,000 jobs');
    expect(stdout).toContain('11 not sent');
    for (let line = 491; line <= 500; line++) expect(stdout).toContain(`line ${line}: InternalError`);
    expect(stdout).toContain('line 794: ThrottlingException: Rate exceeded');
    expect(await depth(queueUrl)).toBe(989);
  }, 60_000);

  it('on a FIFO queue, groups by user and deduplicates by job id, assigning one to a job without', async () => {
    // Prepare: the same block job twice with different ids, and one without an id, read from standard input as a JSON array
    const queueUrl = await createQueue('enqueue.fifo', { FifoQueue: 'true' });
    const jobs = [
      { type: 'user.update', userId: 'auth0|1', changes: { blocked: true }, jobId: 'block-1' },
      { type: 'user.update', userId: 'auth0|1', changes: { blocked: false }, jobId: 'unblock-1' },
      { type: 'user.update', userId: 'auth0|1', changes: { blocked: true }, jobId: 'block-2' },
      { type: 'roles.assign', email: 'Ada@Example.com', roles: ['support'] },
    ];

    // Act
    const { status } = await cli(['enqueue', '-', '--queue-url', queueUrl], undefined, JSON.stringify(jobs));
    // A FIFO queue hands out one message per group at a time: delete what was read before reading on.
    const received: Message[] = [];
    for (let round = 0; round < 10 && received.length < 4; round++) {
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, MessageSystemAttributeNames: ['All'] }));
      received.push(...Messages);
      for (const message of Messages) await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
    }

    const repeated = await cli(['enqueue', '-', '--queue-url', queueUrl, '--json'], undefined, JSON.stringify([jobs[0], { ...jobs[1], jobId: 'block-1' }]));

    // Assess: nothing dropped as a duplicate; one group per user; a repeated jobId refused before anything is sent
    expect(repeated.status).toBe(1);
    expect((JSON.parse(repeated.stdout) as { invalid: Array<{ item: number; code: string }> }).invalid).toEqual([{ item: 2, code: 'duplicate_job_id', reason: expect.stringContaining('repeats job 0') }]);
    expect(status).toBe(0);
    expect(received).toHaveLength(4);
    const groups = received.map((message) => message.Attributes?.['MessageGroupId']);
    expect(new Set(groups)).toEqual(new Set(['id:auth0|1', 'email:ada@example.com']));
    const assigned = JSON.parse(received.find((message) => message.Attributes?.['MessageGroupId'] === 'email:ada@example.com')?.Body ?? '{}') as { jobId?: string };
    expect(assigned.jobId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('stamps issuedAt with the send time on a line without one, and keeps the one a line gives', async () => {
    // Prepare
    const queueUrl = await createQueue('enqueue-issued-at');
    const own = '{"type":"user.update","userId":"auth0|2","changes":{"blocked":false},"jobId":"own","issuedAt":"2026-12-04T17:27:58.123456+01:00"}';
    const file = join(dir, 'issued-at.jsonl');
    writeFileSync(file, `{"type":"user.update","userId":"auth0|1","changes":{"blocked":true},"jobId":"stamped"}\n${own}\n`);
    const before = Date.now();

    // Act
    const { status } = await cli(['enqueue', file, '--queue-url', queueUrl]);
    const after = Date.now();
    const received: Message[] = [];
    for (let round = 0; round < 5 && received.length < 2; round++) {
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
      received.push(...Messages);
    }

    // Assess
    expect(status).toBe(0);
    const bodies = new Map(received.map((message) => [(JSON.parse(message.Body ?? '{}') as { jobId: string }).jobId, message.Body ?? '']));
    const stamped = JSON.parse(bodies.get('stamped') ?? '{}') as { issuedAt?: string };
    expect(stamped.issuedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Date.parse(stamped.issuedAt ?? '')).toBeGreaterThanOrEqual(before);
    expect(Date.parse(stamped.issuedAt ?? '')).toBeLessThanOrEqual(after);
    expect(bodies.get('own')).toBe(own);
  });

  it('refuses usage errors with the command\'s help, and reads line numbers past blank lines', async () => {
    // Act
    const missing = await cli(['enqueue', 'jobs.jsonl']);
    const unknown = await cli(['enqueue', 'jobs.jsonl', '--queue-url', 'x', '--sideways']);
    const command = await cli(['dequeue']);

    // Assess
    expect(missing.status).toBe(2);
    expect(missing.stderr).toBe('give --stack NAME or --queue-url (or set JOBS_QUEUE_URL), or --dry-run to validate only (see --help)\n');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain("Unknown option '--sideways'");
    expect(command.status).toBe(2);
    expect(splitJobs('{"a":1}\n\n  \n{"b":2}\n')).toEqual({ jobs: ['{"a":1}', '{"b":2}'], lines: [1, 4], unit: 'line' });
    expect(splitJobs('[1, 2')).toEqual({ error: expect.stringContaining('not one valid JSON array') });
  });

  it('validates without a queue with --dry-run, and treats a missing file as a usage error and an empty one as nothing to send', async () => {
    // Prepare: 10,000 jobs, three of them invalid; an empty file
    const file = writeJobs('dry-run.jsonl');
    const empty = join(dir, 'empty.jsonl');
    writeFileSync(empty, '\n\n');
    const valid = join(dir, 'valid.jsonl');
    writeFileSync(valid, '{"type":"user.update","userId":"auth0|a","changes":{"blocked":true}}\n');
    const calls: string[] = [];
    const recording = (client: SQSClient) => ({ send: (command: Parameters<SQSClient['send']>[0]) => (calls.push(command.constructor.name), client.send(command as never)) }) as unknown as Pick<SQSClient, 'send'>;

    // Act
    const checked = await cli(['enqueue', file, '--dry-run'], recording);
    const fine = await cli(['enqueue', valid, '--dry-run'], recording);
    const missing = await cli(['enqueue', join(dir, 'nowhere.jsonl'), '--queue-url', 'http://127.0.0.1:1/000000000000/jobs'], recording);
    const nothing = await cli(['enqueue', empty, '--queue-url', 'http://127.0.0.1:1/000000000000/jobs'], recording);

    // Assess: no SQS call at all, the invalid lines named, the exit statuses as documented
    expect(calls).toEqual([]);
    expect(checked.status).toBe(1);
    expect(checked.stdout.split('\n').slice(0, 4)).toEqual([
      '9,997 of 10,000 jobs are valid; nothing was sent (--dry-run)',
      expect.stringMatching(/^  line 17: /),
      expect.stringMatching(/^  line 5000: malformed_json: /),
      expect.stringMatching(/^  line 9999: /),
    ]);
    expect(fine.status).toBe(0);
    expect(fine.stdout).toBe('1 of 1 jobs are valid; nothing was sent (--dry-run)\n');
    expect(missing.status).toBe(2);
    expect(missing.stderr).toBe(`${join(dir, 'nowhere.jsonl')}: no such file (see --help)\n`);
    expect(nothing.status).toBe(1);
    expect(nothing.stderr).toBe(`${empty} holds no job: nothing to send\n`);
  });
});
