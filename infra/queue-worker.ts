import { Annotations, Aws, CfnOutput, Duration, Lazy, Names, RemovalPolicy, Stack, TimeZone, Token, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isJobError } from '../shared/errors.ts';
import { defaultBatchSize, defaultBatchingWindowSeconds } from '../shared/queue/batching.ts';
import { type JobPolicy, parseJob } from '../shared/jobs/parse-job.ts';
import { PRODUCER_NAME, producerIdPrefix } from '../shared/config.ts';
import type { Auth0Plan } from '../shared/auth0/plans.ts';
import { DEFAULT_ALLOWED_FIELDS, type Job, USER_FIELDS, type UserField } from '../shared/jobs/schema.ts';
import { SYNC_OBJECT_ACCESS, type SyncDefinition, syncObjectKeys, validateSyncDefinition } from '../shared/sync/definition.ts';
import { BUNDLE_OPTIONS, FUNCTION_ENTRIES } from './bundling.ts';

/** A job put on the queue on a schedule (EventBridge Scheduler). */
export interface ScheduledJob {
  /** Name of the schedule, unique in the construct. */
  readonly name: string;
  /**
   * When: `scheduler.ScheduleExpression.rate(Duration.days(1))`, `.cron({ hour: '3', minute: '0' })` or
   * `.at(date)`; or the same as text (`rate(1 day)`, `cron(0 3 * * ? *)`, `at(2026-12-01T03:00:00)`), as context gives it.
   */
  readonly expression: scheduler.ScheduleExpression | string;
  /** IANA time zone of an expression given as text. Default UTC. */
  readonly timeZone?: string;
  /** The job, checked at synth against the contract and the policy of the producer it is sent as. */
  readonly job: Job;
  /**
   * The producer whose queue the job goes to, and whose policy must allow it. Required when the deployment
   * declares {@link Auth0QueueWorkerProps.producers}; otherwise there is one queue and this stays unset.
   */
  readonly producer?: string;
}

/**
 * A scheduled sync: the schedule invokes the sync function with this definition (see SyncDefinition for the
 * limits and their defaults). The sync may read `key` and write only `{key}.manifest.json` and `{key}.report.json`.
 */
export type ScheduledSync = Omit<SyncDefinition, 'source'> & {
  /** `scheduler.ScheduleExpression.cron({ hour: '3', minute: '0' })`, or as text: `rate(1 day)`, `cron(0 3 * * ? *)`. */
  readonly expression: scheduler.ScheduleExpression | string;
  readonly timeZone?: string;
  readonly bucket: string;
  readonly key: string;
  /**
   * The producer whose queue the sync's jobs go to, and whose policy must allow its roles, organizations and
   * app_metadata. Required when the deployment declares {@link Auth0QueueWorkerProps.producers}; every sync of
   * a deployment sends as the same producer.
   */
  readonly producer?: string;
};

/**
 * An upstream system that sends jobs: its own queue and dead-letter queue, its own policy (the deployment's
 * deny-by-default rules, for it alone) and its own event source mapping. IAM decides who may send to its
 * queue; the worker checks each job against the policy of the queue it came from, never against anything
 * the job says, and records the producer's name as the job's `source`.
 */
export interface ProducerProps {
  /** Unique in the deployment: 1 to 32 lower-case letters, digits or `-`, starting with a letter. */
  readonly name: string;
  /** Principals that may send to its queue; {@link Auth0QueueWorker.grantSendJobs} adds more. */
  readonly senders?: readonly iam.IPrincipal[];
  /** IAM role ARNs (any account) that may send to its queue, named in the queue's policy. */
  readonly senderRoleArns?: readonly string[];
  /** The user fields its `user.update` jobs may change. Default: as the deployment's `allowedFields`. */
  readonly allowedFields?: readonly string[];
  /** The role names or ids its jobs may assign or remove. Default: none; `['*']` any. */
  readonly allowedRoles?: readonly string[];
  /** The organization ids or names its `org.*` jobs may touch. Default: none; `['*']` any. */
  readonly allowedOrganizations?: readonly string[];
  /** Whether its `changes.picture` may be an `http:` URL. Default false. */
  readonly allowHttpPictures?: boolean;
  /**
   * Its weight in the split of the tenant's rate limit while other producers have work: a producer of 2 gets
   * twice the calls of a producer of 1. Default 1.
   */
  readonly share?: number;
  /** A FIFO queue for it. Default: the deployment's `fifo`. */
  readonly fifo?: boolean;
  /** Concurrent invocations for its queue, 2 to 1,000. Default: the deployment's `maxConcurrency` (2). */
  readonly maxConcurrency?: number;
}

/** A producer as deployed: its queues. */
export interface DeployedProducer {
  /** The producer's name (`default` in a deployment that declares none). */
  readonly name: string;
  /** Its jobs queue: its senders may send here, and nowhere else. */
  readonly queue: sqs.Queue;
  /** Its dead-letter queue: its jobs that can never succeed, with their reason. */
  readonly deadLetterQueue: sqs.Queue;
}

