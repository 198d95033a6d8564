/**
 * Pacing benchmark: the same seeded backlog of valid jobs drained on the local stack by three handlers,
 * each bundled with the worker's esbuild options and run by the local event source mapping:
 * - worker: this product's bundle;
 * - sdk:    the official `auth0` SDK inside Powertools' batch processor (test/bench/peers/sdk-powertools.ts);
 * - naive:  a token per invocation and plain fetch calls, failing the whole batch (test/bench/peers/naive.ts).
 * Each handler × configuration gets a fresh local stack. Prints progress, one Markdown table per
 * configuration, and one line per configuration comparing the worker with the peers; the Markdown also
 * goes to dist/bench/pacing/report.md and each run's output to dist/bench/pacing/<config>-<handler>.log.
 *
 * Usage: npm run bench [-- --only worker,sdk,naive --config enterprise-2,professional-2,… --timeout 240 --seed 1]
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Message } from '@aws-sdk/client-sqs';
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { bundleFunction } from '../../infra/build.ts';
import { BUNDLE_OPTIONS } from '../../infra/bundling.ts';
import { managementAnswers, subtractCounts } from '../../local/figures.ts';
import { type InteractiveCallerCounts, startInteractiveCaller } from '../../local/interactive-caller.ts';
import { enqueueJobs, type LocalStack, queueDepth, readDeadLetters, startLocalStack } from '../../local/stack.ts';
import { runProducersDemo } from '../../local/producers-demo.ts';
import { RATE_LIMIT_PRESETS, parseJitter } from '../../local/tenant/rate-limit.ts';
import { compareState, createRandom, generateBulkWorkload, generateWorkload, isApplied, seedTenant } from '../../local/workload.ts';
import { bucketSpec } from '../../shared/auth0/plans.ts';
import { type TimedAnswer, type TimelineInput, describeTimeline } from './timeline.ts';
import { type BenchConfig, type BenchRun, HANDLER_LABELS, type HandlerName, type MeasuredRun, formatSummary, formatTable, measureRun } from './pacing-report.ts';
import { DEFAULT_BATCH_SIZE, DEFAULT_BATCHING_WINDOW_SECONDS, defaultBatchSize, defaultBatchingWindowSeconds } from '../../shared/queue/batching.ts';

const CONFIGS = {
  'enterprise-2': { name: 'enterprise-2', plan: 'enterprise', rateLimit: RATE_LIMIT_PRESETS.enterprise, concurrency: 2, jobs: 1000, interactive: false },
  'enterprise-6': { name: 'enterprise-6', plan: 'enterprise', rateLimit: RATE_LIMIT_PRESETS.enterprise, concurrency: 6, jobs: 1000, interactive: false },
  'free-2': { name: 'free-2', plan: 'free', rateLimit: RATE_LIMIT_PRESETS.free, concurrency: 2, jobs: 120, interactive: false },
  interactive: { name: 'interactive', plan: 'enterprise', rateLimit: RATE_LIMIT_PRESETS.enterprise, concurrency: 2, jobs: 1000, interactive: true },
  'professional-2': { name: 'professional-2', plan: 'professional', tenantPlan: 'professional', rateLimit: RATE_LIMIT_PRESETS.free, concurrency: 2, jobs: 1000, interactive: false },
  'enterprise-orgs-2': { name: 'enterprise-orgs-2', plan: 'enterprise', tenantPlan: 'enterprise', rateLimit: RATE_LIMIT_PRESETS.enterprise, concurrency: 2, jobs: 1000, interactive: false, organizationShare: 0.25, workerOnly: true },
  'roles-bulk': { name: 'roles-bulk', plan: 'professional', tenantPlan: 'professional', rateLimit: RATE_LIMIT_PRESETS.free, concurrency: 2, jobs: 2000, interactive: false, workload: 'roles-assign' },
  'orgs-bulk': { name: 'orgs-bulk', plan: 'enterprise', tenantPlan: 'enterprise', rateLimit: RATE_LIMIT_PRESETS.enterprise, concurrency: 2, jobs: 2000, interactive: false, workload: 'org-members-add', workerOnly: true },
} as const satisfies Record<string, BenchConfig>;
/** Organizations seeded for the configurations with organization jobs. */
const ORGANIZATIONS = 10;
/** Roles or organizations the bulk backlogs spread over. */
const BULK_TARGETS = 5;
type ConfigName = keyof typeof CONFIGS;
/** The producers' configuration, run apart from the handler tables: two producers of this worker on one tenant. */
const PRODUCERS_CONFIG = 'producers';
/** Its bulk backlog, and the urgent producer's pace. */
const PRODUCERS_BULK_JOBS = 10_000;
const PRODUCERS_URGENT_PER_SECOND = 1;

