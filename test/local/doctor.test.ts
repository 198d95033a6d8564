/**
 * `doctor` and `token` against the local stack: the real Secrets Manager endpoint, the tenant emulator's
 * /oauth/token (which answers as Auth0 does for each mistake), and fauxqs.
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import { type LocalStack, type LocalStackOptions, WORKER_SCOPES, startLocalStack } from '../../local/stack.ts';
import { runCommand } from '../helpers/cli.ts';

describe('Command: auth0-queue-worker doctor and token, on the local stack', () => {
  let stack: LocalStack | undefined;

  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  const start = async (options: LocalStackOptions = {}) => {
    stack = await startLocalStack({ build: false, rateLimit: 'enterprise', timeoutMs: 60_000, ...options });
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

  it('names a wrong client secret', async () => {
    // Prepare
    const s = await start();
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
});
