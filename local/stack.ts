/**
 * The embedded local stack: the Auth0 tenant emulator, fauxqs for SQS (jobs queue and its dead-letter
 * queue, redrive after 5 receives), the local Secrets Manager holding the client secret, dynalite for the
 * ordering ledger's DynamoDB table, and the worker
 * bundle run by the local event source mapping. Everything listens on loopback, on ports the OS picks.
 */
import { CreateQueueCommand, DeleteMessageBatchCommand, GetQueueAttributesCommand, type Message, ReceiveMessageCommand, SQSClient, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { type FauxqsServer, startFauxqs } from 'fauxqs';
import { startSqsSenders } from './sqs-senders.ts';
import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bundleFunction } from '../infra/build.ts';
import { DEFAULT_ALLOWED_FIELDS } from '../shared/jobs/schema.ts';
import { producerIdPrefix } from '../shared/config.ts';
import { type EventSourceMapping, type EventSourceMappingOptions, startEventSourceMapping } from './event-source-mapping.ts';
import { type LocalControlPlane, startControlPlane } from './control-plane.ts';
import { type LocalDynamoDb, startLocalDynamoDb } from './dynamodb.ts';
import { type LocalSecretsManager, startSecretsManager } from './secrets-manager.ts';
import type { Auth0Plan } from '../shared/auth0/plans.ts';
import { type Tenant, type TenantOptions, startTenant } from './tenant/tenant.ts';

/** The scopes the worker's application is granted on the local tenant. */
export const WORKER_SCOPES = [
  'read:users', 'update:users', 'read:roles', 'create:role_members', 'delete:role_members',
  'read:organizations', 'read:organization_members', 'read:organization_member_roles', 'create:organization_members', 'delete:organization_members', 'create:organization_member_roles', 'delete:organization_member_roles',
];

/** Options of {@link startLocalStack}. */
export interface LocalStackOptions {
  /** Management API bucket of the tenant. Default: the free plan (burst 2, 2/s). */
  readonly rateLimit?: TenantOptions['rateLimit'];
  /**
   * An Auth0 plan's layered buckets for the tenant instead (wins over `rateLimit`), and the worker told the
   * plan (`AUTH0_PLAN`), as a deployment with `auth0Plan` is.
   */
  readonly plan?: Auth0Plan;
  readonly fifo?: boolean;
  /**
   * Receives before SQS moves a job to the dead-letter queue. Default 5 on a standard queue, 100 on FIFO:
   * a FIFO job spends a receive on every 429 (it cannot be resent without breaking its group's order).
   */
  readonly maxReceiveCount?: number;
  /** Function timeout, in milliseconds; the queue's visibility timeout is six times it. Default 30 s. */
  readonly timeoutMs?: number;
  /** Rebuild the bundle even if `dist/worker/index.mjs` exists. Default true. */
  readonly build?: boolean;
  readonly tenant?: Omit<TenantOptions, 'rateLimit' | 'clients'>;
  /** A file every line the functions write (logs and metrics) is appended to, as CloudWatch Logs keeps them. */
  readonly logFile?: string;
  /**
   * The deployment's producers, as the construct's `producers` prop declares them: each gets its own queue and
   * dead-letter queue (`jobs-{name}`, `jobs-{name}-dlq`) and its own event source mapping, and the worker
   * checks each job against the policy of the queue it came from. Without it, one queue and the local policy.
   */
  readonly producers?: readonly LocalProducer[];
}

/** A producer of the local deployment (see the construct's `ProducerProps`). */
export interface LocalProducer {
  readonly name: string;
  readonly allowedFields?: readonly string[];
  readonly allowedRoles?: readonly string[];
  readonly allowedOrganizations?: readonly string[];
  /** Its weight in the split of the tenant's rate limit. Default 1. */
  readonly share?: number;
  /** Concurrent invocations for its queue. Default: `startWorker`'s `maxConcurrency` (2). */
  readonly maxConcurrency?: number;
}

/** A queue's URL and ARN. */
export interface QueueRef {
  readonly url: string;
  readonly arn: string;
}