const HANDLERS = Object.keys(HANDLER_LABELS) as HandlerName[];
const PEER_ENTRIES = { sdk: 'test/bench/peers/sdk-powertools.ts', naive: 'test/bench/peers/naive.ts' } as const;
const USERS = 1000;
const ROLES = 10;
const POLL_MS = 100;
const PROGRESS_MS = 5_000;

const HELP = `Usage: npm run bench -- [flags]

Drains the same seeded backlog of valid jobs on the local stack with this worker and with the handlers a
user would write instead, and prints one Markdown table per configuration.

  --only LIST      handlers to run, comma-separated: ${HANDLERS.join(', ')} (default: all)
                     worker  this product's bundle
                     sdk     auth0 SDK ManagementClient inside Powertools' BatchProcessor
                     naive   a token per invocation, plain fetch, any error fails the batch
  --config LIST    configurations, comma-separated (default: all):
                     enterprise-2  enterprise limit (burst 50, 16/s), 2 concurrent invocations, 1,000 jobs
                     enterprise-6  enterprise limit, 6 concurrent invocations, 1,000 jobs
                     free-2        free limit (burst 2, 2/s), 2 concurrent invocations, 120 jobs
                     interactive   enterprise-2 plus another application calling 2 times/s
                     professional-2     Professional's buckets (user writes 20/200 per min, roles
                                        10/150 per min, …), 2 concurrent invocations, 1,000 jobs
                     enterprise-orgs-2  Enterprise's buckets (API-wide 50/16 per s, organization
                                        writes 20/200 per min), 1,000 jobs, a quarter of them
                                        organization jobs (worker only)
                     roles-bulk         2,000 roles.assign over 5 roles on Professional
                     orgs-bulk          2,000 org.members.add over 5 organizations on Enterprise
                                        (worker only)
                     producers          two producers of this worker on the enterprise limit: 10,000
                                        profile updates queued on one, an offboarding a second on the
                                        other until the backlog is gone (worker only; its own time
                                        limit, the backlog's drain)
  --jitter LIST    network time added to every answer, comma-separated: none, or MIN:MAX in ms
                   (default none,20:200: every configuration without and with it)
  --batch-size N   records per invocation of this worker (default: as the construct deploys it,
                   ${DEFAULT_BATCH_SIZE}, or 10 on the free plan; the other handlers take Lambda's default, 10)
  --batching-window MS
                   how long the event source mapping gathers this worker's batch (default
                   ${DEFAULT_BATCHING_WINDOW_SECONDS * 1000} above 10 records, else 0; Lambda needs one above 10)
  --timeout S      give up on a run after S seconds (default 240)
  --seed N         workload seed (default 1)
  --help           this text
`;

function fail(message: string): never {
  process.stderr.write(`npm run bench: ${message} (see --help)\n`);
  process.exit(2);
}

