/**
 * The whole local stack: the worker bundle run by the local event source mapping against fauxqs, the local
 * Secrets Manager and the tenant emulator, as `npm start` runs it.
 */
import { type Message, ReceiveMessageCommand, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { build } from 'esbuild';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE_OPTIONS } from '../../infra/bundling.ts';
import { readBatchItemFailures } from '../../local/event-source-mapping.ts';
import { managementAnswers } from '../../local/figures.ts';
import { startInteractiveCaller } from '../../local/interactive-caller.ts';
import { type LocalStack, type LocalStackOptions } from '../../local/stack.ts';
import { compareState, createRandom, generateWorkload, seedTenant } from '../../local/workload.ts';
import { startTestStack } from '../helpers/suite-logs.ts';
import { drained } from '../helpers/drained.ts';

const FAST = { burst: 50, perSecond: 50 } as const;

describe('Local stack: worker bundle + event source mapping + fauxqs + Secrets Manager + tenant emulator', () => {
  let stack: LocalStack | undefined;
  let fixtures: string;

  beforeAll(async () => {
    fixtures = mkdtempSync(join(tmpdir(), 'stack-fixtures-'));
  });

  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  afterAll(() => {
    rmSync(fixtures, { recursive: true, force: true });
  });

  const start = async (options: LocalStackOptions = {}) => {
    stack = await startTestStack({ build: false, rateLimit: FAST, ...options });
    return stack;
  };

  const enqueue = async (s: LocalStack, bodies: ReadonlyArray<{ body: string; groupId?: string; id?: string }>) => {
    for (let index = 0; index < bodies.length; index += 10) {
      await s.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: s.jobs.url,
          Entries: bodies.slice(index, index + 10).map((job, n) => ({
            Id: String(n),
            MessageBody: job.body,
            ...(job.groupId === undefined ? {} : { MessageGroupId: job.groupId, MessageDeduplicationId: job.id }),
          })),
        }),
      );
    }
  };

  const deadLetters = async (s: LocalStack): Promise<Message[]> => {
    const letters: Message[] = [];
    for (;;) {
      const { Messages = [] } = await s.sqs.send(new ReceiveMessageCommand({ QueueUrl: s.dlq.url, MaxNumberOfMessages: 10, VisibilityTimeout: 300, MessageAttributeNames: ['All'] }));
      if (Messages.length === 0) return letters;
      letters.push(...Messages);
    }
  };

  it('applies a mixed workload to the state it asks for, and dead-letters the rest with their reasons', async () => {
    // Prepare
    const s = await start();
    const random = createRandom(7);
    const seeded = seedTenant(s.tenant.state, { users: 40, roles: 5, random });
    const workload = generateWorkload(s.tenant.state, seeded, { jobs: 80, random });
    await enqueue(s, workload.jobs);

    // Act
    const worker = s.startWorker({ maxConcurrency: 2 });
    const done = await drained(s, 60_000);
    await worker.stop();

    // Assess
    expect(done).toBe(true);
    expect(compareState(s.tenant.state, workload.expected)).toEqual([]);
    const letters = await deadLetters(s);
    const reasons = new Map(letters.map((letter) => [letter.MessageAttributes?.['jobId']?.StringValue ?? /"jobId":"([^"]+)"/.exec(letter.Body ?? '')?.[1], letter.MessageAttributes?.['reason']?.StringValue]));
    const expected = workload.jobs.filter((job) => job.expectedReason !== undefined);
    expect(expected.length).toBeGreaterThan(5);
    expect(expected.map((job) => reasons.get(job.jobId))).toEqual(expected.map((job) => job.expectedReason));
    expect(letters).toHaveLength(expected.length);
    // One token per container, for the whole run
    expect(s.tenant.counters.tokensIssued).toBe(worker.stats.coldStarts);
    // The log file holds the functions' lines in Powertools' shape: each ties to its invocation and its record
    const entries = readFileSync(s.logFile ?? '', 'utf8').split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, unknown>);
    const applied = entries.filter((entry) => entry['message'] === 'job applied');
    expect(applied.length).toBe(workload.jobs.length - expected.length);
    for (const entry of [...applied, ...entries.filter((entry) => entry['message'] === 'job dead-lettered')]) {
      expect(entry).toMatchObject({ level: expect.stringMatching(/^(INFO|ERROR)$/), service: 'worker', function_name: 'worker', cold_start: expect.any(Boolean) });
      expect(entry['function_request_id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(entry['messageId']).toEqual(expect.any(String));
    }
    expect(new Set(applied.map((entry) => entry['jobId']))).toEqual(new Set(workload.jobs.filter((job) => job.expectedReason === undefined).map((job) => job.jobId)));
    // cold_start is true on each container's first invocation only, and Powertools' ColdStart metric counts them
    const batches = entries.filter((entry) => entry['message'] === 'batch done');
    expect(batches).toHaveLength(worker.stats.invocations);
    expect(batches.filter((entry) => entry['cold_start'] === true)).toHaveLength(worker.stats.coldStarts);
    expect(entries.filter((entry) => entry['ColdStart'] === 1)).toHaveLength(worker.stats.coldStarts);
    expect(entries.filter((entry) => typeof entry['JobsApplied'] === 'number').reduce((sum, entry) => sum + Number(entry['JobsApplied']), 0)).toBe(applied.length);
  }, 120_000);

  it('under the free plan, with another application emptying the bucket, backs off on 429 and still applies every job', async () => {
    // Prepare: the worker paces itself to the free plan's bucket, so its 429s come from calls it cannot see
    // coming: another application of the tenant reading profiles at 10 calls a second keeps the bucket empty
    // (alone, two paced containers met none: CI, and a caller at 1.5/s left them none under load)
    const s = await start({ rateLimit: 'free' });
    const random = createRandom(11);
    const seeded = seedTenant(s.tenant.state, { users: 20, roles: 3, random });
    const workload = generateWorkload(s.tenant.state, seeded, { jobs: 16, random });
    await enqueue(s, workload.jobs.filter((job) => job.expectedReason === undefined));
    const other = await startInteractiveCaller({ tenant: s.tenant, userIds: seeded.users.map((user) => user.user_id), callsPerSecond: 10 });
    // Management API answers only: the caller counts its own 429s there
    const workerRateLimited = () => (managementAnswers(s.tenant.counters.requests)[429] ?? 0) - other.counts().rateLimited;

    // Act: the other application stops once the worker has met a 429 of its own (or after 30 s)
    const worker = s.startWorker({ maxConcurrency: 2 });
    for (const started = Date.now(); workerRateLimited() === 0 && Date.now() - started < 30_000; ) await new Promise((resolve) => setTimeout(resolve, 100));
    const counts = await other.stop();
    const done = await drained(s, 90_000);
    await worker.stop();

    // Assess: the worker met 429s of its own, and lost nothing to them
    expect(done).toBe(true);
    expect((managementAnswers(s.tenant.counters.requests)[429] ?? 0) - counts.rateLimited).toBeGreaterThan(0);
    expect(compareState(s.tenant.state, workload.expected)).toEqual([]);
    expect(await deadLetters(s)).toEqual([]);
  }, 120_000);

  it('keeps working through a secret rotation: the revoked secret is re-read from Secrets Manager', async () => {
    // Prepare: tokens live 4 s, so containers ask for new ones during the run
    const s = await start({ tenant: { tokenLifetimeSeconds: 4 } });
    const users = seedTenant(s.tenant.state, { users: 10, roles: 1, random: createRandom(3) }).users;
    const job = (n: number) => ({ body: JSON.stringify({ type: 'user.update', userId: users[n % users.length]?.user_id, changes: { app_metadata: { [`rotation${n}`]: n } } }) });
    await enqueue(s, Array.from({ length: 10 }, (_, n) => job(n)));
    const worker = s.startWorker({ maxConcurrency: 2 });
    expect(await drained(s, 30_000)).toBe(true);

    // Act
    const { revokeOld } = s.rotateSecret();
    revokeOld();
    await new Promise((resolve) => setTimeout(resolve, 4_500));
    await enqueue(s, Array.from({ length: 10 }, (_, n) => job(n + 10)));
    const done = await drained(s, 30_000);
    await worker.stop();

    // Assess
    expect(done).toBe(true);
    expect(s.tenant.counters.requests.get('POST /oauth/token')?.get(401)).toBeGreaterThanOrEqual(1);
    expect(s.secrets.reads.get(s.client.secretName)).toBeGreaterThan(worker.stats.coldStarts);
    const applied = [...s.tenant.state.users.values()].flatMap((user) => Object.keys(user.app_metadata).filter((key) => key.startsWith('rotation')));
    expect(applied).toHaveLength(20);
    expect(await deadLetters(s)).toEqual([]);
  }, 120_000);

  it('on a FIFO queue, applies each user\'s jobs in order, even through 429s', async () => {
    // Prepare
    const s = await start({ fifo: true, rateLimit: 'free' });
    const users = seedTenant(s.tenant.state, { users: 3, roles: 1, random: createRandom(5) }).users;
    const jobs = users.flatMap((user) =>
      [1, 2, 3, 4].map((step) => ({
        body: JSON.stringify({ type: 'user.update', userId: user.user_id, changes: { app_metadata: { step } } }),
        groupId: user.user_id,
        id: `${user.user_id}-${step}`,
      })),
    );
    await enqueue(s, jobs);

    // Act: the workers pace themselves, so a 429 storm makes sure some calls meet one
    const worker = s.startWorker({ maxConcurrency: 2 });
    s.tenant.faults.stormUntil = Date.now() + 2_000;
    const done = await drained(s, 90_000);
    await worker.stop();

    // Assess: each user's PATCHes reached the tenant as steps 1, 2, 3, 4
    expect(done).toBe(true);
    for (const user of users) {
      const steps = s.tenant.writes.filter((write) => write.id === user.user_id).map((write) => (write.body['app_metadata'] as { step: number }).step);
      expect(steps).toEqual([1, 2, 3, 4]);
    }
    expect(s.tenant.statusCounts()[429]).toBeGreaterThan(0);
  }, 120_000);

  it('loses nothing when an invocation throws or its container dies', async () => {
    // Prepare: a bundle whose first two invocations fail; a 1.5 s function timeout gives a 9 s visibility timeout
    const outfile = join(fixtures, 'crashing', 'index.mjs');
    await build({ ...BUNDLE_OPTIONS, entryPoints: [new URL('../fixtures/crashing-worker.ts', import.meta.url).pathname], outfile });
    const s = await start({ timeoutMs: 1_500 });
    const users = seedTenant(s.tenant.state, { users: 5, roles: 1, random: createRandom(9) }).users;
    await enqueue(s, users.map((user) => ({ body: JSON.stringify({ type: 'user.update', userId: user.user_id, changes: { app_metadata: { survived: true } } }) })));

    // Act
    const worker = s.startWorker({ maxConcurrency: 1, batchSize: 2, bundleUrl: pathToFileURL(outfile).href, env: { CRASH_MARKER_DIR: fixtures } });
    const done = await drained(s, 60_000);
    await worker.stop();

    // Assess
    expect(done).toBe(true);
    expect(worker.stats.failedBatches).toBe(2);
    expect(worker.stats.coldStarts).toBe(2);
    expect(users.map((user) => s.tenant.state.users.get(user.user_id)?.app_metadata['survived'])).toEqual(users.map(() => true));
  }, 120_000);
});

describe('Function: readBatchItemFailures()', () => {
  const messages = [{ MessageId: 'a' }, { MessageId: 'b' }];

  it.each([
    ['no response', undefined, []],
    ['an empty list', { batchItemFailures: [] }, []],
    ['known identifiers', { batchItemFailures: [{ itemIdentifier: 'b' }] }, ['b']],
  ])('reads %s', (_, response, failed) => {
    // Act & Assess
    expect([...(readBatchItemFailures(response, messages) ?? ['malformed'])]).toEqual(failed);
  });

  it.each([
    ['a string', 'ok'],
    ['a non-array list', { batchItemFailures: 'a' }],
    ['an empty identifier', { batchItemFailures: [{ itemIdentifier: '' }] }],
    ['an unknown identifier', { batchItemFailures: [{ itemIdentifier: 'zzz' }] }],
  ])('treats %s as a failed batch', (_, response) => {
    // Act & Assess
    expect(readBatchItemFailures(response, messages)).toBeUndefined();
  });
});
