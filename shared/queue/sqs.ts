import {
  ChangeMessageVisibilityBatchCommand,
  GetQueueUrlCommand,
  type MessageAttributeValue,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

/** A record to make visible again after `delaySeconds`. */
export interface VisibilityChange {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly delaySeconds: number;
}

/** A message for the dead-letter queue. */
export interface DeadLetter {
  readonly body: string;
  readonly attributes: Readonly<Record<string, string | number>>;
  /** For a FIFO dead-letter queue: the original message group. */
  readonly groupId?: string | undefined;
  /** For a FIFO dead-letter queue: the original message id, so a retried send is not duplicated. */
  readonly deduplicationId?: string | undefined;
}

/** The queue operations the worker needs, narrow enough to fake in tests. */
export interface QueueOps {
  /** Changes the visibility of records of the queue `queueArn`; resolves with the message ids that could not be changed. */
  changeVisibility(queueArn: string, changes: readonly VisibilityChange[]): Promise<ReadonlySet<string>>;
  /** Sends one message to the dead-letter queue; rejects when SQS did not take it. */
  sendToDeadLetter(letter: DeadLetter): Promise<void>;
}

/** SQS takes at most 10 entries per batch call. */
const BATCH_LIMIT = 10;

/**
 * Creates the SQS-backed queue operations.
 *
 * @example
 * const queue = createSqsQueueOps(new SQSClient({ useQueueUrlAsEndpoint: false }), config.dlqUrl);
 */
export function createSqsQueueOps(client: Pick<SQSClient, 'send'>, dlqUrl: string): QueueOps {
  const fifoDlq = dlqUrl.endsWith('.fifo');
  const queueUrls = new Map<string, Promise<string>>();

  /**
   * The URL of a queue ARN, asked of SQS once per container: an emulator's URLs need not follow AWS's
   * pattern, and GetQueueUrl is part of what a consumer may call. Falls back to AWS's pattern.
   */
  const queueUrlOf = (arn: string): Promise<string> => {
    let url = queueUrls.get(arn);
    if (url === undefined) {
      const [, , , , account, name] = arn.split(':');
      url = client
        .send(new GetQueueUrlCommand({ QueueName: name, QueueOwnerAWSAccountId: account }))
        .then((answer) => answer.QueueUrl ?? queueUrlFromArn(arn))
        .catch(() => queueUrlFromArn(arn));
      queueUrls.set(arn, url);
    }
    return url;
  };

  return {
    async changeVisibility(queueArn, changes) {
      const queueUrl = await queueUrlOf(queueArn);
      const failed = new Set<string>();
      const chunks: VisibilityChange[][] = [];
      for (let start = 0; start < changes.length; start += BATCH_LIMIT) chunks.push(changes.slice(start, start + BATCH_LIMIT));
      await Promise.all(
        chunks.map(async (chunk) => {
          try {
            const answer = await client.send(
              new ChangeMessageVisibilityBatchCommand({
                QueueUrl: queueUrl,
                Entries: chunk.map((change, index) => ({
                  Id: String(index),
                  ReceiptHandle: change.receiptHandle,
                  VisibilityTimeout: change.delaySeconds,
                })),
              }),
            );
            for (const entry of answer.Failed ?? []) {
              const change = chunk[Number(entry.Id)];
              if (change !== undefined) failed.add(change.messageId);
            }
          } catch {
            for (const change of chunk) failed.add(change.messageId);
          }
        }),
      );
      return failed;
    },
    async sendToDeadLetter(letter) {
      await client.send(
        new SendMessageCommand({
          QueueUrl: dlqUrl,
          MessageBody: letter.body,
          MessageAttributes: toMessageAttributes(letter.attributes),
          ...(fifoDlq ? { MessageGroupId: letter.groupId ?? 'dead-letters', MessageDeduplicationId: letter.deduplicationId } : {}),
        }),
      );
    },
  };
}

function toMessageAttributes(attributes: DeadLetter['attributes']): Record<string, MessageAttributeValue> {
  return Object.fromEntries(
    Object.entries(attributes).map(([name, value]) => [
      name,
      typeof value === 'number'
        ? { DataType: 'Number', StringValue: String(value) }
        : { DataType: 'String', StringValue: value },
    ]),
  );
}

/**
 * The queue URL of an SQS ARN by AWS's pattern (`arn:aws:sqs:eu-west-1:123456789012:jobs` →
 * `https://sqs.eu-west-1.amazonaws.com/123456789012/jobs`).
 */
export function queueUrlFromArn(arn: string): string {
  const [, partition, , region, account, name] = arn.split(':');
  if (!partition || !region || !account || !name) throw new TypeError(`not an SQS queue ARN: ${arn}`);
  const domain = partition === 'aws-cn' ? 'amazonaws.com.cn' : 'amazonaws.com';
  return `https://sqs.${region}.${domain}/${account}/${name}`;
}
