/**
 * The construct's producers: each upstream system its own queue, dead-letter queue, event source mapping,
 * policy, grants, alarms and dashboard row; a deployment without them keeps its resources.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { Auth0QueueWorker, type Auth0QueueWorkerProps } from '../../infra/queue-worker.ts';
import { readDeploymentContext } from '../../infra/context.ts';
import { loadConfig } from '../../shared/config.ts';

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:auth0-m2m-AbCdEf';
const PARTNER_ROLE_ARN = 'arn:aws:iam::210987654321:role/partner-crm';

function synth(props: Partial<Auth0QueueWorkerProps>, more?: (stack: Stack, construct: Auth0QueueWorker) => void) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
  const construct = new Auth0QueueWorker(stack, 'Auth0Jobs', { auth0Domain: 'acme.eu.auth0.com', secretArn: SECRET_ARN, ...props });
  more?.(stack, construct);
  return { stack, construct, template: Template.fromStack(stack) };
}

/** Two producers: hr (offboarding: blocks users, removes roles) and crm (profile data only), crm with its own FIFO queue. */
const TWO = (hrSender?: iam.IPrincipal): Partial<Auth0QueueWorkerProps> => ({
  producers: [
    { name: 'hr', allowedFields: ['blocked'], allowedRoles: ['admin', 'support'], allowedOrganizations: ['acme'], maxConcurrency: 3, ...(hrSender === undefined ? {} : { senders: [hrSender] }) },
    { name: 'crm', allowedFields: ['app_metadata', 'given_name'], share: 2, fifo: true, senderRoleArns: [PARTNER_ROLE_ARN] },
  ],
});

/** What CloudFormation would make of an environment variable's value: queue ARNs and URLs in place of their tokens. */
function resolve(value: unknown): string {
  if (typeof value === 'string') return value;
  const object = value as Record<string, unknown>;
  if ('Fn::Join' in object) {
    const [separator, parts] = object['Fn::Join'] as [string, unknown[]];
    return parts.map(resolve).join(separator);
  }
  if ('Fn::GetAtt' in object) return `arn:aws:sqs:eu-west-1:123456789012:${(object['Fn::GetAtt'] as string[])[0]}`;
  if ('Ref' in object) return `https://sqs.eu-west-1.amazonaws.com/123456789012/${String(object['Ref'])}`;
  throw new Error(`cannot resolve ${JSON.stringify(value)}`);
}

const logicalId = (stack: Stack, token: string) => {
  const resolved = stack.resolve(token) as { 'Fn::GetAtt'?: [string, string]; Ref?: string };
  return resolved['Fn::GetAtt']?.[0] ?? resolved.Ref ?? '';
};

