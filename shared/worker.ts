import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Dispatcher } from 'undici';
import { createAuth0Client } from './auth0/create-auth0-client.ts';
import { createBucketPacer } from './auth0/bucket-pacer.ts';
import type { Config } from './config.ts';
import { createJobPlanner } from './jobs/apply-job.ts';
import { DEFAULT_GROUP_LINGER_MS, createWriteGroups } from './jobs/write-groups.ts';
import { createDynamoLedger } from './ledger/dynamodb-ledger.ts';
import type { Ledger } from './ledger/ledger.ts';
import { type FunctionLogger, createLogger } from './logger.ts';
import { type Metrics, createMetrics } from './metrics.ts';
import type { ProcessJobsDeps, Producer } from './queue/process-jobs.ts';
import { type QueueOps, createSqsQueueOps } from './queue/sqs.ts';
import { type ReadCredentials, createSecretReader } from './secrets.ts';

/** Overrides for {@link createWorkerDeps}; production passes none. */
export interface WorkerOverrides {
  readonly dispatcher?: Dispatcher;
  readonly queue?: QueueOps;
  readonly readCredentials?: ReadCredentials;
  /** The ordering ledger; by default DynamoDB's, when the configuration names a table. */
  readonly ledger?: Ledger;
  readonly now?: () => number;
  readonly random?: () => number;
  /** How the pacer waits for the rate limit; a test clock's in tests. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly write?: (line: string) => void;
}

/**
 * Wires a container's worker: one keep-alive HTTP agent, one token source, one Management API client and
 * one set of AWS SDK clients, all living as long as the container.
 *
 * @example
 * const deps = createWorkerDeps(loadConfig(process.env)); // module scope of functions/worker.ts
 */
export function createWorkerDeps(config: Config, overrides: WorkerOverrides = {}): ProcessJobsDeps & { readonly logger: FunctionLogger; readonly metrics: Metrics } {
  const now = overrides.now ?? Date.now;
  const logger = createLogger({ service: 'worker', level: config.logLevel, ...(overrides.write ? { write: overrides.write } : {}) });
  const metrics = createMetrics({ namespace: config.metricsNamespace, service: 'worker', ...(overrides.write ? { write: overrides.write } : {}) });
  const random = overrides.random ?? Math.random;
  // With producers, the container's part of the refill follows the producer of its invocation: producers with
  // work split it by their shares, each producer's part evenly between its containers.
  let evenShare: number | undefined;
  const shares = [...(config.producers?.values() ?? [])].reduce((sum, producer) => sum + producer.share, 0);
  const onProducer = (producer: Producer | undefined) => {
    evenShare = producer === undefined || shares <= 0 ? undefined : (producer.share ?? 1) / shares / (producer.maxConcurrency ?? config.rateLimit.containers);
  };
  const pacer = createBucketPacer({ ...config.rateLimit, evenShare: () => evenShare ?? 1 / config.rateLimit.containers, now, random, ...(overrides.sleep === undefined ? {} : { sleep: overrides.sleep }) });
  const readCredentials = overrides.readCredentials ?? createSecretReader(new SecretsManagerClient({}), config.auth0.secretId);
  const client = createAuth0Client({
    origin: config.auth0.origin,
    audience: config.auth0.audience,
    readCredentials,
    httpTimeoutMs: config.httpTimeoutMs,
    now,
    logger,
    connections: config.jobConcurrency + 2,
    ...(overrides.dispatcher === undefined ? {} : { dispatcher: overrides.dispatcher }),
    pacer,
    onTokenFetched: () => metrics.add('TokensFetched'),
    onRateLimited: () => metrics.add('RateLimited'),
    onPaced: (waitedMs) => {
      metrics.add('CallsPaced');
      metrics.add('PacedWaitMs', Math.round(waitedMs));
    },
  });
  // Requests go to the configured endpoint (AWS_ENDPOINT_URL_SQS locally), not to the host in a queue URL.
  const queue = overrides.queue ?? createSqsQueueOps(new SQSClient({ useQueueUrlAsEndpoint: false }), config.dlqUrl);
  return {
    policy: config.policy,
    ...(config.producers === undefined ? {} : { producers: config.producers, onProducer }),
    rules: config.retry,
    concurrency: config.jobConcurrency,
    ledger:
      overrides.ledger ??
      (config.ledger === undefined
        ? undefined
        : // The SDK's own retries are kept short: a ledger that does not answer sends the job back to the queue.
          createDynamoLedger(new DynamoDBClient({ maxAttempts: 2 }), { ...config.ledger, now })),
    issuedAtSkewMs: config.issuedAtSkewMs,
    // A job's writes take a few calls, each bounded by HTTP_TIMEOUT_MS: its claim on the user outlasts them.
    leaseMs: Math.min(120_000, Math.max(10_000, 4 * config.httpTimeoutMs)),
    ...(config.groupMaxItems > 1
      ? {
          writeGroups: (park) =>
            createWriteGroups({
              client,
              maxItems: config.groupMaxItems,
              lingerMs: DEFAULT_GROUP_LINGER_MS,
              park,
              onCall: (_target, users) => {
                metrics.add('GroupedCalls');
                metrics.add('GroupedUsers', users);
              },
            }),
        }
      : {}),
    planJob: createJobPlanner({ client, allowedRoles: config.policy.allowedRoles, ...(config.policy.allowedOrganizations === undefined ? {} : { allowedOrganizations: config.policy.allowedOrganizations }), logger, now }),
    queue,
    logger,
    metrics,
    now,
    random,
  };
}
