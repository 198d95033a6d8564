/**
 * `npm start`: runs the product's main job end to end on the embedded local stack (no AWS account, no
 * tenant). `npm start -- --help` lists the flags.
 */
import { runDemo } from './demo.ts';
import { runProducersDemo } from './producers-demo.ts';
import { parsedFlag, positiveNumber, readScriptArgs, usageError, wholeNumber } from './script-args.ts';
import { INTERACTIVE_CALLS_PER_SECOND } from './interactive-caller.ts';
import { type Auth0Plan, parsePlan } from '../shared/auth0/plans.ts';
import { RATE_LIMIT_PRESETS, type RateLimitSpec } from './tenant/rate-limit.ts';
import { DEFAULT_BATCH_SIZE, DEFAULT_BATCHING_WINDOW_SECONDS, defaultBatchSize, defaultBatchingWindowSeconds } from '../shared/queue/batching.ts';

const HELP = `Usage: npm start -- [flags]

Runs the worker bundle over a demo workload on the local stack and reports what happened.

  --jobs N           jobs to enqueue (default 2000)
  --rate R           Management API refill per second (above 0), or a plan: free,
                     enterprise, enterprise-non-production (default enterprise: 16/s)
  --burst B          Management API bucket size (default: the plan's, 50 for enterprise)
  --plan P           Auth0's layered buckets of a plan instead of --rate and --burst: free,
                     essentials, professional, enterprise, enterprise-non-production (the
                     worker is told the plan, as AUTH0_PLAN does)
  --concurrency N    concurrent worker invocations (default 2)
  --job-concurrency N  JOB_CONCURRENCY inside each invocation (default 4)
  --batch-size N     records per invocation (default ${DEFAULT_BATCH_SIZE}, as the construct deploys;
                     10 with --fifo, --plan free, --rate free or --batching-window 0)
  --batching-window S  seconds the event source mapping gathers a batch (default
                     ${DEFAULT_BATCHING_WINDOW_SECONDS} above 10 records, else 0; none with --fifo)
  --fifo             use a FIFO jobs queue, one message group per user
  --faults           inject 3% 5xx, 1% dropped connections and a 5 s 429 storm
  --interactive      while the backlog drains, another application of the tenant reads
                     profiles at 2 calls/s; reports how many of its calls got 429
  --producers        two producers, each with its own queue and policy: crm queues --jobs
                     profile updates at once, hr sends an offboarding a second while they
                     drain; reports each one's jobs/s, wait and refused jobs (--concurrency
                     is each producer's)
  --users N          users to seed (default 1000)
  --seed N           random seed, to repeat a run (default 1)
  --help             this text
  --timeout S        give up after S seconds of processing (default 600)

At the free plan's 2 requests/s, 2,000 jobs need about 17 minutes of Management API time, so the
default run uses the enterprise limit; try the free plan with: npm start -- --rate free --jobs 200
`;

const values = readScriptArgs(
  {
    jobs: { type: 'string', default: '2000' },
    rate: { type: 'string', default: 'enterprise' },
    burst: { type: 'string' },
    plan: { type: 'string' },
    concurrency: { type: 'string', default: '2' },
    'job-concurrency': { type: 'string', default: '4' },
    'batch-size': { type: 'string' },
    'batching-window': { type: 'string' },
    fifo: { type: 'boolean', default: false },
    faults: { type: 'boolean', default: false },
    interactive: { type: 'boolean', default: false },
    producers: { type: 'boolean', default: false },
    users: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '1' },
    timeout: { type: 'string', default: '600' },
  },
  HELP,
);

