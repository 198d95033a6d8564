import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { randomUUID } from 'node:crypto';

/** A dead letter as the command line reads it. */
export interface DeadLetterView {
  readonly message: Message;
  /** The `reason` attribute, or `none` for a job SQS's own redrive moved (the function failed on it). */
  readonly reason: string;
  readonly jobId: string | undefined;
  /** Epoch milliseconds the letter reached the dead-letter queue. */
  readonly deadLetteredAt: number;
}

/** What to do with one letter during a scan. */
export type LetterDecision = 'keep' | 'move';

/** Options of {@link scanDeadLetters}. */
export interface ScanOptions {
  /** Decides a letter's fate; letters kept stay on the dead-letter queue. */
  readonly decide: (letter: DeadLetterView) => LetterDecision;
  /**
   * Sends a letter's job on; the letter is deleted only after this resolves. Resolves with the id of the message
   * sent, so that a letter that job becomes again (its `originalMessageId`) is never picked by the same scan.
   */
  readonly move: (letter: DeadLetterView) => Promise<string | undefined>;
  /** The scan's start, epoch milliseconds: letters that arrived later are left alone. Default: now. */
  readonly startedAt?: number;
  /** How long a received letter stays hidden while the scan runs (it acts on a letter only within it). Default 120 s. */
  readonly visibilitySeconds?: number;
  /**
   * Only receive: no send, no delete, no visibility change (sqs:ReceiveMessage alone). Each letter read stays
   * hidden for `visibilitySeconds`, then comes back by itself; on a FIFO queue only what the receives hand out
   * is read (the first letters of each group). `decide` must keep every letter.
   */
  readonly readOnly?: boolean;
  readonly onProgress?: (seen: number) => void;
  /** Told of each letter moved (its job sent on, then the letter deleted) or turned over (FIFO), as it happens. */
  readonly onChange?: (change: 'moved' | 'turned-over') => void;
}

/** What a scan saw and did. */
export interface ScanResult {
  readonly letters: DeadLetterView[];
  readonly moved: DeadLetterView[];
}

/**
 * Reads every letter of a dead-letter queue once, moving the ones `decide` picks and leaving the others in
 * place. A letter is deleted only after `move` resolved, so a crash between the two sends the job twice at
 * worst, never loses it. Letters that arrived after the scan began, and letters of the jobs it sent (a job
 * redriven without a fix fails again within seconds), are left alone: a scan never chases its own output.
 *
 * On a standard queue the letters kept are made visible again at the end. A FIFO queue hands out no later
 * letter of a group while an earlier one is hidden, so there each kept letter is sent again to the tail of
 * its group (same body, attributes and group; a fresh deduplication id marks it as this scan's) and the
 * original deleted: the queue turns over once, in order, and the scan stops when only its own copies come back.
 * A `readOnly` scan does neither: the letters it read come back when their visibility runs out.
 *
 * A letter is moved, or turned over, only while this scan's hold on it stands: received less than
 * `visibilitySeconds` ago (counted from when the receive was asked, less a margin for the send and delete).
 * Past that, another scan may have received it, so this one lets it go uncounted (it may come round again):
 * two scans at once never both send a letter's job, even when one is held up (a process paused, a slow
 * network) between receiving letters and moving them.
 *
 * @example
 * const { letters } = await scanDeadLetters(sqs, dlqUrl, { decide: () => 'keep', move: async () => {} });
 */
