/**
 * A local stand-in for Lambda's SQS event source mapping, following AWS's documented behaviour
 * (../shared/aws/FACTS.md): it long-polls the queue, gathers batches (batch size, batching window), runs up to
 * `maxConcurrency` invocations at once, each in its own container (a worker thread with its own module
 * state, kept warm and started cold when the poller scales up), passes a real `SQSEvent` and a context whose
 * deadline counts down, deletes what succeeded, leaves `batchItemFailures` on the queue, and treats a thrown
 * handler, a malformed response or a timeout as a failed batch.
 */
import { DeleteMessageBatchCommand, type Message, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse } from 'aws-lambda';
import { Worker } from 'node:worker_threads';
import { toSqsRecord } from './sqs-event.ts';

/** Options of {@link startEventSourceMapping}. */
export interface EventSourceMappingOptions {
  readonly sqs: Pick<SQSClient, 'send'>;
  /** Who sent a message, as SQS's `SenderId` (see local/sqs-senders.ts); fauxqs' own answer otherwise. */
  readonly senderOf?: ((messageId: string) => string | undefined) | undefined;
  readonly queueUrl: string;
  readonly queueArn: string;
  /** `file:` URL of the function bundle (the esbuild output that deploys). */
  readonly bundleUrl: string;
  /** Environment of every container. */
  readonly env: Readonly<Record<string, string>>;
  /** Records per batch: 1 to 10,000 (10 at most on FIFO; above 10 only with a batching window). Default 10. */
  readonly batchSize?: number;
  /** How long to gather a batch, in milliseconds (0 to 300,000). Default 0. */
  readonly batchingWindowMs?: number;
  /** Concurrent invocations (2 to 1,000 on AWS). Default 2. */
  readonly maxConcurrency?: number;
  /** The function timeout in milliseconds. Default 30,000. */
  readonly timeoutMs?: number;
  /** Long-poll wait per ReceiveMessage, in seconds. Default 1 (short, so local runs stop promptly). */
  readonly waitTimeSeconds?: number;
  /**
   * `FunctionResponseTypes: ['ReportBatchItemFailures']`. Default true, as the construct deploys it. Without it,
   * Lambda ignores the response: a batch whose invocation returns is deleted whole, failed records included.
   */
  readonly reportBatchItemFailures?: boolean;
  /** The function's name, in its context and its environment as Lambda sets them. Default `worker`. */
  readonly functionName?: string;
  /** Lines the containers write (logs and metrics), one call per line. */
  readonly onOutput?: (line: string) => void;
  /** Every batch received, before it is handed to the function (for reports that follow jobs across deliveries). */
  readonly onReceive?: (messages: readonly Message[]) => void;
}

/** What the mapping has done so far. */
export interface EventSourceMappingStats {
  invocations: number;
  coldStarts: number;
  /** Milliseconds spent importing the bundle, over all cold starts. */
  initMs: number;
  /** Milliseconds spent inside invocations, over all containers. */
  busyMs: number;
  recordsReceived: number;
  recordsDeleted: number;
  /** Records handed back through batchItemFailures. */
  recordsFailed: number;
  /** Invocations that threw, timed out, crashed or answered malformed: their whole batch stayed. */
  failedBatches: number;
}

/** A running mapping. */
export interface EventSourceMapping {
  readonly stats: EventSourceMappingStats;
  /** Containers alive now. */
  containers(): number;
  /**
   * Ends every busy container at once, as a sandbox that dies mid-invocation: their batches fail whole and
   * come back after the queue's visibility timeout.
   */
  crash(): Promise<number>;
  /** Stops polling, waits for invocations in flight, and ends every container. */
  stop(): Promise<void>;
}

interface Container {
  readonly worker: Worker;
  /** Resolves once the bundle is imported; rejects if its init fails. */
  readonly ready: Promise<void>;
  busy: boolean;
}

type InvocationOutcome = { kind: 'result'; result: unknown } | { kind: 'failed'; reason: string };

const CONTAINER_URL = new URL('./container.ts', import.meta.url);

/**
 * Starts polling.
 *
 * @example
 * const mapping = startEventSourceMapping({ sqs, queueUrl, queueArn, bundleUrl, env, maxConcurrency: 2 });
 * // … later
 * await mapping.stop();
 */
