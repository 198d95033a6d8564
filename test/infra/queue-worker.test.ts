import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as cxapi from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks } from 'cdk-nag';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Auth0QueueWorker, type Auth0QueueWorkerProps, type ScheduledJob } from '../../infra/queue-worker.ts';
import { readDeploymentContext } from '../../infra/context.ts';
import { Auth0QueueWorkerStack } from '../../infra/worker-stack.ts';
import { loadConfig } from '../../shared/config.ts';

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:auth0-m2m-AbCdEf';
/** A scheduled job inside the default policy. */
const BLOCK = { type: 'user.update', userId: 'auth0|svc', changes: { blocked: true } } as const;

/** The stable logical id of the ordering ledger's table: a new one would start an empty ledger. */
const LEDGER_TABLE_ID = 'Auth0JobsLedgerTable4213C581';
/** A sync the default policy refuses nothing of, once its role and app_metadata are allowed. */
const SYNC = { allowedRoles: ['r'], allowedFields: ['app_metadata'], syncs: [{ name: 'hr', expression: 'rate(1 day)', bucket: 'b', key: 'k.jsonl', managedRoles: ['r'] }] };

type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };

/** The statements of the role policies whose logical ids start with `prefix` (`Auth0JobsWorkerRole`, `Auth0JobsSyncRole`). */
function statementsOf(template: Template, prefix: string): Statement[] {
  return Object.entries(template.findResources('AWS::IAM::Policy'))
    .filter(([id]) => id.startsWith(prefix))
    .flatMap(([, policy]) => policy['Properties'].PolicyDocument.Statement as Statement[]);
}

/** Every action of the statements, one per entry. */
const actionsOf = (statements: readonly Statement[]) => statements.flatMap((statement) => [statement.Action].flat());

/** The statements of `statementsOf(template, prefix)` that grant a KMS action. */
const kmsStatementsOf = (template: Template, prefix: string) => statementsOf(template, prefix).filter((statement) => actionsOf([statement]).some((action) => action.startsWith('kms:')));

/** A producer role of another account, as `producerRoleArns` names it. */
const CRM_ROLE_ARN = 'arn:aws:iam::210987654321:role/crm';
const QUEUE_KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/0f0f0f0f-12ab-34cd-56ef-1234567890ab';
/** One scheduled job and one sync: every party that sends to the jobs queue. */
const SENDERS = { ...SYNC, schedules: [{ name: 'Daily', expression: 'rate(1 day)', job: { type: 'roles.assign' as const, userId: 'auth0|x', roles: ['r'] } }], producerRoleArns: [CRM_ROLE_ARN] };

/** The CloudFormation properties of one of the construct's queues. */
function queueProperties(template: Template, stack: Stack, queue: { queueArn: string }): Record<string, unknown> {
  const [logicalId] = (stack.resolve(queue.queueArn) as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'];
  return template.toJSON()['Resources'][logicalId].Properties as Record<string, unknown>;
}

/**
 * Every sender under a queue key: the construct with a sync, a schedule and a producer ARN, and a producer role of this
 * app given `grantSendJobs`. The key is created in the stack, or imported by ARN.
 */
function synthWithQueueKey(kind: 'created' | 'imported', props: Partial<Auth0QueueWorkerProps> = SENDERS) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Test');
  const key = kind === 'created' ? new kms.Key(stack, 'QueueKey', { enableKeyRotation: true }) : kms.Key.fromKeyArn(stack, 'QueueKey', QUEUE_KEY_ARN);
  const construct = new Auth0QueueWorker(stack, 'Auth0Jobs', { auth0Domain: 'acme.eu.auth0.com', secretArn: SECRET_ARN, queueEncryptionKey: key, ...props });
  construct.grantSendJobs(new iam.Role(stack, 'Billing', { assumedBy: new iam.AccountRootPrincipal() }));
  return { stack, key, construct, template: Template.fromStack(stack) };
}