/** A running local stack. */
export interface LocalStack {
  readonly tenant: Tenant;
  readonly fauxqs: FauxqsServer;
  readonly secrets: LocalSecretsManager;
  /** DynamoDB, holding the ordering ledger's table. */
  readonly dynamodb: LocalDynamoDb;
  /** CloudFormation and Lambda's read calls about this deployment, as `--stack` reads them. */
  readonly controlPlane: LocalControlPlane;
  /** The deployment's stack name in the control plane (its outputs name the queues and the worker). */
  readonly stackName: string;
  /** An SQS client for the local endpoint, as a producer would use it. */
  readonly sqs: SQSClient;
  /** The jobs queue; with producers, the first producer's. */
  readonly jobs: QueueRef;
  /** The dead-letter queue; with producers, the first producer's. */
  readonly dlq: QueueRef;
  /** Each producer's queues, by name; empty without {@link LocalStackOptions.producers}. */
  readonly producers: ReadonlyMap<string, { readonly jobs: QueueRef; readonly dlq: QueueRef }>;
  readonly client: {
    readonly clientId: string;
    readonly secretName: string;
    /** Every client secret the stack has stored, for tests that check no log holds one. Never print them. */
    readonly secretsIssued: readonly string[];
  };
  readonly bundleUrl: string;
  /** Where the functions' lines go, when {@link LocalStackOptions.logFile} names a file. */
  readonly logFile: string | undefined;
  /** Appends a line to the log file (the local sync's lines go there too); does nothing without one. */
  writeLog(line: string): void;
  /** The worker's environment, exactly as a deployment sets it, pointed at the local endpoints. */
  readonly workerEnv: Record<string, string>;
  /** Starts the local event source mapping for the jobs queue (with producers, one per producer's queue, as one). */
  startWorker(options?: Partial<Omit<EventSourceMappingOptions, 'sqs' | 'queueUrl' | 'queueArn'>>): EventSourceMapping;
  /** Replaces the client secret in Secrets Manager and on the tenant, keeping the old one valid until `revokeOld` runs. */
  rotateSecret(): { newSecret: string; revokeOld: () => void };
  stop(): Promise<void>;
}

const REGION = 'us-east-1';
/** What the local deployment lets jobs write: the default fields, and app_metadata for the demo and the sync. */
const LOCAL_ALLOWED_FIELDS = [...DEFAULT_ALLOWED_FIELDS, 'app_metadata'];
const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
/** The worker's own key, and the id of the role it stands for (`AROA…`, as IAM gives a role). */
const WORKER_CREDENTIALS = { accessKeyId: 'LOCALWORKERKEY', secretAccessKey: 'local' };
const WORKER_ROLE_ID = 'AROALOCALWORKERROLE00';
const BUNDLE = new URL('../dist/worker/index.mjs', import.meta.url);

