/**
 * `doctor` and `token` against the local stack: the real Secrets Manager endpoint, the tenant emulator's
 * /oauth/token (which answers as Auth0 does for each mistake), and fauxqs.
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import { type LocalStack, type LocalStackOptions, WORKER_SCOPES } from '../../local/stack.ts';
import { runCommand } from '../helpers/cli.ts';
import { rememberSecrets, startTestStack } from '../helpers/suite-logs.ts';

describe('Command: auth0-queue-worker doctor and token, on the local stack', () => {
  let stack: LocalStack | undefined;

  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  const start = async (options: LocalStackOptions = {}) => {
    stack = await startTestStack({ build: false, rateLimit: 'enterprise', timeoutMs: 60_000, ...options });
    return stack;
  };

  /** Runs a command in-process, pointed at the stack's endpoints, as an operator's flags would. */
  const cli = async (s: LocalStack, command: string, extra: string[] = []) => {
    const env = s.workerEnv;
    const local = { region: env['AWS_REGION'], credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
    const argv = [
      command,
      '--domain', s.tenant.origin,
      '--secret-id', s.client.secretName,
      '--secrets-endpoint-url', s.secrets.endpoint,
      ...(command === 'doctor' ? ['--endpoint-url', s.fauxqs.address, '--queue-url', s.jobs.url, '--dlq-url', s.dlq.url, '--allowed-roles', '*', '--timeout-seconds', '60'] : []),
      ...extra,
    ];
    const { status, stdout, stderr } = await runCommand(argv, {
      sqs: (config) => new SQSClient({ ...local, useQueueUrlAsEndpoint: false, ...config }),
      secrets: (config) => new SecretsManagerClient({ ...local, ...config }),
    });
    return { status, stdout, stderr, line: (name: string) => stdout.split('\n').filter((row) => row.slice(6).startsWith(name)).join('\n') };
  };

  it('passes on a healthy deployment, and prints neither the secret nor the token', async () => {
    // Prepare: a secret this test knows
    const s = await start();
    const { newSecret, revokeOld } = s.rotateSecret();
    revokeOld();

    // Act
    const doctor = await cli(s, 'doctor');
    const token = await cli(s, 'token');

    // Assess
    expect(doctor.status).toBe(0);
    for (const name of ['secret', 'grant', 'token', 'scopes', 'rate limit', 'jobs queue', 'dead letters']) expect(doctor.line(name)).toMatch(/^ok/);
    expect(doctor.line('rate limit')).toContain('bucket of 50');
    expect(token.status).toBe(0);
    expect(token.stdout).toContain(`audience    ${s.tenant.origin}/api/v2/`);
    expect(token.stdout).toContain('update:users');
    for (const output of [doctor.stdout, token.stdout]) {
      expect(output).not.toContain('eyJ');
      expect(output).not.toContain(newSecret);
    }
  }, 60_000);

  it('on a free tenant without AUTH0_PLAN, says that the plan also keeps batches to 10 records', async () => {
    // Prepare: a free tenant
    const s = await start({ plan: 'free' });

    // Act
    const unset = await cli(s, 'doctor');

    // Assess
    expect(unset.line('plan')).toContain("which are the free plan's");
    expect(unset.line('plan')).toContain("set AUTH0_PLAN=free (auth0Plan: 'free' in the deployment also keeps batches to 10 records");
  }, 60_000);

  it('prints the plan\'s buckets, and names a plan the tenant\'s headers contradict with the one to set', async () => {
    // Prepare: a Professional tenant
    const s = await start({ plan: 'professional' });

    // Act
    const unset = await cli(s, 'doctor');
    const right = await cli(s, 'doctor', ['--plan', 'essentials']);
    const wrong = await cli(s, 'doctor', ['--plan', 'enterprise']);

    // Assess
    expect(unset.line('plan')).toMatch(/^ok {4}plan {11}AUTH0_PLAN unset; the tenant's headers: roles bucket 10, user reads bucket 40, which are the professional plan's \(users-read 40\/500 per min; users-write 20\/200 per min;/);
    expect(unset.line('plan')).toContain('set AUTH0_PLAN=professional');
    expect(unset.line('plan')).not.toContain('batches');
    expect(right.line('plan')).toMatch(/^ok {4}plan {11}AUTH0_PLAN=essentials: users-read 40\/500 per min;/);
    expect(wrong.status).toBe(0);
    expect(wrong.line('plan')).toBe("warn  plan           AUTH0_PLAN=enterprise, but the tenant's headers: roles bucket 10, user reads bucket 40, which are the professional plan's: set AUTH0_PLAN=professional (auth0Plan in the deployment), or the worker paces by buckets the tenant does not have");
  }, 60_000);

  it('names a wrong client secret', async () => {
    // Prepare
    const s = await start();
    rememberSecrets(['not-the-current-one-0123456789']);
    s.secrets.putSecret(s.client.secretName, JSON.stringify({ clientId: s.client.clientId, clientSecret: 'not-the-current-one-0123456789' }));

    // Act
    const { status, line } = await cli(s, 'doctor');

    // Assess
    expect(status).toBe(1);
    expect(line('grant')).toMatch(/^fail .*401.*client id or secret .* is not the application's current one/);
  }, 60_000);

  it('names an application without a grant for the Management API', async () => {
    // Prepare
    const s = await start();
    const client = s.tenant.clients.get(s.client.clientId);
    if (client !== undefined) client.authorized = false;

    // Act
    const { status, line } = await cli(s, 'doctor');

    // Assess
    expect(status).toBe(1);
    expect(line('grant')).toContain('the application is not authorized for the Management API');
  }, 60_000);

  it('names a custom domain used as the audience', async () => {
    // Prepare
    const s = await start();

    // Act
    const { status, line } = await cli(s, 'doctor', ['--audience', 'https://login.acme.com/api/v2/']);

    // Assess
    expect(status).toBe(1);
    expect(line('grant')).toContain('it looks like a custom domain, which cannot be the audience');
  }, 60_000);

  it('names a scope missing from the grant and the job types that need it', async () => {
    // Prepare
    const s = await start();
    const client = s.tenant.clients.get(s.client.clientId);
    if (client !== undefined) client.scopes = WORKER_SCOPES.filter((scope) => scope !== 'update:users');

    // Act
    const { status, line } = await cli(s, 'doctor');

    // Assess: roles.* still pass with create:role_members and delete:role_members
    expect(status).toBe(1);
    expect(line('scopes')).toBe('fail  scopes         missing update:users: needed by user.update (PATCH /api/v2/users/{id}); add it to the application\'s grant for the Auth0 Management API');
  }, 60_000);

  it('names the organization scopes a grant lacks when the deployment allows organization jobs', async () => {
    // Prepare
    const s = await start();
    const client = s.tenant.clients.get(s.client.clientId);
    if (client !== undefined) client.scopes = WORKER_SCOPES.filter((scope) => scope !== 'create:organization_members' && scope !== 'read:organizations');

    // Act
    const allowed = await cli(s, 'doctor', ['--allowed-organizations', 'acme-corp']);
    const none = await cli(s, 'doctor');

    // Assess
    expect(allowed.status).toBe(1);
    expect(allowed.line('scopes')).toContain('missing read:organizations: needed by org.members.add, org.members.remove, org.roles.assign, org.roles.remove (GET /api/v2/organizations/name/{name} (organizations))');
    expect(allowed.line('scopes')).toContain('missing create:organization_members: needed by org.members.add (POST /api/v2/organizations/{id}/members)');
    expect(none.line('scopes')).toMatch(/^ok/);
    // The organization scopes the grant still has are not listed as what these jobs need
    expect(none.line('scopes')).toMatch(/\(it uses [a-z_: ]+\); also granted, unused by these jobs: .*\bread:organization_members\b/);
    expect(/\(it uses ([^)]*)\)/.exec(none.line('scopes'))?.[1]).not.toContain('organization');
  }, 60_000);

  it('names a visibility timeout too short for the function, and a dead-letter queue that is not empty', async () => {
    // Prepare: a 30 s function timeout gives a 180 s visibility timeout; the doctor is told the function runs 60 s
    const s = await start({ timeoutMs: 30_000 });
    await s.sqs.send(new SendMessageCommand({ QueueUrl: s.dlq.url, MessageBody: '{}', MessageAttributes: { reason: { DataType: 'String', StringValue: 'malformed_json' } } }));

    // Act
    const { status, line } = await cli(s, 'doctor');

    // Assess
    expect(status).toBe(1);
    expect(line('jobs queue')).toContain('visibility timeout 180 s is less than 6 × the function timeout (60 s)');
    expect(line('dead letters')).toContain('1 job(s) in the dead-letter queue: run auth0-queue-worker dlq');
  }, 60_000);

  /** Runs a command with --stack alone: CloudFormation's outputs and Lambda's configuration say the rest. */
  const byStack = async (s: LocalStack, command: string, stackName = s.stackName, find = ['--stack', stackName], stdin?: string) => {
    const local = { region: s.workerEnv['AWS_REGION'], credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
    const argv = [
      ...command.split(' '),
      ...find,
      '--cloudformation-endpoint-url', s.controlPlane.endpoint,
      '--lambda-endpoint-url', s.controlPlane.endpoint,
      '--endpoint-url', s.fauxqs.address,
      // Only the commands that read the secret take its endpoint.
      ...(command === 'doctor' || command === 'token' ? ['--secrets-endpoint-url', s.secrets.endpoint] : []),
    ];
    const { status, stdout, stderr } = await runCommand(argv, {
      sqs: (config) => new SQSClient({ ...local, useQueueUrlAsEndpoint: false, ...config }),
      secrets: (config) => new SecretsManagerClient({ ...local, ...config }),
      cloudFormation: (config) => new CloudFormationClient({ ...local, ...config }),
      lambda: (config) => new LambdaClient({ ...local, ...config }),
      ...(stdin === undefined ? {} : { stdin }),
    });
    return { status, stdout, stderr, line: (name: string) => stdout.split('\n').filter((row) => row.slice(6).startsWith(name)).join('\n') };
  };

  it('finds the whole deployment from --stack, the event source mapping included', async () => {
    // Prepare: the function's timeout (60 s) and settings are only in Lambda's configuration
    const s = await start();
    s.startWorker({ maxConcurrency: 3 });

    // Act
    const doctor = await byStack(s, 'doctor');
    const token = await byStack(s, 'token');

    // Assess: every check ran against what the stack deployed, none skipped
    expect(doctor.stderr).toBe('');
    expect(doctor.status).toBe(0);
    for (const name of ['secret', 'grant', 'token', 'scopes', 'rate limit', 'jobs queue', 'dead letters', 'event source']) expect(doctor.line(name)).toMatch(/^ok/);
    expect(doctor.line('jobs queue')).toContain('visibility timeout 360 s (≥ 6 × 60 s)');
    expect(doctor.line('rate limit')).toContain('3 containers');
    expect(doctor.line('event source')).toContain('ReportBatchItemFailures on, Enabled, at most 3 concurrent invocations');
    expect(token.status).toBe(0);
    expect(token.stdout).toContain(`audience    ${s.tenant.origin}/api/v2/`);
  }, 60_000);

  it('sends and reads the dead letters of the deployment --stack or --function names', async () => {
    // Prepare: no worker polls, so the jobs stay where the commands put them
    const s = await start();
    const job = JSON.stringify({ type: 'user.update', userId: 'auth0|someone', jobId: 'crm-42', changes: { blocked: true } });

    // Act
    const enqueue = await byStack(s, 'enqueue -', s.stackName, ['--stack', s.stackName], `${job}\n`);
    const byFunction = await byStack(s, 'doctor', s.stackName, ['--function', 'worker']);
    const dlq = await byStack(s, 'dlq');

    // Assess
    expect(enqueue.status).toBe(0);
    expect(enqueue.stdout).toContain(`sent 1 of 1 jobs to ${s.jobs.url}`);
    expect(byFunction.line('jobs queue')).toMatch(/^ok .*6 × 60 s/);
    expect(byFunction.line('event source')).toMatch(/^ok /);
    expect(byFunction.line('dead letters')).toMatch(/^ok /);
    expect(dlq.stderr).toBe("");
    expect(dlq.status).toBe(0);
    expect(dlq.stdout).toContain(`0 dead letter(s) in ${s.dlq.url}`);
  }, 60_000);

  it('names an event source mapping without ReportBatchItemFailures, and one that disagrees with the pacing', async () => {
    // Prepare
    const s = await start();
    const [mapping] = s.controlPlane.mappings;
    if (mapping === undefined) throw new Error('the local stack registers its mapping');

    // Act
    mapping.reportBatchItemFailures = false;
    const without = await byStack(s, 'doctor');
    mapping.reportBatchItemFailures = true;
    mapping.maximumConcurrency = 10;
    const disagreeing = await byStack(s, 'doctor');

    // Assess
    expect(without.status).toBe(1);
    expect(without.line('event source')).toMatch(/^fail .*lacks ReportBatchItemFailures: Lambda then deletes every record of a batch the function returns from/);
    expect(disagreeing.line('event source')).toMatch(/^warn .*allows 10 concurrent invocations but the worker paces for MAX_CONCURRENCY 2/);
  }, 60_000);

  it('names a stack that does not exist, and one deployed without the worker function output', async () => {
    // Prepare
    const s = await start();

    // Act
    const missing = await byStack(s, 'doctor', 'NoSuchStack');
    s.controlPlane.stacks.set('Older', { name: 'Older', outputs: [{ key: 'Auth0JobsJobsQueueUrl1A2B3C4D', value: s.jobs.url }] });
    const older = await byStack(s, 'doctor', 'Older');
    const noName = await byStack(s, 'doctor', '', ['--stack']);
    const help = await byStack(s, 'doctor', '', ['--stack', '--help']);
    s.controlPlane.mappings.push({ ...s.controlPlane.mappings[0]!, uuid: 'second', eventSourceArn: `${s.jobs.arn}-other` });
    const twoMappings = await byStack(s, 'doctor', '', ['--function', 'worker']);

    // Assess
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('cannot read stack NoSuchStack: ValidationError: Stack with id NoSuchStack does not exist');
    expect(older.status).toBe(2);
    expect(older.stderr).toContain('stack Older has no WorkerFunctionName output: deploy this version of the stack, or give --function');
    expect(noName.status).toBe(2);
    expect(noName.stderr).toBe('--stack needs a value\n');
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--stack NAME');
    expect(twoMappings.status).toBe(2);
    expect(twoMappings.stderr).toContain('worker has 2 event source mappings: give --stack, or --queue-url to say which queue is the jobs queue');
  }, 60_000);

  it('asks which deployment when one stack holds two, and uses the one --deployment names', async () => {
    // Prepare: Europe is the local stack's deployment, Americas another tenant's, as in examples/cdk-app
    const s = await start();
    const outputs = (path: string, functionName: string, dlqUrl: string) => [
      { key: `${path}JobsQueueUrl`, value: s.jobs.url },
      { key: `${path}JobsQueueArn`, value: s.jobs.arn },
      { key: `${path}DeadLetterQueueUrl`, value: dlqUrl },
      { key: `${path}WorkerFunctionName`, value: functionName },
    ];
    s.controlPlane.stacks.set('Tenants', { name: 'Tenants', outputs: [...outputs('Europe', 'worker', s.dlq.url), ...outputs('Americas', 'americas-worker', `${s.dlq.url}-americas`), { key: 'BucketName', value: 'unrelated' }] });

    // Act
    const unsaid = await byStack(s, 'dlq', 'Tenants');
    const europe = await byStack(s, 'dlq', 'Tenants', ['--stack', 'Tenants', '--deployment', 'Europe']);
    const doctor = await byStack(s, 'doctor', 'Tenants', ['--stack', 'Tenants', '--deployment', 'Europe']);
    const unknown = await byStack(s, 'dlq', 'Tenants', ['--stack', 'Tenants', '--deployment', 'Asia']);
    const alone = await byStack(s, 'dlq', '', ['--deployment', 'Europe']);

    // Assess: without --deployment the last deployment's outputs were taken, silently (here Americas')
    expect([unsaid.status, unsaid.stdout, unsaid.stderr]).toEqual([2, '', 'stack Tenants holds 2 deployments (Europe, Americas): give --deployment ID\n']);
    expect(europe.stderr).toBe('');
    expect(europe.stdout).toContain(`0 dead letter(s) in ${s.dlq.url}\n`);
    expect(doctor.status).toBe(0);
    expect(doctor.line('event source')).toMatch(/^ok /);
    expect([unknown.status, unknown.stderr]).toEqual([2, 'stack Tenants has no deployment Asia; its deployments are Europe, Americas\n']);
    expect([alone.status, alone.stderr]).toEqual([2, "--deployment needs --stack: it says which of the stack's deployments to use\n"]);
  }, 60_000);

  it("finds a producer's queues, mapping and policy with --stack and --producer, and asks for it when the stack has producers", async () => {
    // Prepare: two producers; no worker polls, so the jobs stay where the commands put them
    const s = await start({ producers: [{ name: 'hr', allowedRoles: ['admin'] }, { name: 'crm', allowedFields: ['app_metadata'] }] });
    s.startWorker({ maxConcurrency: 2 });
    const job = JSON.stringify({ type: 'user.update', userId: 'auth0|someone', jobId: 'crm-7', changes: { app_metadata: { plan: 'gold' } } });
    const crm = s.producers.get('crm');
    const hr = s.producers.get('hr');

    // Act
    const enqueue = await byStack(s, 'enqueue -', s.stackName, ['--stack', s.stackName, '--producer', 'crm'], `${job}\n`);
    const unnamed = await byStack(s, 'dlq');
    const unknown = await byStack(s, 'dlq', s.stackName, ['--stack', s.stackName, '--producer', 'erp']);
    const dlq = await byStack(s, 'dlq', s.stackName, ['--stack', s.stackName, '--producer', 'hr']);
    const doctor = await byStack(s, 'doctor', s.stackName, ['--stack', s.stackName, '--producer', 'hr']);

    // Assess
    expect(enqueue.stderr).toBe('');
    expect(enqueue.stdout).toContain(`sent 1 of 1 jobs to ${crm?.jobs.url}`);
    expect(unnamed.status).toBe(2);
    expect(unnamed.stderr).toContain(`stack ${s.stackName} declares producers (hr, crm): give --producer NAME`);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain(`stack ${s.stackName} has no producer erp; its producers are hr, crm`);
    expect(dlq.status).toBe(0);
    expect(dlq.stdout).toContain(`0 dead letter(s) in ${hr?.dlq.url}`);
    expect(doctor.stderr).toBe('');
    expect(doctor.line('jobs queue')).toMatch(/^ok /);
    expect(doctor.line('event source')).toMatch(/^ok /);
  }, 60_000);
});