/** Properties of {@link Auth0QueueWorker}. Every limit has a default stated here. */
export interface Auth0QueueWorkerProps {
  /** Tenant domain, e.g. `acme.eu.auth0.com`. */
  readonly auth0Domain: string;
  /** Grant audience; default `https://{auth0Domain}/api/v2/`. */
  readonly auth0Audience?: string;
  /** ARN of an existing secret `{"clientId","clientSecret"}`. Without it, an empty secret is created to fill in. */
  readonly secretArn?: string;
  /** ARN of the customer-managed KMS key that encrypts `secretArn`, if not the AWS managed one: the worker may decrypt with it. */
  readonly secretKeyArn?: string;
  /**
   * FIFO jobs queue for per-user order. Default false. Producers must send each job with its job id as
   * MessageDeduplicationId (content-based deduplication is on only when there are schedules).
   */
  readonly fifo?: boolean;
  /**
   * Receives before SQS itself moves a job to the dead-letter queue; at least 5. Default 5 (100 on FIFO).
   * Throttling and outages do not spend them on a standard queue (the worker resends the job); on FIFO the
   * worker stretches its delays as they run out, and dead-letters with a reason before SQS would.
   */
  readonly maxReceiveCount?: number;
  /**
   * JOB_MAX_AGE_SECONDS: how long a job that keeps failing for reasons that may pass (throttling, an outage)
   * is retried before it is dead-lettered as `expired`. Default 24 h; at most 13 days (the queue keeps it a
   * day longer, up to SQS's 14).
   */
  readonly maxJobAge?: Duration;
  /**
   * How long the dead-letter queue keeps a letter (its message retention): from 1 day to 14 days, in whole seconds.
   * Default 14 days, SQS's most. A letter holds the whole job (emails, metadata), so keep it no longer than your
   * operators need to read, fix and redrive it. A job the worker dead-letters is a new message and gets the whole
   * period; on a standard queue, a job SQS itself moves there after `maxReceiveCount` receives keeps its first
   * enqueue time and leaves that much sooner (AWS advises a dead-letter retention longer than the jobs queue's).
   */
  readonly deadLetterRetention?: Duration;
  /**
   * Customer-managed KMS key of both queues, the jobs queue and the dead-letter queue (SSE-KMS). Default: SQS-managed
   * encryption (SSE-SQS), no key to manage. With a key, each party that uses the queues may use it with the exact
   * actions it needs, and no other: the worker `kms:Decrypt` (to receive) and `kms:GenerateDataKey` (to resend and
   * dead-letter); the sync function, EventBridge Scheduler's role and the producers ({@link Auth0QueueWorker.grantSendJobs},
   * `producerRoleArns`) `kms:GenerateDataKey` and `kms:Decrypt`, which SQS asks of a sender. Roles of this account get
   * them in their IAM policies, which the key's policy must let grant it (a `new kms.Key`'s default policy does);
   * `producerRoleArns` are named in the key's policy.
   *
   * The policy of an imported key (`kms.Key.fromKeyArn`) cannot be changed here: its owner must allow each
   * `producerRoleArns` role `kms:GenerateDataKey` and `kms:Decrypt` on the key (synth warns of each). A role of
   * another account also needs those two actions on the key's ARN in its own IAM policy, as it needs
   * `sqs:SendMessage` there. Operators who read or redrive dead letters (the command line's `dlq`, the console) need
   * `kms:Decrypt`, and `kms:GenerateDataKey` to redrive. The ledger's key is {@link Auth0QueueWorkerProps.ledgerEncryptionKey}, apart.
   */
  readonly queueEncryptionKey?: kms.IKey;
  /** Worker timeout. Default 60 s; the queue's visibility timeout is six times it. */
  readonly timeout?: Duration;
  /** Worker memory in MB. Default 512. */
  readonly memorySize?: number;
  /**
   * Records per invocation. Default 50 on a standard queue, so that jobs for one role or organization share
   * grouped calls (see docs/behaviour.md, Grouped calls); 10 on FIFO (at most 10 there), with `auth0Plan`
   * `free` (its bucket serves a container about one call a second: set the plan on a free tenant), and with
   * a `maxBatchingWindow` of zero.
   */
  readonly batchSize?: number;
  /**
   * How long the event source mapping gathers records for a batch. Default 1 s when the batch may hold more
   * than 10 records (Lambda needs one then), else none. Not allowed on FIFO.
   */
  readonly maxBatchingWindow?: Duration;
  /** Concurrent invocations for the queue. Default 2, the free plan's limit. */
  readonly maxConcurrency?: number;
  /** JOB_CONCURRENCY: Management API calls in flight per invocation. Default 4. */
  readonly jobConcurrency?: number;
  /** RATE_LIMIT_RESERVE: share of the tenant's Management API bucket the worker never uses. Default 0.2. */
  readonly rateLimitReserve?: number;
  /** RATE_LIMIT_SHARE: share of the bucket's refill the worker may count on. Default 1. */
  readonly rateLimitShare?: number;
  /**
   * AUTH0_PLAN: the tenant's plan, whose published rate limits (an API-wide bucket, endpoint groups' buckets)
   * the worker paces by. Default: learnt from the tenant's first answers.
   */
  readonly auth0Plan?: Auth0Plan;
  /**
   * ALLOWED_FIELDS: the user fields `user.update` jobs may change. Default: `blocked`, `user_metadata` and the
   * profile names and picture. `email`, `email_verified`, `phone_*`, `app_metadata` and `username` must be
   * listed to be allowed: each can take an account over or grant access.
   */
  readonly allowedFields?: readonly string[];
  /**
   * ALLOWED_ROLES: the role names or ids jobs may assign or remove. Default: none. `['*']` allows any role.
   * A sync's managed roles must be listed (or `*`).
   */
  readonly allowedRoles?: readonly string[];
  /**
   * ALLOWED_ORGANIZATIONS: the organization ids (`org_…`) or names `org.*` jobs may touch. Default: none.
   * `['*']` allows any organization.
   */
  readonly allowedOrganizations?: readonly string[];
  /**
   * ALLOW_HTTP_PICTURES: whether `changes.picture` may be an `http:` URL. Default false: `https:` only (a
   * `javascript:` or `data:` URL is refused whatever this says).
   */
  readonly allowHttpPictures?: boolean;
  /** Worker log retention. Default one month. */
  readonly logRetention?: logs.RetentionDays;
  /**
   * The functions' application log level (Lambda's advanced logging controls, `AWS_LAMBDA_LOG_LEVEL`, which
   * the functions' Powertools logger follows). Default `INFO`.
   */
  readonly logLevel?: lambda.ApplicationLogLevel;
  /** Alarm when the oldest job (its first send, across the worker's resends) is older than this. Default 15 min. */
  readonly oldestJobAlarmAge?: Duration;
  /** Email subscribed to the alarms' SNS topic; no topic without it. */
  readonly alarmEmail?: string;
  /**
   * CloudWatch namespace of the functions' metrics, which the alarms and the dashboard read. Default
   * `Auth0QueueWorker/{the construct's unique id}`, so two deployments in one account never share metrics.
   */
  readonly metricsNamespace?: string;
  /** IAM role ARNs (any account) allowed to send jobs. Not with {@link Auth0QueueWorkerProps.producers}: each names its own senders. */
  readonly producerRoleArns?: readonly string[];
  /**
   * The upstream systems that send jobs, each with its own queue, dead-letter queue, policy and share of the
   * tenant (see {@link ProducerProps}). Without it, the deployment has one queue and one policy, as the props
   * `allowedFields`, `allowedRoles`, `allowedOrganizations`, `allowHttpPictures` and `producerRoleArns`
   * describe; with it, those five are refused (each producer has its own), and every schedule and sync names
   * its producer.
   */
  readonly producers?: readonly ProducerProps[];
  /** Jobs put on the queue on a schedule (EventBridge Scheduler), each checked at synth against its policy. */
  readonly schedules?: readonly ScheduledJob[];
  /** Scheduled syncs with a source of truth; a sync function is deployed when there is at least one. */
  readonly syncs?: readonly ScheduledSync[];
  /**
   * How the worker orders the jobs of one user. Default `'ledger'`: a DynamoDB table ({@link Auth0QueueWorker.ledgerTable})
   * records, per user and attribute, the order of the last job applied, so an older job never overwrites a newer
   * one. `'unordered'` creates no table and tells the worker `ORDERING=unordered`: jobs are then applied as they
   * arrive, and an older job for a user can overwrite a newer one, because parallel lanes, delayed resends,
   * dead-letter redrives and the sync all reorder jobs.
   */
  readonly ordering?: 'ledger' | 'unordered';
  /**
   * LEDGER_RETENTION_SECONDS: how long a user's ledger item outlives the user's last job before the table's TTL
   * (attribute `expiresAt`) may delete it. Default 90 days; at least 15 days (SQS keeps a dead letter at most 14 days,
   * and a redriven job must still meet the ledger) and a day longer than `maxJobAge`; at most 3650 days.
   */
  readonly ledgerRetention?: Duration;
  /**
   * ISSUED_AT_SKEW_SECONDS: how far a job's `issuedAt` may lie after SQS accepted it (producers' clocks drift); a
   * job further ahead is dead-lettered as `invalid_issued_at`. Default 5 minutes; whole seconds from 0 to 1 hour.
   */
  readonly issuedAtSkew?: Duration;
  /**
   * Customer-managed KMS key that encrypts the ledger table. Default: the AWS managed key for DynamoDB
   * (`aws/dynamodb`). The functions, and the roles given {@link Auth0QueueWorker.grantReadLedger}, may decrypt
   * with it through DynamoDB only; its key policy must let IAM policies of this account grant that.
   */
  readonly ledgerEncryptionKey?: kms.IKey;
}

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * The directory of a function's prebuilt bundle (`functions/{name}/index.mjs` beside the compiled construct in
 * the package), or undefined in a checkout, where the construct bundles from source.
 */
function prebuiltBundle(name: keyof typeof FUNCTION_ENTRIES): string | undefined {
  const dir = fileURLToPath(new URL(`../functions/${name}/`, import.meta.url));
  return existsSync(`${dir}index.mjs`) ? dir : undefined;
}

/**
 * The whole product as one construct: the jobs queue and its dead-letter queue, the worker function with
 * its SQS event source, the client secret, the per-user ordering ledger (a DynamoDB table), alarms and a
 * dashboard, and optional schedules. Use it in your
 * own CDK app, or deploy it with this repository's stack (`npx cdk deploy`).
 *
 * @example
 * ```ts
 * const worker = new Auth0QueueWorker(this, 'Auth0Jobs', { auth0Domain: 'acme.eu.auth0.com', secretArn });
 * worker.grantSendJobs(myProducerRole);
 * ```
 */
export class Auth0QueueWorker extends Construct {
  /** The jobs queue; with {@link Auth0QueueWorkerProps.producers}, the first producer's (see {@link Auth0QueueWorker.producers}). */
  readonly queue: sqs.Queue;
  /** The dead-letter queue; with {@link Auth0QueueWorkerProps.producers}, the first producer's. */
  readonly deadLetterQueue: sqs.Queue;
  /** The worker function, fed by the event source mapping of each jobs queue. */
  readonly worker: lambda.Function;
  /** The client secret `{"clientId","clientSecret"}`: the one given by `secretArn`, or the empty one created to fill in. */
  readonly secret: secretsmanager.ISecret;
  /** Every alarm the construct created (see docs/operations.md, Alarms). */
  readonly alarms: cloudwatch.Alarm[];
  /** The SNS topic the alarms notify, with `alarmEmail` subscribed; undefined without it. */
  readonly alarmTopic: sns.Topic | undefined;
  /** The sync function, when there is at least one scheduled sync. */
  readonly syncFunction: lambda.Function | undefined;
  /**
   * The ordering ledger: one item per Auth0 user (partition key `pk`), TTL attribute `expiresAt`. Undefined when
   * {@link Auth0QueueWorkerProps.ordering} is `'unordered'`.
   */
  readonly ledgerTable: dynamodb.Table | undefined;
  /** The namespace the functions publish their metrics to (see {@link Auth0QueueWorkerProps.metricsNamespace}). */
  readonly metricsNamespace: string;
  /**
   * Each producer's queues, by name; a deployment without {@link Auth0QueueWorkerProps.producers} has one, `default`,
   * whose queues are {@link Auth0QueueWorker.queue} and {@link Auth0QueueWorker.deadLetterQueue}.
   */
  readonly producers: ReadonlyMap<string, DeployedProducer>;
  /** Whether the props declared producers (else there is one, `default`). */
  private readonly declaresProducers: boolean;

