import { CreateQueueCommand, SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDeadLetters } from '../../local/stack.ts';
import { startLocalSqs } from '../helpers/sqs.ts';

describe('Function: readDeadLetters()', () => {
  let local: Awaited<ReturnType<typeof startLocalSqs>>;
  let sqs: SQSClient;

  beforeAll(async () => {
    local = await startLocalSqs('us-east-1');
    ({ sqs } = local);
  });

  afterAll(async () => {
    await local.stop();
  });

  it('reads every letter of a FIFO dead-letter queue, several of one group included, where a receive hands out one group at a time', async () => {
    // Prepare: two users, three letters for the first
    const { QueueUrl = '' } = await sqs.send(new CreateQueueCommand({ QueueName: 'letters.fifo', Attributes: { FifoQueue: 'true' } }));
    const letters = [['user-a', 'a1'], ['user-a', 'a2'], ['user-b', 'b1'], ['user-a', 'a3']] as const;
    for (const [group, body] of letters) {
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: body, MessageGroupId: group, MessageDeduplicationId: body }));
    }

    // Act
    const read = await readDeadLetters({ sqs, dlq: { url: QueueUrl, arn: '' } });

    // Assess
    expect(read.map((message) => message.Body).sort()).toEqual(['a1', 'a2', 'a3', 'b1']);
  });
});
