/**
 * The fault matrix, its outages (Auth0, its token endpoint, the secret): one scenario per fault, each on the
 * whole local stack, each ending with the tenant's state checked and every job accounted for, as in
 * faults.test.ts. Outages last seconds, not minutes: the redrive budget is shrunk instead (maxReceiveCount 2:
 * about 6 s of the old back-off).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readDeadLetters } from '../../local/stack.ts';
import { createFaultHarness, sleep } from '../helpers/fault-harness.ts';
import { rememberSecrets } from '../helpers/suite-logs.ts';

describe('Fault matrix on the local stack: outages', () => {
  const { prepare, run, accountFor, stop } = createFaultHarness();


  afterEach(async () => {
    await stop();
  });

  it('Auth0 down far longer than the old redrive window, then back: nothing is dead-lettered that could succeed', async () => {
    // Prepare: two receives, so the old back-off (2 s, then 4 s) redrove every job after about 6 s
    const { s, workload } = await prepare({ maxReceiveCount: 2 });

    // Act: every Management API call fails for 15 s. The back-off's full jitter can give a job several short
    // delays in a row within the outage, and its next one then up to 2 s × 2^(tries − 1): a run saw a 7th try at
    // 15 s come back 102 s later. The drain allows for that (the test is about what is dead-lettered, not when).
    await run(s, async () => {
      s.tenant.faults.errorRate = 1;
      await sleep(15_000);
      s.tenant.faults.errorRate = 0;
    }, { timeoutMs: 300_000 });

    // Assess
    expect(s.tenant.statusCounts()[503] ?? 0).toBeGreaterThan(40);
    await accountFor(s, workload);
  }, 360_000);

  it('Auth0 down past the maximum age: the jobs are dead-lettered as expired, with the last error', async () => {
    // Prepare: valid jobs only, a 10 s maximum age
    const { s, workload } = await prepare({ maxReceiveCount: 2, jobs: 10, validOnly: true });
    s.tenant.faults.errorRate = 1;

    // Act
    await run(s, async () => {}, { timeoutMs: 60_000, worker: { env: { JOB_MAX_AGE_SECONDS: '10' } } });

    // Assess: every job dead-lettered with a reason, none applied
    const letters = await readDeadLetters(s);
    expect(letters).toHaveLength(workload.jobs.length);
    expect(new Set(letters.map((letter) => letter.MessageAttributes?.['reason']?.StringValue))).toEqual(new Set(['expired']));
    expect(new Set(letters.map((letter) => letter.MessageAttributes?.['lastError']?.StringValue))).toEqual(new Set(['auth0_unavailable']));
    expect(s.tenant.writes).toEqual([]);
  }, 120_000);

  it('the token endpoint down: jobs wait for a token instead of failing', async () => {
    // Prepare
    const { s, workload } = await prepare({ maxReceiveCount: 2 });
    s.tenant.faults.tokenOutage = true;

    // Act
    await run(s, async () => {
      await sleep(5_000);
      s.tenant.faults.tokenOutage = false;
    });

    // Assess
    expect(s.tenant.counters.requests.get('POST /oauth/token')?.get(503)).toBeGreaterThan(0);
    await accountFor(s, workload);
  }, 120_000);

  it('the secret revoked, and only later the new one stored: jobs wait for the fix', async () => {
    // Prepare: the tenant stops taking the stored secret before any token is issued
    const { s, workload } = await prepare({ maxReceiveCount: 2 });
    const client = s.tenant.clients.get(s.client.clientId);
    const fixed = 'fixed-secret-0123456789abcdef';
    rememberSecrets([fixed]);
    client?.secrets.clear();
    client?.secrets.add(fixed);

    // Act
    await run(s, async () => {
      await sleep(5_000);
      s.secrets.putSecret(s.client.secretName, JSON.stringify({ clientId: s.client.clientId, clientSecret: fixed }));
    });

    // Assess
    expect(s.tenant.counters.requests.get('POST /oauth/token')?.get(401)).toBeGreaterThan(0);
    await accountFor(s, workload);
  }, 120_000);
});
