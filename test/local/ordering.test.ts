/**
 * The newest job wins, on the local stack: the worker bundle run by the local event source mapping, fauxqs,
 * the tenant emulator and the ordering ledger in dynalite, all through the real SDK clients. One scenario per
 * way jobs of one user reorder; each ends with the newest job's value for every attribute, and no job lost.
 */
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import { type LocalStack, enqueueJobs, readDeadLetters } from '../../local/stack.ts';
import { addRole, addUser, rolesOf } from '../../local/tenant/state.ts';
import { CONNECTION, compareState, createRandom, generateOutOfOrderPairs, generateWorkload, seedTenant, throttleOlderWrite } from '../../local/workload.ts';
import { runCommand } from '../helpers/cli.ts';
import { startTestStack } from '../helpers/suite-logs.ts';
import { drained } from '../helpers/drained.ts';

const FAST = { burst: 50, perSecond: 50 } as const;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** RFC 3339 for `offsetMs` after a fixed moment a little in the past. */
const base = Date.now() - 60_000;
const at = (offsetMs: number) => new Date(base + offsetMs).toISOString();

describe('Ordering on the local stack: the newest job wins per attribute', () => {
  let stack: LocalStack | undefined;
  let output: string[] = [];

  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
    output = [];
  });

  const start = async (options: Parameters<typeof startTestStack>[0] = {}) => {
    const s = (stack = await startTestStack({ build: false, rateLimit: FAST, ...options }));
    const ada = addUser(s.tenant.state, { email: 'ada@example.com', connection: CONNECTION, app_metadata: { plan: 'free' } });
    const admin = addRole(s.tenant.state, { name: 'admin', description: 'admins' });
    return { s, ada, admin };
  };

  const enqueue = async (s: LocalStack, jobs: ReadonlyArray<Record<string, unknown>>) => {
    for (let first = 0; first < jobs.length; first += 10) {
      const { Failed = [] } = await s.sqs.send(
        new SendMessageBatchCommand({ QueueUrl: s.jobs.url, Entries: jobs.slice(first, first + 10).map((job, index) => ({ Id: String(index), MessageBody: JSON.stringify(job) })) }),
      );
      expect(Failed).toEqual([]);
    }
  };

  /** Runs the worker until the queue has been empty a while. */
  const run = async (s: LocalStack, options: Parameters<LocalStack['startWorker']>[0] = {}, during: () => Promise<void> = async () => {}) => {
    const worker = s.startWorker({ maxConcurrency: 2, ...options, onOutput: (line) => output.push(line) });
    await during();
    const done = await drained(s, 60_000);
    await worker.stop();
    expect(done).toBe(true);
    return worker;
  };

  const logged = (message: string) => output.filter((line) => line.includes(`"message":"${message}`)).map((line) => JSON.parse(line) as Record<string, unknown>);
  const blockedWrites = (s: LocalStack, userId: string) =>
    s.tenant.writes.filter((write) => write.route === 'PATCH /api/v2/users/{id}' && write.id === userId && 'blocked' in write.body).map((write) => write.body['blocked']);

  it('two jobs of one batch, the older naming the user by email: the newer wins', async () => {
    // Prepare: the older takes two calls (email lookup, then PATCH), the newer one
    const { s, ada } = await start();
    await enqueue(s, [
      { type: 'user.update', email: ada.email, changes: { blocked: true }, issuedAt: at(1_000), jobId: 'older' },
      { type: 'user.update', userId: ada.user_id, changes: { blocked: false }, issuedAt: at(2_000), jobId: 'newer' },
    ]);

    // Act
    await run(s, { env: { JOB_CONCURRENCY: '4' } });

    // Assess
    expect(s.tenant.state.users.get(ada.user_id)?.blocked).toBe(false);
    expect(blockedWrites(s, ada.user_id).at(-1)).toBe(false);
    expect(await readDeadLetters(s)).toEqual([]);
  }, 90_000);

  it('an older job throttled and resent after the newer one: it is superseded, not applied last', async () => {
    // Prepare: Auth0 answers the older job's first write 429
    const { s, ada, admin } = await start();
    let throttled = 0;
    s.tenant.faults.intercept = (request) => {
      const older = (request.route === 'PATCH /api/v2/users/{id}' && request.body['blocked'] === true) || request.route === 'POST /api/v2/users/{id}/roles';
      if (!older || throttled >= 2) return undefined;
      throttled += 1;
      return { status: 429, body: { statusCode: 429, error: 'Too Many Requests', message: 'Global limit has been reached', errorCode: 'too_many_requests' }, headers: { 'x-ratelimit-limit': '50', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000) + 1) } };
    };
    await enqueue(s, [
      { type: 'user.update', userId: ada.user_id, changes: { blocked: true }, issuedAt: at(1_000), jobId: 'block' },
      { type: 'roles.assign', userId: ada.user_id, roles: ['admin'], issuedAt: at(1_000), jobId: 'grant' },
    ]);
    await sleep(100);
    await enqueue(s, [
      { type: 'user.update', userId: ada.user_id, changes: { blocked: false }, issuedAt: at(2_000), jobId: 'unblock' },
      { type: 'roles.remove', userId: ada.user_id, roles: ['admin'], issuedAt: at(2_000), jobId: 'offboard' },
    ]);

    // Act
    await run(s, { env: { JOB_CONCURRENCY: '1' } });

    // Assess: both 429s happened, and the offboarding held
    expect(throttled).toBe(2);
    expect(s.tenant.state.users.get(ada.user_id)?.blocked).toBe(false);
    expect(rolesOf(s.tenant.state, ada.user_id).map((role) => role.id)).not.toContain(admin.id);
    expect(await readDeadLetters(s)).toEqual([]);
  }, 90_000);

  it('an older job redriven from the dead-letter queue keeps its order and cannot re-grant after an offboarding', async () => {
    // Prepare: the grant, sent without issuedAt, is dead-lettered (Auth0 refuses it once), then the offboarding applies
    const { s, ada, admin } = await start();
    let refused = false;
    s.tenant.faults.intercept = (request) => {
      if (request.route !== 'POST /api/v2/users/{id}/roles' || refused) return undefined;
      refused = true;
      return { status: 400, body: { statusCode: 400, error: 'Bad Request', message: 'Payload validation error', errorCode: 'invalid_body' } };
    };
    await enqueue(s, [{ type: 'roles.assign', userId: ada.user_id, roles: ['admin'], jobId: 'grant' }]);
    await run(s);
    expect(refused).toBe(true);
    await sleep(1_200);
    await enqueue(s, [{ type: 'roles.remove', userId: ada.user_id, roles: ['admin'], jobId: 'offboard' }]);
    await run(s);

    // Act
    const redrive = await runCommand(['dlq', 'redrive', '--dlq-url', s.dlq.url, '--queue-url', s.jobs.url], { sqs: () => s.sqs });
    await run(s);

    // Assess
    expect([redrive.status, redrive.stdout]).toEqual([0, expect.stringContaining('redrove 1 of 1')]);
    expect(rolesOf(s.tenant.state, ada.user_id).map((role) => role.id)).not.toContain(admin.id);
    expect(logged('job superseded').map((line) => line['jobId'])).toContain('grant');
  });

  it('a duplicate delivery has its effect once: the same jobId sent again later, the same issuedAt and body twice', async () => {
    // Prepare
    const { s, ada } = await start();
    const resent = { type: 'user.update', userId: ada.user_id, changes: { blocked: true }, jobId: 'block-once' };
    const twice = { type: 'user.update', userId: ada.user_id, changes: { app_metadata: { plan: 'pro' } }, issuedAt: at(1_000) };

    // Act: the block, the unblock, then the block sent again by its producer; the plan change twice at once
    await enqueue(s, [resent, twice, twice]);
    await run(s);
    await sleep(50);
    await enqueue(s, [{ type: 'user.update', userId: ada.user_id, changes: { blocked: false }, jobId: 'unblock' }]);
    await run(s);
    await sleep(50);
    await enqueue(s, [resent]);
    await run(s);

    // Assess
    expect(blockedWrites(s, ada.user_id)).toEqual([true, false]);
    expect(s.tenant.writes.filter((write) => write.id === ada.user_id && 'app_metadata' in write.body)).toHaveLength(1);
    expect(s.tenant.state.users.get(ada.user_id)).toMatchObject({ blocked: false, app_metadata: { plan: 'pro' } });
    expect(logged('job superseded').map((line) => line['duplicate'])).toEqual([true, true]);
  }, 90_000);

  it('a user named by email in one job and by id in the other is one user', async () => {
    // Prepare: the newer job, by id, applies first
    const { s, ada, admin } = await start();
    await enqueue(s, [{ type: 'roles.remove', userId: ada.user_id, roles: ['admin'], issuedAt: at(2_000), jobId: 'offboard' }]);
    await run(s);

    // Act: the older grant, by email, arrives after it
    await enqueue(s, [{ type: 'roles.assign', email: 'ADA@example.com', roles: ['admin'], issuedAt: at(1_000), jobId: 'grant' }]);
    await run(s);

    // Assess
    expect(rolesOf(s.tenant.state, ada.user_id).map((role) => role.id)).not.toContain(admin.id);
    expect(s.tenant.writes.filter((write) => write.route === 'POST /api/v2/users/{id}/roles')).toEqual([]);
    expect(logged('job superseded').map((line) => line['jobId'])).toEqual(['grant']);
  }, 90_000);

  it('two containers taking jobs of one user at once never write for the user at the same time, and the newest wins', async () => {
    // Prepare: twenty jobs for one user, shuffled, each write held 100 ms in flight
    const { s, ada } = await start();
    let inFlight = 0;
    let most = 0;
    s.tenant.faults.intercept = async (request) => {
      if (request.params[0] !== ada.user_id || request.method === 'GET') return undefined;
      inFlight += 1;
      most = Math.max(most, inFlight);
      await sleep(100);
      inFlight -= 1;
      return undefined;
    };
    const jobs = Array.from({ length: 20 }, (_, n) => ({
      type: 'user.update',
      userId: ada.user_id,
      changes: { blocked: n % 2 === 0, app_metadata: { [`k${n % 3}`]: n } },
      issuedAt: at(n * 10),
      jobId: `job-${n}`,
    }));
    const shuffled = jobs.map((job, n) => ({ job, key: (n * 7919) % 20 })).sort((a, b) => a.key - b.key).map(({ job }) => job);
    await enqueue(s, shuffled);

    // Act
    const worker = await run(s, { maxConcurrency: 2, batchSize: 3, env: { JOB_CONCURRENCY: '4' } });

    // Assess: job-19 is the newest for blocked and k0; job-18 for k2, job-17 for k1
    expect(most).toBe(1);
    expect(worker.stats.coldStarts).toBeGreaterThanOrEqual(2);
    expect(s.tenant.state.users.get(ada.user_id)).toMatchObject({ blocked: false, app_metadata: { plan: 'free', k0: 18, k1: 19, k2: 17 } });
    expect(await readDeadLetters(s)).toEqual([]);
  }, 90_000);

  it('the ledger down for 20 s: jobs wait and are retried, none is applied unordered or lost', async () => {
    // Prepare: newer and older jobs for three users
    const { s } = await start();
    const users = ['bo', 'cy', 'di'].map((name) => addUser(s.tenant.state, { email: `${name}@example.com`, connection: CONNECTION }));
    await s.dynamodb.pause();
    await enqueue(s, users.flatMap((user) => [
      { type: 'user.update', userId: user.user_id, changes: { blocked: false }, issuedAt: at(2_000) },
      { type: 'user.update', userId: user.user_id, changes: { blocked: true }, issuedAt: at(1_000) },
    ]));

    // Act: after the outage, the queue has until the last job put back is due, and 30 s more
    const worker = s.startWorker({ maxConcurrency: 2, onOutput: (line) => output.push(line) });
    await sleep(20_000);
    const writesWhileDown = s.tenant.writes.length;
    await s.dynamodb.resume();
    const resumedAt = Date.now();
    const lastDue = () => Math.max(resumedAt, ...logged('job requeued').map((line) => Date.parse(String(line['timestamp'])) + Number(line['delaySeconds']) * 1000));
    const done = await drained(s, () => lastDue() + 30_000);
    await worker.stop();
    expect(done).toBe(true);

    // Assess
    expect(writesWhileDown).toBe(0);
    expect(logged('job requeued').filter((line) => line['code'] === 'ledger_unavailable').length).toBeGreaterThan(0);
    for (const user of users) expect(s.tenant.state.users.get(user.user_id)?.blocked).toBe(false);
    expect(await readDeadLetters(s)).toEqual([]);
  }, 240_000);

  it('a container that stops between the Auth0 write and the ledger update: the write is not undone by an older job', async () => {
    // Prepare: a short function timeout, so that the stopped batch comes back within seconds
    const { s, ada } = await start({ timeoutMs: 2_000 });
    let worker: ReturnType<LocalStack['startWorker']> | undefined;
    let stopped = 0;
    s.tenant.faults.afterWrite = async (request) => {
      if (request.params[0] !== ada.user_id || request.body['blocked'] !== true || stopped > 0) return;
      stopped = (await worker?.crash()) ?? 0;
    };
    await enqueue(s, [{ type: 'user.update', userId: ada.user_id, changes: { blocked: true }, issuedAt: at(2_000), jobId: 'newer' }]);

    // Act: the newer job writes and its container stops; the older job comes while its claim still stands
    worker = s.startWorker({ maxConcurrency: 2, onOutput: (line) => output.push(line) });
    for (let waited = 0; stopped === 0 && waited < 10_000; waited += 50) await sleep(50);
    await enqueue(s, [{ type: 'user.update', userId: ada.user_id, changes: { blocked: false }, issuedAt: at(1_000), jobId: 'older' }]);
    const done = await drained(s, 60_000);
    await worker.stop();

    // Assess: the older job never wrote; the newer one wrote again when it came back
    expect([done, stopped]).toEqual([true, 1]);
    expect(blockedWrites(s, ada.user_id)).toEqual([true, true]);
    expect(s.tenant.state.users.get(ada.user_id)?.blocked).toBe(true);
    expect(logged('job superseded').map((line) => line['jobId'])).toEqual(['older']);
    expect(await readDeadLetters(s)).toEqual([]);
  }, 90_000);

  it('npm start\'s out-of-order pairs, delayed or throttled, each end with the newer job\'s value', async () => {
    // Prepare
    const { s } = await start();
    const random = createRandom(11);
    const seeded = seedTenant(s.tenant.state, { users: 10, roles: 3, random });
    const workload = generateWorkload(s.tenant.state, seeded, { jobs: 10, random, validOnly: true });
    const pairs = generateOutOfOrderPairs(seeded, workload.expected, workload.touched, { count: 8, random });
    let staged = 0;
    s.tenant.faults.intercept = (request) => {
      const answer = throttleOlderWrite(pairs, request);
      if (answer !== undefined) staged += 1;
      return answer;
    };
    await enqueueJobs(s, [...workload.jobs, ...pairs.jobs]);

    // Act
    await run(s);

    // Assess
    expect(compareState(s.tenant.state, workload.expected)).toEqual([]);
    // Each older job was superseded, or applied before its newer one ever was (it was the newest then)
    const appliedAt = new Map(logged('job applied').map((line) => [String(line['jobId']), Date.parse(String(line['timestamp']))]));
    const superseded = new Set(logged('job superseded').map((line) => String(line['jobId'])));
    const olders = pairs.jobs.filter((job) => job.jobId.endsWith('-older')).map((job) => job.jobId);
    expect(olders).toHaveLength(pairs.count);
    for (const older of olders) {
      const newer = older.replace(/-older$/, '-newer');
      expect(superseded.has(older) || (appliedAt.get(older) ?? Infinity) <= (appliedAt.get(newer) ?? -Infinity)).toBe(true);
    }
    expect(superseded.size).toBeGreaterThan(0);
    // Four older jobs were to be throttled: each either met its 429, or never wrote (its newer job came first)
    expect(staged + pairs.throttle.size).toBe(4);
    expect(await readDeadLetters(s)).toEqual([]);
  }, 90_000);
});
