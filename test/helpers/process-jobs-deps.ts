import type { PlanJob } from '../../shared/jobs/apply-job.ts';
import { DEFAULT_ALLOWED_FIELDS } from '../../shared/jobs/schema.ts';
import { createLogger } from '../../shared/logger.ts';
import { createMetrics } from '../../shared/metrics.ts';
import type { ProcessJobsDeps } from '../../shared/queue/process-jobs.ts';
import type { QueueOps } from '../../shared/queue/sqs.ts';

/**
 * What the queue tests give processJobs: the default fields, any role, four records at once, no ordering ledger
 * unless given, a 5-minute issuedAt skew, a fixed random, 24 h and 5 receives; logs and metrics to `write`.
 */
export function createProcessJobsDeps(options: {
  readonly planJob: PlanJob;
  readonly queue: QueueOps;
  readonly now: () => number;
  readonly write: (line: string) => void;
  readonly level?: 'debug' | 'error';
  readonly overrides?: Partial<ProcessJobsDeps>;
}): ProcessJobsDeps {
  return {
    policy: { allowedFields: new Set(DEFAULT_ALLOWED_FIELDS), allowedRoles: undefined },
    concurrency: 4,
    planJob: options.planJob,
    ledger: undefined,
    issuedAtSkewMs: 300_000,
    queue: options.queue,
    logger: createLogger({ service: 'worker', level: options.level ?? 'debug', write: options.write }),
    metrics: createMetrics({ namespace: 'Test', service: 'worker', write: options.write }),
    now: options.now,
    random: () => 0.5,
    rules: { maxAgeMs: 86_400_000, maxReceiveCount: 5 },
    ...options.overrides,
  };
}
