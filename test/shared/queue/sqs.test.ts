import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient, SendMessageBatchCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toSqsRecord } from '../../../local/sqs-event.ts';
import { RETRY_ATTRIBUTE } from '../../../shared/queue/fate.ts';
import { createSqsQueueOps, queueUrlFromArn } from '../../../shared/queue/sqs.ts';
import { startLocalSqs } from '../../helpers/sqs.ts';

const region = 'eu-west-1';

describe('Function: createSqsQueueOps() against the fauxqs SQS emulator', () => {
  let local: Awaited<ReturnType<typeof startLocalSqs>>;
  let sqs: SQSClient;

  beforeAll(async () => {
    local = await startLocalSqs(region);
    // The worker's client: endpoint from configuration, never from the queue URL's host.
    ({ sqs } = local);
  });

  afterAll(async () => {
    await local.stop();
  });

  const createQueue = async (name: string, attributes: Record<string, string> = {}) => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
    return { url: QueueUrl ?? '', arn: Attributes?.QueueArn ?? '' };
  };

  it('changes visibility by queue ARN, in batches of ten, resolving the URL through SQS', async () => {
    // Prepare
    const queue = await createQueue('visibility-jobs', { VisibilityTimeout: '30' });
    const dlq = await createQueue('visibility-dlq');
    for (let n = 0; n < 12; n++) await sqs.send(new SendMessageCommand({ QueueUrl: queue.url, MessageBody: `job-${n}` }));
    const received = [];
    while (received.length < 12) {
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.url, MaxNumberOfMessages: 10 }));
      received.push(...Messages);
    }
    const ops = createSqsQueueOps(sqs, dlq.url);

    // Act
    const failed = await ops.changeVisibility(
      queue.arn,
      received.map((message) => ({ messageId: message.MessageId ?? '', receiptHandle: message.ReceiptHandle ?? '', delaySeconds: 0 })),
    );
    const again = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.url, MaxNumberOfMessages: 10 }));

    // Assess: visibility 0 makes them receivable at once instead of after 30 s
    expect(failed.size).toBe(0);
    expect(again.Messages?.length).toBeGreaterThan(0);
  });

  it('reports entries it could not change', async () => {
    // Prepare
    const queue = await createQueue('visibility-bad');
    const ops = createSqsQueueOps(sqs, queue.url);

    // Act
    const failed = await ops.changeVisibility(queue.arn, [{ messageId: 'm-1', receiptHandle: 'not-a-receipt', delaySeconds: 5 }]);

    // Assess
    expect([...failed]).toEqual(['m-1']);
  });

  it('sends a dead letter with its attributes, and group and deduplication ids on FIFO', async () => {
    // Prepare
    const standard = await createQueue('letters-dlq');
    const fifo = await createQueue('letters-dlq.fifo', { FifoQueue: 'true' });

    // Act
    await createSqsQueueOps(sqs, standard.url).sendToDeadLetter({ body: '{"a":1}', attributes: { reason: 'malformed_json', httpStatus: 400 } });
    await createSqsQueueOps(sqs, fifo.url).sendToDeadLetter({ body: '{"b":2}', attributes: { reason: 'http_404' }, groupId: 'user-1', deduplicationId: 'm-9' });
    const [plain, ordered] = await Promise.all(
      [standard, fifo].map((queue) =>
        sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.url, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['All'] })),
      ),
    );

    // Assess
    expect(plain?.Messages?.[0]?.Body).toBe('{"a":1}');
    expect(plain?.Messages?.[0]?.MessageAttributes).toEqual({
      reason: { DataType: 'String', StringValue: 'malformed_json' },
      httpStatus: { DataType: 'Number', StringValue: '400' },
    });
    expect(ordered?.Messages?.[0]?.Attributes?.MessageGroupId).toBe('user-1');
  });

  it('resends records as new delayed messages with their producer attributes and the retry state in place of the old one', async () => {
    // Prepare
    const queue = await createQueue('resend-jobs');
    await sqs.send(new SendMessageCommand({
      QueueUrl: queue.url,
      MessageBody: '{"n":1}',
      MessageAttributes: {
        tenant: { DataType: 'String', StringValue: 'acme' },
        trace: { DataType: 'Binary', BinaryValue: Buffer.from([1, 2, 3]) },
        requeues: { DataType: 'Number', StringValue: '7' },
        [RETRY_ATTRIBUTE]: { DataType: 'String', StringValue: '1790000000000:2' },
      },
    }));
    const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.url, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['All'] }));
    const record = toSqsRecord(Messages[0] ?? {}, queue.arn);
    const ops = createSqsQueueOps(sqs, queue.url);

    // Act
    const failed = await ops.resend(queue.arn, [{ record, delaySeconds: 1, retry: { firstSentAt: 1_790_000_000_000, attempts: 3 } }]);
    const early = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.url, WaitTimeSeconds: 0 }));
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const later = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.url, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['All'] }));

    // Assess
    expect(failed.size).toBe(0);
    expect(early.Messages ?? []).toEqual([]);
    expect(later.Messages?.[0]?.Body).toBe('{"n":1}');
    expect(later.Messages?.[0]?.Attributes?.ApproximateReceiveCount).toBe('1');
    const attributes = later.Messages?.[0]?.MessageAttributes ?? {};
    expect(Object.keys(attributes).sort()).toEqual([RETRY_ATTRIBUTE, 'tenant', 'trace']);
    expect(attributes[RETRY_ATTRIBUTE]).toEqual({ DataType: 'String', StringValue: '1790000000000:3' });
    expect(attributes['tenant']).toEqual({ DataType: 'String', StringValue: 'acme' });
    expect(Buffer.from(attributes['trace']?.BinaryValue ?? []).toString('hex')).toBe('010203');
  });

  it('resends ten large jobs in as many calls as SQS\'s 1 MiB per batch call needs, losing none', async () => {
    // Prepare: ten bodies of 300 KB, 3 MB together
    const queue = await createQueue('resend-large');
    const records = Array.from({ length: 10 }, (_, n) => ({
      ...toSqsRecord({ MessageId: `m-${n}`, ReceiptHandle: `r-${n}`, Body: JSON.stringify({ n, pad: 'x'.repeat(300_000) }) }, queue.arn),
    }));
    const calls: number[] = [];
    const counting = { send: (command: Parameters<typeof sqs.send>[0], options?: { abortSignal?: AbortSignal }) => {
      if (command instanceof SendMessageBatchCommand) calls.push(command.input.Entries?.length ?? 0);
      return sqs.send(command as never, options);
    } } as Pick<typeof sqs, 'send'>;
    const ops = createSqsQueueOps(counting, queue.url);

    // Act
    const failed = await ops.resend(queue.arn, records.map((record) => ({ record, delaySeconds: 0, retry: { firstSentAt: 1, attempts: 1 } })));

    // Assess
    expect(failed.size).toBe(0);
    expect(calls.reduce((a, b) => a + b, 0)).toBe(10);
    expect(Math.max(...calls)).toBeLessThanOrEqual(3);
  });

  it('tells a resend SQS refused from one whose answer never came, which SQS may have taken', async () => {
    // Prepare: one client whose sends go to a queue that does not exist (SQS answers with an error), one whose
    // answer is lost after SQS took the messages (the deadline, or a dropped connection)
    const queue = await createQueue('resend-outcomes');
    const record = toSqsRecord({ MessageId: 'm-1', ReceiptHandle: 'r-1', Body: '{"n":1}' }, queue.arn);
    const refusing = { send: (command: Parameters<typeof sqs.send>[0], options?: { abortSignal?: AbortSignal }) =>
      command instanceof SendMessageBatchCommand ? sqs.send(new SendMessageBatchCommand({ ...command.input, QueueUrl: `${queue.url}-missing` }), options) : sqs.send(command as never, options),
    } as Pick<typeof sqs, 'send'>;
    const losing = { send: async (command: Parameters<typeof sqs.send>[0], options?: { abortSignal?: AbortSignal }) => {
      const answer: unknown = await sqs.send(command as never, options);
      if (command instanceof SendMessageBatchCommand) throw Object.assign(new Error('This operation was aborted'), { name: 'AbortError' });
      return answer as never;
    } } as Pick<typeof sqs, 'send'>;
    const entry = { record, delaySeconds: 0, retry: { firstSentAt: 1, attempts: 1 } };

    // Act
    const refused = await createSqsQueueOps(refusing, queue.url).resend(queue.arn, [entry]);
    const lost = await createSqsQueueOps(losing, queue.url).resend(queue.arn, [entry]);

    // Assess: and the lost answer's message is on the queue all the same
    expect([...refused]).toEqual([['m-1', 'refused']]);
    expect([...lost]).toEqual([['m-1', 'unanswered']]);
    const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.url, WaitTimeSeconds: 0 }));
    expect(Messages.map((message) => message.Body)).toEqual(['{"n":1}']);
  });

  it('builds AWS queue URLs from ARNs, China partition included', () => {
    // Act & Assess
    expect(queueUrlFromArn('arn:aws:sqs:us-east-1:111122223333:jobs.fifo')).toBe('https://sqs.us-east-1.amazonaws.com/111122223333/jobs.fifo');
    expect(queueUrlFromArn('arn:aws-cn:sqs:cn-north-1:111122223333:jobs')).toBe('https://sqs.cn-north-1.amazonaws.com.cn/111122223333/jobs');
    expect(() => queueUrlFromArn('jobs')).toThrow(TypeError);
  });
});
