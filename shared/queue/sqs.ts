import {
  ChangeMessageVisibilityBatchCommand,
  GetQueueUrlCommand,
  type MessageAttributeValue,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';

/** Message attribute counting how often a job was resent to the queue for rate limits. */
export const REQUEUE_ATTRIBUTE = 'requeues';

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
  /**
   * Sends records again to their queue (`queueArn`) as new messages delayed by `delaySeconds`, with their
   * body and message attributes and the requeue count raised by one; resolves with the message ids that
   * could not be sent. A new message starts with a receive count of zero.
   */
  resend(queueArn: string, records: ReadonlyArray<{ record: SQSRecord; delaySeconds: number }>): Promise<ReadonlySet<string>>;
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
      return inBatches(changes, (change) => change.messageId, (entries) =>
        client.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: queueUrl,
            Entries: entries.map((change, index) => ({ Id: String(index), ReceiptHandle: change.receiptHandle, VisibilityTimeout: change.delaySeconds })),
          }),
        ),
      );
    },
    async resend(queueArn, records) {
      const queueUrl = await queueUrlOf(queueArn);
      return inBatches(records, ({ record }) => record.messageId, (entries) =>
        client.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: entries.map(({ record, delaySeconds }, index) => ({
              Id: String(index),
              MessageBody: record.body,
              DelaySeconds: delaySeconds,
              MessageAttributes: resendAttributes(record),
            })),
          }),
        ),
      );
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

/**
 * Runs an SQS batch call per ten items, entry ids being indexes into the chunk; resolves with the message
 * ids of the items SQS did not take, or of every item of a call that failed outright.
 */
async function inBatches<T>(items: readonly T[], messageId: (item: T) => string, call: (entries: readonly T[]) => Promise<{ Failed?: Array<{ Id?: string }> }>): Promise<Set<string>> {
  const failed = new Set<string>();
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += BATCH_LIMIT) chunks.push(items.slice(start, start + BATCH_LIMIT));
  await Promise.all(
    chunks.map(async (entries) => {
      try {
        const answer = await call(entries);
        for (const entry of answer.Failed ?? []) {
          const item = entries[Number(entry.Id)];
          if (item !== undefined) failed.add(messageId(item));
        }
      } catch {
        for (const item of entries) failed.add(messageId(item));
      }
    }),
  );
  return failed;
}

/** The record's own message attributes (SQS allows ten), with the requeue count raised by one. */
function resendAttributes(record: SQSRecord): Record<string, MessageAttributeValue> {
  const attributes: Record<string, MessageAttributeValue> = {};
  for (const [name, value] of Object.entries(record.messageAttributes)) {
    if (name === REQUEUE_ATTRIBUTE || value.stringValue === undefined) continue;
    attributes[name] = { DataType: value.dataType, StringValue: value.stringValue };
  }
  const count = Number(record.messageAttributes[REQUEUE_ATTRIBUTE]?.stringValue ?? 0) || 0;
  if (Object.keys(attributes).length < 10) attributes[REQUEUE_ATTRIBUTE] = { DataType: 'Number', StringValue: String(count + 1) };
  return attributes;
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
