/**
 * `dlq redrive` on the local stack, run twice at once over the same dead-letter queue: the worker bundle run
 * by the local event source mapping, fauxqs, the tenant emulator and the ordering ledger, all through the
 * real SDK clients.
 */
import { GetQueueAttributesCommand, SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import { type LocalStack, enqueueJobs } from '../../local/stack.ts';
import { addUser } from '../../local/tenant/state.ts';
import { CONNECTION } from '../../local/workload.ts';
import { runCommand } from '../helpers/cli.ts';
import { startTestStack } from '../helpers/suite-logs.ts';
import { drained } from '../helpers/drained.ts';

const FAST = { burst: 50, perSecond: 50 } as const;
const JOBS = 30;

describe('Command: dlq redrive, twice at once on the local stack', () => {
  let stack: LocalStack | undefined;

  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  /** Letters in the dead-letter queue, visible or not. */
  const letters = async (s: LocalStack) => {
    const { Attributes = {} } = await s.sqs.send(new GetQueueAttributesCommand({ QueueUrl: s.dlq.url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
    return Number(Attributes.ApproximateNumberOfMessages ?? 0) + Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0);
  };

  /** Runs the worker until the jobs queue has been empty a while. */
  const run = async (s: LocalStack, output: string[]) => {
    const worker = s.startWorker({ maxConcurrency: 2, onOutput: (line) => output.push(line) });
    const done = await drained(s, 60_000);
    await worker.stop();
    expect(done).toBe(true);
  };

  /** The stack's SQS client, noting the job id of every job the command sends to the jobs queue. */
  const recording = (s: LocalStack, sent: string[]) =>
    ({
      send: async (command: Parameters<SQSClient['send']>[0]) => {
        if (command instanceof SendMessageCommand && command.input.QueueUrl === s.jobs.url) {
          sent.push((JSON.parse(command.input.MessageBody ?? '{}') as { jobId?: string }).jobId ?? '');
        }
        return s.sqs.send(command as never);
      },
    }) as unknown as SQSClient;

  it.each([['standard', false], ['FIFO', true]] as const)('%s queues: every dead-lettered job is sent back and applied exactly once, and the dead-letter queue ends empty', async (_, fifo) => {
    // Prepare: thirty jobs for thirty users, each refused by Auth0 (400) and dead-lettered; then Auth0 accepts them
    const s = (stack = await startTestStack({ build: false, rateLimit: FAST, fifo }));
    const users = Array.from({ length: JOBS }, (_, n) => addUser(s.tenant.state, { email: `u${n}@example.com`, connection: CONNECTION }));
    let refusing = true;
    s.tenant.faults.intercept = (request) =>
      refusing && request.route === 'PATCH /api/v2/users/{id}' ? { status: 400, body: { statusCode: 400, error: 'Bad Request', message: 'Payload validation error', errorCode: 'invalid_body' } } : undefined;
    const jobIds = users.map((_, n) => `redrive-${n}`);
    await enqueueJobs(s, users.map((user, n) => ({ jobId: jobIds[n] ?? '', groupId: user.user_id, body: JSON.stringify({ type: 'user.update', userId: user.user_id, changes: { blocked: true }, jobId: jobIds[n] }) })), fifo);
    const output: string[] = [];
    await run(s, output);
    expect(await letters(s)).toBe(JOBS);
    expect(s.tenant.writes).toEqual([]);
    refusing = false;

    // Act: two redrives at once, each with its own client, then the worker
    const sentBy: [string[], string[]] = [[], []];
    const redrives = await Promise.all(sentBy.map((sent) => runCommand(['dlq', 'redrive', '--dlq-url', s.dlq.url, '--queue-url', s.jobs.url, '--json'], { sqs: () => recording(s, sent) })));
    await run(s, output);

    // Assess: the two moved every letter between them, each job was sent once and written once
    expect(redrives.map((redrive) => [redrive.status, redrive.stderr])).toEqual([[0, ''], [0, '']]);
    const moved = redrives.map((redrive) => (JSON.parse(redrive.stdout) as { moved: number }).moved);
    expect(moved[0]! + moved[1]!).toBe(JOBS);
    // Both took part: neither finished before the other began
    expect(Math.min(...moved)).toBeGreaterThan(0);
    expect([...sentBy[0], ...sentBy[1]].sort()).toEqual([...jobIds].sort());
    expect(sentBy.map((sent) => sent.length)).toEqual(moved);
    const writesPerUser = new Map<string, number>();
    for (const write of s.tenant.writes) writesPerUser.set(write.id ?? '', (writesPerUser.get(write.id ?? '') ?? 0) + 1);
    expect(Object.fromEntries(writesPerUser)).toEqual(Object.fromEntries(users.map((user) => [user.user_id, 1])));
    for (const user of users) expect(s.tenant.state.users.get(user.user_id)?.blocked).toBe(true);
    expect(output.filter((line) => line.includes('"message":"job superseded'))).toEqual([]);
    expect(await letters(s)).toBe(0);
  }, 180_000);
});