  constructor(scope: Construct, id: string, props: Auth0QueueWorkerProps) {
    super(scope, id);
    this.metricsNamespace = props.metricsNamespace ?? `Auth0QueueWorker/${Names.uniqueId(this)}`;
    const specs = producerSpecs(props);
    this.declaresProducers = props.producers !== undefined;
    checkProps(props, this.metricsNamespace, specs);
    const timeout = props.timeout ?? Duration.seconds(60);
    if (props.maxReceiveCount !== undefined && props.maxReceiveCount < 5) throw new Error(`maxReceiveCount must be at least 5 (got ${props.maxReceiveCount}): throttled receives count too`);
    const maxReceiveCountOf = (spec: ProducerSpec) => props.maxReceiveCount ?? (spec.fifo ? 100 : 5);
    const givenWindow = props.maxBatchingWindow === undefined || props.maxBatchingWindow.isUnresolved() ? undefined : props.maxBatchingWindow.toSeconds();
    /** The event source mapping's batch of a producer's queue: its size and batching window. */
    const batchOf = (spec: ProducerSpec) => {
      if (spec.fifo && props.maxBatchingWindow !== undefined) throw new Error(`maxBatchingWindow is not supported on a FIFO queue${spec.declared ? ` (producer ${spec.name})` : ''}`);
      const batchSize = props.batchSize ?? defaultBatchSize({ fifo: spec.fifo, plan: props.auth0Plan, windowSeconds: givenWindow });
      if (spec.fifo && batchSize > 10) throw new Error(`batchSize is at most 10 on a FIFO queue${spec.declared ? ` (producer ${spec.name})` : ''}`);
      const windowSeconds = defaultBatchingWindowSeconds(batchSize);
      const maxBatchingWindow = props.maxBatchingWindow ?? (windowSeconds > 0 ? Duration.seconds(windowSeconds) : undefined);
      if (batchSize > 10 && maxBatchingWindow !== undefined && !maxBatchingWindow.isUnresolved() && maxBatchingWindow.toMilliseconds() === 0) {
        throw new Error(`batchSize ${batchSize} needs a maxBatchingWindow of at least 1 second: Lambda takes more than 10 records only with a batching window`);
      }
      return { batchSize, maxBatchingWindow };
    };
    const batches = new Map(specs.map((spec) => [spec, batchOf(spec)]));
    for (const spec of specs) checkPolicy(spec.policy, (props.syncs ?? []).filter((sync) => sync.producer === undefined || sync.producer === spec.name), spec.declared ? spec.name : undefined);
    const maxJobAge = props.maxJobAge ?? Duration.hours(24);
    if (maxJobAge.toSeconds() < 60 || maxJobAge.toSeconds() > Duration.days(13).toSeconds()) {
      throw new Error(`maxJobAge must be from 1 minute to 13 days (got ${maxJobAge.toHumanString()}): SQS keeps a message at most 14 days`);
    }
    const ledger = checkLedger(props, maxJobAge);
    // The queue keeps a job at least a day past its maximum age (SQS's default is 4 days), so it expires with a reason first.
    const retentionPeriod = Duration.seconds(Math.min(Duration.days(14).toSeconds(), Math.max(Duration.days(4).toSeconds(), maxJobAge.toSeconds() + Duration.days(1).toSeconds())));

    const deadLetterRetention = checkDeadLetterRetention(props.deadLetterRetention);
    // Every queue under one key: a job moves between a queue and its dead-letter queue (dead-lettered, redriven) and the same parties use both.
    const encryption: Pick<sqs.QueueProps, 'encryption' | 'encryptionMasterKey'> =
      props.queueEncryptionKey === undefined ? { encryption: sqs.QueueEncryption.SQS_MANAGED } : { encryption: sqs.QueueEncryption.KMS, encryptionMasterKey: props.queueEncryptionKey };

    const deployed = new Map<string, DeployedProducer>();
    for (const spec of specs) {
      // No redrive-allow policy naming the jobs queue: the jobs queue's redrive policy names this queue, both names are
      // generated, so each would refer to the other and CloudFormation refuses the cycle.
      const deadLetterQueue = new sqs.Queue(this, `${spec.idPrefix}DeadLetterQueue`, {
        fifo: spec.fifo || undefined,
        retentionPeriod: deadLetterRetention,
        ...encryption,
        enforceSSL: true,
        removalPolicy: RemovalPolicy.RETAIN,
      });
      const scheduled = (props.schedules ?? []).some((entry) => entry.producer === undefined || entry.producer === spec.name);
      const queue = new sqs.Queue(this, `${spec.idPrefix}JobsQueue`, {
        fifo: spec.fifo || undefined,
        // Content-based deduplication drops an identical body sent within 5 minutes (block, unblock, block
        // ends unblocked), so it is off: producers give each message its job id as deduplication id, and SQS
        // refuses a send without one loudly. EventBridge Scheduler cannot set that id, so with schedules it
        // must be on; each scheduled run's body then carries its own execution id.
        contentBasedDeduplication: (spec.fifo && scheduled) || undefined,
        visibilityTimeout: Duration.seconds(timeout.toSeconds() * 6),
        retentionPeriod,
        maxMessageSizeBytes: 1_048_576,
        ...encryption,
        enforceSSL: true,
        deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: maxReceiveCountOf(spec) },
        removalPolicy: RemovalPolicy.RETAIN,
      });
      deployed.set(spec.name, { name: spec.name, queue, deadLetterQueue });
    }
    this.producers = deployed;
    const [first] = deployed.values();
    if (first === undefined) throw new Error('producers must declare at least one producer');
    this.queue = first.queue;
    this.deadLetterQueue = first.deadLetterQueue;

