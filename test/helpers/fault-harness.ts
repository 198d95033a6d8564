/**
 * The fault matrix's harness: a local stack with a seeded tenant and a mixed workload, a way to run the worker
 * through a fault, and the check every scenario ends with.
 */
import { type Message, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { expect } from 'vitest';
import type { EventSourceMapping } from '../../local/event-source-mapping.ts';
import { type LocalStack, type LocalStackOptions, readDeadLetters } from '../../local/stack.ts';
import { compareState, createRandom, generateWorkload, seedTenant } from '../../local/workload.ts';
import { startTestStack } from './suite-logs.ts';
import { drained } from './drained.ts';

const FAST = { burst: 50, perSecond: 50 } as const;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One stack per scenario; `stop()` after each. */
export function createFaultHarness() {
  let stack: LocalStack | undefined;
  /** Every line the worker's containers wrote in the scenario. */
  let output: string[] = [];

  /** A stack with a seeded tenant and a mixed workload (valid and invalid jobs), enqueued `copies` times. */
  const prepare = async (options: LocalStackOptions & { jobs?: number; seed?: number; copies?: number; validOnly?: boolean } = {}) => {
    stack = await startTestStack({ build: false, rateLimit: FAST, ...options });
    output = [];
    const s = stack;
    const random = createRandom(options.seed ?? 1);
    const seeded = seedTenant(s.tenant.state, { users: 20, roles: 4, random });
    const workload = generateWorkload(s.tenant.state, seeded, { jobs: options.jobs ?? 40, random, validOnly: options.validOnly ?? false });
    const fifo = options.fifo ?? false;
    for (let copy = 0; copy < (options.copies ?? 1); copy++) {
      for (let index = 0; index < workload.jobs.length; index += 10) {
        await s.sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: s.jobs.url,
            Entries: workload.jobs.slice(index, index + 10).map((job, n) => ({
              Id: String(n),
              MessageBody: job.body,
              ...(fifo ? { MessageGroupId: job.groupId, MessageDeduplicationId: `${job.jobId}-${copy}` } : {}),
            })),
          }),
        );
      }
    }
    return { s, workload };
  };

  /**
   * Every job accounted for: the tenant in the state the applied jobs ask for, and the dead-letter queue
   * holding exactly the jobs that must fail, `copies` times each, each with the expected reason.
   */
  const accountFor = async (s: LocalStack, workload: ReturnType<typeof generateWorkload>, copies = 1): Promise<Message[]> => {
    expect(compareState(s.tenant.state, workload.expected)).toEqual([]);
    // Whatever the fault, no log line holds a token (a JWT starts eyJ) or a client secret.
    expect(output.length).toBeGreaterThan(0);
    expect(output.filter((line) => line.includes('eyJ') || s.client.secretsIssued.some((secret) => line.includes(secret)))).toEqual([]);
    const letters = await readDeadLetters(s);
    const jobIdOf = (letter: Message) => letter.MessageAttributes?.['jobId']?.StringValue ?? /"jobId":"([^"]+)"/.exec(letter.Body ?? '')?.[1];
    const expected = workload.jobs.filter((job) => job.expectedReason !== undefined).flatMap((job) => Array.from({ length: copies }, () => `${job.jobId} ${job.expectedReason}`)).sort();
    // A job may be dead-lettered once more than expected only when the worker said SQS's answer to one of its
    // sends was lost (SQS may have taken that send as well as the copy kept on the queue).
    const mayRepeat = new Set(output.flatMap((line) => {
      const entry = parseLine(line);
      return entry?.['mayBeDuplicated'] === true && typeof entry['jobId'] === 'string' ? [entry['jobId']] : [];
    }));
    const seen = new Map<string, number>();
    const reasons = letters
      .map((letter) => `${jobIdOf(letter)} ${letter.MessageAttributes?.['reason']?.StringValue ?? 'no reason'}`)
      .sort()
      .filter((reason) => {
        seen.set(reason, (seen.get(reason) ?? 0) + 1);
        const allowed = expected.filter((each) => each === reason).length;
        return (seen.get(reason) ?? 0) <= allowed || !mayRepeat.has(reason.split(' ')[0] ?? '');
      });
    expect(reasons).toEqual(expected);
    return letters;
  };

  /** Runs the worker while `during` injects the fault, until the queue is drained. */
  const run = async (s: LocalStack, during: (worker: EventSourceMapping) => Promise<void>, options: { timeoutMs?: number; worker?: Parameters<LocalStack['startWorker']>[0] } = {}) => {
    const worker = s.startWorker({ maxConcurrency: 2, ...options.worker, onOutput: (line) => output.push(line) });
    await during(worker);
    const done = await drained(s, options.timeoutMs ?? 60_000);
    await worker.stop();
    expect(done).toBe(true);
    return worker;
  };

  const stop = async () => {
    await stack?.stop();
    stack = undefined;
  };

  return { prepare, run, accountFor, stop };
}

function parseLine(line: string): Record<string, unknown> | undefined {
  try {
    const entry: unknown = JSON.parse(line);
    return typeof entry === 'object' && entry !== null ? (entry as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