/** A bare stack holding the construct; bundling is skipped unless asked for. */
function synth(props: Partial<Auth0QueueWorkerProps> = {}, bundle = false) {
  const app = new App({ context: bundle ? {} : { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Test');
  const construct = new Auth0QueueWorker(stack, 'Auth0Jobs', { auth0Domain: 'acme.eu.auth0.com', secretArn: SECRET_ARN, ...props });
  return { app, stack, construct, template: Template.fromStack(stack) };
}

/** A value CloudFormation would give an environment variable the template leaves as a token. */
const resolvedAs = (name: string) => (name === 'WORKER_ROLE_ID' ? 'AROAEXAMPLEWORKER0001' : 'https://sqs.eu-west-1.amazonaws.com/1/resolved');

describe('Construct: Auth0QueueWorker', () => {
  it('runs the worker on Node 24, arm64, with JSON logs, its own log group and the deployment settings', () => {
    // Act
    const { template } = synth({ allowedRoles: ['support-agent'], allowedOrganizations: ['acme', 'org_W8mZ2nX4pQ1rT6vY'], auth0Plan: 'professional' });

    // Assess
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Timeout: 60,
      LoggingConfig: Match.objectLike({ LogFormat: 'JSON', ApplicationLogLevel: 'INFO' }),
      Environment: {
        Variables: Match.objectLike({ AUTH0_DOMAIN: 'acme.eu.auth0.com', AUTH0_SECRET_ID: SECRET_ARN, JOB_CONCURRENCY: '4', MAX_CONCURRENCY: '2', ALLOWED_ROLES: 'support-agent', ALLOWED_ORGANIZATIONS: 'acme,org_W8mZ2nX4pQ1rT6vY', AUTH0_PLAN: 'professional', DLQ_URL: Match.anyValue() }),
      },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    template.resourceCountIs('AWS::Lambda::Function', 1);
  });

  it('lets the worker take http: pictures only when allowHttpPictures says so', () => {
    // Act
    const strict = synth().template;
    const relaxed = synth({ allowHttpPictures: true }).template;

    // Assess
    const variables = (template: Template) => Object.values(template.findResources('AWS::Lambda::Function')).map((fn) => (fn as { Properties: { Environment: { Variables: Record<string, unknown> } } }).Properties.Environment.Variables);
    expect(variables(strict)[0]).not.toHaveProperty('ALLOW_HTTP_PICTURES');
    expect(variables(relaxed)[0]).toMatchObject({ ALLOW_HTTP_PICTURES: 'true' });
  });

  it('reports batch item failures, with batch size and maximum concurrency (default 2, the free plan)', () => {
    // Act
    const { template } = synth();

    // Assess: batches of 50 gathered for up to 1 s, so that grouped calls have jobs to share
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BatchSize: 50,
      MaximumBatchingWindowInSeconds: 1,
      ScalingConfig: { MaximumConcurrency: 2 },
    });
  });

  it('takes 10 records and no batching window on FIFO, on the free plan, when asked for no window or for 10 records at most; a larger batch gets a window', () => {
    // Act
    const mapping = (props: Partial<Auth0QueueWorkerProps>) => Object.values(synth(props).template.findResources('AWS::Lambda::EventSourceMapping'))[0]?.['Properties'] as Record<string, unknown>;
    const fifo = mapping({ fifo: true });
    const free = mapping({ auth0Plan: 'free' });
    const professional = mapping({ auth0Plan: 'professional' });
    const noWindow = mapping({ maxBatchingWindow: Duration.seconds(0) });
    const small = mapping({ batchSize: 5 });
    const large = mapping({ batchSize: 200 });
    const slow = mapping({ batchSize: 200, maxBatchingWindow: Duration.seconds(20) });

    // Assess
    expect([fifo['BatchSize'], fifo['MaximumBatchingWindowInSeconds']]).toEqual([10, undefined]);
    expect([free['BatchSize'], free['MaximumBatchingWindowInSeconds']]).toEqual([10, undefined]);
    expect([professional['BatchSize'], professional['MaximumBatchingWindowInSeconds']]).toEqual([50, 1]);
    expect([noWindow['BatchSize'], noWindow['MaximumBatchingWindowInSeconds']]).toEqual([10, 0]);
    expect([small['BatchSize'], small['MaximumBatchingWindowInSeconds']]).toEqual([5, undefined]);
    expect([large['BatchSize'], large['MaximumBatchingWindowInSeconds']]).toEqual([200, 1]);
    expect([slow['BatchSize'], slow['MaximumBatchingWindowInSeconds']]).toEqual([200, 20]);
  });

  it('with no allowlists configured, deploys a worker that lets no role be assigned and no email, email_verified or app_metadata be written', () => {
    // Act
    const { template } = synth();
    const [worker] = Object.values(template.findResources('AWS::Lambda::Function'));
    const variables = worker?.['Properties'].Environment.Variables as Record<string, unknown>;
    const config = loadConfig({ ...Object.fromEntries(Object.entries(variables).map(([name, value]) => [name, typeof value === 'string' ? value : resolvedAs(name)])) });

    // Assess: the worker's own reading of the deployed environment
    expect(variables['ALLOWED_ROLES']).toBeUndefined();
    expect(variables['ALLOWED_FIELDS']).toBeUndefined();
    expect(config.policy.allowedRoles).toEqual(new Set());
    for (const field of ['email', 'email_verified', 'app_metadata']) expect(config.policy.allowedFields.has(field as never)).toBe(false);
  });

  it('refuses at synth a sync whose roles or app_metadata writes the policy does not allow, a sync setting of the wrong type, and unknown fields', () => {
    // Act & Assess
    const sync = { name: 'hr', expression: 'rate(1 day)', bucket: 'b', key: 'k.jsonl', managedRoles: ['support-agent'] };
    const allowed = { allowedRoles: ['support-agent'], allowedFields: ['app_metadata'] };
    expect(() => synth({ ...allowed, syncs: [{ ...sync, allowRemovals: 'false' as never }] })).toThrow(/sync hr: .*allowRemovals must be true or false/);
    expect(() => synth({ ...allowed, syncs: [{ ...sync, maxRemovals: Number('ten') }] })).toThrow(/maxRemovals must be a whole number/);
    expect(() => synth({ syncs: [sync], allowedFields: ['app_metadata'] })).toThrow(/manages role\(s\) support-agent that allowedRoles does not allow/);
    expect(() => synth({ syncs: [sync], allowedRoles: ['support-agent'] })).toThrow(/writes app_metadata/);
    expect(() => synth({ allowedFields: ['favourite_colour'] })).toThrow(/unknown field\(s\) favourite_colour/);
    expect(() => synth({ allowedRoles: ['*', 'admin'] })).toThrow(/either \['\*'\]/);
    expect(() => synth({ ...allowed, syncs: [{ ...sync, managedOrganizations: ['acme'] }] })).toThrow(/manages organization\(s\) acme that allowedOrganizations does not allow/);
    expect(() => synth({ ...allowed, allowedOrganizations: ['acme'], syncs: [{ ...sync, managedOrganizations: ['acme'] }] })).not.toThrow();
  });

  it('redrives to a 14-day dead-letter queue after 5 receives, with a visibility timeout 6 times the worker timeout', () => {
    // Act
    const { template, stack, construct } = synth({ timeout: Duration.seconds(30) });

    // Assess
    const dlqArn = stack.resolve(construct.deadLetterQueue.queueArn);
    template.hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: 180,
      MaximumMessageSize: 1_048_576,
      SqsManagedSseEnabled: true,
      RedrivePolicy: { deadLetterTargetArn: dlqArn, maxReceiveCount: 5 },
    });
    template.hasResourceProperties('AWS::SQS::Queue', { MessageRetentionPeriod: 1_209_600, SqsManagedSseEnabled: true });
  });

  it('keeps dead letters 14 days unless deadLetterRetention says otherwise, from 1 to 14 days, and leaves the jobs queue as it was', () => {
    // Act
    const retentions = [undefined, Duration.days(3), Duration.days(1), Duration.days(14)].map((deadLetterRetention) => {
      const { template, stack, construct } = synth(deadLetterRetention === undefined ? {} : { deadLetterRetention });
      return [queueProperties(template, stack, construct.deadLetterQueue)['MessageRetentionPeriod'], queueProperties(template, stack, construct.queue)['MessageRetentionPeriod']];
    });

    // Assess
    expect(retentions).toEqual([
      [1_209_600, 345_600],
      [259_200, 345_600],
      [86_400, 345_600],
      [1_209_600, 345_600],
    ]);
  });

  it('tells the worker the redrive budget and the maximum job age, and keeps jobs on the queue a day past that age', () => {
    // Act
    const defaults = synth().template;
    const week = synth({ maxJobAge: Duration.days(7), fifo: true }).template;

    // Assess
    defaults.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ MAX_RECEIVE_COUNT: '5', JOB_MAX_AGE_SECONDS: '86400' }) } });
    defaults.hasResourceProperties('AWS::SQS::Queue', { RedrivePolicy: Match.anyValue(), MessageRetentionPeriod: 345_600 });
    week.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ MAX_RECEIVE_COUNT: '100', JOB_MAX_AGE_SECONDS: '604800' }) } });
    week.hasResourceProperties('AWS::SQS::Queue', { RedrivePolicy: Match.anyValue(), MessageRetentionPeriod: 691_200 });
    expect(() => synth({ maxJobAge: Duration.days(14) })).toThrow(/maxJobAge must be from 1 minute to 13 days/);
  });

  it("tells the worker its own role's unique id, the only sender whose retry state it reads", () => {
    // Act
    const { template, construct, stack } = synth();

    // Assess: the RoleId attribute of the worker's own role
    const roleId = stack.resolve((construct.worker.role as iam.Role).roleId);
    expect(roleId).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/WorkerRole/), 'RoleId'] });
    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ WORKER_ROLE_ID: roleId, DLQ_URL: Match.anyValue() }) } });
  });

  it('refuses non-TLS access to both queues', () => {
    // Act
    const { template } = synth();

    // Assess
    const policies = template.findResources('AWS::SQS::QueuePolicy', {
      Properties: {
        PolicyDocument: {
          Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
        },
      },
    });
    expect(Object.keys(policies)).toHaveLength(2);
  });

  it('lets the worker read exactly the given secret, consume and resend jobs, and dead-letter, without wildcard actions', () => {
    // Act
    const { template } = synth();

    // Assess
    const [policy] = Object.values(template.findResources('AWS::IAM::Policy'));
    const statements = policy?.['Properties'].PolicyDocument.Statement as Array<{ Action: string | string[]; Resource: unknown }>;
    const actions = statements.flatMap((statement) => [statement.Action].flat());
    expect(actions.filter((action) => action.includes('*'))).toEqual([]);
    expect(statements).toContainEqual({ Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], Resource: SECRET_ARN });
    expect(actions).toEqual(expect.arrayContaining(['sqs:ReceiveMessage', 'sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:SendMessage']));
    expect(template.findResources('AWS::IAM::Role', { Properties: { ManagedPolicyArns: Match.anyValue() } })).toEqual({});
  });

  it('lets the worker decrypt an imported secret under a customer-managed key, through Secrets Manager only', () => {
    // Act
    const keyArn = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const { template } = synth({ secretKeyArn: keyArn });

    // Assess
    const [policy] = Object.values(template.findResources('AWS::IAM::Policy'));
    const statements = policy?.['Properties'].PolicyDocument.Statement as Array<{ Action: string | string[]; Resource: unknown; Condition?: unknown }>;
    const decrypt = statements.find((statement) => [statement.Action].flat().includes('kms:Decrypt'));
    expect(decrypt?.Resource).toBe(keyArn);
    expect(JSON.stringify(decrypt?.Condition)).toContain('secretsmanager.');
  });

  it('keeps the logical ids of the stateful resources stable', () => {
    // Act
    const { template } = synth({ secretArn: undefined });

    // Assess: renaming these would replace the queues (and their jobs) or the secret
    expect(Object.keys(template.findResources('AWS::SQS::Queue')).sort()).toEqual(['Auth0JobsDeadLetterQueueDC643F18', 'Auth0JobsJobsQueue2CE676ED']);
    expect(Object.keys(template.findResources('AWS::SecretsManager::Secret'))).toEqual(['Auth0JobsClientSecret32BA8893']);
    expect(Object.keys(template.findResources('AWS::DynamoDB::Table'))).toEqual([LEDGER_TABLE_ID]);
    template.hasResource('AWS::SQS::Queue', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });

  it('outputs the queues, the worker function and the ledger table, which the command line finds the deployment from', () => {
    // Act
    const { template } = synth({});
    const unordered = synth({ ordering: 'unordered' }).template;

    // Assess: keys a person can read and the command line matches: the construct's path and the name, no hash
    const outputs = template.findOutputs('*');
    expect(Object.keys(outputs).sort()).toEqual(['Auth0JobsDeadLetterQueueUrl', 'Auth0JobsJobsQueueArn', 'Auth0JobsJobsQueueUrl', 'Auth0JobsLedgerTableName', 'Auth0JobsWorkerFunctionName', 'Auth0JobsWorkerLogGroupName']);
    const worker = Object.entries(outputs).find(([key]) => key.startsWith('Auth0JobsWorkerFunctionName'))?.[1] as { Value: { Ref: string } };
    expect(Object.keys(template.findResources('AWS::Lambda::Function'))).toContain(worker.Value.Ref);
    // The runbook's queries run on the worker's log group: the one its function writes to
    const logGroup = (outputs['Auth0JobsWorkerLogGroupName'] as { Value: { Ref: string } }).Value.Ref;
    expect(Object.keys(template.findResources('AWS::Logs::LogGroup'))).toContain(logGroup);
    expect(template.findResources('AWS::Lambda::Function')[worker.Value.Ref]?.['Properties'].LoggingConfig.LogGroup).toEqual({ Ref: logGroup });
    const ledger = Object.entries(outputs).find(([key]) => key.startsWith('Auth0JobsLedgerTableName'))?.[1] as { Value: { Ref: string } };
    expect(ledger.Value).toEqual({ Ref: LEDGER_TABLE_ID });
    expect(Object.keys(unordered.findOutputs('*')).filter((key) => key.startsWith('Auth0JobsLedgerTableName'))).toEqual([]);
  });

  it('creates an empty secret with a note on how to fill it when no ARN is given', () => {
    // Act
    const { template } = synth({ secretArn: undefined });

    // Assess
    template.hasResourceProperties('AWS::SecretsManager::Secret', { Description: Match.stringLikeRegexp('put-secret-value') });
  });

  it('raises the four alarms, to an encrypted SNS topic with the email when one is given', () => {
    // Act
    const { template } = synth({ alarmEmail: 'ops@example.com' });

    // Assess
    template.resourceCountIs('AWS::CloudWatch::Alarm', 4);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: 1, AlarmActions: Match.anyValue() });
    // The oldest job's age counts from its first send, which the worker publishes: resends make new messages.
    const [oldest] = Object.values(template.findResources('AWS::CloudWatch::Alarm', { Properties: { Threshold: 900 } }));
    const queries = JSON.stringify(oldest?.['Properties'].Metrics);
    expect(queries).toContain('MAX([queue, worker])');
    expect(queries).toContain('"MetricName":"ApproximateAgeOfOldestMessage"');
    expect(queries).toContain('"MetricName":"OldestJobAgeSeconds"');
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Errors' });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Throttles' });
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const dashboard = JSON.stringify(template.findResources('AWS::CloudWatch::Dashboard'));
    for (const name of ['RateLimited', 'CallsPaced', 'PacedWaitMs']) expect(dashboard).toContain(`\\"${name}\\"`);
  });

  it('builds a FIFO pair without content-based deduplication, which would drop a repeated job, and a redrive count fit for 429s', () => {
    // Act
    const { template } = synth({ fifo: true });

    // Assess
    template.hasResourceProperties('AWS::SQS::Queue', { FifoQueue: true, RedrivePolicy: Match.objectLike({ maxReceiveCount: 100 }) });
    template.resourcePropertiesCountIs('AWS::SQS::Queue', { FifoQueue: true }, 2);
    template.resourcePropertiesCountIs('AWS::SQS::Queue', { ContentBasedDeduplication: true }, 0);
  });

  it('with schedules on FIFO, turns content-based deduplication on, as Scheduler needs, and makes each run\'s body unique', () => {
    // Act
    const { template } = synth({ fifo: true, schedules: [{ name: 'nightly', expression: 'rate(1 day)', job: { type: 'user.update', userId: 'auth0|1', changes: { blocked: false } } }] });

    // Assess
    template.hasResourceProperties('AWS::SQS::Queue', { FifoQueue: true, ContentBasedDeduplication: true, RedrivePolicy: Match.anyValue() });
    const [schedule] = Object.values(template.findResources('AWS::Scheduler::Schedule'));
    expect(JSON.parse(schedule?.['Properties'].Target.Input)).toEqual({ jobId: '<aws.scheduler.execution-id>', type: 'user.update', userId: 'auth0|1', changes: { blocked: false } });
    expect(() => synth({ fifo: true, schedules: [{ name: 'fixed', expression: 'rate(1 day)', job: { type: 'user.update', userId: 'auth0|1', changes: { blocked: false }, jobId: 'nightly' } }] })).toThrow(/leave jobId out/);
  });

  it('grants send access to producer roles of any account through the queue policy', () => {
    // Act
    const { template } = synth({ producerRoleArns: ['arn:aws:iam::210987654321:role/crm-exporter'] });

    // Assess
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::210987654321:role/crm-exporter' }, Action: ['sqs:SendMessage', 'sqs:GetQueueUrl', 'sqs:GetQueueAttributes'] }),
        ]),
      },
    });
  });

  it('puts fixed jobs on the queue with EventBridge Scheduler', () => {
    // Act
    const job = { type: 'roles.assign' as const, userId: 'auth0|svc', roles: ['nightly'] };
    const { template, stack, construct } = synth({ allowedRoles: ['nightly'], schedules: [{ name: 'Nightly', expression: 'cron(0 3 * * ? *)', timeZone: 'Europe/Paris', job }] });

    // Assess
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 3 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Paris',
      Target: Match.objectLike({ Arn: stack.resolve(construct.queue.queueArn), Input: JSON.stringify({ jobId: '<aws.scheduler.execution-id>', ...job }) }),
    });
    template.resourceCountIs('AWS::Events::Rule', 0);
  });

  it('deploys a scheduled sync that may read and write exactly the objects beside its source that it uses', () => {
    // Act
    const { template, stack, construct } = synth({
      allowedRoles: ['support-agent'],
      allowedFields: ['blocked', 'app_metadata'],
      syncs: [{ name: 'hr-roles', expression: 'rate(1 day)', bucket: 'acme-hr-exports', key: 'auth0/users.jsonl', managedRoles: ['support-agent'], allowRemovals: true }],
      alarmEmail: 'ops@example.com',
      auth0Plan: 'professional',
    });

    // Assess: its reads paced by the plan's buckets, as the worker's calls are
    template.resourceCountIs('AWS::Lambda::Function', 2);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Timeout: 900,
      Environment: { Variables: Match.objectLike({ JOBS_QUEUE_URL: stack.resolve(construct.queue.queueUrl), AUTH0_PLAN: 'professional' }) },
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 day)',
      Target: Match.objectLike({
        Arn: stack.resolve(construct.syncFunction?.functionArn),
        Input: JSON.stringify({ name: 'hr-roles', managedRoles: ['support-agent'], allowRemovals: true, source: { bucket: 'acme-hr-exports', key: 'auth0/users.jsonl' } }),
      }),
    });
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap((policy) => policy['Properties'].PolicyDocument.Statement as Array<{ Action: string | string[]; Resource: unknown }>);
    const s3 = statements.filter((statement) => String(statement.Action).startsWith('s3:'));
    expect(JSON.stringify(s3)).toContain('acme-hr-exports/auth0/users.jsonl"');
    expect(JSON.stringify(s3)).not.toMatch(/\*/);
    // Every object the sync reads or writes (test/local/sync-safety.test.ts holds runs of it to the same list)
    const object = (suffix: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:s3:::acme-hr-exports/auth0/users.jsonl${suffix}`]] });
    expect(s3.find((statement) => statement.Action === 's3:GetObject')?.Resource).toEqual(['', '.manifest.json', '.outstanding.json', '.approvals'].map(object));
    expect(s3.find((statement) => statement.Action === 's3:PutObject')?.Resource).toEqual(['.manifest.json', '.report.json', '.outstanding.json'].map(object));
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'SyncAborted', Namespace: construct.metricsNamespace, AlarmActions: Match.anyValue() });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'SyncRemovalsBlocked' });
    // A run that fails or times out raises its own alarm, on the sync function's Errors
    const errors = Object.values(template.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'Errors' } }));
    expect(errors).toHaveLength(2);
    expect(JSON.stringify(errors)).toContain('Sync');
  });

  it.each([
    [{ maxReceiveCount: 3 }, /at least 5/],
    [{ fifo: true, maxBatchingWindow: Duration.seconds(5) }, /FIFO/],
    [{ fifo: true, batchSize: 50 }, /at most 10/],
    [{ batchSize: 50, maxBatchingWindow: Duration.seconds(0) }, /^batchSize 50 needs a maxBatchingWindow of at least 1 second/],
    [{ schedules: [{ name: 'x', expression: 'every day', job: BLOCK }] }, /schedule x: expression must be rate\(N unit\), cron\(…\) or at\(…\), not "every day"/],
    [{ schedules: [{ name: 'typo', expression: 'rate(1 day)', job: { type: 'user.update', userId: 'auth0|1', chanegs: { blocked: true } } }] }, /^schedule typo: the job would be dead-lettered on every run \(unknown_field: /],
    [{ schedules: [{ name: 'admin', expression: 'rate(1 day)', job: { type: 'roles.assign', userId: 'auth0|1', roles: ['admin'] } }] }, /^schedule admin: the job would be dead-lettered on every run \(role_not_allowed: /],
    [{ schedules: [{ name: 'email', expression: 'rate(1 day)', job: { type: 'user.update', userId: 'auth0|1', changes: { email: 'x@example.com' } } }] }, /^schedule email: the job would be dead-lettered on every run \(field_not_allowed: /],
    [{ schedules: [{ name: 'a', expression: 'rate(1 day)', job: BLOCK }, { name: 'a', expression: 'rate(2 days)', job: BLOCK }] }, /^schedule name a is used twice$/],
    [{ schedules: [{ name: 'org', expression: 'rate(1 day)', job: { type: 'org.members.remove', userId: 'auth0|1', organization: 'acme' } }] }, /^schedule org: the job would be dead-lettered on every run \(organization_not_allowed: /],
    [{ allowedOrganizations: ['globex'], schedules: [{ name: 'org', expression: 'rate(1 day)', job: { type: 'org.members.remove', userId: 'auth0|1', organization: 'acme' } }] }, /^schedule org: the job would be dead-lettered on every run \(organization_not_allowed: acme not in allowedOrganizations/],
    [{ allowedOrganizations: ['*', 'acme'] }, /^allowedOrganizations is either/],
    [{ alarmEmail: 'ops' }, /^alarmEmail must be an email address, such as ops@example.com \(got "ops"\)$/],
    [{ alarmEmail: 'ops@example' }, /^alarmEmail must be an email address/],
    [{ metricsNamespace: 'AWS/Lambda' }, /^metricsNamespace must be 1 to 255 letters/],
    [{ metricsNamespace: 'a'.repeat(256) }, /^metricsNamespace must be 1 to 255 letters/],
    [{ ordering: 'ordered' }, /^ordering must be 'ledger' \(the default\) or 'unordered' \(got "ordered"\)$/],
    [{ ordering: '' }, /^ordering must be 'ledger' \(the default\) or 'unordered' \(got ""\)$/],
    [{ ledgerRetention: Duration.days(14) }, /^ledgerRetention must be from 15 days to 3650 days, in whole seconds \(got 14 days\): SQS keeps a dead letter at most 14 days/],
    [{ ledgerRetention: Duration.days(3651) }, /^ledgerRetention must be from 15 days to 3650 days/],
    [{ ledgerRetention: Duration.millis(Duration.days(30).toMilliseconds() + 500) }, /^ledgerRetention must be from 15 days to 3650 days, in whole seconds/],
    [{ issuedAtSkew: Duration.seconds(3601) }, /^issuedAtSkew must be whole seconds from 0 to 1 hour \(got 1 hour 1 second\): how far a job's issuedAt may lie after SQS accepted it$/],
    [{ issuedAtSkew: Duration.millis(1500) }, /^issuedAtSkew must be whole seconds from 0 to 1 hour/],
    [{ deadLetterRetention: Duration.hours(23) }, /^deadLetterRetention must be from 1 day to 14 days, in whole seconds \(got 23 hours\): how long the dead-letter queue keeps a letter/],
    [{ deadLetterRetention: Duration.days(15) }, /^deadLetterRetention must be from 1 day to 14 days, in whole seconds \(got 15 days\)/],
    [{ deadLetterRetention: Duration.millis(Duration.days(2).toMilliseconds() + 500) }, /^deadLetterRetention must be from 1 day to 14 days, in whole seconds/],
  ])('refuses %o with one clear message', (props, message) => {
    // Act & Assess
    expect(() => synth(props as Partial<Auth0QueueWorkerProps>)).toThrow(message);
  });

  it('takes a ScheduleExpression as well as text, and a job typed by the contract', () => {
    // Prepare: the compiler refuses a scheduled job outside the contract (the line fails the type check if it compiles)
    // @ts-expect-error: `chanegs` is no field of a user.update job
    const typo: ScheduledJob = { name: 'typo', expression: 'rate(1 day)', job: { type: 'user.update', userId: 'auth0|1', chanegs: { blocked: true } } };

    // Act
    const { template } = synth({ schedules: [{ name: 'Weekly', expression: scheduler.ScheduleExpression.cron({ weekDay: 'MON', hour: '6', minute: '0' }), job: BLOCK }] });

    // Assess
    template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'cron(0 6 ? * MON *)' });
    expect(() => synth({ schedules: [typo] })).toThrow(/unknown_field/);
  });

  it('gives two deployments in one stack their own metrics namespace, which their alarms and dashboards read', () => {
    // Prepare
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Two');
    const first = new Auth0QueueWorker(stack, 'Tenant1', { auth0Domain: 'one.eu.auth0.com', secretArn: SECRET_ARN });
    const second = new Auth0QueueWorker(stack, 'Tenant2', { auth0Domain: 'two.eu.auth0.com', secretArn: SECRET_ARN, metricsNamespace: 'Acme/Auth0Jobs' });

    // Act
    const template = Template.fromStack(stack);

    // Assess
    expect(first.metricsNamespace).toMatch(/^Auth0QueueWorker\/TwoTenant1[0-9A-F]{8}$/);
    expect(second.metricsNamespace).toBe('Acme/Auth0Jobs');
    for (const [construct, domain] of [[first, 'one.eu.auth0.com'], [second, 'two.eu.auth0.com']] as const) {
      template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ AUTH0_DOMAIN: domain, METRICS_NAMESPACE: construct.metricsNamespace }) } });
    }
    const alarmNamespaces = JSON.stringify(template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarmNamespaces).toContain(`"Namespace":"${first.metricsNamespace}"`);
    expect(alarmNamespaces).toContain('"Namespace":"Acme/Auth0Jobs"');
    expect(alarmNamespaces).not.toContain('"Namespace":"Auth0QueueWorker"');
  });
});

describe('Construct: Auth0QueueWorker, the ordering ledger', () => {
  it('keeps one item per user in a DynamoDB table: key pk, on demand, point-in-time recovery, TTL on expiresAt, AWS managed encryption, retained', () => {
    // Act
    const { template, construct, stack } = synth();

    // Assess
    expect(construct.ledgerTable).toBeDefined();
    expect(stack.resolve(construct.ledgerTable?.tableName)).toEqual({ Ref: LEDGER_TABLE_ID });
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.templateMatches({
      Resources: {
        [LEDGER_TABLE_ID]: {
          Type: 'AWS::DynamoDB::Table',
          DeletionPolicy: 'Retain',
          UpdateReplacePolicy: 'Retain',
          Properties: Match.exact({
            KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
            AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
            BillingMode: 'PAY_PER_REQUEST',
            PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
            TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
            // SSE enabled without a key id: the AWS managed key aws/dynamodb (not the AWS owned default).
            SSESpecification: { SSEEnabled: true },
          }),
        },
      },
    });
  });

  it('encrypts the ledger with a customer-managed key when given, which the functions may use through DynamoDB only, to decrypt', () => {
    // Prepare
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Test');
    const key = new kms.Key(stack, 'LedgerKey', { enableKeyRotation: true });

    // Act
    new Auth0QueueWorker(stack, 'Auth0Jobs', { auth0Domain: 'acme.eu.auth0.com', secretArn: SECRET_ARN, ledgerEncryptionKey: key, ...SYNC });
    const template = Template.fromStack(stack);

    // Assess
    template.hasResourceProperties('AWS::DynamoDB::Table', { SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: stack.resolve(key.keyArn) } });
    for (const role of ['Auth0JobsWorkerRole', 'Auth0JobsSyncRole']) {
      const kmsStatements = statementsOf(template, role).filter((statement) => actionsOf([statement]).some((action) => action.startsWith('kms:')));
      expect(kmsStatements).toEqual([
        { Effect: 'Allow', Action: 'kms:Decrypt', Resource: stack.resolve(key.keyArn), Condition: { StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['dynamodb.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } } } },
      ]);
    }
    // The key's own policy is left as it was: the grants are the roles' IAM policies.
    expect(JSON.stringify(template.findResources('AWS::KMS::Key'))).not.toContain('dynamodb');
  });

  it('lets the worker get and update items of the ledger table, and nothing broader', () => {
    // Act
    const { template } = synth();

    // Assess
    const statements = statementsOf(template, 'Auth0JobsWorkerRole');
    const dynamodb = statements.filter((statement) => actionsOf([statement]).some((action) => action.startsWith('dynamodb:')));
    expect(dynamodb).toEqual([{ Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], Resource: [{ 'Fn::GetAtt': [LEDGER_TABLE_ID, 'Arn'] }] }]);
    expect(actionsOf(statements).filter((action) => action.startsWith('dynamodb:')).sort()).toEqual(['dynamodb:GetItem', 'dynamodb:UpdateItem']);
    // Under the AWS managed key, DynamoDB's own key policy covers decryption: no KMS grant at all.
    expect(actionsOf(statements).filter((action) => action.startsWith('kms:'))).toEqual([]);
  });

  it('lets the sync read a user\'s ledger item (GetItem only) and tells it the table', () => {
    // Act
    const { template, stack, construct } = synth(SYNC);

    // Assess
    const statements = statementsOf(template, 'Auth0JobsSyncRole');
    expect(statements.filter((statement) => actionsOf([statement]).some((action) => action.startsWith('dynamodb:')))).toEqual([
      { Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: [{ 'Fn::GetAtt': [LEDGER_TABLE_ID, 'Arn'] }] },
    ]);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 900,
      Environment: { Variables: Match.objectLike({ JOBS_QUEUE_URL: stack.resolve(construct.queue.queueUrl), LEDGER_TABLE: { Ref: LEDGER_TABLE_ID }, ORDERING: Match.absent() }) },
    });
  });

  it('tells the worker its table, the retention and the allowed skew, which the worker\'s own configuration reads', () => {
    // Act
    const defaults = synth().template;
    const custom = synth({ ledgerRetention: Duration.days(30), issuedAtSkew: Duration.seconds(0) }).template;
    const [worker] = Object.values(defaults.findResources('AWS::Lambda::Function'));
    const variables = worker?.['Properties'].Environment.Variables as Record<string, unknown>;
    const config = loadConfig(Object.fromEntries(Object.entries(variables).map(([name, value]) => [name, typeof value === 'string' ? value : resolvedAs(name)])));

    // Assess
    expect(variables).toMatchObject({ LEDGER_TABLE: { Ref: LEDGER_TABLE_ID }, LEDGER_RETENTION_SECONDS: '7776000', ISSUED_AT_SKEW_SECONDS: '300' });
    expect(variables['ORDERING']).toBeUndefined();
    expect(config.ledger?.retentionMs).toBe(90 * 86_400_000);
    expect(config.issuedAtSkewMs).toBe(300_000);
    custom.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ LEDGER_RETENTION_SECONDS: '2592000', ISSUED_AT_SKEW_SECONDS: '0' }) } });
    // The limits themselves are accepted.
    expect(() => synth({ ledgerRetention: Duration.days(15), issuedAtSkew: Duration.hours(1) })).not.toThrow();
    expect(() => synth({ ledgerRetention: Duration.days(3650) })).not.toThrow();
  });

  it('with ordering unordered, creates no table, grants no DynamoDB action and tells both functions ORDERING=unordered', () => {
    // Act
    const { template, construct } = synth({ ordering: 'unordered', ...SYNC });
    const functions = Object.values(template.findResources('AWS::Lambda::Function')).map((fn) => fn['Properties'].Environment.Variables as Record<string, unknown>);
    const [worker] = functions.filter((variables) => variables['DLQ_URL'] !== undefined);
    const config = loadConfig(Object.fromEntries(Object.entries(worker ?? {}).map(([name, value]) => [name, typeof value === 'string' ? value : resolvedAs(name)])));

    // Assess
    template.resourceCountIs('AWS::DynamoDB::Table', 0);
    expect(construct.ledgerTable).toBeUndefined();
    expect(functions).toHaveLength(2);
    for (const variables of functions) {
      expect(variables['ORDERING']).toBe('unordered');
      expect(variables['LEDGER_TABLE']).toBeUndefined();
    }
    expect(worker).toMatchObject({ ISSUED_AT_SKEW_SECONDS: '300' });
    expect(worker?.['LEDGER_RETENTION_SECONDS']).toBeUndefined();
    expect(config.ledger).toBeUndefined();
    expect(actionsOf(statementsOf(template, '')).filter((action) => action.startsWith('dynamodb:'))).toEqual([]);
    expect(() => construct.grantReadLedger(new iam.Role(construct, 'Operator', { assumedBy: new iam.AccountRootPrincipal() }))).toThrow(/no ledger table/);
  });

  it('refuses a ledger key when ordering is unordered, as there is no table to encrypt', () => {
    // Prepare
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Test');
    const key = kms.Key.fromKeyArn(stack, 'Key', 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab');

    // Act & Assess
    expect(() => new Auth0QueueWorker(stack, 'Auth0Jobs', { auth0Domain: 'acme.eu.auth0.com', secretArn: SECRET_ARN, ordering: 'unordered', ledgerEncryptionKey: key })).toThrow(
      /^ledgerEncryptionKey encrypts the ledger table, and ordering 'unordered' creates none/,
    );
  });

  it('lets an operator\'s role read users\' ledger items with GetItem only, and decrypt through DynamoDB under a customer key', () => {
    // Prepare
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Test');
    const key = kms.Key.fromKeyArn(stack, 'Key', 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab');
    const plain = new Auth0QueueWorker(stack, 'Auth0Jobs', { auth0Domain: 'acme.eu.auth0.com', secretArn: SECRET_ARN });
    const keyed = new Auth0QueueWorker(stack, 'Keyed', { auth0Domain: 'acme.eu.auth0.com', secretArn: SECRET_ARN, ledgerEncryptionKey: key });
    const support = new iam.Role(stack, 'Support', { assumedBy: new iam.AccountRootPrincipal() });
    const auditor = new iam.Role(stack, 'Auditor', { assumedBy: new iam.AccountRootPrincipal() });

    // Act
    plain.grantReadLedger(support);
    keyed.grantReadLedger(auditor);
    const template = Template.fromStack(stack);

    // Assess
    expect(statementsOf(template, 'SupportDefaultPolicy')).toEqual([{ Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: [{ 'Fn::GetAtt': [LEDGER_TABLE_ID, 'Arn'] }] }]);
    expect(actionsOf(statementsOf(template, 'AuditorDefaultPolicy'))).toEqual(['dynamodb:GetItem', 'kms:Decrypt']);
    expect(statementsOf(template, 'AuditorDefaultPolicy')[1]).toMatchObject({ Resource: key.keyArn, Condition: { StringEquals: { 'kms:ViaService': expect.anything() } } });
  });
});

describe('Construct: Auth0QueueWorker, the queues\' encryption key', () => {
  it('without queueEncryptionKey, keeps SQS-managed encryption on both queues and grants no KMS action to anyone', () => {
    // Act
    const { template, stack, construct } = synth(SENDERS);

    // Assess
    for (const queue of [construct.queue, construct.deadLetterQueue]) {
      expect(queueProperties(template, stack, queue)).toMatchObject({ SqsManagedSseEnabled: true });
      expect(queueProperties(template, stack, queue)).not.toHaveProperty('KmsMasterKeyId');
    }
    expect(actionsOf(statementsOf(template, '')).filter((action) => action.startsWith('kms:'))).toEqual([]);
    expect(JSON.stringify(template.findResources('AWS::SQS::QueuePolicy'))).not.toContain('kms:');
    template.resourceCountIs('AWS::KMS::Key', 0);
  });

  it('with a key, encrypts both queues with it (SSE-KMS) instead of SQS-managed keys', () => {
    // Act
    const { template, stack, key, construct } = synthWithQueueKey('created');

    // Assess
    for (const queue of [construct.queue, construct.deadLetterQueue]) {
      expect(queueProperties(template, stack, queue)).toMatchObject({ KmsMasterKeyId: stack.resolve(key.keyArn) });
      expect(queueProperties(template, stack, queue)).not.toHaveProperty('SqsManagedSseEnabled');
    }
  });

  it('with a key, gives the worker, the sync, Scheduler\'s role and the producers the exact KMS actions they need on that key, and nothing broader', () => {
    // Act
    const { template, stack, key } = synthWithQueueKey('created');

    // Assess
    const keyArn = stack.resolve(key.keyArn);
    // The worker: Decrypt to receive (the event source's consume grant), GenerateDataKey to resend and dead-letter.
    expect(kmsStatementsOf(template, 'Auth0JobsWorkerRole')).toEqual([
      { Effect: 'Allow', Action: 'kms:Decrypt', Resource: keyArn },
      { Effect: 'Allow', Action: 'kms:GenerateDataKey', Resource: keyArn },
    ]);
    // Senders: the sync, the schedule's role (not the library's kms:GenerateDataKey*), a producer role of this app.
    for (const prefix of ['Auth0JobsSyncRole', 'SchedulerRoleForTarget', 'BillingDefaultPolicy']) {
      expect({ prefix, statements: kmsStatementsOf(template, prefix) }).toEqual({ prefix, statements: [{ Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: keyArn }] });
    }
    // Nothing broader anywhere: no wildcard action, no other resource.
    const everyKmsStatement = kmsStatementsOf(template, '');
    expect(everyKmsStatement).toHaveLength(5);
    expect(actionsOf(everyKmsStatement).filter((action) => action.includes('*'))).toEqual([]);
    expect(everyKmsStatement.filter((statement) => JSON.stringify(statement.Resource) !== JSON.stringify(keyArn))).toEqual([]);
  });

  it('with a key, names a producer given by ARN in the key policy with the two actions a sender needs', () => {
    // Act
    const { template } = synthWithQueueKey('created');

    // Assess
    const [key] = Object.values(template.findResources('AWS::KMS::Key'));
    const statements = key?.['Properties'].KeyPolicy.Statement as Array<Statement & { Principal: unknown }>;
    // The one statement besides CDK's default, which lets the account's IAM policies grant the key.
    expect(statements.filter((statement) => statement.Action !== 'kms:*')).toEqual([{ Effect: 'Allow', Principal: { AWS: CRM_ROLE_ARN }, Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: '*' }]);
    expect(JSON.stringify(statements.filter((statement) => statement.Action === 'kms:*'))).toMatch(/:root"/);
    // The queue's policy still names it for SQS.
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Principal: { AWS: CRM_ROLE_ARN }, Action: ['sqs:SendMessage', 'sqs:GetQueueUrl', 'sqs:GetQueueAttributes'] })]) },
    });
  });

  it('with an imported key, grants this account\'s roles on its ARN and warns that its owner must let each producer ARN use it', () => {
    // Act
    const imported = synthWithQueueKey('imported');
    const created = synthWithQueueKey('created');

    // Assess
    for (const prefix of ['Auth0JobsSyncRole', 'SchedulerRoleForTarget', 'BillingDefaultPolicy']) {
      expect(kmsStatementsOf(imported.template, prefix)).toEqual([{ Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: QUEUE_KEY_ARN }]);
    }
    const warnings = Annotations.fromStack(imported.stack).findWarning('*', Match.anyValue());
    expect(warnings.map((warning) => [warning.id, warning.entry.data])).toEqual([
      ['/Test/Auth0Jobs', expect.stringMatching(/^queueEncryptionKey is imported, so its key policy cannot be changed here: allow arn:aws:iam::210987654321:role\/crm kms:GenerateDataKey and kms:Decrypt on it/)],
    ]);
    expect(Annotations.fromStack(created.stack).findWarning('*', Match.anyValue())).toEqual([]);
  });
});

describe('Construct: the plan and the concurrency', () => {
  it('warns that more than 2 containers cannot share the free plan\'s bucket, and only then', () => {
    // Act
    const free6 = synth({ auth0Plan: 'free', maxConcurrency: 6 });
    const free2 = synth({ auth0Plan: 'free' });
    const enterprise6 = synth({ auth0Plan: 'enterprise', maxConcurrency: 6 });

    // Assess
    expect(Annotations.fromStack(free6.stack).findWarning('*', Match.anyValue()).map((warning) => warning.entry.data)).toEqual([
      expect.stringMatching(/^maxConcurrency 6 on the free plan: its bucket of 2 requests cannot be shared by more than 2 containers without some 429s .*maxConcurrency 2 keeps the whole 2 requests a second with none/),
    ]);
    for (const quiet of [free2, enterprise6]) expect(Annotations.fromStack(quiet.stack).findWarning('*', Match.anyValue())).toEqual([]);
  });
});

describe('Alarms and their runbook', () => {
  it("every alarm's description names its first step and its entry in docs/operations.md, which has one for each", () => {
    // Act: every alarm the construct can create
    const { template } = synth({ ...SYNC, alarmEmail: 'ops@example.com' });
    const runbook = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');

    // Assess
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((alarm) => String(alarm['Properties'].AlarmDescription));
    expect(alarms).toHaveLength(7);
    for (const description of alarms) {
      const entry = /Runbook: docs\/operations\.md, alarm (\w+)\.$/.exec(description)?.[1];
      expect(entry, description).toBeDefined();
      expect(runbook).toContain(`### \`${entry}\``);
      expect(description).toMatch(/Run npx auth0-queue-worker (dlq|doctor) --stack Test|[Rr]ead |Raise |fix the file/);
    }
  });

  it("in a stack that holds two deployments, each alarm's command names its own with --deployment, as the command line needs", () => {
    // Prepare
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Tenants');
    new Auth0QueueWorker(stack, 'Europe', { auth0Domain: 'acme.eu.auth0.com', secretArn: SECRET_ARN });
    new Auth0QueueWorker(stack, 'Americas', { auth0Domain: 'acme.us.auth0.com', secretArn: SECRET_ARN });
    const alone = synth({}).template;

    // Act
    const descriptions = Object.values(Template.fromStack(stack).findResources('AWS::CloudWatch::Alarm')).map((alarm) => String(alarm['Properties'].AlarmDescription));

    // Assess: the command in each description once took either deployment's outputs
    expect(descriptions.filter((text) => text.includes('Run npx auth0-queue-worker dlq --stack Tenants --deployment Europe '))).toHaveLength(1);
    expect(descriptions.filter((text) => text.includes('Run npx auth0-queue-worker dlq --stack Tenants --deployment Americas '))).toHaveLength(1);
    expect(descriptions.filter((text) => text.includes('--stack Tenants ') && !text.includes('--deployment'))).toEqual([]);
    expect(JSON.stringify(alone.findResources('AWS::CloudWatch::Alarm'))).not.toContain('--deployment');
  });

  it("each alarm's runbook entry is one path of commands, never the console (a README row once said to redrive from the SQS console)", () => {
    // Act
    const runbook = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
    const start = runbook.indexOf('## Alarms');
    const section = runbook.slice(start, runbook.indexOf('\n## ', start + 1));
    const entries = section.split(/^### /m).slice(1);
    const deadLetters = entries.find((entry) => entry.startsWith('`DeadLetterQueueNotEmpty`')) ?? '';

    // Assess: a console redrive keeps the letter's attributes, `dlq redrive` does not
    expect(entries).toHaveLength(7);
    for (const entry of entries) expect(entry, entry.slice(0, 40)).not.toMatch(/console/i);
    const steps = ['`auth0-queue-worker dlq --stack NAME`', '`auth0-queue-worker doctor --stack NAME`', '`dlq redrive --reason R --dry-run`', '`dlq redrive --reason R`'];
    expect(steps.map((step) => deadLetters.indexOf(step))).toEqual(steps.map((step) => deadLetters.indexOf(step)).sort((a, b) => a - b));
    for (const step of steps) expect(deadLetters).toContain(step);
  });
});

