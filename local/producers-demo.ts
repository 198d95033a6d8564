/**
 * Two producers on one tenant, end to end on the local stack: a bulk one (a CRM re-importing profiles, a
 * backlog of thousands) and an urgent one (HR offboarding people, a job a second), each with its own queue
 * and policy. Reports each producer's jobs per second, how long its jobs waited from send to applied, and
 * the jobs its policy refused; and how much of the tenant's rate limit the deployment used meanwhile.
 */
import { type Message, SendMessageBatchCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { managementAnswers } from './figures.ts';
import { type LocalStack, type QueueRef, queueDepth, readDeadLetters, startLocalStack } from './stack.ts';
import type { RateLimitSpec } from './tenant/rate-limit.ts';
import { createRandom, seedTenant } from './workload.ts';

/** Options of {@link runProducersDemo}. */
export interface ProducersDemoOptions {
  /** Profile updates on the bulk producer's queue before the worker starts. */
  readonly bulkJobs: number;
  /** Jobs the urgent producer sends per second while the bulk backlog lasts. */
  readonly urgentPerSecond: number;
  readonly users: number;
  readonly rateLimit: RateLimitSpec;
  /** Each producer's event source mapping's maximum concurrency. */
  readonly concurrency: number;
  readonly batchSize: number;
  readonly batchingWindowMs: number;
  readonly seed: number;
  readonly timeoutMs: number;
  readonly write: (text: string) => void;
  /** Redraw one progress line in place (a terminal) rather than print a line every few seconds. */
  readonly interactive: boolean;
  /** Stop once this many seconds of the backlog have passed, leaving the rest queued (the benchmark's window). */
  readonly measureSeconds?: number;
  /** Rebuild the worker bundle first. Default true. */
  readonly build?: boolean;
  /** `file:` URL of the worker bundle to run, when not the local stack's own (the benchmark's). */
  readonly bundleUrl?: string;
  /** Network time the tenant adds to every answer, seeded. */
  readonly jitter?: { readonly minMs: number; readonly maxMs: number; readonly seed: number };
}

/** What one producer's jobs did. */
export interface ProducerFigures {
  readonly name: string;
  readonly sent: number;
  readonly applied: number;
  /** Dead letters by reason: the jobs its policy refused. */
  readonly refused: Readonly<Record<string, number>>;
  readonly jobsPerSecond: number;
  /** Milliseconds from send to applied, of its applied jobs. */
  readonly waitMs: { readonly median: number; readonly p90: number; readonly max: number };
}

/** What the demo found; `ok` is false when a job was lost or an allowed job refused. */
export interface ProducersDemoResult {
  readonly ok: boolean;
  readonly producers: readonly ProducerFigures[];
  /** Management API calls the tenant admitted while the bulk backlog lasted, over what its rate limit admits in that time. */
  readonly limitUsed: number;
  readonly rateLimited: number;
  readonly wallMs: number;
}

/** The bulk producer may write profile data only; the urgent one may block users and remove any role. */
export const DEMO_PRODUCERS = [
  { name: 'crm', allowedFields: ['given_name', 'family_name', 'nickname', 'user_metadata'] },
  { name: 'hr', allowedFields: ['blocked'], allowedRoles: ['*'] },
] as const;
/** One job in this many asks for what its producer may not do, to show the refusals. */
const REFUSED_EVERY = 50;
const LOG_FILE = fileURLToPath(new URL('../dist/local/producers.log', import.meta.url));

/** Runs the two producers and prints the report. */
export async function runProducersDemo(options: ProducersDemoOptions): Promise<ProducersDemoResult> {
  const { write } = options;
  const wallStart = Date.now();
  write(`Starting the local stack (tenant rate limit: burst ${options.rateLimit.burst}, ${options.rateLimit.perSecond}/s) with two producers: crm (bulk profile updates) and hr (offboardings)…\n`);
  rmSync(LOG_FILE, { force: true });
  const stack = await startLocalStack({
    rateLimit: options.rateLimit,
    logFile: LOG_FILE,
    producers: DEMO_PRODUCERS.map((producer) => ({ ...producer, maxConcurrency: options.concurrency })),
    ...(options.jitter === undefined ? {} : { tenant: { jitter: options.jitter } }),
    build: options.build ?? true,
  });
  try {
    const random = createRandom(options.seed);
    const { users, roles } = seedTenant(stack.tenant.state, { users: options.users, roles: 3, random });
    const queueOf = (name: string): QueueRef => stack.producers.get(name)?.jobs as QueueRef;
    const pick = () => users[Math.floor(random() * users.length)]?.user_id ?? '';

    // The bulk backlog: profile updates, one in fifty a role grant the CRM may not make.
    const bulk = Array.from({ length: options.bulkJobs }, (_, n) =>
      n % REFUSED_EVERY === REFUSED_EVERY - 1
        ? { type: 'roles.assign', userId: pick(), roles: [roles[0]?.name], jobId: `crm-${n}` }
        : { type: 'user.update', userId: pick(), changes: { user_metadata: { crmScore: n }, nickname: `crm-${n}` }, jobId: `crm-${n}` },
    );
    const sentAt = new Map<string, number>();
    write(`Seeded ${users.length} users; enqueueing ${bulk.length} crm jobs…\n`);
    await sendAll(stack, queueOf('crm'), bulk, sentAt);

    const settled = new Map<string, number>();
    const worker = stack.startWorker({
      ...(options.bundleUrl === undefined ? {} : { bundleUrl: options.bundleUrl }),
      batchSize: options.batchSize,
      batchingWindowMs: options.batchingWindowMs,
      onOutput: (line) => {
        if (!line.includes('"jobId"') || line.includes('"_aws"')) return;
        const entry = JSON.parse(line) as { message?: string; jobId?: string };
        if (entry.jobId !== undefined && (entry.message === 'job applied' || entry.message === 'job superseded: a newer job already wrote what it writes' || entry.message === 'job dead-lettered')) {
          settled.set(entry.jobId, Date.now());
        }
      },
    });
    const processingStart = Date.now();

    // The urgent producer: an offboarding a second (block, then remove the role), one in fifty outside its policy.
    let urgentSent = 0;
    let bulkDrainedAt: number | undefined;
    /** Management API calls admitted by the time crm's backlog was gone. */
    let callsDuringBacklog = 0;
    let stopSending = false;
    const urgent = (async () => {
      while (!stopSending) {
        const n = urgentSent;
        const userId = users[(n * 7919) % users.length]?.user_id ?? '';
        const job =
          n % REFUSED_EVERY === REFUSED_EVERY - 1
            ? { type: 'user.update', userId, changes: { user_metadata: { leaver: true } }, jobId: `hr-${n}` }
            : n % 2 === 0
              ? { type: 'user.update', userId, changes: { blocked: true }, jobId: `hr-${n}` }
              : { type: 'roles.remove', userId, roles: [roles[1]?.name], jobId: `hr-${n}` };
        await stack.sqs.send(new SendMessageCommand({ QueueUrl: queueOf('hr').url, MessageBody: JSON.stringify(job) }));
        sentAt.set(job.jobId, Date.now());
        urgentSent += 1;
        await new Promise((resolve) => setTimeout(resolve, 1000 / options.urgentPerSecond));
      }
    })();

    let lastLine = 0;
    const progress = (final = false) => {
      const done = (prefix: string) => [...settled.keys()].filter((jobId) => jobId.startsWith(prefix)).length;
      const text = `crm ${done('crm-')}/${bulk.length}  hr ${done('hr-')}/${urgentSent}  ${((Date.now() - processingStart) / 1000).toFixed(0)} s`;
      if (options.interactive) write(`\r${text}${final ? '\n' : ''}`);
      else if (final || Date.now() - lastLine >= 5_000) {
        write(`${text}\n`);
        lastLine = Date.now();
      }
    };
    const crmQueue = { sqs: stack.sqs, jobs: queueOf('crm') };
    let quiet = 0;
    while (Date.now() - processingStart < options.timeoutMs) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      progress();
      if (options.measureSeconds !== undefined && Date.now() - processingStart >= options.measureSeconds * 1000) {
        bulkDrainedAt ??= Date.now();
        callsDuringBacklog = managementCalls(stack);
        break;
      }
      if (bulkDrainedAt === undefined && (await queueDepth(crmQueue)) === 0) {
        bulkDrainedAt = Date.now();
        callsDuringBacklog = managementCalls(stack);
      }
      if (bulkDrainedAt !== undefined) stopSending = true;
      quiet = stopSending && (await queueDepth(stack)) === 0 ? quiet + 1 : 0;
      if (quiet >= 3) break;
    }
    if (bulkDrainedAt === undefined) {
      bulkDrainedAt = Date.now();
      callsDuringBacklog = managementCalls(stack);
    }
    stopSending = true;
    await urgent;
    progress(true);
    await worker.stop();
    const backlogMs = (bulkDrainedAt ?? Date.now()) - processingStart;

    const figures: ProducerFigures[] = [];
    let allowedRefused = 0;
    for (const { name } of DEMO_PRODUCERS) {
      const letters = await readDeadLetters({ sqs: stack.sqs, dlq: stack.producers.get(name)?.dlq as QueueRef });
      const refused: Record<string, number> = {};
      for (const letter of letters) {
        const reason = letter.MessageAttributes?.['reason']?.StringValue ?? 'redriven after max receives';
        refused[reason] = (refused[reason] ?? 0) + 1;
        const jobId = letterJobId(letter);
        // Only the jobs sent outside the policy may be refused.
        if (Number(jobId.split('-')[1]) % REFUSED_EVERY !== REFUSED_EVERY - 1) allowedRefused += 1;
      }
      const mine = [...sentAt].filter(([jobId]) => jobId.startsWith(`${name}-`));
      const waits = mine.flatMap(([jobId, at]) => {
        const done = settled.get(jobId);
        return done === undefined || letters.some((letter) => letterJobId(letter) === jobId) ? [] : [done - at];
      });
      const applied = waits.length;
      const times = mine.map(([jobId]) => settled.get(jobId)).filter((at): at is number => at !== undefined);
      const span = times.length === 0 ? 0 : (Math.max(...times) - processingStart) / 1000;
      figures.push({ name, sent: mine.length, applied, refused, jobsPerSecond: span > 0 ? applied / span : 0, waitMs: { median: quantile(waits, 0.5), p90: quantile(waits, 0.9), max: Math.max(0, ...waits) } });
    }
    const stillQueued = await queueDepth(stack);
    const rateLimited = managementAnswers(stack.tenant.counters.requests)[429] ?? 0;
    // What the tenant could admit meanwhile: its burst, then its refill.
    const admissible = options.rateLimit.burst + (options.rateLimit.perSecond * backlogMs) / 1000;
    const limitUsed = callsDuringBacklog / admissible;
    const unsettled = [...sentAt.keys()].filter((jobId) => !settled.has(jobId)).length;
    const ok = allowedRefused === 0 && (options.measureSeconds !== undefined || (stillQueued === 0 && unsettled === 0));
    const wallMs = Date.now() - wallStart;

    const row = (figure: ProducerFigures) =>
      `  ${figure.name.padEnd(6)}${String(figure.sent).padStart(7)} sent${String(figure.applied).padStart(7)} applied  ${figure.jobsPerSecond.toFixed(2).padStart(6)} jobs/s   waited ${(figure.waitMs.median / 1000).toFixed(1)} s median, ${(figure.waitMs.p90 / 1000).toFixed(1)} s p90, ${(figure.waitMs.max / 1000).toFixed(1)} s max   refused by its policy: ${Object.entries(figure.refused).map(([reason, n]) => `${reason} ${n}`).join(', ') || 'none'}`;
    write(
      [
        '',
        `Report (crm: ${bulk.length} profile updates queued at once; hr: ${options.urgentPerSecond} offboarding a second while crm's backlog lasted; seed ${options.seed})`,
        ...figures.map(row),
        `  tenant         ${callsDuringBacklog} calls while crm's backlog lasted (${(backlogMs / 1000).toFixed(1)} s): ${(limitUsed * 100).toFixed(0)}% of the ${Math.floor(admissible)} its rate limit admits in that time (burst ${options.rateLimit.burst}, then ${options.rateLimit.perSecond}/s); ${rateLimited} calls answered 429`,
        `  still queued   ${stillQueued}${options.measureSeconds === undefined ? '' : ` (the run stopped after ${options.measureSeconds} s)`}`,
        `  wall time      ${(wallMs / 1000).toFixed(1)} s`,
        '',
        ok ? 'OK: every job its producer may send was applied; every other one was refused, in its producer\'s dead-letter queue.' : `FAILED: ${allowedRefused} allowed job(s) refused, ${unsettled} job(s) never settled, ${stillQueued} still queued.`,
        '',
      ].join('\n'),
    );
    return { ok, producers: figures, limitUsed, rateLimited, wallMs };
  } finally {
    await stack.stop();
  }
}