    if (props.secretArn === undefined) {
      const created = new secretsmanager.Secret(this, 'ClientSecret', {
        description:
          'Auth0 M2M credentials for the queue worker. Fill with: aws secretsmanager put-secret-value --secret-id <arn> --secret-string \'{"clientId":"…","clientSecret":"…"}\'',
        removalPolicy: RemovalPolicy.RETAIN,
      });
      Validations.of(created).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason: 'The value is an Auth0 client secret: it is rotated in Auth0, then written here; the worker re-reads it when Auth0 refuses the old one.',
      });
      this.secret = created;
    } else {
      this.secret = secretsmanager.Secret.fromSecretCompleteArn(this, 'ClientSecret', props.secretArn);
    }
    this.ledgerTable = ledger.ordering === 'ledger' ? this.createLedgerTable(props.ledgerEncryptionKey) : undefined;

    const concurrencyOf = (spec: ProducerSpec) => spec.maxConcurrency ?? props.maxConcurrency ?? 2;
    // The pacer shares the tenant's bucket between every container that may call at once: all mappings' together.
    const containers = specs.reduce((sum, spec) => sum + concurrencyOf(spec), 0);
    const declared = props.producers !== undefined;
    this.worker = this.createFunction('Worker', 'worker', props, timeout, props.memorySize ?? 512, {
      ...(declared ? { PRODUCERS: this.producersVariable(specs, maxReceiveCountOf, concurrencyOf) } : { DLQ_URL: this.deadLetterQueue.queueUrl }),
      JOB_CONCURRENCY: String(props.jobConcurrency ?? 4),
      // The worker decides a job's fate against the same budget as the redrive policy.
      MAX_RECEIVE_COUNT: String(props.maxReceiveCount ?? ((props.fifo ?? false) ? 100 : 5)),
      JOB_MAX_AGE_SECONDS: String(maxJobAge.toSeconds()),
      // The pacer shares the tenant's bucket evenly between containers when it is too small for all of them at once.
      MAX_CONCURRENCY: String(containers),
      ...(props.rateLimitReserve === undefined ? {} : { RATE_LIMIT_RESERVE: String(props.rateLimitReserve) }),
      ...(props.rateLimitShare === undefined ? {} : { RATE_LIMIT_SHARE: String(props.rateLimitShare) }),
      ...(props.auth0Plan === undefined ? {} : { AUTH0_PLAN: props.auth0Plan }),
      ...(props.allowedFields === undefined ? {} : { ALLOWED_FIELDS: props.allowedFields.join(',') }),
      ...(props.allowedRoles === undefined ? {} : { ALLOWED_ROLES: props.allowedRoles.join(',') }),
      ...(props.allowedOrganizations === undefined ? {} : { ALLOWED_ORGANIZATIONS: props.allowedOrganizations.join(',') }),
      ...(props.allowHttpPictures === true ? { ALLOW_HTTP_PICTURES: 'true' } : {}),
      // Without LEDGER_TABLE the worker refuses to start unless told, by name, to apply jobs in any order.
      ...(this.ledgerTable === undefined
        ? { ORDERING: 'unordered' }
        : { LEDGER_TABLE: this.ledgerTable.tableName, LEDGER_RETENTION_SECONDS: String(ledger.retentionSeconds) }),
      ISSUED_AT_SKEW_SECONDS: String(ledger.issuedAtSkewSeconds),
    });
    // The worker reads a retry state only from its own resends: SQS's SenderId of a message the function sent
    // starts with its role's unique id, which no producer can send as.
    if (this.worker.role instanceof iam.Role) this.worker.addEnvironment('WORKER_ROLE_ID', this.worker.role.roleId);
    if (props.auth0Plan === 'free' && containers > 2) {
      // Measured on the virtual clock: 6 containers on the free plan's bucket of 2 drew a 429 for 2 to 5% of their
      // calls (dividing time into slots; a quarter of them with spacing alone), against none at 2.
      Annotations.of(this).addWarningV2(
        'auth0-queue-worker:freePlanConcurrency',
        `${declared ? `${containers} containers across the producers' queues (each event source mapping runs at least 2)` : `maxConcurrency ${props.maxConcurrency}`} on the free plan: its bucket of 2 requests cannot be shared by more than 2 containers without some 429s (2 to 5% of calls measured at 6; the headers cannot show who called); ${declared ? 'one producer at maxConcurrency 2 keeps' : 'maxConcurrency 2 keeps'} the whole 2 requests a second with none`,
      );
    }
    for (const spec of specs) {
      const { queue, deadLetterQueue } = deployed.get(spec.name) as DeployedProducer;
      const { batchSize, maxBatchingWindow } = batches.get(spec) as ReturnType<typeof batchOf>;
      this.worker.addEventSource(
        new SqsEventSource(queue, {
          batchSize,
          ...(maxBatchingWindow === undefined ? {} : { maxBatchingWindow }),
          maxConcurrency: concurrencyOf(spec),
          reportBatchItemFailures: true,
        }),
      );
      // Consume (added by the event source, with kms:Decrypt under a customer key), resend rate-limited jobs to the
      // same queue and dead-letter (kms:GenerateDataKey: sending needs Decrypt too, which consuming already gave).
      grantSend(queue, this.worker);
      grantSend(deadLetterQueue, this.worker);
    }
    this.queue.encryptionMasterKey?.grant(this.worker, 'kms:GenerateDataKey');
    this.grantReadSecret(this.worker, props.secretKeyArn);
    // Claim and record a user's item (two conditional UpdateItems per job) and read it; nothing that scans or deletes.
    if (this.ledgerTable !== undefined) this.grantLedger(this.ledgerTable, this.worker, 'dynamodb:GetItem', 'dynamodb:UpdateItem');

    for (const spec of specs) {
      for (const arn of spec.senderRoleArns) this.grantSendJobs(new iam.ArnPrincipal(arn), spec.declared ? spec.name : undefined);
      for (const sender of spec.senders) this.grantSendJobs(sender, spec.name);
    }
    this.addSchedules(props.schedules ?? []);

    this.alarmTopic = props.alarmEmail === undefined ? undefined : this.createAlarmTopic(props.alarmEmail);
    this.syncFunction = props.syncs === undefined || props.syncs.length === 0 ? undefined : this.createSync(props, props.syncs);
    this.alarms = this.createAlarms(props.oldestJobAlarmAge ?? Duration.minutes(15));
    this.createDashboard();

    for (const spec of specs) {
      const { queue, deadLetterQueue } = deployed.get(spec.name) as DeployedProducer;
      const whose = spec.declared ? ` of producer ${spec.name}` : '';
      this.output(`${spec.idPrefix}JobsQueueUrl`, { value: queue.queueUrl, description: spec.declared ? `Where ${spec.name} sends jobs` : 'Where upstream systems send jobs' });
      this.output(`${spec.idPrefix}JobsQueueArn`, { value: queue.queueArn, ...(spec.declared ? { description: `The jobs queue${whose}` } : {}) });
      this.output(`${spec.idPrefix}DeadLetterQueueUrl`, { value: deadLetterQueue.queueUrl, description: `Jobs${whose} that can never succeed, with their reason` });
    }
    // What `auth0-queue-worker <command> --stack NAME` reads the rest of the deployment from.
    this.output('WorkerFunctionName', { value: this.worker.functionName, description: 'The worker function (auth0-queue-worker doctor --stack finds its settings here)' });
    this.output('WorkerLogGroupName', { value: this.worker.logGroup.logGroupName, description: "The worker's log group, for CloudWatch Logs Insights (docs/operations.md has the queries)" });
    if (this.ledgerTable !== undefined) {
      this.output('LedgerTableName', { value: this.ledgerTable.tableName, description: 'The per-user ordering ledger (one item per Auth0 user)' });
    }
  }

  /**
   * A stack output whose key a person can read and the command line can find: the construct's path in its stack
   * and the output's name, without CDK's hash (`Auth0JobsJobsQueueUrl`, not `Auth0JobsJobsQueueUrl4AC7E90D`).
   */
  private output(name: string, props: { value: string; description?: string }): CfnOutput {
    const output = new CfnOutput(this, name, props);
    output.overrideLogicalId(`${this.deploymentId()}${name}`);
    return output;
  }

  /** The construct's path in its stack, as its output keys start and `--deployment` takes it: `Europe`. */
  private deploymentId(): string {
    return this.node.path.split('/').slice(Stack.of(this).node.path.split('/').length).join('').replace(/[^A-Za-z0-9]/g, '');
  }

  /**
   * PRODUCERS, the worker's view of the producers: each one's name, queue ARN, dead-letter queue URL, policy,
   * share, redrive budget and concurrency, as JSON (CloudFormation fills in the ARNs and URLs). Lambda keeps a function's
   * whole environment to 4 KB, so long policies are refused here rather than at deploy.
   */
  private producersVariable(specs: readonly ProducerSpec[], maxReceiveCountOf: (spec: ProducerSpec) => number, concurrencyOf: (spec: ProducerSpec) => number): string {
    const entries = specs.map((spec) => {
      const { queue, deadLetterQueue } = this.producers.get(spec.name) as DeployedProducer;
      return {
        name: spec.name,
        queueArn: queue.queueArn,
        dlqUrl: deadLetterQueue.queueUrl,
        ...(spec.policy.allowedFields === undefined ? {} : { allowedFields: spec.policy.allowedFields }),
        ...(spec.policy.allowedRoles === undefined ? {} : { allowedRoles: spec.policy.allowedRoles }),
        ...(spec.policy.allowedOrganizations === undefined ? {} : { allowedOrganizations: spec.policy.allowedOrganizations }),
        ...(spec.policy.allowHttpPictures === true ? { allowHttpPictures: true } : {}),
        ...(spec.share === 1 ? {} : { share: spec.share }),
        maxReceiveCount: maxReceiveCountOf(spec),
        maxConcurrency: concurrencyOf(spec),
      };
    });
    // An ARN and a URL of about 100 characters each once deployed, in place of their tokens.
    const estimate = JSON.stringify(entries.map((entry) => ({ ...entry, queueArn: 'q'.repeat(100), dlqUrl: 'd'.repeat(110) }))).length;
    if (estimate > MAX_PRODUCERS_VARIABLE) {
      throw new Error(`producers: their policies take about ${estimate} characters of the worker's environment, more than the ${MAX_PRODUCERS_VARIABLE} that fit beside its other settings (Lambda keeps a function's environment to 4 KB): list roles and organizations by id, or allow '*'`);
    }
    return Stack.of(this).toJsonString(entries);
  }

  /**
   * The ordering ledger's table: partition key `pk` only, on demand, encrypted with KMS (the AWS managed key
   * unless a customer key is given), point-in-time recovery, TTL on `expiresAt`, kept when the stack goes.
   */
  private createLedgerTable(key: kms.IKey | undefined): dynamodb.Table {
    // Table rather than TableV2: cdk-nag's AwsSolutions checks (DDB3, point-in-time recovery) read AWS::DynamoDB::Table
    // and pass an AWS::DynamoDB::GlobalTable unchecked.
    return new dynamodb.Table(this, 'LedgerTable', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      ...(key === undefined ? { encryption: dynamodb.TableEncryption.AWS_MANAGED } : { encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED, encryptionKey: key }),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: 'expiresAt',
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  /**
   * Lets `grantee` read one user's ledger item: `dynamodb:GetItem` on the ledger table and nothing else (no Query,
   * no Scan), plus `kms:Decrypt` through DynamoDB under a customer-managed key. For operators' roles of this
   * account: the command line's `history` reads one user's item.
   *
   * @throws when `ordering` is `'unordered'`: there is no ledger table.
   * @example
   * worker.grantReadLedger(supportRole);
   */
  grantReadLedger(grantee: iam.IGrantable): void {
    if (this.ledgerTable === undefined) throw new Error("grantReadLedger: there is no ledger table, as ordering is 'unordered'");
    this.grantLedger(this.ledgerTable, grantee, 'dynamodb:GetItem');
  }

  /** The given item actions on the ledger table; under a customer-managed key, decrypt with it through DynamoDB only. */
  private grantLedger(table: dynamodb.Table, grantee: iam.IGrantable, ...actions: string[]): void {
    table.grant(grantee, ...actions);
    if (table.encryptionKey === undefined) return;
    // DynamoDB decrypts the table key on behalf of the principal that reads or writes (a Decrypt in its name);
    // the table key itself is generated under DynamoDB's own grant when the table is created.
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['kms:Decrypt'],
      resourceArns: [table.encryptionKey.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${Aws.REGION}.amazonaws.com` } },
    });
  }

  /**
   * A Node 24 arm64 function bundled with the local build's options (infra/bundling.ts), so what is tested
   * locally is what deploys; with its own log group and its own role (no AWS managed policy).
   */
  private createFunction(id: string, entry: keyof typeof FUNCTION_ENTRIES, props: Auth0QueueWorkerProps, timeout: Duration, memorySize: number, environment: Record<string, string>): lambda.Function {
    const logGroup = new logs.LogGroup(this, `${id}Logs`, { retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.RETAIN });
    const role = new iam.Role(this, `${id}Role`, { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    logGroup.grantWrite(role);
    const common = {
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      timeout,
      memorySize,
      role,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: props.logLevel ?? lambda.ApplicationLogLevel.INFO,
      environment: {
        AUTH0_DOMAIN: props.auth0Domain,
        ...(props.auth0Audience === undefined ? {} : { AUTH0_AUDIENCE: props.auth0Audience }),
        AUTH0_SECRET_ID: this.secret.secretArn,
        METRICS_NAMESPACE: this.metricsNamespace,
        NODE_OPTIONS: '--enable-source-maps',
        ...environment,
      },
    };
    // Installed from the package, the construct deploys the bundles built when the package was: a consumer's
    // synth needs neither esbuild nor this repository's lock file.
    const prebuilt = prebuiltBundle(entry);
    if (prebuilt !== undefined) return new lambda.Function(this, id, { ...common, handler: 'index.handler', code: lambda.Code.fromAsset(prebuilt) });
    return new nodejs.NodejsFunction(this, id, {
      ...common,
      entry: `${root}${FUNCTION_ENTRIES[entry]}`,
      handler: 'handler',
      depsLockFilePath: `${root}package-lock.json`,
      projectRoot: root,
      bundling: {
        format: nodejs.OutputFormat.ESM,
        target: BUNDLE_OPTIONS.target,
        minify: BUNDLE_OPTIONS.minify,
        sourceMap: true,
        mainFields: [...BUNDLE_OPTIONS.mainFields],
        banner: BUNDLE_OPTIONS.banner.js,
        externalModules: [],
        forceDockerBundling: false,
      },
    });
  }

  /** The sync function, its schedules, its exact S3 grants, and alarms for aborted runs and withheld removals. */
  private createSync(props: Auth0QueueWorkerProps, syncs: readonly ScheduledSync[]): lambda.Function {
    // Every sync sends as one producer (checked at synth): the first's, or the only queue.
    const jobs = this.producerQueue(syncs[0]?.producer).queue;
    const fn = this.createFunction('Sync', 'sync', props, Duration.minutes(15), 1024, {
      JOBS_QUEUE_URL: jobs.queueUrl,
      ...(this.ledgerTable === undefined ? { ORDERING: 'unordered' } : { LEDGER_TABLE: this.ledgerTable.tableName }),
      // Its reads are paced bucket by bucket, as the worker's calls are.
      ...(props.auth0Plan === undefined ? {} : { AUTH0_PLAN: props.auth0Plan }),
    });
    // The schedules' own role, so that its one finding can be acknowledged on it alone.
    const invokeRole = new iam.Role(this, 'SyncScheduleRole', { assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com') });
    const functionId = String(Stack.of(this).resolve(Stack.of(this).getLogicalId(fn.node.defaultChild as lambda.CfnFunction)));
    Validations.of(invokeRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${functionId}.Arn>:*]`,
      reason: "Scheduler's invoke role may call the sync function's own versions and aliases (its ARN with ':*'), and no other function.",
    });
    this.grantReadSecret(fn, props.secretKeyArn);
    grantSend(jobs, fn);
    jobs.encryptionMasterKey?.grant(fn, ...SENDER_KEY_ACTIONS);
    // The sync reads a user's ledger item to skip changes still outstanding; it never writes it.
    if (this.ledgerTable !== undefined) this.grantLedger(this.ledgerTable, fn, 'dynamodb:GetItem');
    for (const sync of syncs) {
      if (!/^[\w.-]{1,40}$/.test(sync.name)) throw new Error(`sync name ${JSON.stringify(sync.name)} must be 1 to 40 letters, digits, ".", "_" or "-"`);
      // Exactly the objects the sync reads and writes beside its source, from the list the sync itself uses.
      const objects = syncObjectKeys(sync.key);
      const arns = (access: keyof typeof SYNC_OBJECT_ACCESS) => SYNC_OBJECT_ACCESS[access].map((kind) => `arn:${Stack.of(this).partition}:s3:::${sync.bucket}/${objects[kind]}`);
      fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: arns('read') }));
      fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: arns('write') }));
      const { expression, timeZone, bucket, key, ...definition } = sync;
      new scheduler.Schedule(this, `Sync${sync.name.replace(/[^A-Za-z0-9]/g, '')}`, {
        description: `Runs the ${sync.name} sync`,
        schedule: scheduleExpression(sync.name, expression, timeZone),
        target: new schedulerTargets.LambdaInvoke(fn, { role: invokeRole, input: scheduler.ScheduleTargetInput.fromObject({ ...definition, source: { bucket, key } }) }),
      });
    }
    return fn;
  }

  /**
   * Lets `grantee` send jobs: SendMessage, GetQueueUrl and GetQueueAttributes on one jobs queue only (the
   * producer's, when the deployment declares producers: name it) and, under
   * {@link Auth0QueueWorkerProps.queueEncryptionKey}, `kms:GenerateDataKey` and `kms:Decrypt` on that key. A role
   * given by ARN (`iam.ArnPrincipal`, as `producerRoleArns` are) is named in the queue's policy and in the key's; an
   * imported key's policy cannot be changed here, and synth warns that its owner must add the statement.
   *
   * @throws when the deployment declares producers and `producer` names none of them.
   * @example
   * worker.grantSendJobs(crmRole); // one queue
   * worker.grantSendJobs(crmRole, 'crm'); // the crm producer's queue, and no other
   */
  grantSendJobs(grantee: iam.IPrincipal, producer?: string): void {
    const queue = this.producerQueue(producer).queue;
    const key = queue.encryptionMasterKey;
    if (grantee instanceof iam.ArnPrincipal) {
      // A role given by ARN (of any account) cannot be given a policy here: the queue's and the key's policies name it.
      queue.addToResourcePolicy(
        new iam.PolicyStatement({
          principals: [grantee],
          actions: ['sqs:SendMessage', 'sqs:GetQueueUrl', 'sqs:GetQueueAttributes'],
          resources: [queue.queueArn],
        }),
      );
      if (key === undefined) return;
      // In a key policy, "*" is the key itself.
      const added = key.addToResourcePolicy(new iam.PolicyStatement({ principals: [grantee], actions: [...SENDER_KEY_ACTIONS], resources: ['*'] }));
      if (!added.statementAdded) {
        Annotations.of(this).addWarningV2(
          `auth0-queue-worker:queueKeyPolicy:${grantee.arn}`,
          `queueEncryptionKey is imported, so its key policy cannot be changed here: allow ${grantee.arn} ${SENDER_KEY_ACTIONS.join(' and ')} on it, or SQS refuses its jobs`,
        );
      }
      return;
    }
    grantSend(queue, grantee);
    // The exact actions a sender needs (grantSendMessages would add kms:Encrypt, kms:ReEncrypt* and kms:GenerateDataKey*);
    // kms.Key.grant also names a grantee of another account in the key's policy.
    key?.grant(grantee, ...SENDER_KEY_ACTIONS);
  }

  /**
   * The queues of the producer named `name`; without producers declared, the one queue (`name` left out).
   *
   * @throws naming the producers, when `name` is missing or unknown in a deployment that declares them.
   */
  producerQueue(name?: string): DeployedProducer {
    const names = [...this.producers.keys()].join(', ');
    if (!this.declaresProducers) {
      if (name !== undefined) throw new Error(`producer ${JSON.stringify(name)}: this deployment declares no producers (leave the name out)`);
      return this.producers.get(DEFAULT_PRODUCER) as DeployedProducer;
    }
    if (name === undefined) throw new Error(`this deployment declares producers: name the one meant (${names})`);
    const found = this.producers.get(name);
    if (found === undefined) throw new Error(`no producer is named ${JSON.stringify(name)}; the producers are ${names}`);
    return found;
  }

  private addSchedules(schedules: readonly ScheduledJob[]): void {
    for (const entry of schedules) {
      const jobs = this.producerQueue(entry.producer).queue;
      const fifo = jobs.fifo;
      if (fifo && entry.job.jobId !== undefined) {
        // Its body would be the same on every run, and content-based deduplication would drop runs 5 minutes apart.
        throw new Error(`schedule ${entry.name}: leave jobId out of a scheduled job on a FIFO queue; each run gets its execution id`);
      }
      new scheduler.Schedule(this, `Schedule${entry.name}`, {
        description: `Puts a ${entry.job.type} job on the queue`,
        schedule: scheduleExpression(entry.name, entry.expression, entry.timeZone),
        target: new SendJobTarget(jobs, {
          // Each run's job carries the run's execution id (as jobId, unless the job names its own), for the
          // logs and so that no two runs have the same body.
          input: scheduler.ScheduleTargetInput.fromObject({ jobId: `${scheduler.ContextAttribute.executionId}`, ...entry.job }),
          ...(fifo ? { messageGroupId: `schedule-${entry.name}` } : {}),
        }),
      });
    }
  }

  /** Lets a function read the client secret; under a customer-managed key, decrypt with it through Secrets Manager only. */
  private grantReadSecret(fn: lambda.Function, keyArn: string | undefined): void {
    this.secret.grantRead(fn);
    if (keyArn === undefined) return;
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Aws.REGION}.amazonaws.com` } },
      }),
    );
  }

  private createAlarmTopic(email: string): sns.Topic {
    const key = new kms.Key(this, 'AlarmTopicKey', { enableKeyRotation: true, description: 'Encrypts the queue worker alarm topic' });
    // CloudWatch alarms publish to the encrypted topic, so they need the key.
    key.grant(new iam.ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    const topic = new sns.Topic(this, 'AlarmTopic', { masterKey: key, enforceSSL: true });
    topic.addSubscription(new subscriptions.EmailSubscription(email));
    return topic;
  }

  private createAlarms(oldestJobAge: Duration): cloudwatch.Alarm[] {
    // Every alarm fires at or above its threshold and stays quiet without data.
    const alarm = (id: string, alarmDescription: string, metric: cloudwatch.IMetric, threshold = 1, evaluationPeriods = 1) =>
      new cloudwatch.Alarm(this, id, {
        alarmDescription,
        metric,
        threshold,
        evaluationPeriods,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    // One pair per producer: a producer's dead letters and its backlog's age are its own team's to act on.
    // Each alarm's description names the command to run first and its runbook entry (docs/operations.md, Alarms).
    // The flags that find this deployment: with more than one in the stack, --deployment too (known once the app is built).
    const find = `--stack ${Stack.of(this).stackName}${Lazy.string({ produce: () => (Stack.of(this).node.findAll().filter((node) => node instanceof Auth0QueueWorker).length > 1 ? ` --deployment ${this.deploymentId()}` : '') })}`;
    const runbook = (name: string) => `Runbook: docs/operations.md, alarm ${name}.`;
    const perProducer = [...this.producers.values()].flatMap(({ name, deadLetterQueue }) => {
      const prefix = this.declaresProducers ? producerIdPrefix(name) : '';
      const whose = this.declaresProducers ? ` of producer ${name}` : '';
      const producerFlag = this.declaresProducers ? ` --producer ${name}` : '';
      return [
        alarm(
          `${prefix}DeadLetterQueueNotEmpty`,
          `Jobs${whose} reached the dead-letter queue. Run npx auth0-queue-worker dlq ${find}${producerFlag} (their reasons and what Auth0 answered), fix, then dlq redrive ${find}${producerFlag} --reason REASON. ${runbook('DeadLetterQueueNotEmpty')}`,
          deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
        ),
        alarm(
          `${prefix}OldestJobTooOld`,
          `A job${whose} waited more than ${oldestJobAge.toHumanString()}: the worker is failing, throttled or rate limited. Run npx auth0-queue-worker doctor ${find}${producerFlag}, then read the dashboard's 429s and the worker's logs. ${runbook('OldestJobTooOld')}`,
          this.oldestJobAge(Duration.minutes(1), this.declaresProducers ? name : undefined),
          oldestJobAge.toSeconds(),
          5,
        ),
      ];
    });
    const alarms = [
      ...perProducer,
      alarm(
        'WorkerErrors',
        `The worker failed whole invocations (init or unexpected errors). Run npx auth0-queue-worker doctor ${find}; the worker's log group names the setting at fault. ${runbook('WorkerErrors')}`,
        this.worker.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      ),
      alarm(
        'WorkerThrottles',
        `The worker was throttled: the account's Lambda concurrency is short of its event source mappings' maximum concurrency. Raise the account's concurrency (Service Quotas, Lambda) or lower maxConcurrency. ${runbook('WorkerThrottles')}`,
        this.worker.metricThrottles({ period: Duration.minutes(5), statistic: 'Sum' }),
      ),
    ];
    if (this.syncFunction !== undefined) {
      const syncMetric = (metricName: string) =>
        new cloudwatch.Metric({ namespace: this.metricsNamespace, metricName, dimensionsMap: { service: 'sync' }, statistic: 'Sum', period: Duration.hours(1) });
      alarms.push(
        alarm('SyncErrors', `A sync run failed or timed out; nothing after the failure was enqueued. Read the sync function's logs; the next run starts over. ${runbook('SyncErrors')}`, this.syncFunction.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' })),
        alarm('SyncAborted', `A sync aborted (too many invalid lines, an empty or oversized file): read {key}.report.json beside its source, fix the file. ${runbook('SyncAborted')}`, syncMetric('SyncAborted')),
        alarm(
          'SyncRemovalsWithheld',
          `A sync withheld the removals of a role or organization over its limit (removalsBlocked in {key}.report.json beside its source): fix the file, or write the approval ids the report gives to {key}.approvals. ${runbook('SyncRemovalsWithheld')}`,
          syncMetric('SyncRemovalsBlocked'),
        ),
      );
    }
    if (this.alarmTopic !== undefined) {
      for (const each of alarms) each.addAlarmAction(new cloudwatchActions.SnsAction(this.alarmTopic));
    }
    return alarms;
  }

  /**
   * The age of the oldest job: the larger of the queue's own figure and the one the worker publishes. A job the
   * worker resends is a new message to SQS, so `ApproximateAgeOfOldestMessage` alone starts again at every
   * resend; the worker's `OldestJobAgeSeconds` counts from the job's first send. The queue's figure covers a
   * worker that does not run at all. With producers, of one producer's queue (`producer`), whose invocations the
   * worker publishes under a `producer` dimension too.
   */
  oldestJobAge(period: Duration, producer?: string): cloudwatch.IMetric {
    const { queue } = this.producerQueue(producer);
    // Ids unique per producer: a graph of every producer's age holds all their expressions.
    const suffix = producer === undefined ? '' : `_${producer.replace(/-/g, '_')}`;
    return new cloudwatch.MathExpression({
      expression: `MAX([queue${suffix}, worker${suffix}])`,
      usingMetrics: {
        [`queue${suffix}`]: queue.metricApproximateAgeOfOldestMessage({ period, statistic: 'Maximum' }),
        [`worker${suffix}`]: new cloudwatch.Metric({
          namespace: this.metricsNamespace,
          metricName: 'OldestJobAgeSeconds',
          dimensionsMap: producer === undefined ? { service: 'worker' } : { service: 'worker', producer },
          statistic: 'Maximum',
          period,
        }),
      },
      label: producer === undefined ? 'oldest job age (s)' : `${producer}: oldest job age (s)`,
      period,
    });
  }

  private createDashboard(): void {
    const metric = (metricName: string, label: string, producer?: string) =>
      new cloudwatch.Metric({
        namespace: this.metricsNamespace,
        metricName,
        dimensionsMap: producer === undefined ? { service: 'worker' } : { service: 'worker', producer },
        statistic: 'Sum',
        period: Duration.minutes(5),
        label: producer === undefined ? label : `${producer}: ${label}`,
      });
    // With producers, a row per producer: its jobs, its backlog (depth and age) and its dead letters.
    const producerRows = this.declaresProducers
      ? [...this.producers.values()].map(({ name, queue, deadLetterQueue }) => [
          new cloudwatch.GraphWidget({
            title: `Producer ${name}: jobs`,
            left: [metric('JobsApplied', 'applied', name), metric('JobsRequeued', 'requeued', name), metric('JobsDeadLettered', 'dead-lettered', name)],
            right: [this.oldestJobAge(Duration.minutes(5), name)],
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: `Producer ${name}: backlog and dead letters`,
            left: [queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum', label: `${name}: jobs waiting` })],
            right: [deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum', label: `${name}: dead letters` })],
            width: 12,
          }),
        ])
      : [];
    new cloudwatch.Dashboard(this, 'Dashboard', {
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'Jobs',
            left: [metric('JobsApplied', 'applied'), metric('JobsRequeued', 'requeued'), metric('JobsDeadLettered', 'dead-lettered')],
            right: this.declaresProducers ? [...this.producers.keys()].map((name) => this.oldestJobAge(Duration.minutes(5), name)) : [this.oldestJobAge(Duration.minutes(5))],
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: 'Auth0',
            left: [metric('RateLimited', '429s'), metric('CallsPaced', 'calls that waited for the rate limit'), metric('TokensFetched', 'tokens fetched')],
            right: [metric('PacedWaitMs', 'time waited for the rate limit (ms)')],
            width: 12,
          }),
        ],
        ...producerRows,
        [new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24 })],
      ],
    });
  }
}

