import {
  ChangeMessageVisibilityBatchCommand,
  GetQueueUrlCommand,
  type MessageAttributeValue,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { MAX_MESSAGE_ATTRIBUTES, RETRY_ATTRIBUTE, type RetryState, formatRetryState, isCarriedAttribute } from './fate.ts';

/** A record to make visible again after `delaySeconds`. */
export interface VisibilityChange {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly delaySeconds: number;
}

/** A record to send again as a new message, with the retry state it carries. */
export interface ResendEntry {
  readonly record: SQSRecord;
  readonly delaySeconds: number;
  readonly retry: RetryState;
}

export { DEAD_LETTER_ATTRIBUTES } from './fate.ts';

/** A message for the dead-letter queue. */
export interface DeadLetter {
  readonly body: string;
  /** The worker's attributes, {@link DEAD_LETTER_ATTRIBUTES}. */
  readonly attributes: Readonly<Record<string, string | number>>;
  /** The producer's own attributes that fit beside the worker's (SQS takes ten in all). */
  readonly producerAttributes?: Readonly<Record<string, MessageAttributeValue>> | undefined;
  /** For a FIFO dead-letter queue: the original message group. */
  readonly groupId?: string | undefined;
  /** For a FIFO dead-letter queue: the original message id, so a retried send is not duplicated. */
  readonly deduplicationId?: string | undefined;
  /** The dead-letter queue of the job's producer, when the deployment declares producers; the deployment's otherwise. */
  readonly queueUrl?: string | undefined;
}

/**
 * The queue operations the worker needs, narrow enough to fake in tests. Each takes the signal that ends it
 * before the invocation times out.
 */
export interface QueueOps {
  /** Changes the visibility of records of the queue `queueArn`; resolves with the message ids that could not be changed. */
  changeVisibility(queueArn: string, changes: readonly VisibilityChange[], signal?: AbortSignal): Promise<ReadonlySet<string>>;
  /**
   * Sends records again to their queue (`queueArn`) as new messages delayed by `delaySeconds`, with their
   * body, their producer's message attributes and the retry state; resolves with the message ids that were
   * not sent, each `refused` (SQS said so) or `unanswered` (the call failed without an answer: SQS may have
   * taken it). A new message starts with a receive count of zero.
   */
  resend(queueArn: string, entries: readonly ResendEntry[], signal?: AbortSignal): Promise<ReadonlyMap<string, SendFailure>>;
  /** Sends one message to the dead-letter queue; rejects when SQS did not take it. */
  sendToDeadLetter(letter: DeadLetter, signal?: AbortSignal): Promise<void>;
}

/**
 * Why a message was not sent: SQS `refused` it, or the call got no answer (`unanswered`: cut short by the
 * deadline, or the connection failed), in which case SQS may have taken it all the same.
 */
export type SendFailure = 'refused' | 'unanswered';

/** SQS takes at most 10 entries per batch call. */
const BATCH_LIMIT = 10;
/** SQS takes at most 1 MiB per message, and per batch call all entries together. */
const BATCH_BYTES = 1_048_576;

/**
 * Creates the SQS-backed queue operations.
 *
 * @example
 * const queue = createSqsQueueOps(new SQSClient({ useQueueUrlAsEndpoint: false }), config.dlqUrl);
 */
export function createSqsQueueOps(client: Pick<SQSClient, 'send'>, dlqUrl: string): QueueOps {
  const queueUrls = new Map<string, Promise<string>>();

  /**
   * The URL of a queue ARN, asked of SQS once per container: an emulator's URLs need not follow AWS's
   * pattern, and GetQueueUrl is part of what a consumer may call. Falls back to AWS's pattern.
   */
  const queueUrlOf = (arn: string, signal?: AbortSignal): Promise<string> => {
    let url = queueUrls.get(arn);
    if (url === undefined) {
      const [, , , , account, name] = arn.split(':');
      // Asked during the closing calls: bounded by their signal, and by 2 s, then AWS's pattern.
      const bound = AbortSignal.any([AbortSignal.timeout(2_000), ...(signal === undefined ? [] : [signal])]);
      url = client
        .send(new GetQueueUrlCommand({ QueueName: name, QueueOwnerAWSAccountId: account }), { abortSignal: bound })
        .then((answer) => answer.QueueUrl ?? queueUrlFromArn(arn))
        .catch(() => queueUrlFromArn(arn));
      queueUrls.set(arn, url);
    }
    return url;
  };

  return {
    async changeVisibility(queueArn, changes, signal) {
      const queueUrl = await queueUrlOf(queueArn, signal);
      const failed = await inBatches(chunk(changes, () => 0), (change) => change.messageId, (entries) =>
        client.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: queueUrl,
            Entries: entries.map((change, index) => ({ Id: String(index), ReceiptHandle: change.receiptHandle, VisibilityTimeout: change.delaySeconds })),
          }),
          { abortSignal: signal },
        ),
      );
      return new Set(failed.keys());
    },
    async resend(queueArn, entries, signal) {
      const queueUrl = await queueUrlOf(queueArn, signal);
      const messages = entries.map((entry) => ({ entry, attributes: resendAttributes(entry.record, entry.retry) }));
      return inBatches(chunk(messages, ({ entry, attributes }) => messageBytes(entry.record.body, attributes)), ({ entry }) => entry.record.messageId, (batch) =>
        client.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: batch.map(({ entry, attributes }, index) => ({
              Id: String(index),
              MessageBody: entry.record.body,
              DelaySeconds: entry.delaySeconds,
              MessageAttributes: attributes,
            })),
          }),
          { abortSignal: signal },
        ),
      );
    },
    async sendToDeadLetter(letter, signal) {
      const queueUrl = letter.queueUrl ?? dlqUrl;
      const fifoDlq = queueUrl.endsWith('.fifo');
      await client.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: letter.body,
          MessageAttributes: { ...letter.producerAttributes, ...toMessageAttributes(letter.attributes) },
          ...(fifoDlq ? { MessageGroupId: letter.groupId ?? 'dead-letters', MessageDeduplicationId: letter.deduplicationId } : {}),
        }),
        { abortSignal: signal },
      );
    },
  };
}