/** A dead letter's job id: its attribute, or for a job refused as it was parsed, its body's. */
function letterJobId(letter: Message): string {
  const attribute = letter.MessageAttributes?.['jobId']?.StringValue;
  if (attribute !== undefined) return attribute;
  try {
    return String((JSON.parse(letter.Body ?? '{}') as { jobId?: unknown }).jobId ?? '');
  } catch {
    return '';
  }
}

/** Sends `jobs` to `queue`, ten per call, noting when each was sent. */
async function sendAll(stack: LocalStack, queue: QueueRef, jobs: ReadonlyArray<{ readonly jobId: string }>, sentAt: Map<string, number>): Promise<void> {
  for (let start = 0; start < jobs.length; start += 10) {
    const chunk = jobs.slice(start, start + 10);
    const { Failed = [] } = await stack.sqs.send(new SendMessageBatchCommand({ QueueUrl: queue.url, Entries: chunk.map((job, index) => ({ Id: String(index), MessageBody: JSON.stringify(job) })) }));
    if (Failed.length > 0) throw new Error(`could not enqueue ${Failed.length} jobs: ${Failed[0]?.Message ?? ''}`);
    const at = Date.now();
    for (const job of chunk) sentAt.set(job.jobId, at);
  }
}

/** Management API calls the tenant admitted (answered other than 429). */
function managementCalls(stack: LocalStack): number {
  return Object.entries(managementAnswers(stack.tenant.counters.requests))
    .filter(([status]) => status !== '429')
    .reduce((sum, [, n]) => sum + n, 0);
}

function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}
