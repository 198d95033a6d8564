import { CreateQueueCommand, SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { type FauxqsServer, startFauxqs } from 'fauxqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDeadLetters } from '../../local/stack.ts';

describe('Function: readDeadLetters()', () => {
  let server: FauxqsServer;
  let sqs: SQSClient;

  beforeAll(async () => {
    server = await startFauxqs({ port: 0, logger: false, defaultRegion: 'us-east-1' });
    sqs = new SQSClient({ region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, endpoint: server.address, useQueueUrlAsEndpoint: false });
  });

  afterAll(async () => {
    sqs.destroy();
    await server.stop();
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
