import { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { startFauxqs } from 'fauxqs';
import type { RetryState } from '../../shared/queue/fate.ts';
import type { DeadLetter, QueueOps, VisibilityChange } from '../../shared/queue/sqs.ts';

export const QUEUE_ARN = 'arn:aws:sqs:eu-west-1:123456789012:jobs';
export const FIFO_QUEUE_ARN = 'arn:aws:sqs:eu-west-1:123456789012:jobs.fifo';

let serial = 0;

/** When records are sent unless a test says otherwise: the start of the test clock (createClock). */
export const SENT_AT = Date.UTC(2026, 10, 23, 12, 0, 0);

/** An SQS record as Lambda's event source mapping delivers it. */
export function sqsRecord(
  body: unknown,
  options: { arn?: string; groupId?: string; receiveCount?: number; messageId?: string; sentAt?: number; attributes?: SQSRecord['messageAttributes'] } = {},
): SQSRecord {
  serial += 1;
  const messageId = options.messageId ?? `00000000-0000-4000-8000-${String(serial).padStart(12, '0')}`;
  return {
    messageId,
    receiptHandle: `receipt-${messageId}`,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: String(options.receiveCount ?? 1),
      SentTimestamp: String(options.sentAt ?? SENT_AT),
      SenderId: 'AIDAEXAMPLE',
      ApproximateFirstReceiveTimestamp: String(options.sentAt ?? SENT_AT),
      ...(options.groupId === undefined ? {} : { MessageGroupId: options.groupId, SequenceNumber: String(serial), MessageDeduplicationId: messageId }),
    },
    messageAttributes: options.attributes ?? {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: options.arn ?? QUEUE_ARN,
    awsRegion: 'eu-west-1',
  };
}

export function sqsEvent(records: SQSRecord[]): SQSEvent {
  return { Records: records };
}

/** A context whose remaining time counts down with the given clock. */
export function lambdaContext(now: () => number, timeoutMs = 30_000) {
  const deadline = now() + timeoutMs;
  return { getRemainingTimeInMillis: () => Math.max(0, deadline - now()) };
}

/** Hand-written fake of the queue operations, recording every call. */
export function createFakeQueue(options: { failDeadLetter?: boolean | 'unanswered'; failVisibility?: boolean; failResend?: boolean | 'unanswered' } = {}) {
  const deadLetters: DeadLetter[] = [];
  const resent: Array<{ queueArn: string; messageId: string; delaySeconds: number; retry: RetryState }> = [];
  const visibility: Array<{ queueArn: string; changes: VisibilityChange[] }> = [];
  const queue: QueueOps = {
    async changeVisibility(queueArn, changes) {
      visibility.push({ queueArn, changes: [...changes] });
      return new Set(options.failVisibility ? changes.map((change) => change.messageId) : []);
    },
    async resend(queueArn, records) {
      if (options.failResend) return new Map(records.map(({ record }) => [record.messageId, options.failResend === 'unanswered' ? 'unanswered' : 'refused'] as const));
      for (const { record, delaySeconds, retry } of records) resent.push({ queueArn, messageId: record.messageId, delaySeconds, retry });
      return new Map();
    },
    async sendToDeadLetter(letter) {
      // SQS's answer carries its HTTP status (an AWS SDK service error); a call cut short has none.
      if (options.failDeadLetter === 'unanswered') throw Object.assign(new Error('This operation was aborted'), { name: 'AbortError' });
      if (options.failDeadLetter) throw Object.assign(new Error('Service unavailable'), { name: 'ServiceUnavailable', $metadata: { httpStatusCode: 503 } });
      deadLetters.push(letter);
    },
  };
  const delays = () => new Map(visibility.flatMap((call) => call.changes.map((change) => [change.messageId, change.delaySeconds] as const)));
  const resendDelays = () => new Map(resent.map((entry) => [entry.messageId, entry.delaySeconds] as const));
  return { queue, deadLetters, visibility, delays, resent, resendDelays };
}

/**
 * The fauxqs SQS emulator on a loopback port, with a client as the worker builds it: requests go to the
 * configured endpoint, never to the host in a queue URL (fauxqs' `.localhost` hosts do not resolve here).
 */
export async function startLocalSqs(region = 'us-east-1') {
  const server = await startFauxqs({ port: 0, logger: false, defaultRegion: region });
  const sqs = new SQSClient({ region, credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, endpoint: server.address, useQueueUrlAsEndpoint: false });
  return {
    server,
    sqs,
    async stop() {
      sqs.destroy();
      await server.stop();
    },
  };
}