export async function scanDeadLetters(sqs: Pick<SQSClient, 'send'>, dlqUrl: string, options: ScanOptions): Promise<ScanResult> {
  const fifo = dlqUrl.endsWith('.fifo');
  const readOnly = options.readOnly === true;
  const visibilityMs = (options.visibilitySeconds ?? 120) * 1000;
  // What a move (send, then delete) may take at most: a letter is touched only while this much of its hold is left.
  const marginMs = Math.min(30_000, visibilityMs / 4);
  const scan = `scan-${randomUUID()}`;
  const letters: DeadLetterView[] = [];
  const moved: DeadLetterView[] = [];
  // Every letter received and not deleted: made visible again at the end, whatever happened.
  const received = new Map<string, Message>();
  const seen = new Set<string>();
  // Jobs this scan sent: failing again within seconds, they come back as new letters it must not chase.
  const sent = new Set<string>();
  const startedAt = options.startedAt ?? Date.now();
  let copies = 0;
  let empty = 0;
  let stale = 0;
  const remove = async (message: Message) => {
    await sqs.send(new DeleteMessageCommand({ QueueUrl: dlqUrl, ReceiptHandle: message.ReceiptHandle }));
    received.delete(message.ReceiptHandle ?? '');
  };
  try {
    for (;;) {
      // Asked now: SQS hides the letters from this moment, whenever the answer arrives.
      const holdEnds = Date.now() + visibilityMs - marginMs;
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: dlqUrl,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: visibilityMs / 1000,
          // Short polls may answer empty while letters remain: wait a little, and stop only after two empty answers.
          WaitTimeSeconds: 1,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['All'],
        }),
      );
      if (Messages.length === 0) {
        if (++empty >= 2) break;
        continue;
      }
      empty = 0;
      if (!readOnly) for (const message of Messages) received.set(message.ReceiptHandle ?? '', message);
      let fresh = 0;
      for (const message of Messages) {
        // The hold has run out (or is about to): another scan may have this letter now. Let it go, uncounted; its
        // receipt handle is stale, so it is not made visible at the end either.
        if (!readOnly && Date.now() >= holdEnds) {
          received.delete(message.ReceiptHandle ?? '');
          continue;
        }
        // This scan's own copy (FIFO), or a kept letter back after its visibility ran out: already counted.
        if (fifo && message.Attributes?.['MessageDeduplicationId']?.startsWith(scan)) continue;
        if (seen.has(message.MessageId ?? '')) continue;
        seen.add(message.MessageId ?? '');
        const letter = viewOf(message);
        // A letter of a job this scan sent, or one that arrived after the scan began: not this scan's to count or
        // move (it becomes visible again at the end).
        if (sent.has(letter.message.MessageAttributes?.['originalMessageId']?.StringValue ?? '') || letter.deadLetteredAt > startedAt) continue;
        fresh += 1;
        letters.push(letter);
        const decision = options.decide(letter);
        if (readOnly) {
          if (decision === 'move') throw new Error('a read-only scan cannot move a letter');
        } else if (decision === 'move') {
          const id = await options.move(letter);
          if (id !== undefined) sent.add(id);
          await remove(message);
          moved.push(letter);
          options.onChange?.('moved');
        } else if (fifo) {
          await sqs.send(
            new SendMessageCommand({
              QueueUrl: dlqUrl,
              MessageBody: message.Body ?? '',
              MessageAttributes: attributesOf(message),
              MessageGroupId: message.Attributes?.['MessageGroupId'] ?? 'dead-letters',
              // Carries when the letter first reached the queue: the copy's own SentTimestamp is the scan's.
              MessageDeduplicationId: `${scan}-${copies++}-${letter.deadLetteredAt}`,
            }),
          );
          await remove(message);
          options.onChange?.('turned-over');
        }
      }
      options.onProgress?.(letters.length);
      // Only letters already counted came back, three times running: every letter has been read (a scan longer
      // than the visibility timeout sees its kept letters again, and must not go round for ever).
      stale = fresh === 0 ? stale + 1 : 0;
      if (stale >= 3) break;
    }
  } finally {
    // Empty on a read-only scan: what it read comes back by itself.
    const held = [...received.values()];
    for (let start = 0; start < held.length; start += 10) {
      await sqs
        .send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: dlqUrl,
            Entries: held.slice(start, start + 10).map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle, VisibilityTimeout: 0 })),
          }),
        )
        .catch(() => undefined);
    }
  }
  return { letters, moved };
}

/** A letter's message attributes, to send it on unchanged. */
export function attributesOf(message: Message): Record<string, MessageAttributeValue> {
  const attributes: Record<string, MessageAttributeValue> = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
    attributes[name] = {
      DataType: value.DataType,
      ...(value.StringValue === undefined ? {} : { StringValue: value.StringValue }),
      ...(value.BinaryValue === undefined ? {} : { BinaryValue: value.BinaryValue }),
    };
  }
  return attributes;
}

function viewOf(message: Message): DeadLetterView {
  const attribute = (name: string) => message.MessageAttributes?.[name]?.StringValue;
  let jobId = attribute('jobId');
  if (jobId === undefined) {
    try {
      const body = JSON.parse(message.Body ?? '') as { jobId?: unknown };
      if (typeof body.jobId === 'string') jobId = body.jobId;
    } catch {
      // Not JSON: no job id to show.
    }
  }
  // A FIFO letter an earlier scan turned over carries its first arrival in its deduplication id.
  const turned = /^scan-[0-9a-f-]{36}-\d+-(\d{1,15})$/.exec(message.Attributes?.['MessageDeduplicationId'] ?? '');
  return { message, reason: attribute('reason') ?? 'none', jobId, deadLetteredAt: Number(turned?.[1] ?? message.Attributes?.['SentTimestamp'] ?? 0) };
}
