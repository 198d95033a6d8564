import { beforeEach, describe, expect, it } from 'vitest';
import { PermanentError, RetryableError } from '../../../shared/errors.ts';
import type { JobPlan, PlanJob } from '../../../shared/jobs/apply-job.ts';
import type { Job } from '../../../shared/jobs/schema.ts';
import type { Effect } from '../../../shared/ledger/ledger.ts';
import { type ProcessJobsDeps, processJobs } from '../../../shared/queue/process-jobs.ts';
import { createClock } from '../../helpers/auth0.ts';
import { createMemoryLedger } from '../../helpers/memory-ledger.ts';
import { createProcessJobsDeps } from '../../helpers/process-jobs-deps.ts';
import { SENT_AT, createFakeQueue, lambdaContext, sqsEvent, sqsRecord } from '../../helpers/sqs.ts';
import { suiteLog } from '../../helpers/suite-logs.ts';

const unitLog = suiteLog('process-jobs-ordering');
const update = (userId: string, changes: Record<string, unknown>, issuedAtMs: number, jobId?: string) => ({
  type: 'user.update',
  userId,
  changes,
  issuedAt: new Date(SENT_AT - 10_000 + issuedAtMs).toISOString(),
  ...(jobId === undefined ? {} : { jobId }),
});

describe('Function: processJobs() with the ordering ledger', () => {
  let clock: ReturnType<typeof createClock>;
  let lines: string[];
  let memory: ReturnType<typeof createMemoryLedger>;
  /** What reached "Auth0": per call, the user and the effects written. */
  let writes: Array<{ userId: string; effects: readonly Effect[] }>;
  let inFlight: Map<string, number>;
  let most: number;

  beforeEach(() => {
    clock = createClock();
    lines = [];
    memory = createMemoryLedger(clock.now);
    writes = [];
    inFlight = new Map();
    most = 0;
  });

  /** A planner whose writes take `writeMs` of real time and fail as `fail` says. */
  const planner = (options: { writeMs?: number; fail?: (job: Job) => Error | undefined } = {}): PlanJob => async (job) => {
    const userId = job.userId ?? job.email;
    const effects: Effect[] = job.type === 'user.update' ? Object.entries(job.changes).map(([field, value]) => ({ attribute: field, kind: String(value) })) : [];
    const plan: JobPlan = {
      userId,
      effects,
      apply: async (chosen) => {
        inFlight.set(userId, (inFlight.get(userId) ?? 0) + 1);
        most = Math.max(most, inFlight.get(userId) ?? 0);
        await new Promise((resolve) => setTimeout(resolve, options.writeMs ?? 0));
        inFlight.set(userId, (inFlight.get(userId) ?? 1) - 1);
        const error = options.fail?.(job);
        if (error !== undefined) throw error;
        writes.push({ userId, effects: chosen });
      },
    };
    return plan;
  };

  const deps = (planJob: PlanJob, fake = createFakeQueue()): ProcessJobsDeps =>
    createProcessJobsDeps({ planJob, queue: fake.queue, now: clock.now, write: (line) => (lines.push(line), unitLog(line)), overrides: { ledger: memory.ledger } });
  const emf = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((entry) => entry['_aws'] !== undefined);

  it('runs the jobs of one user one at a time, and the newest wins whatever their place in the batch', async () => {
    // Prepare: the newer job first in the batch, the older one naming the same user
    const records = [sqsRecord(update('auth0|1', { blocked: false }, 2_000)), sqsRecord(update('auth0|1', { blocked: true, name: 'Ada' }, 1_000)), sqsRecord(update('auth0|2', { blocked: true }, 1_000))];

    // Act
    const response = await processJobs(sqsEvent(records), lambdaContext(clock.now), deps(planner({ writeMs: 20 })));

    // Assess: the older job wrote only what the newer one did not
    expect(response.batchItemFailures).toEqual([]);
    expect(most).toBe(1);
    expect(writes.filter((write) => write.userId === 'auth0|1').map((write) => write.effects.map((effect) => `${effect.attribute}=${effect.kind}`))).toEqual([['blocked=false'], ['name=Ada']]);
    expect(emf()).toMatchObject({ JobsApplied: 3, JobsSuperseded: 0, EffectsSkipped: 1 });
  });

  it('acknowledges a job older on every attribute without writing, as superseded', async () => {
    // Prepare
    await processJobs(sqsEvent([sqsRecord(update('auth0|1', { blocked: false }, 2_000))]), lambdaContext(clock.now), deps(planner()));
    lines = [];
    writes = [];

    // Act
    const response = await processJobs(sqsEvent([sqsRecord(update('auth0|1', { blocked: true }, 1_000, 'late'))]), lambdaContext(clock.now), deps(planner()));

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(writes).toEqual([]);
    expect(emf()).toMatchObject({ JobsApplied: 0, JobsSuperseded: 1, EffectsSkipped: 1 });
    expect(lines.some((line) => line.includes('"message":"job superseded') && line.includes('"jobId":"late"'))).toBe(true);
  });

  it('waits a moment for a user another container holds while other jobs are at work, and applies the job once the claim is released', async () => {
    // Prepare: another container's claim on the user, released 250 ms later; a job of another user at work meanwhile
    const other = await memory.ledger.claim('auth0|1', { stamp: { order: '0', key: 'other' }, effects: [] }, 60_000);
    setTimeout(() => void other.finish('applied'), 250);
    const fake = createFakeQueue();
    const records = [sqsRecord(update('auth0|1', { blocked: true }, 1_000)), sqsRecord(update('auth0|2', { blocked: true }, 1_000))];

    // Act
    const response = await processJobs(sqsEvent(records), lambdaContext(clock.now), deps(planner({ writeMs: 600 }), fake));

    // Assess: applied in this invocation, nothing sent back
    expect(response.batchItemFailures).toEqual([]);
    expect(fake.resent).toEqual([]);
    expect(writes.map((write) => write.userId).sort()).toEqual(['auth0|1', 'auth0|2']);
  });

  it('sends a job whose user another container holds back in 1 s, counting no attempt, without waiting once it is alone in a full batch', async () => {
    // Prepare: another container's claim on the user; the job last of a full batch of 10, after 9 quick jobs of other users
    await memory.ledger.claim('auth0|1', { stamp: { order: '0', key: 'other' }, effects: [] }, 60_000);
    const fake = createFakeQueue();
    let claims = 0;
    const counting = { ...memory.ledger, claim: (...args: Parameters<typeof memory.ledger.claim>) => (args[0] === 'auth0|1' && (claims += 1), memory.ledger.claim(...args)) };
    const others = Array.from({ length: 9 }, (_, index) => sqsRecord(update(`auth0|${index + 2}`, { blocked: true }, 1_000)));

    // Act
    const response = await processJobs(
      sqsEvent([...others, sqsRecord(update('auth0|1', { blocked: true }, 1_000))]),
      lambdaContext(clock.now),
      createProcessJobsDeps({ planJob: planner(), queue: fake.queue, now: clock.now, write: (line) => (lines.push(line), unitLog(line)), overrides: { ledger: counting } }),
    );

    // Assess: at most one more try while the others were still at work, then back to the queue
    expect(response.batchItemFailures).toEqual([]);
    expect(writes.map((write) => write.userId)).not.toContain('auth0|1');
    expect(writes).toHaveLength(9);
    expect(claims).toBeLessThanOrEqual(2);
    expect(fake.resent).toEqual([expect.objectContaining({ delaySeconds: 1, retry: expect.objectContaining({ attempts: 0 }) })]);
  });

  it('waits a moment for a user another container holds when its batch is small, and applies the job once the claim is released', async () => {
    // Prepare: the last job of a backlog, alone in its batch; the other container's claim released 250 ms later
    const other = await memory.ledger.claim('auth0|1', { stamp: { order: '0', key: 'other' }, effects: [] }, 60_000);
    setTimeout(() => void other.finish('applied'), 250);
    const fake = createFakeQueue();

    // Act
    const response = await processJobs(sqsEvent([sqsRecord(update('auth0|1', { blocked: true }, 1_000))]), lambdaContext(clock.now), deps(planner(), fake));

    // Assess: applied in this invocation rather than sent back to come back alone again
    expect(response.batchItemFailures).toEqual([]);
    expect(fake.resent).toEqual([]);
    expect(writes.map((write) => write.userId)).toEqual(['auth0|1']);
  });

  it('retries a job while the ledger cannot be reached, writing nothing', async () => {
    // Prepare
    memory.faults.failClaims = 1;
    const fake = createFakeQueue();

    // Act
    await processJobs(sqsEvent([sqsRecord(update('auth0|1', { blocked: true }, 1_000))]), lambdaContext(clock.now), deps(planner(), fake));

    // Assess
    expect(writes).toEqual([]);
    expect(fake.resent).toHaveLength(1);
    expect(lines.some((line) => line.includes('"code":"ledger_unavailable"'))).toBe(true);
  });

  it('keeps the place of a job that failed and will be retried, and frees the user of one that never can', async () => {
    // Prepare
    const fail = (job: Job) => (job.jobId === 'retry' ? new RetryableError('auth0_unavailable', 'Auth0 answered 503') : job.jobId === 'refused' ? new PermanentError('http_400', 'refused') : undefined);
    const records = [sqsRecord(update('auth0|1', { blocked: true }, 2_000, 'retry')), sqsRecord(update('auth0|2', { blocked: true }, 2_000, 'refused'))];

    // Act
    await processJobs(sqsEvent(records), lambdaContext(clock.now), deps(planner({ fail })));
    const older = await processJobs(sqsEvent([sqsRecord(update('auth0|1', { blocked: false }, 1_000)), sqsRecord(update('auth0|2', { blocked: false }, 1_000))]), lambdaContext(clock.now), deps(planner()));

    // Assess: auth0|1's older job is kept out by the pending newer one; auth0|2's applies
    expect(older.batchItemFailures).toEqual([]);
    expect(memory.finished.slice(0, 2).map((each) => each.outcome).sort()).toEqual(['pending', 'released']);
    expect(writes.map((write) => write.userId)).toEqual(['auth0|2']);
    expect(memory.users.get('auth0|1')?.attributes['blocked']).toMatchObject({ p: true, v: 'true' });
  });

  it('acknowledges a job whose write reached Auth0 even when the ledger could not record it, and says so', async () => {
    // Prepare
    memory.faults.failFinishes = 1;

    // Act
    const response = await processJobs(sqsEvent([sqsRecord(update('auth0|1', { blocked: true }, 1_000))]), lambdaContext(clock.now), deps(planner()));

    // Assess: the claim, which names the job's effects, stays to lapse
    expect(response.batchItemFailures).toEqual([]);
    expect(writes).toHaveLength(1);
    expect(memory.leases.has('auth0|1')).toBe(true);
    expect(emf()).toMatchObject({ JobsApplied: 1, LedgerRecordFailed: 1 });
  });

  it('dead-letters an issuedAt beyond the clock skew as invalid_issued_at, before any lookup', async () => {
    // Prepare
    const fake = createFakeQueue();
    let planned = 0;
    const counting: PlanJob = async (job, context) => {
      planned += 1;
      return planner()(job, context);
    };

    // Act
    await processJobs(sqsEvent([sqsRecord(update('auth0|1', { blocked: true }, 10_000 + 3_600_000))]), lambdaContext(clock.now), deps(counting, fake));

    // Assess
    expect(planned).toBe(0);
    expect(fake.deadLetters.map((letter) => letter.attributes['reason'])).toEqual(['invalid_issued_at']);
  });
});
