import type { Message } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';

/**
 * Turns a message received with `MessageSystemAttributeNames: ['All']` and `MessageAttributeNames: ['All']`
 * into the record Lambda's SQS event source mapping would hand the function, with `senderId` as its sender when
 * known (fauxqs gives every message one account id).
 */
export function toSqsRecord(message: Message, queueArn: string, senderId?: string): SQSRecord {
  const region = queueArn.split(':')[3] ?? 'us-east-1';
  const attributes = message.Attributes ?? {};
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: attributes['ApproximateReceiveCount'] ?? '1',
      SentTimestamp: attributes['SentTimestamp'] ?? String(Date.now()),
      SenderId: senderId ?? attributes['SenderId'] ?? 'local',
      ApproximateFirstReceiveTimestamp: attributes['ApproximateFirstReceiveTimestamp'] ?? String(Date.now()),
      ...(attributes['MessageGroupId'] === undefined ? {} : { MessageGroupId: attributes['MessageGroupId'] }),
      ...(attributes['MessageDeduplicationId'] === undefined ? {} : { MessageDeduplicationId: attributes['MessageDeduplicationId'] }),
      ...(attributes['SequenceNumber'] === undefined ? {} : { SequenceNumber: attributes['SequenceNumber'] }),
    },
    messageAttributes: Object.fromEntries(
      Object.entries(message.MessageAttributes ?? {}).map(([name, value]) => [
        name,
        {
          dataType: value.DataType ?? 'String',
          ...(value.StringValue === undefined ? {} : { stringValue: value.StringValue }),
          // Lambda hands binary attribute values over base64-encoded.
          ...(value.BinaryValue === undefined ? {} : { binaryValue: Buffer.from(value.BinaryValue).toString('base64') }),
        },
      ]),
    ),
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: region,
  };
}
