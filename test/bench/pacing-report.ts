/**
 * The pure half of the pacing benchmark (test/bench/pacing.ts): turns what one run left behind (tenant
 * counters, mapping stats, the end state) into its figures, and the figures into Markdown.
 */
import type { EventSourceMappingStats } from '../../local/event-source-mapping.ts';
import { type BucketFigures, type PacingFigures, bucketFigures, computePacingFigures, managementAnswers, subtractCounts } from '../../local/figures.ts';
import type { InteractiveCallerCounts } from '../../local/interactive-caller.ts';
import type { BucketCount, RateLimitSpec } from '../../local/tenant/rate-limit.ts';
import type { Auth0Plan } from '../../shared/auth0/plans.ts';
import type { TenantCounters } from '../../local/tenant/tenant.ts';

/** The handlers the benchmark compares, with the names its tables use. */
export const HANDLER_LABELS = {
  worker: 'this worker',
  sdk: 'auth0 SDK + Powertools batch',
  naive: 'naive handler',
} as const;
export type HandlerName = keyof typeof HANDLER_LABELS;

/** One configuration: a rate limit, a concurrency, a backlog, and whether another application calls meanwhile. */
export interface BenchConfig {
  readonly name: string;
  readonly plan: string;
  /** One bucket for every call; ignored when `tenantPlan` is set. */
  readonly rateLimit: RateLimitSpec;
  /** The tenant has this plan's layered buckets, and the worker is told the plan. */
  readonly tenantPlan?: Auth0Plan;
  /** Share of the jobs that are organization jobs (of every type); default none. */
  readonly organizationShare?: number;
  /** Jobs: `mixed` (user updates and role jobs, the default), or only `roles.assign` / `org.members.add` ones. */
  readonly workload?: 'mixed' | 'roles-assign' | 'org-members-add';
  /** Network time the tenant adds to every answer, seeded (`--jitter`). */
  readonly jitter?: { readonly minMs: number; readonly maxMs: number };
  /** Handlers that cannot run this configuration's jobs, left out (the peers know no organization jobs). */
  readonly workerOnly?: boolean;
  readonly concurrency: number;
  readonly jobs: number;
  readonly interactive: boolean;
}

/** How jobs ended up: not applied, dead-lettered, left on the queue, or applied wrongly. */
export interface LostJobs {
  /**
   * Jobs counted as lost or wrong: not applied or dead-lettered, plus state differences no such job
   * explains. For a run cut short, jobs not applied may still be on the queue, so only dead-lettered jobs
   * and unexplained differences count (lost so far).
   */
  readonly total: number;
  readonly notApplied: number;
  readonly deadLettered: number;
  /** Messages still on the jobs queue when the run ended. */
  readonly stillQueued: number;
  /** Users whose end state differs although every job addressing them was applied and not dead-lettered. */
  readonly wrong: number;
}

/** A run that completed (finished draining or hit the timeout), with its figures. */
export interface MeasuredRun {
  readonly kind: 'measured';
  readonly config: BenchConfig;
  readonly handler: HandlerName;
  readonly jobs: number;
  readonly finished: boolean;
  readonly wallMs: number | undefined;
  readonly applied: number;
  readonly figures: PacingFigures;
  /** Tokens minted for the handler (the interactive caller's left out). */
  readonly tokensMinted: number;
  readonly lost: LostJobs;
  readonly failedBatches: number;
  readonly coldStarts: number;
  readonly caller: { readonly calls: number; readonly rateLimited: number } | undefined;
  /** Per bucket of a plan's tenant: calls, 429s and the bucket's floor (its admitted calls beyond the burst over its refill). */
  readonly buckets: readonly BucketFigures[];
}



/** A run that crashed before it could be measured. */
export interface FailedRun {
  readonly kind: 'failed';
  readonly config: BenchConfig;
  readonly handler: HandlerName;
  readonly error: string;
}

export type BenchRun = MeasuredRun | FailedRun;

/** What {@link measureRun} needs from one run. */
export interface RunRecord {
  readonly config: BenchConfig;
  readonly handler: HandlerName;
  /** Every job with the user it addresses and whether the tenant shows its change. */
  readonly jobs: ReadonlyArray<{ readonly jobId: string; readonly userId: string | undefined; readonly applied: boolean }>;
  /** Job ids found in the dead-letter queue. */
  readonly deadLettered: ReadonlySet<string>;
  readonly stillQueued: number;
  /** `compareState` lines, `"{userId}: …"`. */
  readonly differences: readonly string[];
  /** Undefined when the run hit its timeout. */
  readonly wallMs: number | undefined;
  /** Jobs the mapping delivered at least once. */
  readonly jobsDelivered: number;
  readonly tenant: Pick<TenantCounters, 'tokensIssued' | 'requests'>;
  readonly mapping: Pick<EventSourceMappingStats, 'invocations' | 'recordsReceived' | 'failedBatches' | 'coldStarts'>;
  readonly caller: (InteractiveCallerCounts & { readonly callsPerSecond: number }) | undefined;
  /** The tenant's calls and 429s per bucket (`Tenant.bucketCounts()`), for a configuration with a plan. */
  readonly buckets?: Readonly<Record<string, BucketCount>>;
}



