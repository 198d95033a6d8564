/**
 * The fault matrix: one scenario per fault, each on the whole local stack (the worker bundle, the event
 * source mapping, fauxqs, the local Secrets Manager, the tenant emulator), each ending with the tenant's state
 * checked and every job accounted for: applied, or dead-lettered with the reason the workload expects. Outages
 * last seconds, not minutes: the redrive budget is shrunk instead (maxReceiveCount 2: about 6 s of the old back-off).
 */
import { build } from 'esbuild';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE_OPTIONS } from '../../infra/bundling.ts';
import { createFaultHarness, sleep } from '../helpers/fault-harness.ts';

describe('Fault matrix on the local stack', () => {
  const { prepare, run, accountFor, stop } = createFaultHarness();
  let fixtures: string;

  beforeAll(async () => {
    fixtures = mkdtempSync(join(tmpdir(), 'fault-fixtures-'));
  });

  afterEach(async () => {
    await stop();
  });

  afterAll(() => {
    rmSync(fixtures, { recursive: true, force: true });
  });
  it('a 429 storm: rate-limited jobs are resent with the wait, none spends the redrive budget', async () => {
    // Prepare
    const { s, workload } = await prepare({ maxReceiveCount: 2 });

    // Act
    await run(s, async () => {
      s.tenant.faults.stormUntil = Date.now() + 4_000;
    });

    // Assess
    expect(s.tenant.statusCounts()[429]).toBeGreaterThan(0);
    await accountFor(s, workload);
  }, 120_000);

  it('a 5xx burst: failed calls back off and are tried again', async () => {
    // Prepare
    const { s, workload } = await prepare({ maxReceiveCount: 2 });

    // Act
    await run(s, async () => {
      s.tenant.faults.errorRate = 0.5;
      await sleep(3_000);
      s.tenant.faults.errorRate = 0;
    });

    // Assess
    expect(s.tenant.statusCounts()[503] ?? 0).toBeGreaterThan(0);
    await accountFor(s, workload);
  }, 120_000);

  it('latency beyond the invocation\'s timeout: calls are cut short before the deadline and the records come back', async () => {
    // Prepare: a 3 s function; Auth0 answers after 5 s for a while
    const { s, workload } = await prepare({ maxReceiveCount: 2, timeoutMs: 3_000, jobs: 20 });

    // Act
    const worker = await run(s, async () => {
      s.tenant.faults.latencyMs = 5_000;
      await sleep(8_000);
      s.tenant.faults.latencyMs = 0;
    });

    // Assess: no invocation timed out
    expect(worker.stats.failedBatches).toBe(0);
    await accountFor(s, workload);
  }, 120_000);

  it('dropped connections: the calls are tried again', async () => {
    // Prepare
    const { s, workload } = await prepare({ maxReceiveCount: 2 });

    // Act
    await run(s, async () => {
      s.tenant.faults.dropRate = 0.3;
      await sleep(4_000);
      s.tenant.faults.dropRate = 0;
    });

    // Assess
    await accountFor(s, workload);
  }, 120_000);

  it('the secret rotated mid-run: the worker reads the new one when Auth0 refuses the old', async () => {
    // Prepare: tokens live 3 s, so containers ask for new ones during the run
    const { s, workload } = await prepare({ maxReceiveCount: 2, tenant: { tokenLifetimeSeconds: 3 }, rateLimit: { burst: 10, perSecond: 10 } });

    // Act
    await run(s, async () => {
      await sleep(1_000);
      s.rotateSecret().revokeOld();
    });

    // Assess
    expect(s.tenant.counters.requests.get('POST /oauth/token')?.get(401)).toBeGreaterThanOrEqual(1);
    await accountFor(s, workload);
  }, 120_000);

  it('the dead-letter queue refusing sends: the jobs stay on the queue, and reach it with their reason once it takes them', async () => {
    // Prepare: the first worker is configured with a dead-letter queue that does not exist
    const { s, workload } = await prepare({ maxReceiveCount: 5 });

    // Act
    const broken = s.startWorker({ maxConcurrency: 2, env: { DLQ_URL: `${s.dlq.url}-missing` } });
    await sleep(4_000);
    await broken.stop();
    await run(s, async () => {});

    // Assess
    await accountFor(s, workload);
  }, 120_000);

  it('the handler crashing mid-batch, and its container dying: nothing is lost', async () => {
    // Prepare: a bundle whose first two invocations fail (one throws, one exits); a 1.5 s timeout gives a 9 s visibility timeout
    const outfile = join(fixtures, 'crashing', 'index.mjs');
    await build({ ...BUNDLE_OPTIONS, entryPoints: [new URL('../fixtures/crashing-worker.ts', import.meta.url).pathname], outfile });
    const { s, workload } = await prepare({ timeoutMs: 1_500, jobs: 20 });

    // Act
    const worker = await run(s, async () => {}, { worker: { maxConcurrency: 1, batchSize: 2, bundleUrl: pathToFileURL(outfile).href, env: { CRASH_MARKER_DIR: fixtures } } });

    // Assess
    expect(worker.stats.failedBatches).toBe(2);
    await accountFor(s, workload);
  }, 120_000);

  it('the Lambda deadline mid-batch: records not started come back at once, none times out', async () => {
    // Prepare: a 3 s function, one call at a time, each call 400 ms: a batch of 10 cannot finish
    const { s, workload } = await prepare({ maxReceiveCount: 2, timeoutMs: 3_000 });
    s.tenant.faults.latencyMs = 400;

    // Act
    const worker = await run(s, async () => {}, { timeoutMs: 90_000, worker: { env: { JOB_CONCURRENCY: '1' } } });

    // Assess
    expect(worker.stats.failedBatches).toBe(0);
    await accountFor(s, workload);
  }, 150_000);

  it('duplicate delivery: every job sent twice ends in the same state, each impossible one dead-lettered twice', async () => {
    // Prepare
    const { s, workload } = await prepare({ copies: 2 });

    // Act
    await run(s, async () => {});

    // Assess
    await accountFor(s, workload, 2);
  }, 120_000);

  it('a FIFO group failing at its head: the group waits, then applies in order', async () => {
    // Prepare: every call fails for 5 s
    const { s, workload } = await prepare({ fifo: true });
    s.tenant.faults.errorRate = 1;

    // Act
    await run(s, async () => {
      await sleep(5_000);
      s.tenant.faults.errorRate = 0;
    }, { timeoutMs: 90_000 });

    // Assess: each user's writes reached the tenant in the order of the user's jobs
    for (const user of new Set(workload.jobs.map((job) => job.groupId))) {
      const sent = workload.jobs.filter((job) => job.groupId === user && job.effect?.kind === 'metadata').map((job) => job.effect?.kind === 'metadata' ? job.effect.key : '');
      const written = s.tenant.writes.filter((write) => write.id === user && write.body['app_metadata'] !== undefined).map((write) => Object.keys(write.body['app_metadata'] as object)[0]);
      expect(written.filter((key) => sent.includes(key ?? ''))).toEqual(sent);
    }
    await accountFor(s, workload);
  }, 150_000);
});
