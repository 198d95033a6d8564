import { CreateQueueCommand, DeleteMessageCommand, GetQueueAttributesCommand, type Message, ReceiveMessageCommand, SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanDeadLetters } from '../../../shared/cli/dead-letters.ts';
import { runCommand } from '../../helpers/cli.ts';
import { startLocalSqs } from '../../helpers/sqs.ts';

const region = 'us-east-1';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Command: auth0-queue-worker dlq, against the fauxqs SQS emulator', () => {
  let local: Awaited<ReturnType<typeof startLocalSqs>>;
  let sqs: SQSClient;
  let serial = 0;

  beforeAll(async () => {
    local = await startLocalSqs(region);
    ({ sqs } = local);
  });

  afterAll(async () => {
    await local.stop();
  });

  /** The ARN of the test's last jobs queue: the source the worker writes on each letter. */
  let jobsArn = 'arn:aws:sqs:us-east-1:000000000000:jobs';
  const createQueue = async (name: string) => {
    const { QueueUrl = '' } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: name.endsWith('.fifo') ? { FifoQueue: 'true' } : {} }));
    if (name.includes('jobs')) jobsArn = `arn:aws:sqs:${region}:${QueueUrl.split('/').at(-2)}:${name}`;
    return QueueUrl;
  };
  const depth = async (url: string) => {
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
    return Number(Attributes?.['ApproximateNumberOfMessages'] ?? 0) + Number(Attributes?.['ApproximateNumberOfMessagesNotVisible'] ?? 0);
  };
  /** A dead letter as the worker writes it. */
  const letter = async (url: string, reason: string, jobId: string, group?: string) => {
    serial += 1;
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: url,
        MessageBody: JSON.stringify({ type: 'user.update', userId: `auth0|${jobId}`, changes: { blocked: true }, jobId }),
        MessageAttributes: {
          reason: { DataType: 'String', StringValue: reason },
          jobId: { DataType: 'String', StringValue: jobId },
          originalMessageId: { DataType: 'String', StringValue: `orig-${serial}` },
          sourceQueueArn: { DataType: 'String', StringValue: jobsArn },
        },
        ...(group === undefined ? {} : { MessageGroupId: group, MessageDeduplicationId: `d-${serial}` }),
      }),
    );
  };
  /** Reads a queue to the end, deleting as it goes (so FIFO groups hand out every message), in order. */
  const drain = async (url: string): Promise<Message[]> => {
    const all: Message[] = [];
    for (;;) {
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['All'] }));
      if (Messages.length === 0) return all;
      all.push(...Messages);
      for (const message of Messages) await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: message.ReceiptHandle }));
    }
  };
  const cli = (argv: string[], wrap: (client: SQSClient) => Pick<SQSClient, 'send'> = (client) => client) => runCommand(argv, { sqs: () => wrap(sqs) });
  /** The client, noting every command it is given: its name, and a receive's visibility timeout. */
  const recording = (calls: string[]) => (client: SQSClient) =>
    ({
      send: (command: Parameters<SQSClient['send']>[0]) => {
        calls.push(command instanceof ReceiveMessageCommand ? `ReceiveMessage ${command.input.VisibilityTimeout}` : command.constructor.name.replace(/Command$/, ''));
        return client.send(command as never);
      },
    }) as unknown as Pick<SQSClient, 'send'>;

  it('summarizes a standard dead-letter queue by reason with reads alone: the letters it read come back by themselves', async () => {
    // Prepare
    const dlq = await createQueue('summary-dlq');
    for (let n = 0; n < 5; n++) await letter(dlq, 'user_not_found', `nf-${n}`);
    await letter(dlq, 'http_400', 'bad-1');
    await letter(dlq, 'expired', 'old-1');
    const calls: string[] = [];

    // Act: a summary, another at once (the letters are hidden), and one more once they are back
    const human = await cli(['dlq', '--dlq-url', dlq], recording(calls));
    const atOnce = await cli(['dlq', '--dlq-url', dlq], recording(calls));
    const hidden = Number(/for (\d+) s, then comes back by itself/.exec(human.stdout)?.[1]);
    await sleep(hidden * 1_000 + 500);
    const json = await cli(['dlq', '--dlq-url', dlq, '--json'], recording(calls));

    // Assess: only reads (sqs:ReceiveMessage, sqs:GetQueueAttributes), each hiding what it read for the seconds it says
    expect(new Set(calls)).toEqual(new Set(['GetQueueAttributes', 'ReceiveMessage 6']));
    expect([human.status, human.stderr]).toEqual([0, '']);
    expect(human.stdout).toContain('7 dead letter(s)');
    expect(human.stdout).toMatch(/user_not_found\s+5/);
    expect(hidden).toBe(6);
    expect(atOnce.stdout).toBe(`0 dead letter(s) in ${dlq}\nAbout 7 more were not read, most likely hidden by another reader (a dlq summary hides the letters it reads for a few seconds, a redrive until it moves them): run again once they are back.\n`);
    const result = JSON.parse(json.stdout) as { total: number; readOnly: boolean; hiddenSeconds: number; unread: number; reasons: Array<{ reason: string; count: number; jobIds: string[] }> };
    expect(result).toMatchObject({ total: 7, readOnly: true, hiddenSeconds: 6, unread: 0 });
    expect(result.reasons.map((group) => [group.reason, group.count])).toEqual([['user_not_found', 5], ['expired', 1], ['http_400', 1]]);
    expect(result.reasons[0]?.jobIds).toHaveLength(3);
    expect(await depth(dlq)).toBe(7);
  });

  it('lists reasons in the order the runbook promises, in text and in --json', async () => {
    // Prepare: the rarest reason is the oldest, the most common the newest
    const dlq = await createQueue('order-dlq');
    await letter(dlq, 'expired', 'old-1');
    for (let n = 0; n < 2; n++) await letter(dlq, 'http_400', `bad-${n}`);
    for (let n = 0; n < 3; n++) await letter(dlq, 'user_not_found', `nf-${n}`);
    const runbook = readFileSync(new URL('../../../docs/operations.md', import.meta.url), 'utf8');
    const promises = [...runbook.matchAll(/by reason,? \(?the (most common|oldest) first/g)].map((match) => match[1]);
    const orderOf = (promise: string | undefined) => (promise === 'oldest' ? ['expired', 'http_400', 'user_not_found'] : ['user_not_found', 'http_400', 'expired']);

    // Act
    const text = await cli(['dlq', '--dlq-url', dlq]);
    await sleep(6_500); // the letters the summary read come back
    const json = await cli(['dlq', '--dlq-url', dlq, '--json']);

    // Assess: the runbook once promised "oldest first" while the command sorted by count
    expect(promises.length).toBeGreaterThan(0);
    const printed = text.stdout
      .split('\n')
      .map((line) => /^ {2}(\w+)\s+\d+/.exec(line)?.[1])
      .filter((reason) => reason !== undefined);
    const listed = (JSON.parse(json.stdout) as { reasons: Array<{ reason: string }> }).reasons.map((group) => group.reason);
    for (const promise of promises) {
      expect(printed, `docs/operations.md: "${promise} first"`).toEqual(orderOf(promise));
      expect(listed, `docs/operations.md: "${promise} first"`).toEqual(orderOf(promise));
    }
  });

  it('on a FIFO dead-letter queue reads only unless told to turn it over, and says so before anything else', async () => {
    // Prepare: twelve letters of one user, three of another
    const dlq = await createQueue('read-only-dlq.fifo');
    for (let n = 0; n < 12; n++) await letter(dlq, 'http_404', `a${n}`, 'id:a');
    for (let n = 0; n < 3; n++) await letter(dlq, 'http_400', `b${n}`, 'id:b');
    const calls: string[] = [];
    const misused = await cli(['dlq', '--dlq-url', dlq.replace('.fifo', ''), '--turn-over']);

    // Act
    const { status, stdout, stderr } = await cli(['dlq', '--dlq-url', dlq], recording(calls));

    // Assess: the first letter of each group (fauxqs hands out one per group; SQS may hand out several), of about 15
    expect(misused.status).toBe(2);
    expect(misused.stderr).toContain('--turn-over is for dlq (the summary) on a FIFO dead-letter queue');
    expect(status).toBe(0);
    expect(stderr).toBe('FIFO dead-letter queue: read only, this shows the first letters of each group (SQS hands out the next only once they are deleted); dlq --turn-over shows every letter by sending each again to the tail of its group and deleting the original (needs sqs:SendMessage and sqs:DeleteMessage on the queue)\n');
    expect(stdout).toContain(`2 of about 15 dead letter(s) read in ${dlq} (the first of each group; dlq --turn-over reads them all)`);
    expect(stdout).toMatch(/http_404\s+1 .* a0\n/);
    expect(new Set(calls)).toEqual(new Set(['GetQueueAttributes', 'ReceiveMessage 6']));
    await sleep(6_500);
    const left = await drain(dlq);
    expect(left.filter((message) => message.Attributes?.['MessageGroupId'] === 'id:a').map((message) => message.MessageAttributes?.['jobId']?.StringValue)).toEqual(Array.from({ length: 12 }, (_, n) => `a${n}`));
    expect(left).toHaveLength(15);
  });

  it("shows under each reason what Auth0 answered, grouped with counts, in text and in --json", async () => {
    // Prepare: three 403s for a missing scope, one 404 for a user, and a letter SQS itself moved (no message)
    const dlq = await createQueue('errors-dlq');
    const send = (reason: string, jobId: string, extra: Record<string, string>) =>
      sqs.send(
        new SendMessageCommand({
          QueueUrl: dlq,
          MessageBody: JSON.stringify({ type: 'roles.assign', userId: `auth0|${jobId}`, roles: ['admin'], jobId }),
          MessageAttributes: {
            reason: { DataType: 'String', StringValue: reason },
            jobId: { DataType: 'String', StringValue: jobId },
            ...Object.fromEntries(Object.entries(extra).map(([name, value]) => [name, { DataType: name === 'httpStatus' ? 'Number' : 'String', StringValue: value }])),
          },
        }),
      );
    for (const n of [1, 2, 3]) await send('http_403', `scope-${n}`, { errorMessage: 'Insufficient scope, expected any of: create:role_members', httpStatus: '403', auth0ErrorCode: 'insufficient_scope' });
    await send('user_not_found', 'gone-1', { errorMessage: 'no user has this id (Auth0 answered 404 inexistent_user)', httpStatus: '404', auth0ErrorCode: 'inexistent_user' });
    await sqs.send(new SendMessageCommand({ QueueUrl: dlq, MessageBody: '{}' }));

    // Act
    const text = await cli(['dlq', '--dlq-url', dlq]);
    await sleep(6_500); // the letters the summary read come back
    const json = await cli(['dlq', '--dlq-url', dlq, '--json']);

    // Assess
    expect(text.status).toBe(0);
    const lines = text.stdout.split('\n');
    expect(lines[lines.findIndex((line) => line.startsWith('  http_403')) + 1]).toBe('         3 × 403 insufficient_scope: Insufficient scope, expected any of: create:role_members');
    expect(lines[lines.findIndex((line) => line.startsWith('  user_not_found')) + 1]).toBe('         1 × 404 inexistent_user: no user has this id (Auth0 answered 404 inexistent_user)');
    expect(lines[lines.findIndex((line) => line.startsWith('  none')) + 1]).toContain('(no error message: SQS itself moved the job after its receives ran out)');
    const reasons = (JSON.parse(json.stdout) as { reasons: Array<{ reason: string; errors: unknown[] }> }).reasons;
    expect(reasons.find((group) => group.reason === 'http_403')?.errors).toEqual([{ message: 'Insufficient scope, expected any of: create:role_members', httpStatus: 403, auth0ErrorCode: 'insufficient_scope', count: 3 }]);
  });

  it('says when nothing was moved, and what to check, when the queue cannot be reached or the caller has no credentials', async () => {
    // Prepare: an endpoint that refuses connections, and a client that finds no credentials
    const refused = new SQSClient({ region, endpoint: 'http://127.0.0.1:1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
    const noCredentials = () =>
      ({
        send: () => Promise.reject(Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' })),
      }) as unknown as Pick<SQSClient, 'send'>;
    const dlq = 'http://127.0.0.1:1/000000000000/unreachable-dlq';

    // Act
    const summary = await runCommand(['dlq', '--dlq-url', dlq], { sqs: () => refused });
    const dryRun = await runCommand(['dlq', 'redrive', '--dry-run', '--dlq-url', dlq, '--queue-url', 'http://127.0.0.1:1/000000000000/jobs'], { sqs: () => refused });
    const redrive = await runCommand(['dlq', 'redrive', '--dlq-url', dlq, '--queue-url', 'http://127.0.0.1:1/000000000000/jobs'], { sqs: noCredentials });

    // Assess: one line each, the truth about what was done, and the fix
    expect(summary.status).toBe(1);
    expect(summary.stderr).toMatch(/^stopped: .*ECONNREFUSED.*\. Nothing was changed\. Check where it looked: the queue URL \(--dlq-url or --stack\), --region, and --endpoint-url if you gave one\.\n$/s);
    expect(dryRun.stderr).toContain('Nothing was changed. Check where it looked');
    expect(redrive.stderr).toBe('stopped: CredentialsProviderError: Could not load credentials from any providers. Nothing was moved. Check the AWS credentials: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or run aws sso login.\n');
    for (const run of [summary, dryRun, redrive]) expect(run.stderr).not.toContain('already moved');
    refused.destroy();
  });

  it('turning a FIFO dead-letter queue over says first what it needs, and keeps every letter when it may not send', async () => {
    // Prepare: the caller may receive but not send
    const dlq = await createQueue('no-send-dlq.fifo');
    for (const [jobId, group] of [['a1', 'id:a'], ['a2', 'id:a'], ['b1', 'id:b']] as const) await letter(dlq, 'http_404', jobId, group);
    const calls: string[] = [];
    const noSend = (client: SQSClient) =>
      ({
        send: (command: Parameters<SQSClient['send']>[0]) => {
          calls.push(command.constructor.name);
          if (command instanceof SendMessageCommand) throw Object.assign(new Error('not authorized to perform: sqs:SendMessage'), { name: 'AccessDenied' });
          return client.send(command as never);
        },
      }) as unknown as Pick<SQSClient, 'send'>;

    // Act
    const { status, stderr } = await cli(['dlq', '--dlq-url', dlq, '--turn-over'], noSend);

    // Assess
    expect(status).toBe(1);
    expect(stderr.split('\n')).toEqual([
      'FIFO dead-letter queue: --turn-over sends each letter again to the tail of its group and deletes the original, once, in order (needs sqs:SendMessage and sqs:DeleteMessage on the queue)',
      'stopped: AccessDenied: not authorized to perform: sqs:SendMessage. Nothing was moved. Check the permissions: sqs:ReceiveMessage and sqs:GetQueueAttributes on the dead-letter queue, sqs:SendMessage and sqs:DeleteMessage there, and sqs:SendMessage on the jobs queue (and kms:Decrypt, kms:GenerateDataKey under a customer-managed key).',
      '',
    ]);
    expect(calls).not.toContain('DeleteMessageCommand');
    const left = await drain(dlq);
    expect(left.map((message) => message.MessageAttributes?.['jobId']?.StringValue).sort()).toEqual(['a1', 'a2', 'b1']);
  });

  it('turning a FIFO dead-letter queue over sees every letter of a group, and keeps their order', async () => {
    // Prepare: three letters of one user, one of another
    const dlq = await createQueue('summary-dlq.fifo');
    for (const [jobId, group] of [['a1', 'id:a'], ['a2', 'id:a'], ['b1', 'id:b'], ['a3', 'id:a']] as const) await letter(dlq, 'http_404', jobId, group);

    // Act: twice, a second apart
    const { status, stdout } = await cli(['dlq', '--dlq-url', dlq, '--turn-over', '--json']);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const again = await cli(['dlq', '--dlq-url', dlq, '--turn-over', '--json']);

    // Assess: the second summary still dates the letters from their arrival, not from the first summary's turnover
    expect(status).toBe(0);
    expect((JSON.parse(stdout) as { total: number }).total).toBe(4);
    const oldest = (output: string) => (JSON.parse(output) as { reasons: Array<{ oldest: string }> }).reasons[0]?.oldest;
    expect(oldest(again.stdout)).toBe(oldest(stdout));
    const left = await drain(dlq);
    expect(left.filter((message) => message.Attributes?.['MessageGroupId'] === 'id:a').map((message) => message.MessageAttributes?.['jobId']?.StringValue)).toEqual(['a1', 'a2', 'a3']);
    expect(left).toHaveLength(4);
  });

  it("never sends a letter of another queue that names this one as its dead-letter queue, and says so", async () => {
    // Prepare: two letters of the jobs queue, one of another team's queue
    const dlq = await createQueue('shared-dlq');
    const jobs = await createQueue('shared-jobs');
    await letter(dlq, 'user_not_found', 'ours-1');
    await letter(dlq, 'user_not_found', 'ours-2');
    jobsArn = 'arn:aws:sqs:us-east-1:000000000000:billing-events';
    await letter(dlq, 'none', 'theirs-1');

    // Act
    const { status, stdout } = await cli(['dlq', 'redrive', '--dlq-url', dlq, '--queue-url', jobs]);

    // Assess
    expect(status).toBe(0);
    expect(stdout).toContain('redrove 2 of 3 dead letter(s)');
    expect(stdout).toContain('1 letter(s) came from another queue (arn:aws:sqs:us-east-1:000000000000:billing-events)');
    expect((await drain(jobs)).map((message) => (JSON.parse(message.Body ?? '{}') as { jobId: string }).jobId).sort()).toEqual(['ours-1', 'ours-2']);
    expect((await drain(dlq)).map((message) => message.MessageAttributes?.['jobId']?.StringValue)).toEqual(['theirs-1']);
  });

  it('redrives only the letters with the chosen reason, and leaves the others', async () => {
    // Prepare
    const dlq = await createQueue('redrive-dlq');
    const jobs = await createQueue('redrive-jobs');
    for (let n = 0; n < 3; n++) await letter(dlq, 'user_not_found', `nf-${n}`);
    await letter(dlq, 'http_400', 'bad-1');

    // Act
    const dry = await cli(['dlq', 'redrive', '--dlq-url', dlq, '--queue-url', jobs, '--reason', 'user_not_found', '--dry-run']);
    const { status, stdout } = await cli(['dlq', 'redrive', '--dlq-url', dlq, '--queue-url', jobs, '--reason', 'user_not_found']);

    // Assess
    expect(dry.stdout).toContain('would redrive 3 of 4');
    expect(status).toBe(0);
    expect(stdout).toContain('redrove 3 of 4 dead letter(s)');
    const sent = await drain(jobs);
    expect(sent.map((message) => (JSON.parse(message.Body ?? '{}') as { jobId: string }).jobId).sort()).toEqual(['nf-0', 'nf-1', 'nf-2']);
    // Only the job itself goes back: the dead-letter attributes stay behind
    expect(sent[0]?.MessageAttributes ?? {}).toEqual({});
    expect((await drain(dlq)).map((message) => message.MessageAttributes?.['reason']?.StringValue)).toEqual(['http_400']);
  });


  it('redrives or discards the letters of the job ids named, and with a reason only those that match both', async () => {
    // Prepare: one reason that holds a job to fix and one that must never run
    const dlq = await createQueue('by-job-dlq');
    const jobs = await createQueue('by-job-jobs');
    await letter(dlq, 'user_not_found', 'fixable-1');
    await letter(dlq, 'user_not_found', 'never-1');
    await letter(dlq, 'http_400', 'bad-1');

    // Act
    const redriven = await cli(['dlq', 'redrive', '--dlq-url', dlq, '--queue-url', jobs, '--job', 'fixable-1']);
    const neither = await cli(['dlq', 'discard', '--dlq-url', dlq, '--job', 'never-1', '--reason', 'http_400']);
    const discarded = await cli(['dlq', 'discard', '--dlq-url', dlq, '--job', 'never-1', '--reason', 'user_not_found']);

    // Assess
    expect(redriven.stdout).toContain('redrove 1 of 3 dead letter(s)');
    expect((await drain(jobs)).map((message) => (JSON.parse(message.Body ?? '{}') as { jobId: string }).jobId)).toEqual(['fixable-1']);
    expect(neither.stdout).toContain('discarded 0 of 2 dead letter(s)');
    expect(discarded.stdout.split('\n').slice(0, 2)).toEqual([`discarded 1 of 2 dead letter(s) in ${dlq}: user_not_found 1`, 'job ids: never-1']);
    expect((await drain(dlq)).map((message) => message.MessageAttributes?.['jobId']?.StringValue)).toEqual(['bad-1']);
  });

  it('a discard that may not delete keeps every letter, and names the permission it needs, not a send to the jobs queue', async () => {
    // Prepare
    const dlq = await createQueue('discard-denied-dlq');
    await letter(dlq, 'user_not_found', 'gone-1');
    const noDelete = (client: SQSClient) =>
      ({
        send: (command: Parameters<SQSClient['send']>[0]) => {
          if (command instanceof DeleteMessageCommand) throw Object.assign(new Error('not authorized to perform: sqs:DeleteMessage'), { name: 'AccessDenied' });
          return client.send(command as never);
        },
      }) as unknown as Pick<SQSClient, 'send'>;

    // Act
    const { status, stderr } = await cli(['dlq', 'discard', '--dlq-url', dlq, '--all'], noDelete);

    // Assess
    expect(status).toBe(1);
    expect(stderr).toBe(
      'stopped: AccessDenied: not authorized to perform: sqs:DeleteMessage. Nothing was deleted. Check the permissions: sqs:ReceiveMessage and sqs:GetQueueAttributes on the dead-letter queue, sqs:DeleteMessage there (and sqs:SendMessage on a FIFO one, to read past the letters kept) (and kms:Decrypt, kms:GenerateDataKey under a customer-managed key).\n',
    );
    await sleep(500);
    expect(await depth(dlq)).toBe(1);
  });

  it('discards only the letters named by reason, prints every job id it deleted, and deletes nothing on a dry run', async () => {
    // Prepare: a standard and a FIFO dead-letter queue, each with three letters to drop and two to keep
    const dlq = await createQueue('discard-dlq');
    const fifo = await createQueue('discard-dlq.fifo');
    for (const [url, group] of [[dlq, undefined], [fifo, 'id:a']] as const) {
      for (let n = 0; n < 3; n++) await letter(url, 'user_not_found', `gone-${n}`, group);
      await letter(url, 'http_400', 'bad-1', group);
      await letter(url, 'expired', 'old-1', group);
    }
    const calls: string[] = [];

    // Act
    const dry = await cli(['dlq', 'discard', '--dlq-url', dlq, '--reason', 'user_not_found', '--dry-run'], recording(calls));
    const afterDry = await depth(dlq);
    const text = await cli(['dlq', 'discard', '--dlq-url', dlq, '--reason', 'user_not_found'], recording(calls));
    const json = await cli(['dlq', 'discard', '--dlq-url', fifo, '--reason', 'user_not_found', '--json']);

    // Assess: no job is sent anywhere; the rest stay, in their group's order on FIFO
    expect([dry.status, dry.stdout]).toEqual([0, `would discard 3 of 5 dead letter(s) in ${dlq}; nothing was deleted\n`]);
    expect(afterDry).toBe(5);
    expect(text.stderr).toBe('');
    expect(text.stdout.split('\n')).toEqual([`discarded 3 of 5 dead letter(s) in ${dlq}: user_not_found 3`, 'job ids: gone-0, gone-1, gone-2', `2 left in ${dlq}`, '']);
    expect(calls).not.toContain('SendMessage');
    expect((await drain(dlq)).map((message) => message.MessageAttributes?.['jobId']?.StringValue).sort()).toEqual(['bad-1', 'old-1']);
    expect(JSON.parse(json.stdout)).toMatchObject({ total: 5, discarded: 3, discardedJobIds: ['gone-0', 'gone-1', 'gone-2'] });
    expect((await drain(fifo)).map((message) => message.MessageAttributes?.['jobId']?.StringValue)).toEqual(['bad-1', 'old-1']);
  });
  it('sends a job back with the producer\'s own attributes and its order, never the letter\'s reason', async () => {
    // Prepare: a letter as the worker writes it, with the producer's trace id
    const dlq = await createQueue('attributes-dlq');
    const jobs = await createQueue('attributes-jobs');
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: dlq,
        MessageBody: JSON.stringify({ type: 'user.update', userId: 'auth0|1', changes: { blocked: true }, jobId: 'traced' }),
        MessageAttributes: {
          reason: { DataType: 'String', StringValue: 'http_503' },
          originalMessageId: { DataType: 'String', StringValue: 'orig-traced' },
          sourceQueueArn: { DataType: 'String', StringValue: jobsArn },
          firstSentAt: { DataType: 'String', StringValue: '2026-12-01T10:00:00.000Z' },
          traceparent: { DataType: 'String', StringValue: '00-abc-def-01' },
        },
      }),
    );

    // Act
    const { status } = await cli(['dlq', 'redrive', '--dlq-url', dlq, '--queue-url', jobs]);

    // Assess
    expect(status).toBe(0);
    const [sent] = await drain(jobs);
    expect(Object.fromEntries(Object.entries(sent?.MessageAttributes ?? {}).map(([name, value]) => [name, value.StringValue]))).toEqual({ traceparent: '00-abc-def-01', firstSentAt: '2026-12-01T10:00:00.000Z' });
  });

  it('never chases its own output: a redriven job that fails again at once, and a letter that arrives during the scan, stay', async () => {
    // Prepare: every job sent to the jobs queue fails again at once, as a worker would dead-letter it, and a
    // producer's new failure lands in the dead-letter queue while the scan runs
    const dlq = await createQueue('chase-dlq');
    const jobs = await createQueue('chase-jobs');
    for (let n = 0; n < 3; n++) await letter(dlq, 'user_not_found', `nf-${n}`);
    let refailed = 0;
    const failingAgain = (client: SQSClient) => ({
      send: async (command: Parameters<SQSClient['send']>[0]) => {
        const answer = (await client.send(command as never)) as { MessageId?: string };
        if (command instanceof SendMessageCommand && command.input.QueueUrl === jobs) {
          refailed += 1;
          await sqs.send(new SendMessageCommand({ QueueUrl: dlq, MessageBody: command.input.MessageBody, MessageAttributes: { reason: { DataType: 'String', StringValue: 'user_not_found' }, originalMessageId: { DataType: 'String', StringValue: answer.MessageId ?? '' } } }));
          if (refailed === 1) await letter(dlq, 'user_not_found', 'arrived-during-the-scan');
        }
        return answer;
      },
    }) as unknown as Pick<SQSClient, 'send'>;

    // Act
    const { status, stdout } = await cli(['dlq', 'redrive', '--dlq-url', dlq, '--queue-url', jobs, '--max', '50'], failingAgain);

    // Assess: the three letters moved once each; their new letters and the late one stay for the next run
    expect(status).toBe(0);
    expect(stdout).toContain('redrove 3 of 3 dead letter(s)');
    expect(refailed).toBe(3);
    expect(await depth(dlq)).toBe(4);
  });

  it('loses no job when it stops between sending a job and deleting its letter', async () => {
    // Prepare: the second delete fails, as if the process died there
    const dlq = await createQueue('crash-dlq');
    const jobs = await createQueue('crash-jobs');
    for (let n = 0; n < 4; n++) await letter(dlq, 'user_not_found', `nf-${n}`);
    let deletes = 0;
    const crashing = (client: SQSClient) => ({
      send: async (command: Parameters<SQSClient['send']>[0]) => {
        if (command instanceof DeleteMessageCommand && ++deletes === 2) throw Object.assign(new Error('connection reset'), { name: 'NetworkingError' });
        return client.send(command as never);
      },
    }) as unknown as Pick<SQSClient, 'send'>;

    // Act
    const crashed = await cli(['dlq', 'redrive', '--dlq-url', dlq, '--queue-url', jobs], crashing);
    const again = await cli(['dlq', 'redrive', '--dlq-url', dlq, '--queue-url', jobs]);

    // Assess: every job reached the jobs queue (one twice), and the dead-letter queue is empty
    expect(crashed.status).toBe(1);
    expect(crashed.stderr).toContain('none was lost');
    expect(again.status).toBe(0);
    const sent = (await drain(jobs)).map((message) => (JSON.parse(message.Body ?? '{}') as { jobId: string }).jobId);
    expect(new Set(sent)).toEqual(new Set(['nf-0', 'nf-1', 'nf-2', 'nf-3']));
    expect(sent.length).toBeLessThanOrEqual(5);
    expect(await depth(dlq)).toBe(0);
  });

  it('two redrives at once send each job once, even when one is held up past its hold on the letters it received', async () => {
    // Prepare: six letters; redrive A's first receive answers only after the letters' visibility (2 s) has run
    // out, as when its process is paused (a laptop asleep), and redrive B starts once they are visible again
    const dlq = await createQueue('paused-dlq');
    const jobs = await createQueue('paused-jobs');
    for (let n = 0; n < 6; n++) await letter(dlq, 'http_503', `p-${n}`);
    const sent: string[] = [];
    const redrive = (client: Pick<SQSClient, 'send'>) =>
      scanDeadLetters(client, dlq, {
        visibilitySeconds: 2,
        decide: () => 'move',
        move: async (view) => {
          sent.push(view.jobId ?? '');
          const { MessageId } = await sqs.send(new SendMessageCommand({ QueueUrl: jobs, MessageBody: view.message.Body ?? '' }));
          return MessageId;
        },
      });
    let paused = false;
    const pausedOnce = {
      send: async (command: Parameters<SQSClient['send']>[0]) => {
        const answer = await sqs.send(command as never);
        if (command instanceof ReceiveMessageCommand && !paused) {
          paused = true;
          await sleep(3_000);
        }
        return answer;
      },
    } as unknown as Pick<SQSClient, 'send'>;

    // Act
    const a = redrive(pausedOnce).catch((error: unknown) => error);
    await sleep(2_300);
    const b = await redrive(sqs);
    const afterPause = await a;

    // Assess: every job sent once, by B; A let go of the letters its hold no longer covered
    expect(paused).toBe(true);
    expect(sent.sort()).toEqual(['p-0', 'p-1', 'p-2', 'p-3', 'p-4', 'p-5']);
    expect(b.moved).toHaveLength(6);
    expect(afterPause).toMatchObject({ letters: [], moved: [] });
    expect(await depth(dlq)).toBe(0);
    expect(await depth(jobs)).toBe(6);
  });
});