/** Computes a run's figures; the interactive caller's own calls and tokens are subtracted from the tenant's. */
export function measureRun(record: RunRecord): MeasuredRun {
  const answers = subtractCounts(managementAnswers(record.tenant.requests), record.caller?.byStatus ?? {});
  const single = computePacingFigures({
    jobs: record.jobs.length,
    recordsDelivered: record.mapping.recordsReceived,
    jobsDelivered: record.jobsDelivered,
    invocations: record.mapping.invocations,
    answers,
    rateLimit: record.config.rateLimit,
    otherCallsPerSecond: record.caller?.callsPerSecond ?? 0,
    wallMs: record.wallMs,
  });
  // On a plan's tenant the floor is the binding bucket's.
  const buckets = record.config.tenantPlan === undefined || record.buckets === undefined ? [] : bucketFigures(record.config.tenantPlan, record.buckets);
  const binding = buckets[0]?.floorSeconds;
  const figures: PacingFigures =
    binding === undefined
      ? single
      : { ...single, floorSeconds: binding, wallOverFloor: record.wallMs === undefined || binding <= 0 ? undefined : record.wallMs / 1000 / binding };
  const bad = record.jobs.filter((job) => !job.applied || record.deadLettered.has(job.jobId));
  const explained = new Set(bad.map((job) => job.userId));
  const wrong = new Set(record.differences.map((line) => line.slice(0, line.lastIndexOf(': '))).filter((userId) => !explained.has(userId))).size;
  return {
    kind: 'measured',
    config: record.config,
    handler: record.handler,
    jobs: record.jobs.length,
    finished: record.wallMs !== undefined,
    wallMs: record.wallMs,
    applied: record.jobs.filter((job) => job.applied).length,
    figures,
    tokensMinted: record.tenant.tokensIssued - (record.caller?.tokensMinted ?? 0),
    lost: {
      total: record.wallMs === undefined ? record.jobs.filter((job) => record.deadLettered.has(job.jobId)).length + wrong : bad.length + wrong,
      notApplied: record.jobs.filter((job) => !job.applied).length,
      deadLettered: record.jobs.filter((job) => record.deadLettered.has(job.jobId)).length,
      stillQueued: record.stillQueued,
      wrong,
    },
    failedBatches: record.mapping.failedBatches,
    coldStarts: record.mapping.coldStarts,
    caller: record.caller === undefined ? undefined : { calls: record.caller.calls, rateLimited: record.caller.rateLimited },
    buckets,
  };
}

const integer = (n: number) => n.toLocaleString('en-US');
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const share = (part: number, whole: number) => `${whole === 0 ? '0' : ((part / whole) * 100).toFixed(1)}%`;

const COLUMNS = [
  'handler',
  'wall time',
  'wall / floor',
  'Management API calls',
  '429s',
  'requeues per job',
  'invocations per job',
  'tokens minted',
  'jobs lost or applied wrongly',
  "interactive caller's 429s",
  'jobs per second',
  'calls per job',
  'per bucket: calls, 429s, floor',
];

/** The cells of one run's row. */
export function formatRow(run: BenchRun, timeoutSeconds: number): string[] {
  const label = HANDLER_LABELS[run.handler];
  if (run.kind === 'failed') return [label, `run failed: ${run.error.replaceAll('|', '/')}`, ...COLUMNS.slice(2).map(() => '–')];
  const { figures, lost } = run;
  const floor = Number.isFinite(figures.floorSeconds) ? `floor ${figures.floorSeconds.toFixed(1)} s` : 'no floor';
  const lostParts = [
    lost.notApplied > 0 ? `${integer(lost.notApplied)} not applied${run.finished ? '' : ' yet'}` : '',
    lost.deadLettered > 0 ? `${integer(lost.deadLettered)} dead-lettered` : '',
    lost.stillQueued > 0 ? `${integer(lost.stillQueued)} messages still queued` : '',
    lost.wrong > 0 ? `${integer(lost.wrong)} users in a wrong state` : '',
  ].filter((part) => part !== '');
  return [
    label,
    run.finished && run.wallMs !== undefined ? seconds(run.wallMs) : `did not finish in ${timeoutSeconds} s (${integer(run.applied)} of ${integer(run.jobs)} applied)`,
    figures.wallOverFloor === undefined ? `n/a (${floor})` : `${figures.wallOverFloor.toFixed(2)} (${floor})`,
    integer(figures.calls),
    `${integer(figures.rateLimited)} (${share(figures.rateLimited, figures.calls)})`,
    figures.requeuesPerJob.toFixed(2),
    figures.invocationsPerJob.toFixed(2),
    integer(run.tokensMinted),
    lostParts.length === 0 ? '0' : `${integer(lost.total)}${run.finished ? '' : ' so far'} (${lostParts.join(', ')})`,
    run.caller === undefined ? '–' : `${integer(run.caller.rateLimited)} of ${integer(run.caller.calls)} (${share(run.caller.rateLimited, run.caller.calls)})`,
    run.finished && run.wallMs !== undefined && run.wallMs > 0 ? (run.applied / (run.wallMs / 1000)).toFixed(1) : '–',
    run.jobs === 0 ? '–' : (figures.calls / run.jobs).toFixed(2),
    run.buckets.length === 0
      ? '–'
      : run.buckets.map((bucket) => `${bucket.bucket} ${integer(bucket.calls)}, ${integer(bucket.rateLimited)} (${share(bucket.rateLimited, bucket.calls)}), ${bucket.floorSeconds.toFixed(1)} s`).join('; '),
  ];
}

