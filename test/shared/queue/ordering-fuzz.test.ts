/**
 * The ordering promise through the queue itself: random jobs of a few users, delivered in random batches and
 * order, some twice, some failing once and sent back, go through processJobs (the real parse, stamp, per-user
 * queue and claim) with the ledger in memory, and end in the state that applying each job once, in the order
 * of issuedAt, gives.
 */
import fc from 'fast-check';
import type { SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { RetryableError } from '../../../shared/errors.ts';
import type { PlanJob } from '../../../shared/jobs/apply-job.ts';
import { processJobs } from '../../../shared/queue/process-jobs.ts';
import { createClock } from '../../helpers/auth0.ts';
import { createMemoryLedger } from '../../helpers/memory-ledger.ts';
import { createProcessJobsDeps } from '../../helpers/process-jobs-deps.ts';
import { SENT_AT, createFakeQueue, lambdaContext, sqsEvent, sqsRecord } from '../../helpers/sqs.ts';

const FIELDS = ['blocked', 'name', 'nickname'] as const;

describe('Property: processJobs() with the ledger ends as the serial application in order', () => {
  const job = fc.record({
    user: fc.constantFrom('auth0|1', 'auth0|2', 'auth0|3'),
    field: fc.constantFrom(...FIELDS),
    value: fc.integer({ min: 0, max: 9 }),
    at: fc.integer({ min: 0, max: 5_000 }),
  });

  it('holds over 1,000 histories of random batches, duplicates and failures', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(job, { minLength: 1, maxLength: 10, selector: (each) => each.at }),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 10 }),
        fc.array(fc.boolean(), { maxLength: 10 }),
        async (jobs, shuffle, batchSizes, failsOnce) => {
          const clock = createClock(SENT_AT + 60_000);
          const memory = createMemoryLedger(clock.now);
          const tenant = new Map<string, unknown>();
          const failed = new Set<number>();
          const planJob: PlanJob = async (parsed) => ({
            userId: parsed.userId ?? '',
            effects: parsed.type === 'user.update' ? Object.keys(parsed.changes).map((field) => ({ attribute: field, kind: 'set' })) : [],
            apply: async (chosen) => {
              const index = Number(parsed.jobId);
              if (failsOnce[index] === true && !failed.has(index)) {
                failed.add(index);
                throw new RetryableError('auth0_unavailable', 'Auth0 answered 503');
              }
              const changes: Record<string, unknown> = parsed.type === 'user.update' ? parsed.changes : {};
              for (const effect of chosen) tenant.set(`${parsed.userId} ${effect.attribute}`, changes[effect.attribute]);
            },
          });
          const bodies = jobs.map((each, index) => ({ type: 'user.update', userId: each.user, changes: { [each.field]: each.field === 'blocked' ? each.value % 2 === 0 : `v${each.value}` }, issuedAt: new Date(SENT_AT + each.at).toISOString(), jobId: String(index) }));
          // Deliveries: every job once, and duplicates, in a shuffled order
          const deliveries: SQSRecord[] = bodies.map((body) => sqsRecord(body));
          for (const pick of shuffle) {
            const body = bodies[pick % bodies.length];
            if (body !== undefined) deliveries.splice(pick % (deliveries.length + 1), 0, sqsRecord(body));
          }
          const fake = createFakeQueue();
          const deps = createProcessJobsDeps({ planJob, queue: fake.queue, now: clock.now, write: () => {}, level: 'error', overrides: { ledger: memory.ledger } });
          for (let round = 0; deliveries.length > 0 && round < 100; round++) {
            const batch = deliveries.splice(0, batchSizes[round % batchSizes.length] ?? 1);
            const resentBefore = fake.resent.length;
            await processJobs(sqsEvent(batch), lambdaContext(clock.now), deps);
            // What went back on the queue comes back later, as the same body
            for (const entry of fake.resent.slice(resentBefore)) {
              const record = batch.find((each) => each.messageId === entry.messageId);
              if (record !== undefined) deliveries.push(sqsRecord(record.body));
            }
            clock.advance(10_000);
          }

          const expected = new Map<string, unknown>();
          for (const body of [...bodies].sort((a, b) => a.issuedAt.localeCompare(b.issuedAt))) {
            for (const [field, value] of Object.entries(body.changes)) expected.set(`${body.userId} ${field}`, value);
          }
          expect(deliveries).toEqual([]);
          expect(fake.deadLetters).toEqual([]);
          expect(Object.fromEntries(tenant)).toEqual(Object.fromEntries(expected));
        },
      ),
      { numRuns: 1_000 },
    );
  }, 120_000);
});