const { values } = (() => {
  try {
    return parseArgs({
      options: {
        only: { type: 'string', default: HANDLERS.join(',') },
        config: { type: 'string', default: [...Object.keys(CONFIGS), PRODUCERS_CONFIG].join(',') },
        timeout: { type: 'string', default: '240' },
        'batch-size': { type: 'string' },
        'batching-window': { type: 'string' },
        jitter: { type: 'string', default: 'none,20:200' },
        seed: { type: 'string', default: '1' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
})();

if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

function list<T extends string>(flag: string, value: string, allowed: readonly T[]): T[] {
  const items = value.split(',').map((item) => item.trim()).filter((item) => item !== '');
  if (items.length === 0) fail(`--${flag} needs at least one of ${allowed.join(', ')}`);
  for (const item of items) if (!allowed.includes(item as T)) fail(`--${flag}: unknown value ${JSON.stringify(item)}; choose from ${allowed.join(', ')}`);
  return [...new Set(items as T[])];
}

const handlers = list('only', values.only, HANDLERS);
const jitters = values.jitter.split(',').map((item) => item.trim()).filter((item) => item !== '').map((item) => {
  if (item === 'none') return undefined;
  try {
    const { minMs, maxMs } = parseJitter(item);
    return { minMs, maxMs };
  } catch (error) {
    return fail(`--jitter: ${error instanceof Error ? error.message : String(error)}`);
  }
});
if (jitters.length === 0) fail('--jitter needs none, MIN:MAX, or both');
const configNames = list('config', values.config, [...(Object.keys(CONFIGS) as ConfigName[]), PRODUCERS_CONFIG] as const);
const runProducers = configNames.includes(PRODUCERS_CONFIG);
const configs: BenchConfig[] = configNames.filter((name): name is ConfigName => name !== PRODUCERS_CONFIG).flatMap((name) =>
  jitters.map((jitter): BenchConfig => (jitter === undefined ? CONFIGS[name] : { ...CONFIGS[name], name: `${name} (jitter ${jitter.minMs}-${jitter.maxMs} ms)`, jitter })),
);
const timeoutSeconds = Number(values.timeout);
if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) fail(`--timeout must be a positive number of seconds, not ${JSON.stringify(values.timeout)}`);
const batchSizeFlag = values['batch-size'] === undefined ? undefined : Number(values['batch-size']);
if (batchSizeFlag !== undefined && (!Number.isSafeInteger(batchSizeFlag) || batchSizeFlag < 1 || batchSizeFlag > 10_000)) {
  fail(`--batch-size must be a whole number from 1 to 10000, not ${JSON.stringify(values['batch-size'])}`);
}
const windowFlagMs = values['batching-window'] === undefined ? undefined : Number(values['batching-window']);
if (windowFlagMs !== undefined && (!Number.isSafeInteger(windowFlagMs) || windowFlagMs < 0 || windowFlagMs > 300_000)) {
  fail(`--batching-window must be a whole number of milliseconds from 0 to 300000, not ${JSON.stringify(values['batching-window'])}`);
}
/** This worker's batches in a configuration: the flags, else what the construct deploys for the plan. */
function batchingFor(config: BenchConfig): { batchSize: number; batchingWindowMs: number } {
  const batchSize = batchSizeFlag ?? defaultBatchSize({ fifo: false, plan: config.plan === 'free' ? 'free' : config.tenantPlan });
  return { batchSize, batchingWindowMs: windowFlagMs ?? defaultBatchingWindowSeconds(batchSize) * 1000 };
}
for (const config of configs) {
  if (batchingFor(config).batchSize > 10 && batchingFor(config).batchingWindowMs === 0) fail('--batch-size above 10 needs a --batching-window, as Lambda requires');
}
const seed = Number(values.seed);
if (!Number.isSafeInteger(seed) || seed <= 0) fail(`--seed must be a positive integer, not ${JSON.stringify(values.seed)}`);

const root = fileURLToPath(new URL('../..', import.meta.url));
const work = `${root}dist/bench/pacing`;
mkdirSync(work, { recursive: true });
const write = (text: string) => process.stdout.write(text);

/** Bundles each handler once, so that every configuration runs the same code. */
async function bundleHandlers(): Promise<Record<HandlerName, string>> {
  const urls: Partial<Record<HandlerName, string>> = {};
  for (const handler of handlers) {
    let outfile: string;
    if (handler === 'worker') {
      ({ outfile } = await bundleFunction('worker', `${work}/worker`));
    } else {
      outfile = `${work}/${handler}/index.mjs`;
      await build({ ...BUNDLE_OPTIONS, entryPoints: [`${root}${PEER_ENTRIES[handler]}`], outfile });
    }
    urls[handler] = pathToFileURL(outfile).href;
  }
  return urls as Record<HandlerName, string>;
}

/** What the worker code under test is: the commit, and whether its source differs from it. */
function describeWorkerSource(): string {
  const git = (...args: string[]) => spawnSync('git', args, { cwd: root, encoding: 'utf8' });
  const head = git('rev-parse', '--short', 'HEAD');
  if (head.status !== 0) return 'worker source: not a git checkout';
  const dirty = git('status', '--porcelain', '--', 'functions', 'shared').stdout.trim() !== '';
  return `worker bundle built from ${head.stdout.trim()}${dirty ? ' with uncommitted changes in functions/ or shared/' : ''}`;
}

/** The naive handler reads its client id and secret from its environment, as the articles show. */
async function naiveEnv(stack: LocalStack): Promise<Record<string, string>> {
  const client = new SecretsManagerClient({
    region: stack.workerEnv['AWS_REGION'] ?? 'us-east-1',
    endpoint: stack.secrets.endpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    const { SecretString = '{}' } = await client.send(new GetSecretValueCommand({ SecretId: stack.client.secretName }));
    const { clientId, clientSecret } = JSON.parse(SecretString) as { clientId: string; clientSecret: string };
    return { AUTH0_CLIENT_ID: clientId, AUTH0_CLIENT_SECRET: clientSecret };
  } finally {
    client.destroy();
  }
}

/** The job id a message carries: the worker's dead letters name it in an attribute, every body holds it. */
function jobIdOf(message: Message): string {
  return message.MessageAttributes?.['jobId']?.StringValue ?? /"jobId":"([^"]+)"/.exec(message.Body ?? '')?.[1] ?? '';
}

/** The interactive caller's route; the handlers never read a user by id. */
const INTERACTIVE_ROUTE = 'GET /api/v2/users/{id}';

/** The bucket a run's timeline is measured on: the binding group's on a plan's tenant, else the single bucket. */
function timedBucket(config: BenchConfig, run: MeasuredRun): Pick<TimelineInput, 'bucket' | 'group'> {
  const binding = run.buckets[0]?.bucket;
  if (config.tenantPlan === undefined || binding === undefined) return { bucket: config.rateLimit };
  const spec = bucketSpec(config.tenantPlan, binding);
  if (spec === undefined) return { bucket: config.rateLimit };
  // The API-wide bucket draws from every call; a group's from its own.
  return binding === 'api' ? { bucket: spec } : { bucket: spec, group: binding };
}

/** One handler draining one configuration's backlog on a fresh stack. */
async function runOne(config: BenchConfig, handler: HandlerName, bundleUrl: string): Promise<MeasuredRun> {
  const tag = `${config.name} · ${HANDLER_LABELS[handler]}`;
  const timeline: TimedAnswer[] = [];
  const stack = await startLocalStack({
    rateLimit: config.rateLimit,
    ...(config.tenantPlan === undefined ? {} : { plan: config.tenantPlan }),
    tenant: { ...(config.jitter === undefined ? {} : { jitter: { ...config.jitter, seed } }), onAnswer: (answer) => timeline.push(answer) },
    build: false,
  });
  const logName = `${work}/${config.name.replace(/[^a-z0-9-]+/gi, '-').replace(/-+$/, '')}-${handler}`;
  const log = createWriteStream(`${logName}.log`);
  try {
    const random = createRandom(seed);
    const organizations = config.organizationShare !== undefined || config.workload === 'org-members-add';
    const seeded = seedTenant(stack.tenant.state, { users: USERS, roles: ROLES, random, ...(organizations ? { organizations: ORGANIZATIONS, organizationMembers: config.workload !== 'org-members-add' } : {}) });
    const workload =
      config.workload === 'roles-assign' || config.workload === 'org-members-add'
        ? generateBulkWorkload(stack.tenant.state, seeded, { kind: config.workload, jobs: config.jobs, targets: BULK_TARGETS, random })
        : generateWorkload(stack.tenant.state, seeded, { jobs: config.jobs, random, validOnly: true, ...(config.organizationShare === undefined ? {} : { organizationJobs: true, organizationShare: config.organizationShare }) });
    await enqueueJobs(stack, workload.jobs);
    const env = handler === 'naive' ? await naiveEnv(stack) : {};
    const caller = config.interactive ? await startInteractiveCaller({ tenant: stack.tenant, userIds: seeded.users.map((user) => user.user_id) }) : undefined;

    const delivered = new Set<string>();
    const onReceive = (messages: readonly Message[]) => {
      for (const message of messages) delivered.add(jobIdOf(message));
    };
    const started = Date.now();
    // A peer runs as its author would deploy it: Lambda's default batch of 10, no window.
    const batching = handler === 'worker' ? batchingFor(config) : { batchSize: 10, batchingWindowMs: 0 };
    const mapping = stack.startWorker({ bundleUrl, env, maxConcurrency: config.concurrency, ...batching, onReceive, onOutput: (line) => log.write(`${line}\n`) });
    const applied = () => workload.jobs.filter((job) => isApplied(stack.tenant.state, job)).length;
    let doneAt: number | undefined;
    let nextProgress = started + PROGRESS_MS;
    // Same method for every handler: the run ends when no job is visible, in flight or delayed.
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      const depth = await queueDepth(stack);
      const now = Date.now();
      if (depth === 0) {
        doneAt = now;
        break;
      }
      if (now - started >= timeoutSeconds * 1000) break;
      if (now >= nextProgress) {
        nextProgress += PROGRESS_MS;
        const callerSoFar = caller?.counts();
        const answers = subtractCounts(managementAnswers(stack.tenant.counters.requests), callerSoFar?.byStatus ?? {});
        const callerNote = callerSoFar === undefined ? '' : `  caller's 429s ${callerSoFar.rateLimited}/${callerSoFar.calls}`;
        write(`  ${tag}: ${((now - started) / 1000).toFixed(0)} s  applied ${applied()}/${workload.jobs.length}  queued ${depth}  calls ${Object.values(answers).reduce((sum, n) => sum + n, 0)}  429s ${answers[429] ?? 0}  invocations ${mapping.stats.invocations}${callerNote}\n`);
      }
    }
    const callerCounts: InteractiveCallerCounts | undefined = await caller?.stop();
    await mapping.stop();

    const letters = await readDeadLetters(stack);
    const deadLettered = new Set(letters.map(jobIdOf));
    const run = measureRun({
      config,
      handler,
      jobs: workload.jobs.map((job) => ({ jobId: job.jobId, userId: job.effect?.userId, applied: isApplied(stack.tenant.state, job) })),
      deadLettered,
      stillQueued: await queueDepth(stack),
      differences: compareState(stack.tenant.state, workload.expected),
      wallMs: doneAt === undefined ? undefined : doneAt - started,
      jobsDelivered: delivered.size,
      tenant: stack.tenant.counters,
      mapping: mapping.stats,
      caller: callerCounts === undefined || caller === undefined ? undefined : { ...callerCounts, callsPerSecond: caller.callsPerSecond },
      buckets: stack.tenant.bucketCounts(),
    });
    const ledgerCalls = [...stack.dynamodb.requests.values()].reduce((sum, n) => sum + n, 0);
    writeFileSync(`${logName}.answers.json`, JSON.stringify({ started, doneAt, answers: timeline }));
    write(`  ${tag}: ${describeTimeline({ started, doneAt, answers: timeline, ...timedBucket(config, run), ...(caller === undefined ? {} : { otherRoute: INTERACTIVE_ROUTE }) })}\n`);
    write(`  ${tag}: ${run.finished ? `done in ${((run.wallMs ?? 0) / 1000).toFixed(1)} s` : `did not finish in ${timeoutSeconds} s`}, ${run.applied} of ${run.jobs} applied; DynamoDB calls ${ledgerCalls} (${(ledgerCalls / run.jobs).toFixed(2)} per job)\n`);
    return run;
  } finally {
    await new Promise((resolve) => log.end(resolve));
    await stack.stop();
  }
}

write(`Pacing benchmark: ${configs.map((config) => config.name).join(', ')} × ${handlers.join(', ')}; seed ${seed}, timeout ${timeoutSeconds} s per run\n`);
write('Bundling the handlers…\n');
let bundles: Record<HandlerName, string>;
try {
  bundles = await bundleHandlers();
} catch (error) {
  process.stderr.write(`npm run bench: could not bundle the handlers: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
const source = describeWorkerSource();
write(`${source}\n`);

const results = new Map<string, BenchRun[]>();
let crashed = false;
for (const config of configs) {
  const runs: BenchRun[] = [];
  for (const handler of handlers) {
    if (config.workerOnly === true && handler !== 'worker') {
      write(`${config.name} · ${HANDLER_LABELS[handler]}: left out (it knows no organization jobs)\n`);
      continue;
    }
    write(`${config.name} · ${HANDLER_LABELS[handler]}: starting a fresh stack…\n`);
    try {
      runs.push(await runOne(config, handler, bundles[handler]));
    } catch (error) {
      crashed = true;
      const message = error instanceof Error ? error.message : String(error);
      write(`  ${config.name} · ${HANDLER_LABELS[handler]}: the run failed: ${message}\n`);
      runs.push({ kind: 'failed', config, handler, error: message });
    }
  }
  results.set(config.name, runs);
}

/** The producers' configuration, plain and with each jitter asked for: its report section. */
async function runProducersConfig(): Promise<string[]> {
  const sections: string[] = [];
  for (const jitter of jitters) {
    const name = `${PRODUCERS_CONFIG}${jitter === undefined ? '' : ` (jitter ${jitter.minMs}-${jitter.maxMs} ms)`}`;
    write(`${name} · this worker: starting a fresh stack…\n`);
    const batching = batchSizeFlag === undefined && windowFlagMs === undefined ? { batchSize: DEFAULT_BATCH_SIZE, batchingWindowMs: DEFAULT_BATCHING_WINDOW_SECONDS * 1000 } : batchingFor(CONFIGS['enterprise-2']);
    try {
      const result = await runProducersDemo({
        bulkJobs: PRODUCERS_BULK_JOBS,
        urgentPerSecond: PRODUCERS_URGENT_PER_SECOND,
        users: USERS,
        rateLimit: RATE_LIMIT_PRESETS.enterprise,
        concurrency: 2,
        ...batching,
        seed,
        timeoutMs: Math.max(timeoutSeconds, 1_200) * 1000,
        write: (text) => write(text.replace(/^(?=.)/gm, '  ')),
        interactive: false,
        build: false,
        bundleUrl: bundles.worker,
        ...(jitter === undefined ? {} : { jitter: { ...jitter, seed } }),
      });
      if (!result.ok) crashed = true;
      sections.push(
        `### ${name}: enterprise limit (burst 50, 16/s), two producers of this worker, each with its own queue, policy and 2 concurrent invocations: crm with ${PRODUCERS_BULK_JOBS.toLocaleString('en')} profile updates queued at once, hr sending an offboarding a second until crm's backlog is gone${jitter === undefined ? '' : `, answers ${jitter.minMs} to ${jitter.maxMs} ms late`}`,
        '',
        '| producer | jobs sent | applied | refused by its policy | jobs per second | wait from send to applied: median | p90 | max |',
        '| --- | --- | --- | --- | --- | --- | --- | --- |',
        ...result.producers.map(
          (producer) =>
            `| ${producer.name} | ${producer.sent.toLocaleString('en')} | ${producer.applied.toLocaleString('en')} | ${Object.entries(producer.refused).map(([reason, n]) => `${reason} ${n}`).join(', ') || '0'} | ${producer.jobsPerSecond.toFixed(1)} | ${(producer.waitMs.median / 1000).toFixed(1)} s | ${(producer.waitMs.p90 / 1000).toFixed(1)} s | ${(producer.waitMs.max / 1000).toFixed(1)} s |`,
        ),
        '',
        `The tenant: ${(result.limitUsed * 100).toFixed(1)}% of the calls its rate limit admits (its burst, then 16/s) used while crm's backlog lasted, ${result.rateLimited} calls answered 429; ${result.ok ? 'every allowed job applied, every other one refused into its producer\'s dead-letter queue' : 'FAILED: see the run\'s output'}.`,
        '',
      );
    } catch (error) {
      crashed = true;
      const message = error instanceof Error ? error.message : String(error);
      write(`  ${name} · this worker: the run failed: ${message}\n`);
      sections.push(`### ${name}`, '', `The run failed: ${message}`, '');
    }
  }
  return sections;
}
if (runProducers && !handlers.includes('worker')) write(`${PRODUCERS_CONFIG}: left out (it runs this worker only: add worker to --only)\n`);
const producersSections = runProducers && handlers.includes('worker') ? await runProducersConfig() : [];