/** A policy as props give it: the deployment's, or one producer's. */
type PolicyProps = Pick<ProducerProps, 'allowedFields' | 'allowedRoles' | 'allowedOrganizations' | 'allowHttpPictures'>;

/** What the construct deploys for one producer; a deployment without producers has one, {@link DEFAULT_PRODUCER}. */
interface ProducerSpec {
  readonly name: string;
  /** Whether the props declared it (else it is the deployment's one queue, with the ids it always had). */
  readonly declared: boolean;
  /** Prefix of its resources' ids: none for the default producer, so its resources keep their ids. */
  readonly idPrefix: string;
  readonly fifo: boolean;
  readonly policy: PolicyProps;
  readonly senders: readonly iam.IPrincipal[];
  readonly senderRoleArns: readonly string[];
  readonly share: number;
  readonly maxConcurrency: number | undefined;
}

/** The producer of a deployment that declares none. */
const DEFAULT_PRODUCER = 'default';
/** The characters PRODUCERS may take of the worker's 4 KB environment, leaving room for its other settings. */
const MAX_PRODUCERS_VARIABLE = 2_800;
/** An IAM role's ARN, of any account and partition. */
export const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/;

/**
 * The producers to deploy, checked: the declared ones, or the deployment's one queue. With producers, the
 * deployment-wide policy props are refused (a producer's policy is its own), and every schedule and sync
 * names a declared producer.
 */