/**
 * Boots the whole local stack.
 *
 * @example
 * const stack = await startLocalStack({ rateLimit: 'free' });
 * const worker = stack.startWorker({ maxConcurrency: 2 });
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  if (options.build !== false || !existsSync(BUNDLE)) await bundleFunction('worker');
  const bundleUrl = pathToFileURL(BUNDLE.pathname).href;

  const clientId = 'local-worker';
  let clientSecret = randomSecret();
  const secretsIssued = [clientSecret];
  const secretName = 'auth0-queue-worker/m2m';
  const [tenant, fauxqs, secrets, controlPlane, dynamodb] = await Promise.all([
    startTenant({ ...options.tenant, rateLimit: options.rateLimit ?? 'free', ...(options.plan === undefined ? {} : { plan: options.plan }), clients: [{ clientId, clientSecret, scopes: WORKER_SCOPES }] }),
    startFauxqs({ port: 0, logger: false, defaultRegion: REGION }),
    startSecretsManager({ port: 0, region: REGION }),
    startControlPlane({ region: REGION }),
    startLocalDynamoDb({ region: REGION }),
  ]);
  secrets.putSecret(secretName, JSON.stringify({ clientId, clientSecret }));
  // SQS through a relay that knows who sent each message, as SQS's SenderId does: the worker signs with its
  // own key, and its resends carry its role's id, which is all it trusts its retry state on.
  const senders = await startSqsSenders(fauxqs.address, { [WORKER_CREDENTIALS.accessKeyId]: `${WORKER_ROLE_ID}:worker` });

  const sqs = new SQSClient({ region: REGION, credentials: CREDENTIALS, endpoint: senders.endpoint, useQueueUrlAsEndpoint: false });
  const suffix = options.fifo ? '.fifo' : '';
  // As the construct deploys it: no content-based deduplication, every send names its deduplication id.
  const fifoAttributes: Record<string, string> = options.fifo ? { FifoQueue: 'true' } : {};
  const createQueue = async (name: string, attributes: Record<string, string>): Promise<QueueRef> => {
    const { QueueUrl = '' } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: { ...fifoAttributes, ...attributes } }));
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
    return { url: QueueUrl, arn: Attributes?.QueueArn ?? '' };
  };
  const maxReceiveCount = options.maxReceiveCount ?? (options.fifo ? 100 : 5);
  const createQueues = async (name: string) => {
    const dlq = await createQueue(`${name}-dlq${suffix}`, { MessageRetentionPeriod: String(14 * 24 * 3600) });
    const jobs = await createQueue(`${name}${suffix}`, {
      VisibilityTimeout: String(Math.ceil((6 * timeoutMs) / 1000)),
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount }),
    });
    return { jobs, dlq };
  };
  const producers = new Map<string, { jobs: QueueRef; dlq: QueueRef }>();
  for (const producer of options.producers ?? []) {
    if (producers.has(producer.name)) throw new Error(`producer ${producer.name} is declared twice`);
    producers.set(producer.name, await createQueues(`jobs-${producer.name}`));
  }
  const [first] = producers.values();
  const { jobs, dlq } = first ?? (await createQueues('jobs'));
  // As the construct writes PRODUCERS: each producer's queue, dead-letter queue and policy.
  const producersVariable =
    options.producers === undefined
      ? undefined
      : JSON.stringify(
          options.producers.map((producer) => ({
            name: producer.name,
            queueArn: producers.get(producer.name)?.jobs.arn,
            dlqUrl: producers.get(producer.name)?.dlq.url,
            ...(producer.allowedFields === undefined ? {} : { allowedFields: producer.allowedFields }),
            ...(producer.allowedRoles === undefined ? {} : { allowedRoles: producer.allowedRoles }),
            ...(producer.allowedOrganizations === undefined ? {} : { allowedOrganizations: producer.allowedOrganizations }),
            ...(producer.share === undefined ? {} : { share: producer.share }),
            maxReceiveCount,
            ...(producer.maxConcurrency === undefined ? {} : { maxConcurrency: producer.maxConcurrency }),
          })),
        );

  const workerEnv: Record<string, string> = {
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: WORKER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: WORKER_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_SQS: senders.endpoint,
    WORKER_ROLE_ID,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamodb.endpoint,
    LEDGER_TABLE: dynamodb.ledgerTable,
    AUTH0_DOMAIN: tenant.origin,
    AUTH0_SECRET_ID: secretName,
    MAX_RECEIVE_COUNT: String(maxReceiveCount),
    // The local deployment allows what the demo workload and the sync write, as a deployment must say explicitly.
    ...(producersVariable === undefined
      ? { DLQ_URL: dlq.url, ALLOWED_FIELDS: LOCAL_ALLOWED_FIELDS.join(','), ALLOWED_ROLES: '*', ALLOWED_ORGANIZATIONS: '*' }
      : { PRODUCERS: producersVariable }),
    LOG_LEVEL: 'info',
    ...(options.plan === undefined ? {} : { AUTH0_PLAN: options.plan }),
  };

  // Registered as `cdk deploy` would leave them: the stack's outputs, the worker function and its event source mapping.
  const stackName = 'Auth0QueueWorker';
  const functionName = 'worker';
  // As the construct names its outputs: its path in the stack, then the output's name.
  const output = (name: string, value: string) => ({ key: `Auth0Jobs${name}`, value });
  controlPlane.stacks.set(stackName, {
    name: stackName,
    outputs: [
      // With producers, each producer's queues under its own keys, as the construct names them.
      ...(producers.size === 0
        ? [output('JobsQueueUrl', jobs.url), output('JobsQueueArn', jobs.arn), output('DeadLetterQueueUrl', dlq.url)]
        : [...producers].flatMap(([name, queues]) => {
            const prefix = producerIdPrefix(name);
            return [output(`${prefix}JobsQueueUrl`, queues.jobs.url), output(`${prefix}JobsQueueArn`, queues.jobs.arn), output(`${prefix}DeadLetterQueueUrl`, queues.dlq.url)];
          })),
      output('WorkerFunctionName', functionName),
      output('LedgerTableName', dynamodb.ledgerTable),
    ],
  });
  const deployedFunction = { name: functionName, timeoutSeconds: Math.ceil(timeoutMs / 1000), memorySize: 512, environment: { ...workerEnv, MAX_CONCURRENCY: '2' } };
  controlPlane.functions.set(functionName, deployedFunction);
  const deployedMappings = (producers.size === 0 ? [jobs] : [...producers.values()].map((queues) => queues.jobs)).map((queue) => ({
    uuid: randomUUID(),
    functionName,
    eventSourceArn: queue.arn,
    batchSize: 10,
    maximumConcurrency: 2,
    reportBatchItemFailures: true,
    state: 'Enabled' as const,
  }));
  controlPlane.mappings.push(...deployedMappings);

  const { logFile } = options;
  if (logFile !== undefined) mkdirSync(dirname(logFile), { recursive: true });
  const writeLog = (line: string) => {
    if (logFile !== undefined) appendFileSync(logFile, `${line}\n`);
  };
  const mappings = new Set<EventSourceMapping>();
  return {
    tenant,
    fauxqs,
    secrets,
    dynamodb,
    sqs,
    jobs,
    dlq,
    producers,
    controlPlane,
    stackName,
    client: { clientId, secretName, secretsIssued },
    bundleUrl,
    logFile,
    writeLog,
    workerEnv,
    startWorker(overrides = {}) {
      // One mapping per producer's queue (each with its own maximum concurrency), or one for the jobs queue.
      const queues =
        options.producers === undefined
          ? [{ queue: jobs, maxConcurrency: overrides.maxConcurrency ?? 2 }]
          : options.producers.map((producer) => ({ queue: (producers.get(producer.name) as { jobs: QueueRef }).jobs, maxConcurrency: producer.maxConcurrency ?? overrides.maxConcurrency ?? 2 }));
      // As a deployment does: the worker paces itself knowing how many containers may share the tenant's bucket.
      const containers = queues.reduce((sum, entry) => sum + entry.maxConcurrency, 0);
      const env = { ...workerEnv, MAX_CONCURRENCY: String(containers), ...overrides.env };
      deployedFunction.environment = env;
      for (const [index, deployedMapping] of deployedMappings.entries()) {
        deployedMapping.maximumConcurrency = queues[index]?.maxConcurrency ?? 2;
        deployedMapping.batchSize = overrides.batchSize ?? 10;
        deployedMapping.reportBatchItemFailures = overrides.reportBatchItemFailures ?? true;
      }
      const started = queues.map(({ queue, maxConcurrency }) =>
        startEventSourceMapping({
          sqs,
          senderOf: senders.senderOf,
          queueUrl: queue.url,
          queueArn: queue.arn,
          bundleUrl,
          timeoutMs,
          ...overrides,
          maxConcurrency,
          onOutput: (line) => {
            writeLog(line);
            overrides.onOutput?.(line);
          },
          functionName,
          env,
        }),
      );
      const mapping = started.length === 1 ? (started[0] as EventSourceMapping) : combineMappings(started);
      mappings.add(mapping);
      return mapping;
    },
    rotateSecret() {
      const old = clientSecret;
      clientSecret = randomSecret();
      secretsIssued.push(clientSecret);
      tenant.clients.get(clientId)?.secrets.add(clientSecret);
      secrets.putSecret(secretName, JSON.stringify({ clientId, clientSecret }));
      return { newSecret: clientSecret, revokeOld: () => tenant.clients.get(clientId)?.secrets.delete(old) };
    },
    async stop() {
      await Promise.all([...mappings].map((mapping) => mapping.stop()));
      sqs.destroy();
      await Promise.all([tenant.stop(), senders.stop().then(() => fauxqs.stop()), secrets.stop(), controlPlane.stop(), dynamodb.stop()]);
    },
  };
}

/** Several mappings of one function (one per producer's queue) seen as one: their stats summed. */
function combineMappings(mappings: readonly EventSourceMapping[]): EventSourceMapping {
  const sum = (key: keyof EventSourceMapping['stats']) => mappings.reduce((total, mapping) => total + mapping.stats[key], 0);
  const stats = {} as EventSourceMapping['stats'];
  for (const key of Object.keys(mappings[0]?.stats ?? {}) as Array<keyof EventSourceMapping['stats']>) Object.defineProperty(stats, key, { get: () => sum(key), enumerable: true });
  return {
    stats,
    containers: () => mappings.reduce((total, mapping) => total + mapping.containers(), 0),
    crash: async () => (await Promise.all(mappings.map((mapping) => mapping.crash()))).reduce((total, count) => total + count, 0),
    stop: async () => {
      await Promise.all(mappings.map((mapping) => mapping.stop()));
    },
  };
}