function batchingText(): string {
  if (batchSizeFlag === undefined && windowFlagMs === undefined) {
    return `batches as the construct deploys them (${DEFAULT_BATCH_SIZE} records with a ${DEFAULT_BATCHING_WINDOW_SECONDS} s batching window, 10 and none on the free plan)`;
  }
  const shown = [...new Set(configs.map((config) => JSON.stringify(batchingFor(config))))].map((text) => JSON.parse(text) as ReturnType<typeof batchingFor>);
  return `batches of ${shown.map(({ batchSize, batchingWindowMs }) => `${batchSize}${batchingWindowMs > 0 ? ` with a ${batchingWindowMs} ms batching window` : ''}`).join(' or ')}`;
}

const markdown = [
  `## Pacing benchmark (seed ${seed}, ${new Date().toISOString().slice(0, 10)}, Node ${process.version}; ${source})`,
  '',
  `Each run drains the same seeded backlog of valid jobs (user.update, roles.assign, roles.remove) on a fresh local stack, ${batchingText()} for this worker (10, no window, for the others), function timeout 30 s (visibility timeout 180 s), redrive after 5 receives; a run is cut short after ${timeoutSeconds} s. ` +
    "Handlers: this worker's bundle; the auth0 SDK's ManagementClient (default retries) inside Powertools' BatchProcessor with partial batch responses; " +
    'a naive handler (a token per invocation, plain fetch, records one after another, any error fails the whole batch). ' +
    'Wall time runs from starting the event source mapping until the queue holds no visible, in-flight or delayed message.',
  '',
  ...configs.flatMap((config) => [formatTable(config, results.get(config.name) ?? [], timeoutSeconds), '']),
  ...producersSections,
  '### Summary',
  '',
  ...configs.map((config) => formatSummary(config, results.get(config.name) ?? [], timeoutSeconds)),
  '',
].join('\n');
writeFileSync(`${work}/report.md`, markdown);
write(`\n${markdown}\n(also in ${work.slice(root.length)}/report.md)\n`);
process.exit(crashed ? 1 : 0);