const plan = values.rate in RATE_LIMIT_PRESETS ? RATE_LIMIT_PRESETS[values.rate as keyof typeof RATE_LIMIT_PRESETS] : undefined;
if (plan === undefined && !(Number(values.rate) > 0 && Number(values.rate) <= 10_000)) {
  usageError(`--rate must be a plan (${Object.keys(RATE_LIMIT_PRESETS).join(', ')}) or requests per second above 0 and at most 10000, not ${JSON.stringify(values.rate)}`);
}
const rateLimit: RateLimitSpec = {
  perSecond: plan?.perSecond ?? positiveNumber('rate', values.rate, 10_000),
  burst: values.burst === undefined ? (plan?.burst ?? Math.max(1, Math.round(positiveNumber('rate', values.rate, 10_000)))) : wholeNumber('burst', values.burst, 1, 10_000),
};

const tenantPlan: Auth0Plan | undefined = values.plan === undefined ? undefined : parsedFlag('plan', () => parsePlan(values.plan ?? ''));
if (tenantPlan !== undefined && values.burst !== undefined) usageError('--plan sets the buckets: leave --burst out');

if (tenantPlan === undefined && values.interactive && rateLimit.perSecond <= INTERACTIVE_CALLS_PER_SECOND) {
  usageError(`--interactive needs a refill rate above the caller's ${INTERACTIVE_CALLS_PER_SECOND}/s, or the worker gets nothing after the burst (--rate is ${rateLimit.perSecond}/s)`);
}

const onFreePlan = tenantPlan === 'free' || (tenantPlan === undefined && values.rate === 'free');
if (values.fifo && values['batching-window'] !== undefined) usageError('--batching-window: a FIFO queue has no batching window');
const givenWindow = values['batching-window'] === undefined ? undefined : wholeNumber('batching-window', values['batching-window'], 0, 300);
const batchSize =
  values['batch-size'] === undefined
    ? defaultBatchSize({ fifo: values.fifo, plan: onFreePlan ? 'free' : undefined, windowSeconds: givenWindow })
    : wholeNumber('batch-size', values['batch-size'], 1, values.fifo ? 10 : 10_000);
const batchingWindowSeconds = givenWindow ?? defaultBatchingWindowSeconds(batchSize);
if (batchSize > 10 && batchingWindowSeconds === 0) usageError(`--batch-size ${batchSize} needs a --batching-window of at least 1 second: Lambda takes more than 10 records only with one`);

const { timeoutSeconds, ...options } = {
  jobs: wholeNumber('jobs', values.jobs, 1, 100_000),
  users: wholeNumber('users', values.users, 1, 100_000),
  concurrency: wholeNumber('concurrency', values.concurrency, 1, 64),
  jobConcurrency: wholeNumber('job-concurrency', values['job-concurrency'], 1, 64),
  batchSize,
  batchingWindowMs: batchingWindowSeconds * 1000,
  seed: wholeNumber('seed', values.seed, 1, 2 ** 31),
  timeoutSeconds: wholeNumber('timeout', values.timeout, 1, 86_400),
};

if (values.producers) {
  for (const flag of ['plan', 'fifo', 'faults', 'interactive'] as const) {
    if (values[flag] !== undefined && values[flag] !== false) usageError(`--producers runs its own workload: leave --${flag} out`);
  }
  const demo = await runProducersDemo({
    bulkJobs: options.jobs,
    urgentPerSecond: 1,
    users: options.users,
    rateLimit,
    concurrency: options.concurrency,
    batchSize: options.batchSize,
    batchingWindowMs: options.batchingWindowMs,
    seed: options.seed,
    timeoutMs: timeoutSeconds * 1000,
    write: (text) => process.stdout.write(text),
    interactive: process.stdout.isTTY === true,
  });
  process.exit(demo.ok ? 0 : 1);
}

const result = await runDemo({
  ...options,
  roles: 10,
  rateLimit,
  ...(tenantPlan === undefined ? {} : { plan: tenantPlan }),
  fifo: values.fifo,
  faults: values.faults,
  timeoutMs: timeoutSeconds * 1000,
  write: (text) => process.stdout.write(text),
  interactive: process.stdout.isTTY === true,
  interactiveCaller: values.interactive,
});
process.exit(result.ok ? 0 : 1);