function producerSpecs(props: Auth0QueueWorkerProps): ProducerSpec[] {
  const fifo = props.fifo ?? false;
  if (props.producers === undefined) {
    for (const entry of [...(props.schedules ?? []), ...(props.syncs ?? [])]) {
      if (entry.producer !== undefined) throw new Error(`${String(entry.name)}: producer ${JSON.stringify(entry.producer)} is set, but this deployment declares no producers (leave it out, or declare producers)`);
    }
    const policy: PolicyProps = {
      ...(props.allowedFields === undefined ? {} : { allowedFields: props.allowedFields }),
      ...(props.allowedRoles === undefined ? {} : { allowedRoles: props.allowedRoles }),
      ...(props.allowedOrganizations === undefined ? {} : { allowedOrganizations: props.allowedOrganizations }),
      ...(props.allowHttpPictures === undefined ? {} : { allowHttpPictures: props.allowHttpPictures }),
    };
    return [{ name: DEFAULT_PRODUCER, declared: false, idPrefix: '', fifo, policy, senders: [], senderRoleArns: props.producerRoleArns ?? [], share: 1, maxConcurrency: undefined }];
  }
  if (props.producers.length === 0) throw new Error('producers lists none: leave it out for one queue, or declare each upstream system');
  const deploymentWide = (['allowedFields', 'allowedRoles', 'allowedOrganizations', 'allowHttpPictures', 'producerRoleArns'] as const).filter((key) => props[key] !== undefined);
  if (deploymentWide.length > 0) {
    throw new Error(`${deploymentWide.join(', ')} cannot be set with producers: each producer has its own (move ${deploymentWide.length === 1 ? 'it' : 'them'} to the producers that need ${deploymentWide.length === 1 ? 'it' : 'them'}; senderRoleArns for producerRoleArns)`);
  }
  const specs: ProducerSpec[] = [];
  const prefixes = new Map<string, string>();
  for (const producer of props.producers) {
    const { name } = producer;
    if (typeof name !== 'string' || !PRODUCER_NAME.test(name)) throw new Error(`producer name ${JSON.stringify(name)} must be 1 to 32 lower-case letters, digits or -, starting with a letter`);
    const idPrefix = producerIdPrefix(name);
    const clash = prefixes.get(idPrefix);
    if (clash !== undefined) throw new Error(clash === name ? `producer ${name} is declared twice` : `producers ${clash} and ${name} would share resource names: rename one`);
    prefixes.set(idPrefix, name);
    const share = producer.share ?? 1;
    if (!(share > 0 && share <= 100)) throw new Error(`producer ${name}: share must be above 0 and at most 100 (a weight: 2 gets twice the calls of 1), got ${share}`);
    const maxConcurrency = producer.maxConcurrency;
    if (maxConcurrency !== undefined && !(Number.isInteger(maxConcurrency) && maxConcurrency >= 2 && maxConcurrency <= 1000)) {
      throw new Error(`producer ${name}: maxConcurrency must be an integer from 2 to 1000 (Lambda's range for an SQS event source), got ${maxConcurrency}`);
    }
    for (const arn of producer.senderRoleArns ?? []) if (!Token.isUnresolved(arn) && !ROLE_ARN.test(arn)) throw new Error(`producer ${name}: senderRoleArns: ${arn} is not an IAM role ARN`);
    const { allowedFields, allowedRoles, allowedOrganizations, allowHttpPictures } = producer;
    const policy: PolicyProps = {
      ...(allowedFields === undefined ? {} : { allowedFields }),
      ...(allowedRoles === undefined ? {} : { allowedRoles }),
      ...(allowedOrganizations === undefined ? {} : { allowedOrganizations }),
      ...(allowHttpPictures === undefined ? {} : { allowHttpPictures }),
    };
    specs.push({ name, declared: true, idPrefix, fifo: producer.fifo ?? fifo, policy, senders: producer.senders ?? [], senderRoleArns: producer.senderRoleArns ?? [], share, maxConcurrency });
  }
  const names = specs.map((spec) => spec.name);
  for (const [kind, entries] of [['schedule', props.schedules ?? []], ['sync', props.syncs ?? []]] as const) {
    for (const entry of entries) {
      if (entry.producer === undefined) throw new Error(`${kind} ${String(entry.name)}: name the producer it sends as (producer: one of ${names.join(', ')})`);
      if (!names.includes(entry.producer)) throw new Error(`${kind} ${String(entry.name)}: no producer is named ${JSON.stringify(entry.producer)}; the producers are ${names.join(', ')}`);
    }
  }
  const syncProducers = new Set((props.syncs ?? []).map((sync) => sync.producer));
  if (syncProducers.size > 1) throw new Error(`syncs send as producers ${[...syncProducers].join(', ')}: the sync function sends to one queue, so every sync names the same producer`);
  return specs;
}