/** One configuration's Markdown table, with its heading. */
export function formatTable(config: BenchConfig, runs: readonly BenchRun[], timeoutSeconds: number): string {
  const { burst, perSecond } = config.rateLimit;
  const jobs = `${integer(config.jobs)} ${config.workload === undefined || config.workload === 'mixed' ? '' : `${config.workload.replace('-', '.').replace('-', '.')} `}jobs${config.organizationShare === undefined ? '' : `, about ${Math.round(config.organizationShare * 100)}% of them organization jobs`}`;
  const limits = config.tenantPlan === undefined ? `${config.plan} limit (burst ${burst}, ${perSecond}/s)` : `${config.tenantPlan} plan's buckets (API-wide where it has one, then each endpoint group's)`;
  const jitter = config.jitter === undefined ? '' : `, answers ${config.jitter.minMs} to ${config.jitter.maxMs} ms late`;
  const heading = `### ${config.name}: ${limits}, ${config.concurrency} concurrent invocations, ${jobs}${config.interactive ? ', an interactive caller at 2 calls/s' : ''}${jitter}`;
  const others = config.interactive ? ' − 2' : '';
  const floor =
    config.tenantPlan === undefined
      ? `Floor = max(0, the handler's non-429 calls − ${burst}) / (${perSecond}${others}) s.`
      : "Floor = the longest of each bucket's max(0, its non-429 calls − its burst) / its refill: the bucket that binds.";
  const note = `${floor} Requeues per job = (records delivered − jobs) / jobs (for a run cut short, jobs delivered at least once instead of jobs).`;
  const row = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [heading, '', row(COLUMNS), row(COLUMNS.map(() => '---')), ...runs.map((run) => row(formatRow(run, timeoutSeconds))), '', note].join('\n');
}

/** One line comparing the worker with the peers in one configuration. */
export function formatSummary(config: BenchConfig, runs: readonly BenchRun[], timeoutSeconds: number): string {
  const measured = runs.filter((run): run is MeasuredRun => run.kind === 'measured');
  const worker = measured.find((run) => run.handler === 'worker');
  const describe = (run: MeasuredRun) => {
    const time = run.finished && run.wallMs !== undefined ? `${seconds(run.wallMs)}${run.figures.wallOverFloor === undefined ? '' : ` (${run.figures.wallOverFloor.toFixed(2)}× the floor)`}` : `did not finish in ${timeoutSeconds} s (${integer(run.applied)} of ${integer(run.jobs)} applied)`;
    const caller = run.caller === undefined ? '' : `, the interactive caller got ${integer(run.caller.rateLimited)} 429s`;
    return `${time}, ${integer(run.figures.rateLimited)} 429s, ${run.figures.requeuesPerJob.toFixed(2)} requeues per job, ${integer(run.lost.total)} jobs lost or wrong${run.finished ? '' : ' so far'}${caller}`;
  };
  const head = `- **${config.name}**: `;
  if (worker === undefined) {
    return `${head}the worker was not run${measured.length > 0 ? `; ${measured.map((run) => `${HANDLER_LABELS[run.handler]}: ${describe(run)}`).join('; ')}` : ''}.`;
  }
  const peers = measured.filter((run) => run.handler !== 'worker').map((peer) => {
    let versus: string;
    if (peer.finished && worker.finished && peer.wallMs !== undefined && worker.wallMs !== undefined) versus = `took ${(peer.wallMs / worker.wallMs).toFixed(1)}× the worker's time`;
    else if (!peer.finished && worker.finished) versus = 'did not finish where the worker did';
    else if (peer.finished && !worker.finished) versus = 'finished where the worker did not';
    else versus = 'did not finish either';
    return `${HANDLER_LABELS[peer.handler]} ${versus}: ${describe(peer)}`;
  });
  return `${head}this worker: ${describe(worker)}${peers.length > 0 ? `. Against it, ${peers.join('; ')}` : ''}.`;
}