describe('File: cdk.json', () => {
  it('names no tenant: a deploy from cdk.json alone stops at synth, naming -c auth0Domain=', () => {
    // Prepare
    const { context } = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as { context: Record<string, unknown> };

    // Act & Assess: the placeholder tenant it named once would have been deployed, silently
    expect(context['auth0Domain']).toBeUndefined();
    expect(() => readDeploymentContext((key) => context[key])).toThrow('auth0Domain is required: npx cdk deploy -c auth0Domain=acme.eu.auth0.com');
  });

  it('sets every feature flag the installed aws-cdk-lib recommends, and the stack synthesizes under them', () => {
    // Prepare
    const { context } = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as { context: Record<string, unknown> };

    // Act
    const app = new App({ context: { ...context, auth0Domain: 'acme.eu.auth0.com', 'aws:cdk:bundling-stacks': [] } });
    const stack = new Auth0QueueWorkerStack(app, 'Flags', { worker: readDeploymentContext((key) => app.node.tryGetContext(key)) });
    const template = Template.fromStack(stack);

    // Assess
    for (const [flag, value] of Object.entries(cxapi.CURRENTLY_RECOMMENDED_FLAGS)) expect({ flag, value: context[flag] }).toEqual({ flag, value });
    template.resourceCountIs('AWS::SQS::Queue', 2);
    template.resourceCountIs('AWS::Lambda::Function', 1);
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
  });
});