/**
 * Splits items, in order, into batch calls of at most ten entries and at most 1 MiB together (SQS's limits
 * for SendMessageBatch and the other batch calls).
 *
 * @example
 * for (const batch of chunk(messages, (message) => Buffer.byteLength(message.body))) await send(batch);
 */
export function chunk<T>(items: readonly T[], bytes: (item: T) => number): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const item of items) {
    const itemBytes = bytes(item);
    if (current.length === BATCH_LIMIT || (current.length > 0 && size + itemBytes > BATCH_BYTES)) {
      chunks.push(current);
      current = [];
      size = 0;
    }
    current.push(item);
    size += itemBytes;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** A message's size as SQS counts it: the body and each attribute's name, type and value, in UTF-8 bytes. */
function messageBytes(body: string, attributes: Record<string, MessageAttributeValue>): number {
  let bytes = Buffer.byteLength(body, 'utf8');
  for (const [name, value] of Object.entries(attributes)) {
    bytes += Buffer.byteLength(name, 'utf8') + Buffer.byteLength(value.DataType ?? '', 'utf8') + Buffer.byteLength(value.StringValue ?? '', 'utf8') + (value.BinaryValue?.length ?? 0);
  }
  return bytes;
}

/**
 * Runs one SQS batch call per chunk, entry ids being indexes into the chunk; resolves with the message ids
 * of the items SQS did not take (`refused`), and of every item of a call that failed outright: `refused`
 * when SQS answered with an error, `unanswered` when no answer came.
 */
async function inBatches<T>(chunks: readonly T[][], messageId: (item: T) => string, call: (entries: readonly T[]) => Promise<{ Failed?: Array<{ Id?: string }> }>): Promise<Map<string, SendFailure>> {
  const failed = new Map<string, SendFailure>();
  await Promise.all(
    chunks.map(async (entries) => {
      try {
        const answer = await call(entries);
        for (const entry of answer.Failed ?? []) {
          const item = entries[Number(entry.Id)];
          if (item !== undefined) failed.set(messageId(item), 'refused');
        }
      } catch (error) {
        for (const item of entries) failed.set(messageId(item), answeredBySqs(error) ? 'refused' : 'unanswered');
      }
    }),
  );
  return failed;
}

/**
 * The producer's message attributes of a record (string, number and binary), with the retry state in place
 * of the worker's earlier one. The fate decision resends only records with room for it (SQS allows ten).
 */
function resendAttributes(record: SQSRecord, retry: RetryState): Record<string, MessageAttributeValue> {
  const attributes = producerAttributesOf(record);
  if (Object.keys(attributes).length < MAX_MESSAGE_ATTRIBUTES) attributes[RETRY_ATTRIBUTE] = { DataType: 'String', StringValue: formatRetryState(retry) };
  return attributes;
}

/**
 * The message attributes a record carries into a new message (string, number and binary): the producer's own
 * (trace ids, say) and a redriven job's `firstSentAt` (its order), without the worker's retry state and
 * without the diagnostics of a dead letter that a console redrive brought back, in SQS's form.
 */
export function producerAttributesOf(record: SQSRecord): Record<string, MessageAttributeValue> {
  const attributes: Record<string, MessageAttributeValue> = {};
  for (const [name, value] of Object.entries(record.messageAttributes)) {
    if (!isCarriedAttribute(name)) continue;
    if (value.stringValue !== undefined) attributes[name] = { DataType: value.dataType, StringValue: value.stringValue };
    else if (value.binaryValue !== undefined) attributes[name] = { DataType: value.dataType, BinaryValue: Buffer.from(value.binaryValue, 'base64') };
  }
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

/**
 * True when an SQS call's error is SQS's own answer (the AWS SDK's service errors carry the answer's HTTP
 * status), false when no answer came: an abort, a timeout, a dropped connection.
 */
export function answeredBySqs(error: unknown): boolean {
  const metadata = (error as { $metadata?: { httpStatusCode?: unknown } } | null)?.$metadata;
  return typeof metadata?.httpStatusCode === 'number';
}