function randomSecret(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url');
}

/** Jobs on the queue (with producers, on all their queues) in any state: visible, in flight or delayed. Zero means all work is done. */
export async function queueDepth(stack: Pick<LocalStack, 'sqs' | 'jobs'> & Partial<Pick<LocalStack, 'producers'>>): Promise<number> {
  const urls = stack.producers === undefined || stack.producers.size === 0 ? [stack.jobs.url] : [...stack.producers.values()].map((queues) => queues.jobs.url);
  const depths = await Promise.all(
    urls.map(async (url) => {
      const { Attributes = {} } = await stack.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'] }),
      );
      return Number(Attributes.ApproximateNumberOfMessages ?? 0) + Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0) + Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0);
    }),
  );
  return depths.reduce((sum, depth) => sum + depth, 0);
}

/**
 * Sends jobs to the jobs queue, ten per call, as a producer would; on a FIFO queue, one group per `groupId`;
 * on a standard queue, each delayed by its `delaySeconds`.
 */
export async function enqueueJobs(
  stack: Pick<LocalStack, 'sqs' | 'jobs'>,
  jobs: ReadonlyArray<{ readonly jobId: string; readonly body: string; readonly groupId: string; readonly delaySeconds?: number | undefined }>,
  fifo = false,
): Promise<void> {
  for (let start = 0; start < jobs.length; start += 10) {
    const chunk = jobs.slice(start, start + 10);
    const { Failed = [] } = await stack.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: stack.jobs.url,
        Entries: chunk.map((job, index) => ({
          Id: String(index),
          MessageBody: job.body,
          ...(fifo ? { MessageGroupId: job.groupId, MessageDeduplicationId: job.jobId } : job.delaySeconds === undefined ? {} : { DelaySeconds: job.delaySeconds }),
        })),
      }),
    );
    if (Failed.length > 0) throw new Error(`could not enqueue ${Failed.length} jobs: ${Failed[0]?.Message ?? ''}`);
  }
}

/**
 * Reads every message of the dead-letter queue, as an operator would (they stay hidden for five minutes).
 * A FIFO queue hands out no later message of a group while an earlier one is hidden, so there each batch
 * read is deleted before the next: otherwise a user's second dead letter would never be seen.
 */
export async function readDeadLetters(stack: Pick<LocalStack, 'sqs' | 'dlq'>): Promise<Message[]> {
  const letters: Message[] = [];
  for (;;) {
    const { Messages = [] } = await stack.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: stack.dlq.url, MaxNumberOfMessages: 10, VisibilityTimeout: 300, MessageAttributeNames: ['All'], WaitTimeSeconds: 0 }),
    );
    if (Messages.length === 0) return letters;
    letters.push(...Messages);
    if (stack.dlq.url.endsWith('.fifo')) {
      await stack.sqs.send(
        new DeleteMessageBatchCommand({ QueueUrl: stack.dlq.url, Entries: Messages.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle ?? '' })) }),
      );
    }
  }
}
