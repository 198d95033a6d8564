/**
 * The product's main job, end to end on the local stack: seed a demo tenant, enqueue a mixed workload, run
 * the worker bundle under a rate limit with a live progress line, then report what happened and check the
 * tenant's final state against what the jobs asked for.
 */
import { rmSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bucketFigures, computePacingFigures, managementAnswers, subtractCounts } from './figures.ts';
import { INTERACTIVE_CALLS_PER_SECOND, type InteractiveCallerCounts, startInteractiveCaller } from './interactive-caller.ts';
import { enqueueJobs, queueDepth, readDeadLetters, startLocalStack } from './stack.ts';
import type { Auth0Plan } from '../shared/auth0/plans.ts';
import { type RateLimitSpec, describePlan } from './tenant/rate-limit.ts';
import { compareState, createRandom, generateOutOfOrderPairs, generateWorkload, seedTenant, throttleOlderWrite } from './workload.ts';

/** Options of {@link runDemo}; the command line maps onto them. */
export interface DemoOptions {
  readonly jobs: number;
  readonly users: number;
  readonly roles: number;
  readonly rateLimit: RateLimitSpec;
  /** An Auth0 plan's layered buckets instead of `rateLimit`, the worker told the plan (AUTH0_PLAN). */
  readonly plan?: Auth0Plan;
  /** Concurrent invocations of the worker (the mapping's maximum concurrency). */
  readonly concurrency: number;
  /** JOB_CONCURRENCY inside each invocation. */
  readonly jobConcurrency: number;
  readonly batchSize: number;
  /** How long the event source mapping gathers a batch, in milliseconds (none on FIFO). */
  readonly batchingWindowMs: number;
  readonly fifo: boolean;
  /** Inject faults: some 5xx, dropped connections and one 429 storm. */
  readonly faults: boolean;
  readonly seed: number;
  /** Give up waiting after this long, in milliseconds. */
  readonly timeoutMs: number;
  /** Where progress and the report go. */
  readonly write: (text: string) => void;
  /** Redraw one progress line in place (a terminal) rather than print a line every few seconds. */
  readonly interactive: boolean;
  /**
   * Run an interactive caller (another application of the tenant reading profiles at 2 calls/s) while the
   * backlog drains, and report how many of its calls were answered 429. Default false.
   */
  readonly interactiveCaller?: boolean;
}

/** What the demo found; `ok` is false when a job was lost or applied wrongly. */
export interface DemoResult {
  readonly ok: boolean;
  readonly applied: number;
  readonly deadLettered: Record<string, number>;
  readonly stillQueued: number;
  readonly lost: number;
  readonly differences: readonly string[];
  /** 429s the worker got (an interactive caller's left out). */
  readonly rateLimited: number;
  /** Tokens minted for the worker (an interactive caller's left out). */
  readonly tokensMinted: number;
  readonly wallMs: number;
  /** Records the event source mapping delivered, resends and visibility retries included. */
  readonly recordsDelivered: number;
  /** `(records delivered − jobs) / jobs`. */
  readonly requeuesPerJob: number;
  readonly invocations: number;
  readonly invocationsPerJob: number;
  /** What the interactive caller saw, when it ran. */
  readonly interactiveCaller?: InteractiveCallerCounts;
}

/** Organizations the demo tenant has; every fourth user starts as a member of one. */
const DEMO_ORGANIZATIONS = 5;
const LOG_FILE = fileURLToPath(new URL('../dist/local/worker.log', import.meta.url));