/**
 * Refuses, at synth, a policy the worker would refuse at init, and syncs whose jobs the policy would
 * dead-letter: a sync's managed roles and its app_metadata writes must be allowed explicitly.
 */
function checkPolicy(props: PolicyProps, syncs: readonly ScheduledSync[], producer: string | undefined): void {
  const where = (key: string) => (producer === undefined ? key : `producer ${producer}: ${key}`);
  const fix = (key: string) => (producer === undefined ? key : `producer ${producer}'s ${key}`);
  const unknown = (props.allowedFields ?? []).filter((field) => !(USER_FIELDS as readonly string[]).includes(field));
  if (unknown.length > 0) throw new Error(`${where('allowedFields')} names unknown field(s) ${unknown.join(', ')}; known: ${USER_FIELDS.join(', ')}`);
  if (props.allowedRoles?.includes('*') && props.allowedRoles.length > 1) throw new Error(`${where('allowedRoles')} is either ['*'] (any role) or a list of role names and ids, not both`);
  if (props.allowedOrganizations?.includes('*') && props.allowedOrganizations.length > 1) throw new Error(`${where('allowedOrganizations')} is either ['*'] (any organization) or a list of organization ids and names, not both`);
  if (producer !== undefined) {
    for (const key of ['allowedFields', 'allowedRoles', 'allowedOrganizations'] as const) {
      if (props[key]?.length === 0) throw new Error(`${where(key)} lists nothing: leave it out for the default, or list what the producer may touch`);
    }
  }
  const anyRole = props.allowedRoles?.includes('*') ?? false;
  const fields = new Set<string>(props.allowedFields ?? DEFAULT_ALLOWED_FIELDS);
  for (const sync of syncs) {
    // The definition the schedule will hand the sync function, checked now rather than failing every run.
    const { expression: _expression, timeZone: _timeZone, bucket, key, producer: _producer, ...rest } = sync;
    try {
      validateSyncDefinition({ ...rest, source: { bucket, key } });
    } catch (error) {
      throw new Error(`sync ${String(sync.name)}: ${error instanceof Error ? error.message : String(error)}`);
    }
    const refused = anyRole ? [] : sync.managedRoles.filter((role) => !(props.allowedRoles ?? []).includes(role));
    if (refused.length > 0) throw new Error(`sync ${sync.name} manages role(s) ${refused.join(', ')} that ${fix('allowedRoles')} does not allow: add them to ${fix('allowedRoles')}`);
    if (!fields.has('app_metadata')) throw new Error(`sync ${sync.name} writes app_metadata, which ${fix('allowedFields')} does not allow: add 'app_metadata' to ${fix('allowedFields')}`);
    const organizations = props.allowedOrganizations ?? [];
    const outside = organizations.includes('*') ? [] : (sync.managedOrganizations ?? []).filter((organization) => !organizations.includes(organization));
    if (outside.length > 0) throw new Error(`sync ${sync.name} manages organization(s) ${outside.join(', ')} that ${fix('allowedOrganizations')} does not allow: add them to ${fix('allowedOrganizations')}`);
  }
}

function scheduleExpression(name: string, expression: scheduler.ScheduleExpression | string, timeZone: string | undefined): scheduler.ScheduleExpression {
  if (typeof expression !== 'string') return expression;
  const rate = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (rate?.[1] !== undefined && rate[2] !== undefined) {
    const amount = Number(rate[1]);
    const unit = rate[2].startsWith('minute') ? Duration.minutes(amount) : rate[2].startsWith('hour') ? Duration.hours(amount) : Duration.days(amount);
    return scheduler.ScheduleExpression.rate(unit);
  }
  if (/^(cron|at)\(.+\)$/.test(expression)) {
    return scheduler.ScheduleExpression.expression(expression, timeZone === undefined ? undefined : TimeZone.of(timeZone));
  }
  throw new Error(`schedule ${name}: expression must be rate(N unit), cron(…) or at(…), not ${JSON.stringify(expression)}`);
}

