import { describe, expect, it } from 'vitest';
import { computePacingFigures, managementAnswers } from '../../local/figures.ts';
import { type BenchConfig, type RunRecord, formatRow, formatSummary, measureRun } from './pacing-report.ts';

const ENTERPRISE_2: BenchConfig = { name: 'enterprise-2', plan: 'enterprise', rateLimit: { burst: 50, perSecond: 16 }, concurrency: 2, jobs: 4, interactive: false };
const INTERACTIVE: BenchConfig = { ...ENTERPRISE_2, name: 'interactive', interactive: true };

const requests = (entries: Record<string, Record<number, number>>) =>
  new Map(Object.entries(entries).map(([route, byStatus]) => [route, new Map(Object.entries(byStatus).map(([status, n]) => [Number(status), n]))]));

const record = (overrides: Partial<RunRecord> = {}): RunRecord => ({
  config: ENTERPRISE_2,
  handler: 'worker',
  jobs: [
    { jobId: 'a', userId: 'auth0|1', applied: true },
    { jobId: 'b', userId: 'auth0|2', applied: true },
    { jobId: 'c', userId: 'auth0|3', applied: true },
    { jobId: 'd', userId: 'auth0|4', applied: true },
  ],
  deadLettered: new Set(),
  stillQueued: 0,
  differences: [],
  wallMs: 10_000,
  jobsDelivered: 4,
  tenant: { tokensIssued: 2, requests: requests({ 'PATCH /api/v2/users/{id}': { 200: 70, 429: 10 }, 'POST /oauth/token': { 200: 2 } }) },
  mapping: { invocations: 2, recordsReceived: 6, failedBatches: 0, coldStarts: 2 },
  caller: undefined,
  ...overrides,
});

describe('Function: managementAnswers()', () => {
  it('counts Management API answers per status and leaves out the token endpoint', () => {
    // Prepare
    const counted = requests({ 'GET /api/v2/users/{id}': { 200: 3, 429: 1 }, 'POST /api/v2/users/{id}/roles': { 204: 2 }, 'POST /oauth/token': { 200: 5, 429: 4 } });

    // Act
    const answers = managementAnswers(counted);

    // Assess
    expect(answers).toEqual({ 200: 3, 204: 2, 429: 1 });
  });
});

describe('Function: computePacingFigures()', () => {
  it('takes the burst off the admitted calls and divides the rest by the refill the other callers leave', () => {
    // Act
    const figures = computePacingFigures({
      jobs: 100,
      recordsDelivered: 130,
      invocations: 20,
      answers: { 200: 190, 429: 10, 0: 5 },
      rateLimit: { burst: 50, perSecond: 16 },
      otherCallsPerSecond: 2,
      wallMs: 20_000,
    });

    // Assess
    expect(figures.calls).toBe(205);
    expect(figures.admittedCalls).toBe(190);
    expect(figures.floorSeconds).toBe(10); // (190 − 50) / (16 − 2)
    expect(figures.wallOverFloor).toBe(2);
    expect(figures.requeuesPerJob).toBeCloseTo(0.3);
    expect(figures.invocationsPerJob).toBeCloseTo(0.2);
  });

  it('has no ratio for a run that did not finish, and counts requeues only past each delivered job', () => {
    // Act
    const figures = computePacingFigures({ jobs: 100, recordsDelivered: 60, jobsDelivered: 50, invocations: 6, answers: { 200: 80 }, rateLimit: { burst: 2, perSecond: 2 }, wallMs: undefined });

    // Assess
    expect(figures.wallOverFloor).toBeUndefined();
    expect(figures.requeuesPerJob).toBeCloseTo(0.1);
  });
});

describe('Function: measureRun()', () => {
  it('subtracts the interactive caller from the tenant counts and the refill', () => {
    // Prepare
    const caller = { calls: 20, rateLimited: 4, byStatus: { 200: 16, 429: 4 }, tokensMinted: 1, callsPerSecond: 2 };
    const tenant = { tokensIssued: 3, requests: requests({ 'PATCH /api/v2/users/{id}': { 200: 120, 429: 10 }, 'GET /api/v2/users/{id}': { 200: 16, 429: 4 } }) };

    // Act
    const run = measureRun(record({ config: INTERACTIVE, tenant, caller }));

    // Assess
    expect(run.figures.calls).toBe(130);
    expect(run.figures.rateLimited).toBe(10);
    expect(run.figures.floorSeconds).toBe(5); // (120 − 50) / (16 − 2)
    expect(run.tokensMinted).toBe(2);
    expect(run.caller).toEqual({ calls: 20, rateLimited: 4 });
  });

  it('counts jobs not applied or dead-lettered, and state differences that no such job explains', () => {
    // Prepare
    const jobs = [
      { jobId: 'a', userId: 'auth0|1', applied: false },
      { jobId: 'b', userId: 'auth0|2', applied: true },
      { jobId: 'c', userId: 'auth0|3', applied: true },
      { jobId: 'd', userId: 'auth0|4', applied: true },
    ];

    // Act
    const run = measureRun(record({ jobs, deadLettered: new Set(['a', 'b']), differences: ['auth0|1: roles differ', 'auth0|3: app_metadata differs'] }));

    // Assess
    expect(run.lost).toEqual({ total: 3, notApplied: 1, deadLettered: 2, stillQueued: 0, wrong: 1 });
    expect(formatRow(run, 240)[8]).toBe('3 (1 not applied, 2 dead-lettered, 1 users in a wrong state)');
  });
});

describe('Function: formatRow() and formatSummary()', () => {
  it('says a run that hit the timeout did not finish, with how many jobs were applied', () => {
    // Prepare
    const run = measureRun(record({ handler: 'naive', wallMs: undefined, jobs: [{ jobId: 'a', userId: 'auth0|1', applied: true }, { jobId: 'b', userId: 'auth0|2', applied: false }] }));

    // Act
    const row = formatRow(run, 240);

    // Assess
    expect(row[1]).toBe('did not finish in 240 s (1 of 2 applied)');
    expect(row[2]).toMatch(/^n\/a/);
    expect(row[8]).toBe('0 so far (1 not applied yet)');
  });

  it('compares each peer with the worker', () => {
    // Prepare
    const worker = measureRun(record());
    const sdk = measureRun(record({ handler: 'sdk', wallMs: 30_000 }));

    // Act
    const line = formatSummary(ENTERPRISE_2, [worker, sdk], 240);

    // Assess
    expect(line).toContain('auth0 SDK + Powertools batch took 3.0× the worker\'s time');
  });
});