describe('cdk-nag: AwsSolutionsChecks', () => {
  /** Synthesizes the deployable stack under AwsSolutionsChecks; `props` may be made in the app (a key in a stack of its own). */
  const nag = (props: Partial<Auth0QueueWorkerProps> | ((app: App) => Partial<Auth0QueueWorkerProps>), change?: (stack: Auth0QueueWorkerStack) => void) => {
    const outdir = mkdtempSync(join(tmpdir(), 'nag-'));
    try {
      const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
      const stack = new Auth0QueueWorkerStack(app, 'Nag', { worker: { auth0Domain: 'acme.eu.auth0.com', ...(typeof props === 'function' ? props(app) : props) } });
      change?.(stack);
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
      let failure: unknown;
      try {
        app.synth();
      } catch (error) {
        failure = error;
      }
      const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as { pluginReports: Array<{ violations: Array<{ ruleName: string }> }> };
      const acknowledged = app.node
        .findAll()
        .flatMap((construct) => construct.node.metadata.filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY).map((entry) => ({ path: construct.node.path, data: entry.data as unknown })));
      return { failure, violations: report.pluginReports.flatMap((plugin) => plugin.violations.map((violation) => violation.ruleName)), acknowledged };
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  };

  it.each([
    ['an existing secret', { secretArn: SECRET_ARN }],
    ['a created secret, FIFO, alarms by email, producers, a schedule and a sync', {
      fifo: true,
      allowedRoles: ['*'],
      allowedFields: ['app_metadata'],
      syncs: [{ name: 'hr', expression: 'cron(0 3 * * ? *)', bucket: 'hr-exports', key: 'users.jsonl', managedRoles: ['support-agent'] }],
      alarmEmail: 'ops@example.com',
      producerRoleArns: ['arn:aws:iam::210987654321:role/crm'],
      schedules: [{ name: 'Daily', expression: 'rate(1 day)', job: { type: 'roles.assign' as const, userId: 'auth0|x', roles: ['r'] } }],
    }],
    ['ordering unordered, with a sync', { ordering: 'unordered' as const, ...SYNC }],
    ['a ledger under a customer-managed key, with a sync', (app: App) => ({
      ledgerEncryptionKey: new kms.Key(new Stack(app, 'Keys'), 'LedgerKey', { enableKeyRotation: true }),
      ...SYNC,
    })],
    ['queues under a customer-managed key, with a sync, a schedule, a producer and a 3-day dead-letter retention', (app: App) => ({
      queueEncryptionKey: new kms.Key(new Stack(app, 'Keys'), 'QueueKey', { enableKeyRotation: true }),
      deadLetterRetention: Duration.days(3),
      ...SENDERS,
    })],
  ])('passes with zero errors: %s', (_, props) => {
    // Act
    const { failure, violations } = nag(props);

    // Assess
    expect(violations).toEqual([]);
    expect(failure).toBeUndefined();
  });

  it('checks the ledger table: without point-in-time recovery it reports AwsSolutions-DDB3 (a TableV2 would pass unchecked)', () => {
    // Act
    const { violations } = nag({}, (stack) => {
      (stack.jobs.ledgerTable?.node.defaultChild as dynamodb.CfnTable).pointInTimeRecoverySpecification = { pointInTimeRecoveryEnabled: false };
    });

    // Assess
    expect(violations).toEqual(['AwsSolutions-DDB3']);
  });

  it('has exactly one acknowledgement, with its written reason: rotation of the created secret happens in Auth0', () => {
    // Act
    const { acknowledged } = nag({});

    // Assess
    expect(JSON.stringify(acknowledged)).toContain('AwsSolutions-SMG4');
    expect(JSON.stringify(acknowledged)).toContain('rotated in Auth0');
    expect(acknowledged).toHaveLength(1);
  });

  it('with a sync, adds one acknowledgement for the schedule role, with its written reason', () => {
    // Act
    const { acknowledged } = nag({ allowedRoles: ['r'], allowedFields: ['app_metadata'], syncs: [{ name: 'hr', expression: 'rate(1 day)', bucket: 'b', key: 'k.jsonl', managedRoles: ['r'] }] });

    // Assess
    expect(acknowledged).toHaveLength(2);
    expect(JSON.stringify(acknowledged)).toMatch(/AwsSolutions-IAM5\[Resource::<[A-Za-z0-9]+\.Arn>:\*\]/);
    expect(JSON.stringify(acknowledged)).toContain('no other function');
  });

  it('acknowledges a rule that really fires: a secret without rotation is an error on its own', () => {
    // Prepare
    const outdir = mkdtempSync(join(tmpdir(), 'nag-'));
    const app = new App({ outdir });
    new secretsmanager.Secret(new Stack(app, 'Bare'), 'Secret');
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

    // Act
    const failure = (() => {
      try {
        app.synth();
        return undefined;
      } catch (error) {
        return error;
      }
    })();
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as { pluginReports: Array<{ violations: Array<{ ruleName: string }> }> };
    rmSync(outdir, { recursive: true, force: true });

    // Assess
    expect(failure).toBeDefined();
    expect(report.pluginReports.flatMap((plugin) => plugin.violations.map((violation) => violation.ruleName))).toEqual(['AwsSolutions-SMG4']);
  });
});

describe('Synth: the deployable app, offline', () => {
  it('bundles the worker with the local build options into the asset', () => {
    // Act
    const { app } = synth({}, true);
    const assembly = app.synth();
    const assetDir = readdirSync(assembly.directory).find((name) => name.startsWith('asset.') && existsSync(join(assembly.directory, name, 'index.mjs')));

    // Assess
    expect(assetDir).toBeDefined();
    const code = readFileSync(join(assembly.directory, assetDir ?? '', 'index.mjs'), 'utf8');
    expect(code.startsWith("import { createRequire as __createRequire } from 'node:module'")).toBe(true);
    expect(existsSync(join(assembly.directory, assetDir ?? '', 'index.mjs.map'))).toBe(true);
  });
});