/** The dead-letter queue's retention: a day, for someone to read a letter, up to SQS's most. */
const MIN_DEAD_LETTER_RETENTION = Duration.days(1);
const MAX_DEAD_LETTER_RETENTION = Duration.days(14);

/** Refuses, at synth, a dead-letter retention SQS would refuse or that leaves no time to read a letter; returns it with its default. */
function checkDeadLetterRetention(retention: Duration = MAX_DEAD_LETTER_RETENTION): Duration {
  const seconds = retention.toMilliseconds() / 1000;
  if (!Number.isInteger(seconds) || seconds < MIN_DEAD_LETTER_RETENTION.toSeconds() || seconds > MAX_DEAD_LETTER_RETENTION.toSeconds()) {
    throw new Error(`deadLetterRetention must be from 1 day to 14 days, in whole seconds (got ${retention.toHumanString()}): how long the dead-letter queue keeps a letter, at most SQS's 14 days`);
  }
  return retention;
}

/**
 * What SQS asks of whoever sends to a queue under a customer-managed key: a data key (GenerateDataKey) and, to reuse
 * one, Decrypt. https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html
 */
const SENDER_KEY_ACTIONS = ['kms:GenerateDataKey', 'kms:Decrypt'] as const;

/**
 * SendMessage, GetQueueAttributes and GetQueueUrl on `queue`, as `grantSendMessages` gives them, without the KMS
 * actions it adds under a customer key (`kms:Encrypt`, `kms:ReEncrypt*`, `kms:GenerateDataKey*`, broader than a
 * sender needs): callers grant {@link SENDER_KEY_ACTIONS} themselves.
 */
function grantSend(queue: sqs.IQueue, grantee: iam.IGrantable): void {
  queue.grant(grantee, 'sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl');
}

/**
 * Scheduler's SqsSendMessage target, whose role may use a customer key with the exact actions a sender needs: the
 * library's target grants `kms:GenerateDataKey*`, a wildcard that also covers key pairs and data keys without plaintext.
 */
class SendJobTarget extends schedulerTargets.SqsSendMessage {
  private readonly jobs: sqs.IQueue;

  constructor(jobs: sqs.IQueue, props: schedulerTargets.SqsSendMessageProps) {
    super(jobs, props);
    this.jobs = jobs;
  }

  protected override addTargetActionToRole(role: iam.IRole): void {
    this.jobs.grant(role, 'sqs:SendMessage');
    this.jobs.encryptionMasterKey?.grant(role, ...SENDER_KEY_ACTIONS);
  }
}

/** SQS keeps a dead letter at most 14 days; a redriven job must still find its user's ledger item. */
const MIN_LEDGER_RETENTION = Duration.days(15);
const MAX_LEDGER_RETENTION = Duration.days(3650);
const MAX_ISSUED_AT_SKEW = Duration.hours(1);

/** Refuses, at synth, ordering settings the worker would refuse or that would lose order; returns them with their defaults. */
function checkLedger(props: Auth0QueueWorkerProps, maxJobAge: Duration): { ordering: 'ledger' | 'unordered'; retentionSeconds: number; issuedAtSkewSeconds: number } {
  const ordering: unknown = props.ordering ?? 'ledger';
  if (ordering !== 'ledger' && ordering !== 'unordered') throw new Error(`ordering must be 'ledger' (the default) or 'unordered' (got ${JSON.stringify(ordering)})`);
  if (ordering === 'unordered' && props.ledgerEncryptionKey !== undefined) throw new Error("ledgerEncryptionKey encrypts the ledger table, and ordering 'unordered' creates none: leave one of them out");
  const retention = props.ledgerRetention ?? Duration.days(90);
  // maxJobAge is at most 13 days, so the 15-day floor binds today; the maxJobAge term keeps the rule if that limit moves.
  const minRetention = Math.max(MIN_LEDGER_RETENTION.toSeconds(), maxJobAge.toSeconds() + Duration.days(1).toSeconds());
  const retentionSeconds = retention.toMilliseconds() / 1000;
  if (!Number.isInteger(retentionSeconds) || retentionSeconds < minRetention || retentionSeconds > MAX_LEDGER_RETENTION.toSeconds()) {
    throw new Error(
      `ledgerRetention must be from ${Duration.seconds(minRetention).toHumanString()} to 3650 days, in whole seconds (got ${retention.toHumanString()}): ` +
        'SQS keeps a dead letter at most 14 days and a redriven job must still meet the ledger, and it must be a day longer than maxJobAge',
    );
  }
  const skew = props.issuedAtSkew ?? Duration.minutes(5);
  const issuedAtSkewSeconds = skew.toMilliseconds() / 1000;
  if (!Number.isInteger(issuedAtSkewSeconds) || issuedAtSkewSeconds < 0 || issuedAtSkewSeconds > MAX_ISSUED_AT_SKEW.toSeconds()) {
    throw new Error(`issuedAtSkew must be whole seconds from 0 to 1 hour (got ${skew.toHumanString()}): how far a job's issuedAt may lie after SQS accepted it`);
  }
  return { ordering, retentionSeconds, issuedAtSkewSeconds };
}

/** CloudWatch's rule for a namespace: 1 to 255 of letters, digits and `.-_/#: `, not starting with `AWS/`. */
const NAMESPACE = /^(?!AWS\/)[A-Za-z0-9.\-_/#: ]{1,255}$/;
/** An address an SNS email subscription can take: something@domain.tld, no spaces. */
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s.]+$/;

/** Refuses, at synth, props that would deploy something broken, one clear message each. */
function checkProps(props: Auth0QueueWorkerProps, namespace: string, specs: readonly ProducerSpec[]): void {
  if (!Token.isUnresolved(namespace) && !NAMESPACE.test(namespace)) {
    throw new Error(`metricsNamespace must be 1 to 255 letters, digits or . - _ / # : and spaces, not starting with AWS/ (got ${JSON.stringify(namespace)})`);
  }
  if (props.alarmEmail !== undefined && !Token.isUnresolved(props.alarmEmail) && !EMAIL.test(props.alarmEmail)) {
    throw new Error(`alarmEmail must be an email address, such as ops@example.com (got ${JSON.stringify(props.alarmEmail)})`);
  }
  const policyOf = (spec: ProducerSpec): JobPolicy => ({
    allowedFields: new Set((spec.policy.allowedFields ?? DEFAULT_ALLOWED_FIELDS) as UserField[]),
    allowHttpPictures: spec.policy.allowHttpPictures === true,
    allowedRoles: spec.policy.allowedRoles?.includes('*') ? undefined : new Set(spec.policy.allowedRoles ?? []),
    allowedOrganizations: spec.policy.allowedOrganizations?.includes('*') ? '*' : new Set(spec.policy.allowedOrganizations ?? []),
    ...(spec.declared ? { producer: spec.name } : {}),
  });
  const names = new Set<string>();
  for (const entry of props.schedules ?? []) {
    const spec = specs.find((candidate) => !candidate.declared || candidate.name === entry.producer) as ProducerSpec;
    const policy = policyOf(spec);
    const allowedIn = (key: string) => (spec.declared ? `producer ${spec.name}'s ${key}` : key);
    if (!/^[A-Za-z0-9_-]{1,40}$/.test(String(entry.name))) throw new Error(`schedule name ${JSON.stringify(entry.name)} must be 1 to 40 letters, digits, "_" or "-"`);
    if (names.has(entry.name)) throw new Error(`schedule name ${entry.name} is used twice`);
    names.add(entry.name);
    // The job the schedule will send, checked now rather than dead-lettered on every run.
    let job: Job;
    try {
      job = parseJob(JSON.stringify(entry.job), policy);
    } catch (error) {
      const code = isJobError(error) ? `${error.code}: ` : '';
      throw new Error(`schedule ${entry.name}: the job would be dead-lettered on every run (${code}${error instanceof Error ? error.message : String(error)})`);
    }
    // The worker checks roles once resolved to ids; here a role must be listed as the job names it.
    if ('organization' in job && policy.allowedOrganizations !== '*' && !policy.allowedOrganizations?.has(job.organization)) {
      throw new Error(`schedule ${entry.name}: the job would be dead-lettered on every run (organization_not_allowed: ${job.organization} not in ${allowedIn('allowedOrganizations')}; list it as the job names it)`);
    }
    const roles = 'roles' in job ? (job.roles ?? []) : [];
    const refused = policy.allowedRoles === undefined ? [] : roles.filter((role) => !policy.allowedRoles?.has(role));
    if (refused.length > 0) {
      throw new Error(`schedule ${entry.name}: the job would be dead-lettered on every run (role_not_allowed: ${refused.join(', ')} not in ${allowedIn('allowedRoles')}; list each as the job names it)`);
    }
  }
}