/** Runs the demo and prints its report. */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const { write } = options;
  const phases: Array<[string, number]> = [];
  let phaseStart = Date.now();
  const phase = (name: string) => {
    const at = Date.now();
    phases.push([name, at - phaseStart]);
    phaseStart = at;
  };
  const wallStart = Date.now();

  const limits = options.plan === undefined ? `tenant rate limit: burst ${options.rateLimit.burst}, ${options.rateLimit.perSecond}/s` : `the ${options.plan} plan's buckets: ${describePlan(options.plan)}`;
  write(`Starting the local stack (${limits}${options.fifo ? '; FIFO queue, redrive after 100 receives' : '; redrive after 5 receives'})…\n`);
  rmSync(LOG_FILE, { force: true });
  const stack = await startLocalStack({ rateLimit: options.rateLimit, ...(options.plan === undefined ? {} : { plan: options.plan }), fifo: options.fifo, logFile: LOG_FILE });
  try {
    phase('build the bundle and start the stack');
    const random = createRandom(options.seed);
    const seeded = seedTenant(stack.tenant.state, { users: options.users, roles: options.roles, organizations: DEMO_ORGANIZATIONS, organizationMembers: true, random });
    const workload = generateWorkload(stack.tenant.state, seeded, { jobs: options.jobs, random, organizationJobs: true });
    // Pairs of jobs for one user sent out of order on purpose, drawn from their own sequence so that the rest of
    // a seed's workload stays what it was: the end-state check proves the newest of each pair won.
    const pairs = generateOutOfOrderPairs(seeded, workload.expected, workload.touched, { count: Math.max(2, Math.round(options.jobs / 50)), random: createRandom(options.seed + 7_919), fifo: options.fifo });
    let staged = 0;
    stack.tenant.faults.intercept = (request) => {
      const answer = throttleOlderWrite(pairs, request);
      if (answer !== undefined) staged += 1;
      return answer;
    };
    const jobs = [...workload.jobs, ...pairs.jobs];
    phase('seed the tenant and plan the workload');
    write(`Seeded ${seeded.users.length} users, ${seeded.roles.length} roles and ${seeded.organizations.length} organizations; enqueueing ${workload.jobs.length} jobs and ${pairs.count} pairs sent out of order…\n`);

    await enqueueJobs(stack, jobs, options.fifo);
    phase('enqueue the jobs');

    if (options.faults) {
      stack.tenant.faults.errorRate = 0.03;
      stack.tenant.faults.dropRate = 0.01;
      stack.tenant.faults.stormUntil = Date.now() + 5_000;
    }
    const metrics = { JobsApplied: 0, JobsSuperseded: 0, JobsRequeued: 0, JobsDeadLettered: 0, RateLimited: 0, TokensFetched: 0 };
    const worker = stack.startWorker({
      maxConcurrency: options.concurrency,
      batchSize: options.batchSize,
      batchingWindowMs: options.batchingWindowMs,
      env: { JOB_CONCURRENCY: String(options.jobConcurrency) },
      onOutput: (line) => {
        if (!line.includes('"_aws"')) return;
        const entry = JSON.parse(line) as Record<string, number>;
        for (const name of Object.keys(metrics) as Array<keyof typeof metrics>) metrics[name] += entry[name] ?? 0;
      },
    });

    const caller = options.interactiveCaller ? await startInteractiveCaller({ tenant: stack.tenant, userIds: seeded.users.map((user) => user.user_id) }) : undefined;
    const processingStart = Date.now();
    let lastLine = 0;
    let lastText = '';
    const progress = (final = false) => {
      const done = metrics.JobsApplied + metrics.JobsSuperseded + metrics.JobsDeadLettered;
      const width = 30;
      const filled = Math.min(width, Math.round((done / jobs.length) * width));
      const seconds = (Date.now() - processingStart) / 1000;
      const others = caller === undefined ? '' : `  caller's 429s ${caller.counts().rateLimited}/${caller.counts().calls}`;
      const text = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${jobs.length}  applied ${metrics.JobsApplied}  superseded ${metrics.JobsSuperseded}  dead-lettered ${metrics.JobsDeadLettered}  requeued ${metrics.JobsRequeued}  429s ${metrics.RateLimited}${others}  ${seconds.toFixed(0)} s`;
      if (options.interactive) write(`\r${text}${final ? '\n' : ''}`);
      else if ((final && text !== lastText) || Date.now() - lastLine >= 5_000) {
        write(`${text}\n`);
        lastLine = Date.now();
        lastText = text;
      }
    };
    let quiet = 0;
    while (Date.now() - processingStart < options.timeoutMs) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      progress();
      quiet = (await queueDepth(stack)) === 0 ? quiet + 1 : 0;
      if (quiet >= 3) break;
    }
    progress(true);
    const callerCounts = await caller?.stop();
    await worker.stop();
    stack.tenant.faults.errorRate = 0;
    stack.tenant.faults.dropRate = 0;
    const processingMs = Date.now() - processingStart;
    phase('process the jobs');

    const stillQueued = await queueDepth(stack);
    const letters = await readDeadLetters(stack);
    const deadLettered: Record<string, number> = {};
    for (const letter of letters) {
      const reason = letter.MessageAttributes?.['reason']?.StringValue ?? 'redriven after max receives';
      deadLettered[reason] = (deadLettered[reason] ?? 0) + 1;
    }
    const reasonByJob = new Map(letters.map((letter) => [letter.MessageAttributes?.['jobId']?.StringValue ?? jobIdOf(letter.Body), letter.MessageAttributes?.['reason']?.StringValue]));
    // A job that must fail is lost if it is not in the dead-letter queue; one that must apply is wrong if it is.
    const lost = workload.jobs.filter((job) => job.expectedReason !== undefined && !reasonByJob.has(job.jobId)).length;
    const misrouted = workload.jobs.filter((job) => reasonByJob.has(job.jobId) && reasonByJob.get(job.jobId) !== job.expectedReason);
    const differences = compareState(stack.tenant.state, workload.expected);
    phase('check the end state');

    // The worker's own Management API answers: the interactive caller's, if any, are subtracted.
    // The 429s staged to send older jobs back are not the pacer's: they are left out of its figures.
    const answers = subtractCounts(managementAnswers(stack.tenant.counters.requests), { ...callerCounts?.byStatus, 429: (callerCounts?.byStatus[429] ?? 0) + staged });
    const tokensMinted = stack.tenant.counters.tokensIssued - (callerCounts?.tokensMinted ?? 0);
    const figures = computePacingFigures({
      jobs: jobs.length,
      recordsDelivered: worker.stats.recordsReceived,
      invocations: worker.stats.invocations,
      answers,
      rateLimit: options.rateLimit,
      otherCallsPerSecond: caller?.callsPerSecond ?? 0,
      wallMs: processingMs,
    });
    const calls = figures.admittedCalls;
    const expectedApplied = workload.jobs.filter((job) => job.expectedReason === undefined).length + pairs.count;
    const ledgerCalls = [...stack.dynamodb.requests.values()].reduce((sum, n) => sum + n, 0);
    const ok = differences.length === 0 && lost === 0 && misrouted.length === 0 && stillQueued === 0;
    const wallMs = Date.now() - wallStart;
    const buckets = options.plan === undefined ? [] : bucketFigures(options.plan, stack.tenant.bucketCounts());
    const floorSeconds = buckets[0]?.floorSeconds ?? figures.floorSeconds;
    const refillLeft = options.rateLimit.perSecond - (caller?.callsPerSecond ?? 0);

    const lines = [
      '',
      `Report (${options.jobs} jobs and ${pairs.count} out-of-order pairs, seed ${options.seed})`,
      `  applied                ${metrics.JobsApplied} (expected ${expectedApplied})`,
      `  superseded             ${metrics.JobsSuperseded} (older than a job already applied: the older job of each of the ${pairs.count} out-of-order pairs that arrived after its newer one)`,
      `  dead-lettered          ${letters.length}${Object.entries(deadLettered).sort().map(([reason, n]) => `\n    ${reason.padEnd(26)}${n}`).join('')}`,
      `  still queued           ${stillQueued}`,
      `  lost                   ${lost}`,
      `  wrong dead-letter      ${misrouted.length}${misrouted.length > 0 ? ` (first: ${misrouted[0]?.jobId} got ${String(reasonByJob.get(misrouted[0]?.jobId))}, expected ${String(misrouted[0]?.expectedReason ?? 'to apply')})` : ''}`,
      `  requeued (times)       ${metrics.JobsRequeued}`,
      `  requeues per job       ${figures.requeuesPerJob.toFixed(2)} (${worker.stats.recordsReceived} records delivered for ${jobs.length} jobs)`,
      `  429s seen              ${figures.rateLimited} (the worker counted ${metrics.RateLimited}, of them ${staged} staged to send older jobs back)`,
      `  tokens minted          ${tokensMinted} (containers started: ${worker.stats.coldStarts})`,
      `  invocations            ${worker.stats.invocations}, ${worker.stats.failedBatches} failed whole`,
      `  invocations per job    ${figures.invocationsPerJob.toFixed(2)}`,
      `  ledger calls per job   ${(ledgerCalls / jobs.length).toFixed(2)} (${ledgerCalls} DynamoDB calls: ${[...stack.dynamodb.requests].map(([operation, n]) => `${operation} ${n}`).join(', ')})`,
      ...(callerCounts === undefined
        ? []
        : [`  interactive caller     ${callerCounts.calls} calls at ${caller?.callsPerSecond ?? INTERACTIVE_CALLS_PER_SECOND}/s, ${callerCounts.rateLimited} answered 429 (${percent(callerCounts.rateLimited, callerCounts.calls)})`]),
      `  wall time              ${(wallMs / 1000).toFixed(1)} s`,
      options.plan === undefined
        ? `  throughput             ${(calls / (processingMs / 1000)).toFixed(2)} Management API calls/s against a limit of ${options.rateLimit.perSecond}/s (burst ${options.rateLimit.burst}); ${((metrics.JobsApplied + letters.length) / (processingMs / 1000)).toFixed(2)} jobs/s`
        : `  throughput             ${(calls / (processingMs / 1000)).toFixed(2)} Management API calls/s, ${((metrics.JobsApplied + letters.length) / (processingMs / 1000)).toFixed(2)} jobs/s`,
      ...buckets.map((bucket, index) => `  ${(index === 0 ? 'per bucket' : '').padEnd(23)}${bucket.bucket.padEnd(32)}${String(bucket.calls).padStart(6)} calls, ${bucket.rateLimited} answered 429 (${percent(bucket.rateLimited, bucket.calls)}), floor ${bucket.floorSeconds.toFixed(1)} s`),
      `  end state              ${differences.length === 0 ? `matches what the jobs asked for (${workload.expected.appMetadata.size} users, ${workload.expected.organizations?.size ?? 0} organizations' memberships checked)` : `${differences.length} differences, first: ${differences.slice(0, 3).join('; ')}`}`,
      '',
      'Where the time went',
      ...phases.map(([name, ms]) => `  ${name.padEnd(40)}${(ms / 1000).toFixed(1)} s`),
      buckets[0] === undefined
        ? `    of which the rate limit's floor      ${floorSeconds.toFixed(1)} s (${calls} calls at ${refillLeft}/s after a burst of ${options.rateLimit.burst}${caller === undefined ? '' : `; the interactive caller takes ${caller.callsPerSecond}/s`})`
        : `    of which the rate limit's floor      ${floorSeconds.toFixed(1)} s (the ${buckets[0].bucket} bucket's)`,
      `    of which invocations were running    ${(worker.stats.busyMs / 1000 / Math.max(1, options.concurrency)).toFixed(1)} s per slot (cold starts: ${worker.stats.coldStarts}, ${worker.stats.initMs.toFixed(0)} ms importing the bundle)`,
      '',
      `Worker logs: ${relative(process.cwd(), LOG_FILE)}`,
      ok ? 'OK: no job lost, the tenant is in the state the jobs asked for.' : 'FAILED: some jobs were lost or applied wrongly (see above).',
      '',
    ];
    write(lines.join('\n'));
    return {
      ok,
      applied: metrics.JobsApplied,
      deadLettered,
      stillQueued,
      lost,
      differences,
      rateLimited: figures.rateLimited,
      tokensMinted,
      wallMs,
      recordsDelivered: worker.stats.recordsReceived,
      requeuesPerJob: figures.requeuesPerJob,
      invocations: worker.stats.invocations,
      invocationsPerJob: figures.invocationsPerJob,
      ...(callerCounts === undefined ? {} : { interactiveCaller: callerCounts }),
    };
  } finally {
    await stack.stop();
  }
}

function percent(part: number, whole: number): string {
  return `${whole === 0 ? 0 : Math.round((part / whole) * 100)}%`;
}

function jobIdOf(body: string | undefined): string | undefined {
  return /"jobId":"([^"]+)"/.exec(body ?? '')?.[1];
}
