import { CreateQueueCommand, DeleteMessageCommand, GetQueueAttributesCommand, type Message, ReceiveMessageCommand, SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../helpers/cli.ts';
import { startLocalSqs } from '../../helpers/sqs.ts';

const region = 'us-east-1';

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

  const createQueue = async (name: string) => {
    const { QueueUrl = '' } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: name.endsWith('.fifo') ? { FifoQueue: 'true' } : {} }));
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
        MessageAttributes: { reason: { DataType: 'String', StringValue: reason }, jobId: { DataType: 'String', StringValue: jobId }, originalMessageId: { DataType: 'String', StringValue: `orig-${serial}` } },
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

  it('summarizes a dead-letter queue by reason and removes nothing', async () => {
    // Prepare
    const dlq = await createQueue('summary-dlq');
    for (let n = 0; n < 5; n++) await letter(dlq, 'user_not_found', `nf-${n}`);
    await letter(dlq, 'http_400', 'bad-1');
    await letter(dlq, 'expired', 'old-1');

    // Act
    const human = await cli(['dlq', '--dlq-url', dlq]);
    const json = await cli(['dlq', '--dlq-url', dlq, '--json']);

    // Assess
    expect(human.status).toBe(0);
    expect(human.stdout).toContain('7 dead letter(s)');
    expect(human.stdout).toMatch(/user_not_found\s+5/);
    const result = JSON.parse(json.stdout) as { total: number; reasons: Array<{ reason: string; count: number; jobIds: string[] }> };
    expect(result.total).toBe(7);
    expect(result.reasons.map((group) => [group.reason, group.count])).toEqual([['user_not_found', 5], ['expired', 1], ['http_400', 1]]);
    expect(result.reasons[0]?.jobIds).toHaveLength(3);
    expect(await depth(dlq)).toBe(7);
  });

  it('on a FIFO dead-letter queue sees every letter of a group, and keeps their order', async () => {
    // Prepare: three letters of one user, one of another
    const dlq = await createQueue('summary-dlq.fifo');
    for (const [jobId, group] of [['a1', 'id:a'], ['a2', 'id:a'], ['b1', 'id:b'], ['a3', 'id:a']] as const) await letter(dlq, 'http_404', jobId, group);

    // Act: twice, a second apart
    const { status, stdout } = await cli(['dlq', '--dlq-url', dlq, '--json']);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const again = await cli(['dlq', '--dlq-url', dlq, '--json']);

    // Assess: the second summary still dates the letters from their arrival, not from the first summary's turnover
    expect(status).toBe(0);
    expect((JSON.parse(stdout) as { total: number }).total).toBe(4);
    const oldest = (output: string) => (JSON.parse(output) as { reasons: Array<{ oldest: string }> }).reasons[0]?.oldest;
    expect(oldest(again.stdout)).toBe(oldest(stdout));
    const left = await drain(dlq);
    expect(left.filter((message) => message.Attributes?.['MessageGroupId'] === 'id:a').map((message) => message.MessageAttributes?.['jobId']?.StringValue)).toEqual(['a1', 'a2', 'a3']);
    expect(left).toHaveLength(4);
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
});
