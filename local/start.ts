/**
 * `npm start`: runs the product's main job end to end on the embedded local stack (no AWS account, no
 * tenant). `npm start -- --help` lists the flags.
 */
import { parseArgs } from 'node:util';
import { runDemo } from './demo.ts';
import { INTERACTIVE_CALLS_PER_SECOND } from './interactive-caller.ts';
import { RATE_LIMIT_PRESETS, type RateLimitSpec } from './tenant/rate-limit.ts';

const HELP = `Usage: npm start -- [flags]

Runs the worker bundle over a demo workload on the local stack and reports what happened.

  --jobs N           jobs to enqueue (default 2000)
  --rate R           Management API refill per second, or a plan: free, enterprise,
                     enterprise-non-production (default enterprise: 16/s)
  --burst B          Management API bucket size (default: the plan's, 50 for enterprise)
  --concurrency N    concurrent worker invocations (default 2)
  --job-concurrency N  JOB_CONCURRENCY inside each invocation (default 4)
  --batch-size N     records per invocation (default 10)
  --fifo             use a FIFO jobs queue, one message group per user
  --faults           inject 3% 5xx, 1% dropped connections and a 5 s 429 storm
  --interactive      while the backlog drains, another application of the tenant reads
                     profiles at 2 calls/s; reports how many of its calls got 429
  --users N          users to seed (default 1000)
  --seed N           random seed, to repeat a run (default 1)
  --timeout S        give up after S seconds of processing (default 600)

At the free plan's 2 requests/s, 2,000 jobs need about 17 minutes of Management API time, so the
default run uses the enterprise limit; try the free plan with: npm start -- --rate free --jobs 200
`;

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${HELP}`);
  process.exit(2);
}

const { values } = (() => {
  try {
    return parseArgs({
      options: {
        jobs: { type: 'string', default: '2000' },
        rate: { type: 'string', default: 'enterprise' },
        burst: { type: 'string' },
        concurrency: { type: 'string', default: '2' },
        'job-concurrency': { type: 'string', default: '4' },
        'batch-size': { type: 'string', default: '10' },
        fifo: { type: 'boolean', default: false },
        faults: { type: 'boolean', default: false },
        interactive: { type: 'boolean', default: false },
        users: { type: 'string', default: '1000' },
        seed: { type: 'string', default: '1' },
        timeout: { type: 'string', default: '600' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    });
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
})();

if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

const positive = (name: string, value: string | undefined, max = Number.MAX_SAFE_INTEGER): number => {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0 || number > max) fail(`--${name} must be a positive number${max < Number.MAX_SAFE_INTEGER ? ` up to ${max}` : ''}, not ${JSON.stringify(value)}`);
  return number;
};

const plan = values.rate in RATE_LIMIT_PRESETS ? RATE_LIMIT_PRESETS[values.rate as keyof typeof RATE_LIMIT_PRESETS] : undefined;
const rateLimit: RateLimitSpec = {
  perSecond: plan?.perSecond ?? positive('rate', values.rate),
  burst: values.burst === undefined ? (plan?.burst ?? Math.max(1, Math.round(positive('rate', values.rate)))) : Math.round(positive('burst', values.burst)),
};

if (values.interactive && rateLimit.perSecond <= INTERACTIVE_CALLS_PER_SECOND) {
  fail(`--interactive needs a refill rate above the caller's ${INTERACTIVE_CALLS_PER_SECOND}/s, or the worker gets nothing after the burst (--rate is ${rateLimit.perSecond}/s)`);
}

const result = await runDemo({
  jobs: Math.round(positive('jobs', values.jobs, 100_000)),
  users: Math.round(positive('users', values.users, 100_000)),
  roles: 10,
  rateLimit,
  concurrency: Math.round(positive('concurrency', values.concurrency, 64)),
  jobConcurrency: Math.round(positive('job-concurrency', values['job-concurrency'], 64)),
  batchSize: Math.round(positive('batch-size', values['batch-size'], values.fifo ? 10 : 10_000)),
  fifo: values.fifo,
  faults: values.faults,
  seed: Math.round(positive('seed', values.seed)),
  timeoutMs: positive('timeout', values.timeout) * 1000,
  write: (text) => process.stdout.write(text),
  interactive: process.stdout.isTTY === true,
  interactiveCaller: values.interactive,
});
process.exit(result.ok ? 0 : 1);