describe('Construct: Auth0QueueWorker, producers', () => {
  it('gives each producer its own queue, dead-letter queue and event source mapping, and the worker their policies by queue', () => {
    // Act
    const { stack, construct, template } = synth(TWO());

    // Assess: four queues, crm's two FIFO; one mapping per producer's queue, each with its own concurrency
    const hr = construct.producerQueue('hr');
    const crm = construct.producerQueue('crm');
    expect(Object.keys(template.findResources('AWS::SQS::Queue'))).toHaveLength(4);
    expect(crm.queue.fifo && crm.deadLetterQueue.fifo).toBe(true);
    expect(hr.queue.fifo).toBe(false);
    const mappings = Object.values(template.findResources('AWS::Lambda::EventSourceMapping')).map((mapping) => mapping['Properties']);
    expect(mappings.map((mapping) => [mapping.EventSourceArn['Fn::GetAtt'][0], mapping.ScalingConfig.MaximumConcurrency, mapping.BatchSize]).sort()).toEqual(
      [
        [logicalId(stack, hr.queue.queueArn), 3, 50],
        [logicalId(stack, crm.queue.queueArn), 2, 10],
      ].sort(),
    );
    // The worker's environment: PRODUCERS and no deployment-wide policy or dead-letter queue; every container counted
    const worker = Object.values(template.findResources('AWS::Lambda::Function')).find((fn) => fn['Properties'].Environment.Variables.PRODUCERS !== undefined);
    const variables = worker?.['Properties'].Environment.Variables as Record<string, unknown>;
    for (const name of ['DLQ_URL', 'ALLOWED_FIELDS', 'ALLOWED_ROLES', 'ALLOWED_ORGANIZATIONS']) expect(variables[name]).toBeUndefined();
    expect(variables['MAX_CONCURRENCY']).toBe('5');
    // …which the worker reads back as the construct meant it
    const config = loadConfig(Object.fromEntries(Object.entries(variables).map(([name, value]) => [name, name === 'WORKER_ROLE_ID' ? 'AROAEXAMPLEWORKER0001' : resolve(value)])));
    const byName = new Map([...(config.producers?.values() ?? [])].map((producer) => [producer.name, producer]));
    expect(byName.get('hr')).toMatchObject({
      queueArn: `arn:aws:sqs:eu-west-1:123456789012:${logicalId(stack, hr.queue.queueArn)}`,
      dlqUrl: `https://sqs.eu-west-1.amazonaws.com/123456789012/${logicalId(stack, hr.deadLetterQueue.queueUrl)}`,
      share: 1,
      maxReceiveCount: 5,
      policy: { allowedFields: new Set(['blocked']), allowedRoles: new Set(['admin', 'support']), allowedOrganizations: new Set(['acme']) },
    });
    expect(byName.get('crm')).toMatchObject({ share: 2, maxReceiveCount: 100, policy: { allowedFields: new Set(['app_metadata', 'given_name']), allowedRoles: new Set(), allowedOrganizations: new Set() } });
  });

  it("lets a producer's senders send to its own queue only", () => {
    // Act: hr's sender declared on the producer, billing's granted afterwards on crm's queue
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const scope = new Stack(app, 'Grants');
    const hrSender = new iam.Role(scope, 'HrSender', { assumedBy: new iam.AccountRootPrincipal() });
    const billing = new iam.Role(scope, 'Billing', { assumedBy: new iam.AccountRootPrincipal() });
    const withProducers = new Auth0QueueWorker(scope, 'Auth0Jobs', { auth0Domain: 'acme.eu.auth0.com', secretArn: SECRET_ARN, ...TWO(hrSender) });
    withProducers.grantSendJobs(billing, 'crm');
    const grants = Template.fromStack(scope);

    // Assess: each role's SendMessage names exactly one queue, its producer's
    const sendTargets = (rolePrefix: string) =>
      Object.entries(grants.findResources('AWS::IAM::Policy'))
        .filter(([id]) => id.startsWith(rolePrefix))
        .flatMap(([, policy]) => policy['Properties'].PolicyDocument.Statement as Array<{ Action: string | string[]; Resource: unknown }>)
        .filter((statement) => [statement.Action].flat().includes('sqs:SendMessage'))
        .map((statement) => (statement.Resource as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0]);
    expect(sendTargets('HrSender')).toEqual([logicalId(scope, withProducers.producerQueue('hr').queue.queueArn)]);
    expect(sendTargets('Billing')).toEqual([logicalId(scope, withProducers.producerQueue('crm').queue.queueArn)]);
    // A role of another account is named in its producer's queue policy, and in no other
    const queuePolicies = Object.values(grants.findResources('AWS::SQS::QueuePolicy')).map((policy) => ({
      queues: (policy['Properties'].Queues as Array<{ Ref: string }>).map((queue) => queue.Ref),
      principals: JSON.stringify(policy['Properties'].PolicyDocument.Statement.map((statement: { Principal?: unknown }) => statement.Principal ?? null)),
    }));
    const naming = queuePolicies.filter((policy) => policy.principals.includes(PARTNER_ROLE_ARN));
    expect(naming.map((policy) => policy.queues)).toEqual([[logicalId(scope, withProducers.producerQueue('crm').queue.queueUrl)]]);
    // Naming no producer, or an unknown one, is refused with the producers' names
    expect(() => withProducers.grantSendJobs(billing)).toThrow('this deployment declares producers: name the one meant (hr, crm)');
    expect(() => withProducers.grantSendJobs(billing, 'erp')).toThrow('no producer is named "erp"; the producers are hr, crm');
    expect(() => synth({}).construct.grantSendJobs(billing, 'hr')).toThrow('this deployment declares no producers');
  });

  it("alarms on each producer's dead letters and backlog age, and gives each a row of the dashboard", () => {
    // Act
    const { template } = synth(TWO());

    // Assess
    const alarms = template.findResources('AWS::CloudWatch::Alarm');
    const ids = Object.keys(alarms);
    for (const prefix of ['ProducerHr', 'ProducerCrm']) {
      expect(ids.some((id) => id.startsWith(`Auth0Jobs${prefix}DeadLetterQueueNotEmpty`))).toBe(true);
      expect(ids.some((id) => id.startsWith(`Auth0Jobs${prefix}OldestJobTooOld`))).toBe(true);
    }
    const descriptions = Object.values(alarms).map((alarm) => String(alarm['Properties'].AlarmDescription));
    expect(descriptions).toContain(
      'Jobs of producer crm reached the dead-letter queue. Run npx auth0-queue-worker dlq --stack Test --producer crm (their reasons and what Auth0 answered), fix, then dlq redrive --stack Test --producer crm --reason REASON. Runbook: docs/operations.md, alarm DeadLetterQueueNotEmpty.',
    );
    // The backlog age reads the worker's figure under the producer's dimension
    const oldestHr = Object.entries(alarms).find(([id]) => id.startsWith('Auth0JobsProducerHrOldestJobTooOld'))?.[1];
    expect(JSON.stringify(oldestHr)).toContain('{"Name":"producer","Value":"hr"}');
    const body = JSON.stringify(Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0]?.['Properties'].DashboardBody);
    expect(body).toContain('Producer hr: backlog and dead letters');
    expect(body).toContain('Producer crm: jobs');
  });

  it('refuses at synth what would deploy a producer wrongly, naming the fix', () => {
    // Act & Assess
    const hr = { name: 'hr', allowedRoles: ['admin'] };
    expect(() => synth({ producers: [] })).toThrow('producers lists none');
    expect(() => synth({ producers: [{ name: 'HR' }] })).toThrow('producer name "HR" must be 1 to 32 lower-case letters');
    expect(() => synth({ producers: [hr, { name: 'hr' }] })).toThrow('producer hr is declared twice');
    expect(() => synth({ producers: [{ name: 'a-b' }, { name: 'ab' }] })).not.toThrow();
    expect(() => synth({ producers: [hr], allowedRoles: ['admin'] })).toThrow('allowedRoles cannot be set with producers: each producer has its own');
    expect(() => synth({ producers: [hr], producerRoleArns: [PARTNER_ROLE_ARN] })).toThrow('senderRoleArns for producerRoleArns');
    expect(() => synth({ producers: [{ ...hr, maxConcurrency: 1 }] })).toThrow('producer hr: maxConcurrency must be an integer from 2 to 1000');
    expect(() => synth({ producers: [{ ...hr, share: 0 }] })).toThrow('producer hr: share must be above 0');
    expect(() => synth({ producers: [{ ...hr, allowedRoles: [] }] })).toThrow('producer hr: allowedRoles lists nothing');
    expect(() => synth({ producers: [{ ...hr, senderRoleArns: ['crm'] }] })).toThrow('producer hr: senderRoleArns: crm is not an IAM role ARN');
    // A schedule names its producer, whose policy must allow the job
    const grant = { name: 'Nightly', expression: 'rate(1 day)', job: { type: 'roles.assign' as const, userId: 'auth0|x', roles: ['admin'] } };
    expect(() => synth({ producers: [hr, { name: 'crm' }], schedules: [grant] })).toThrow('schedule Nightly: name the producer it sends as (producer: one of hr, crm)');
    expect(() => synth({ producers: [hr, { name: 'crm' }], schedules: [{ ...grant, producer: 'crm' }] })).toThrow("role_not_allowed: admin not in producer crm's allowedRoles");
    expect(() => synth({ producers: [hr, { name: 'crm' }], schedules: [{ ...grant, producer: 'hr' }] })).not.toThrow();
    expect(() => synth({ schedules: [{ ...grant, producer: 'hr' }], allowedRoles: ['admin'] })).toThrow('this deployment declares no producers');
    // A sync too, and every sync as one producer
    const sync = { name: 'people', expression: 'rate(1 day)', bucket: 'b', key: 'k.jsonl', managedRoles: ['admin'] };
    expect(() => synth({ producers: [hr], syncs: [{ ...sync, producer: 'hr' }] })).toThrow("sync people writes app_metadata, which producer hr's allowedFields does not allow");
    const syncing = { name: 'hr', allowedRoles: ['admin'], allowedFields: ['app_metadata'] };
    expect(() => synth({ producers: [syncing, { ...syncing, name: 'erp' }], syncs: [{ ...sync, producer: 'hr' }, { ...sync, name: 'ledger', producer: 'erp' }] })).toThrow('every sync names the same producer');
    expect(() => synth({ producers: [syncing], syncs: [{ ...sync, producer: 'hr' }] })).not.toThrow();
  });

  it('reads producers from context, as JSON', () => {
    // Act
    const props = readDeploymentContext((key) => ({ auth0Domain: 'acme.eu.auth0.com', producers: JSON.stringify([{ name: 'hr', allowedRoles: ['admin'], senderRoleArns: [PARTNER_ROLE_ARN], share: 2 }]) })[key]);

    // Assess
    expect(props.producers).toEqual([{ name: 'hr', allowedRoles: ['admin'], senderRoleArns: [PARTNER_ROLE_ARN], share: 2 }]);
    expect(() => readDeploymentContext((key) => ({ auth0Domain: 'acme.eu.auth0.com', producers: '[{"name":"hr","roles":["admin"]}]' })[key])).toThrow(/producers must be a JSON array of \{"name", and optionally/);
  });

  it('keeps the resources of a deployment without producers: one queue pair, named as before', () => {
    // Act
    const { template, construct } = synth({ allowedRoles: ['admin'] });

    // Assess: the ids CloudFormation knows the queues by (a new id would replace a queue and lose its jobs)
    expect(Object.keys(template.findResources('AWS::SQS::Queue')).sort()).toEqual(['Auth0JobsDeadLetterQueueDC643F18', 'Auth0JobsJobsQueue2CE676ED']);
    expect(construct.producers.get('default')?.queue).toBe(construct.queue);
    expect(Object.keys(template.findResources('AWS::CloudWatch::Alarm')).sort()).toEqual(['Auth0JobsDeadLetterQueueNotEmptyEC544D29', 'Auth0JobsOldestJobTooOld15933131', 'Auth0JobsWorkerErrorsA21B81EB', 'Auth0JobsWorkerThrottles0881B689']);
  });
});