export function startEventSourceMapping(options: EventSourceMappingOptions): EventSourceMapping {
  const fifo = options.queueArn.endsWith('.fifo');
  const batchSize = Math.min(options.batchSize ?? 10, fifo ? 10 : 10_000);
  const windowMs = fifo ? 0 : (options.batchingWindowMs ?? 0);
  // As CreateEventSourceMapping refuses it.
  if (batchSize > 10 && windowMs <= 0) throw new Error(`batch size ${batchSize} needs a batching window: Lambda takes more than 10 records per batch only with MaximumBatchingWindowInSeconds of 1 or more`);
  const maxConcurrency = Math.max(1, options.maxConcurrency ?? 2);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const stats: EventSourceMappingStats = { invocations: 0, coldStarts: 0, initMs: 0, busyMs: 0, recordsReceived: 0, recordsDeleted: 0, recordsFailed: 0, failedBatches: 0 };
  const containers = new Set<Container>();
  const pollers = new Set<Promise<void>>();
  let stopping = false;
  let invocationId = 0;
  // Some of what Lambda sets in an on-demand function's environment ("Defined runtime environment variables" in the Lambda developer guide).
  const functionName = options.functionName ?? 'worker';
  const lambdaEnv = {
    AWS_LAMBDA_FUNCTION_NAME: functionName,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${functionName}`,
  };

  const startContainer = (): Container => {
    const worker = new Worker(CONTAINER_URL, { workerData: { bundleUrl: options.bundleUrl }, env: { ...lambdaEnv, ...options.env }, stdout: true, stderr: true });
    for (const stream of [worker.stdout, worker.stderr]) {
      let pending = '';
      stream.on('data', (chunk: Buffer) => {
        const lines = (pending + chunk.toString('utf8')).split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) options.onOutput?.(line);
      });
      // A container that ends (or is ended) mid-line still has its last words logged.
      stream.on('end', () => {
        if (pending !== '') options.onOutput?.(pending);
        pending = '';
      });
    }
    stats.coldStarts += 1;
    const container: Container = {
      worker,
      busy: true,
      ready: new Promise<void>((resolve, reject) => {
        const onMessage = (message: { type: string; initMs?: number; error?: string }) => {
          if (message.type === 'ready') {
            stats.initMs += message.initMs ?? 0;
            worker.off('message', onMessage);
            resolve();
          } else if (message.type === 'init_error') {
            reject(new Error(message.error));
          }
        };
        worker.on('message', onMessage);
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new Error(`container exited with code ${code} during init`)));
      }),
    };
    worker.once('exit', () => containers.delete(container));
    containers.add(container);
    return container;
  };

  /** A warm idle container if there is one, otherwise a cold start. */
  const acquire = (): Container => {
    for (const container of containers) {
      if (!container.busy) {
        container.busy = true;
        return container;
      }
    }
    return startContainer();
  };

  const invoke = async (container: Container, event: unknown): Promise<InvocationOutcome> => {
    try {
      await container.ready;
    } catch (error) {
      await container.worker.terminate();
      return { kind: 'failed', reason: `init failed: ${error instanceof Error ? error.message : String(error)}` };
    }
    const id = ++invocationId;
    const started = Date.now();
    const deadline = started + timeoutMs;
    stats.invocations += 1;
    const outcome = await new Promise<InvocationOutcome>((resolve) => {
      const finish = (value: InvocationOutcome) => {
        clearTimeout(timer);
        container.worker.off('message', onMessage);
        container.worker.off('exit', onExit);
        resolve(value);
      };
      const onMessage = (message: { type: string; id: number; result?: unknown; error?: string }) => {
        if (message.id !== id) return;
        finish(message.type === 'result' ? { kind: 'result', result: message.result } : { kind: 'failed', reason: `handler threw ${message.error ?? ''}` });
      };
      const onExit = (code: number) => finish({ kind: 'failed', reason: `container died (exit ${code})` });
      // A timed-out invocation's environment is not reused: end it, and the next batch starts cold.
      const timer = setTimeout(() => {
        finish({ kind: 'failed', reason: `timed out after ${timeoutMs} ms` });
        void container.worker.terminate();
      }, timeoutMs + 50);
      container.worker.on('message', onMessage);
      container.worker.once('exit', onExit);
      container.worker.postMessage({ id, event, deadline });
    });
    stats.busyMs += Date.now() - started;
    container.busy = false;
    return outcome;
  };

  /** One batch: what the first long poll brings, topped up until the batch is full or the window ends. */
  const receiveBatch = async (): Promise<Message[]> => {
    const messages: Message[] = [];
    const windowEnds = Date.now() + windowMs;
    while (messages.length < batchSize && !stopping) {
      const leftSeconds = Math.floor((windowEnds - Date.now()) / 1000);
      const { Messages = [] } = await options.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: options.queueUrl,
          MaxNumberOfMessages: Math.min(10, batchSize - messages.length),
          WaitTimeSeconds: messages.length === 0 ? (options.waitTimeSeconds ?? 1) : Math.min(1, Math.max(0, leftSeconds)),
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        }),
      );
      messages.push(...Messages);
      if (messages.length === 0 || Date.now() >= windowEnds) break;
    }
    return messages;
  };

  const deleteMessages = async (messages: readonly Message[]) => {
    for (let start = 0; start < messages.length; start += 10) {
      const chunk = messages.slice(start, start + 10);
      await options.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: options.queueUrl,
          Entries: chunk.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle ?? '' })),
        }),
      );
    }
    stats.recordsDeleted += messages.length;
  };

  /** Applies the documented rules for a partial batch response. */
  const settle = async (messages: readonly Message[], outcome: InvocationOutcome) => {
    if (outcome.kind === 'failed') {
      stats.failedBatches += 1;
      options.onOutput?.(JSON.stringify({ level: 'WARN', message: 'invocation failed; the whole batch stays on the queue', reason: outcome.reason, source: 'event-source-mapping' }));
      return;
    }
    if (options.reportBatchItemFailures === false) {
      await deleteMessages(messages);
      return;
    }
    const failures = readBatchItemFailures(outcome.result, messages);
    if (failures === undefined) {
      stats.failedBatches += 1;
      options.onOutput?.(JSON.stringify({ level: 'WARN', message: 'malformed batch response; the whole batch stays on the queue', source: 'event-source-mapping' }));
      return;
    }
    stats.recordsFailed += failures.size;
    await deleteMessages(messages.filter((message) => !failures.has(message.MessageId ?? '')));
  };

  const poll = async (): Promise<void> => {
    while (!stopping) {
      let messages: Message[];
      try {
        messages = await receiveBatch();
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 200));
        continue;
      }
      if (messages.length === 0) {
        if (pollers.size > 1) return; // scale down: one poller stays
        continue;
      }
      stats.recordsReceived += messages.length;
      options.onReceive?.(messages);
      // Scale up while batches come full, as Lambda adds concurrency under a backlog.
      if (messages.length >= Math.min(batchSize, 10) && pollers.size < maxConcurrency) addPoller();
      const event = { Records: messages.map((message) => toSqsRecord(message, options.queueArn, options.senderOf?.(message.MessageId ?? ''))) };
      await settle(messages, await invoke(acquire(), event));
    }
  };

  const addPoller = () => {
    const poller = poll().finally(() => pollers.delete(poller));
    pollers.add(poller);
  };

  addPoller();

  return {
    stats,
    containers: () => containers.size,
    async crash() {
      const busy = [...containers].filter((container) => container.busy);
      await Promise.all(busy.map((container) => container.worker.terminate()));
      return busy.length;
    },
    async stop() {
      stopping = true;
      while (pollers.size > 0) await Promise.all([...pollers]);
      await Promise.all([...containers].map((container) => container.worker.terminate()));
    },
  };
}

/**
 * The failed message ids of a handler's response, or `undefined` when the response is malformed: not an
 * object, a non-array `batchItemFailures`, or an identifier that is empty or not in the batch.
 */
export function readBatchItemFailures(result: unknown, messages: readonly Message[]): Set<string> | undefined {
  if (result === undefined || result === null) return new Set();
  if (typeof result !== 'object') return undefined;
  const list = (result as Partial<SQSBatchResponse>).batchItemFailures;
  if (list === undefined || list === null) return new Set();
  if (!Array.isArray(list)) return undefined;
  const ids = new Set(messages.map((message) => message.MessageId));
  const failures = new Set<string>();
  for (const item of list) {
    const id = (item as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || id === '' || !ids.has(id)) return undefined;
    failures.add(id);
  }
  return failures;
}
