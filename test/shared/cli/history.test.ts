/**
 * `history` on the local stack: real jobs run by the worker bundle through fauxqs and the tenant emulator into
 * the ordering ledger in dynalite, then read back by the command, by user id and by email, with the table
 * given, or found from the stack or the function.
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoLedger } from '../../../shared/ledger/dynamodb-ledger.ts';
import { type LocalStack, readDeadLetters } from '../../../local/stack.ts';
import { addRole, addUser } from '../../../local/tenant/state.ts';
import type { TenantRole, TenantUser } from '../../../local/tenant/state.ts';
import { CONNECTION } from '../../../local/workload.ts';
import { runCommand } from '../../helpers/cli.ts';
import { startTestStack } from '../../helpers/suite-logs.ts';
import { drained } from '../../helpers/drained.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** RFC 3339 for `offsetMs` after a fixed moment a little in the past. */
const base = Date.now() - 60_000;
const at = (offsetMs: number) => new Date(base + offsetMs).toISOString();

describe('Command: auth0-queue-worker history, on the local stack', () => {
  let s: LocalStack;
  let ada: TenantUser;
  let grace: TenantUser;
  let admin: TenantRole;
  const clients: Array<{ destroy(): void }> = [];

  /** Runs the worker until the queue has been empty a while. */
  const run = async (jobs: ReadonlyArray<Record<string, unknown>>) => {
    const { Failed = [] } = await s.sqs.send(new SendMessageBatchCommand({ QueueUrl: s.jobs.url, Entries: jobs.map((job, index) => ({ Id: String(index), MessageBody: JSON.stringify(job) })) }));
    expect(Failed).toEqual([]);
    const worker = s.startWorker({ maxConcurrency: 1, env: { JOB_CONCURRENCY: '1' } });
    const done = await drained(s, 60_000);
    await worker.stop();
    expect(done).toBe(true);
  };

  beforeAll(async () => {
    s = await startTestStack({ build: false, rateLimit: { burst: 50, perSecond: 50 } });
    ada = addUser(s.tenant.state, { email: 'ada@example.com', connection: CONNECTION, app_metadata: { plan: 'free' } });
    // A connection that keeps the case it was given: only the spelling as given finds her.
    grace = addUser(s.tenant.state, { email: 'grace@example.com', connection: 'acme-saml' });
    grace.email = 'Grace@Example.com';
    addUser(s.tenant.state, { email: 'twin@example.com', connection: CONNECTION });
    addUser(s.tenant.state, { email: 'twin@example.com', connection: 'acme-saml' });
    admin = addRole(s.tenant.state, { name: 'admin', description: 'admins' });

    // The newest jobs first, applied...
    await run([
      { type: 'user.update', userId: ada.user_id, changes: { blocked: false }, issuedAt: at(2_000), jobId: 'crm-unblock', source: 'crm' },
      { type: 'roles.assign', userId: ada.user_id, roles: ['admin'], issuedAt: at(1_500), jobId: 'hr-grant', source: 'hr' },
      { type: 'user.update', userId: grace.user_id, changes: { blocked: true }, issuedAt: at(1_000), jobId: 'crm-grace' },
    ]);
    // ...then older ones: one superseded outright, one partly (its plan is new, its block is not).
    await run([
      { type: 'user.update', userId: ada.user_id, changes: { blocked: true }, issuedAt: at(1_000), jobId: 'crm-block', source: 'crm' },
      { type: 'user.update', email: ada.email, changes: { blocked: true, app_metadata: { plan: 'pro' } }, issuedAt: at(1_200), jobId: 'crm-plan', source: 'crm' },
    ]);
    expect(await readDeadLetters(s)).toEqual([]);
  }, 180_000);

  afterAll(async () => {
    for (const client of clients) client.destroy();
    await s?.stop();
  });

  const local = () => ({ region: s.workerEnv['AWS_REGION'], credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  const setup = () => ({
    sqs: (config: { region?: string; endpoint?: string }) => new SQSClient({ ...local(), useQueueUrlAsEndpoint: false, ...config }),
    secrets: (config: { region?: string; endpoint?: string }) => new SecretsManagerClient({ ...local(), ...config }),
    cloudFormation: (config: { region?: string; endpoint?: string }) => new CloudFormationClient({ ...local(), ...config }),
    lambda: (config: { region?: string; endpoint?: string }) => new LambdaClient({ ...local(), ...config }),
    dynamodb: (config: { region?: string; endpoint?: string }) => {
      const client = new DynamoDBClient({ ...local(), ...config });
      clients.push(client);
      return client;
    },
  });
  /** `history` with the flags an operator gives without --stack: the table, and Auth0's for an email. */
  const history = (extra: string[]) =>
    runCommand(
      ['history', '--table', s.dynamodb.ledgerTable, '--dynamodb-endpoint-url', s.dynamodb.endpoint, '--domain', s.tenant.origin, '--secret-id', s.client.secretName, '--secrets-endpoint-url', s.secrets.endpoint, ...extra],
      setup(),
    );
  /** `history` finding everything from --stack or --function. */
  const found = (find: string[], extra: string[]) =>
    runCommand(
      ['history', ...find, '--cloudformation-endpoint-url', s.controlPlane.endpoint, '--lambda-endpoint-url', s.controlPlane.endpoint, '--endpoint-url', s.fauxqs.address, '--dynamodb-endpoint-url', s.dynamodb.endpoint, '--secrets-endpoint-url', s.secrets.endpoint, ...extra],
      setup(),
    );
  const row = (stdout: string, first: string) => stdout.split('\n').find((line) => line.trimStart().startsWith(`${first} `)) ?? '';

  it('shows, by user id, the last job per attribute and the recent jobs newest first with their outcomes', async () => {
    // Act
    const { status, stdout, stderr } = await history(['--user', ada.user_id]);

    // Assess: the newest job's values held, and the ledger says why
    expect(stderr).toBe('');
    expect(status).toBe(0);
    expect(s.tenant.state.users.get(ada.user_id)?.blocked).toBe(false);
    expect(stdout.split('\n')[0]).toBe(`${ada.user_id} in ${s.dynamodb.ledgerTable}`);
    expect(row(stdout, 'blocked')).toMatch(new RegExp(`^  blocked +false +crm-unblock +crm +${at(2_000)} [0-9a-f]{16} +\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z$`));
    expect(row(stdout, `role:${admin.id}`)).toMatch(new RegExp(`assign +hr-grant +hr +${at(1_500)} `));
    expect(row(stdout, 'app_metadata.plan')).toMatch(new RegExp(`set +crm-plan +crm +${at(1_200)} `));
    const recent = stdout.slice(stdout.indexOf('recent jobs, newest first (4):')).split('\n').slice(2, 6);
    expect(recent.map((line) => line.trim().split(/ +/)[0])).toEqual(['crm-unblock', 'hr-grant', 'crm-plan', 'crm-block']);
    expect(recent.map((line) => /(applied|partial, \d+ skipped|superseded)$/.exec(line)?.[1])).toEqual(['applied', 'applied', 'partial, 1 skipped', 'superseded']);
    expect(stdout).not.toContain('pending');
    expect(stdout).not.toContain('being applied now');
  }, 30_000);

  it('resolves an email in either case to the user, in text and in JSON', async () => {
    // Act: ada is stored lower-cased, grace as she was given
    const upper = await history(['--user', 'ADA@EXAMPLE.COM']);
    const json = await history(['--user', 'ada@example.com', '--json']);
    const asGiven = await history(['--user', 'Grace@Example.com', '--json']);

    // Assess
    expect(upper.stderr).toBe('');
    expect(upper.status).toBe(0);
    expect(upper.stdout.split('\n')[0]).toBe(`${ada.user_id} (ADA@EXAMPLE.COM) in ${s.dynamodb.ledgerTable}`);
    expect(row(upper.stdout, 'blocked')).toContain('crm-unblock');
    expect(json.status).toBe(0);
    const shown = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(shown).toMatchObject({ userId: ada.user_id, email: 'ada@example.com', table: s.dynamodb.ledgerTable, recorded: true, lease: null });
    expect(shown['attributes']).toEqual([
      { attribute: 'app_metadata.plan', kind: 'set', jobId: 'crm-plan', source: 'crm', order: at(1_200), tieBreak: expect.stringMatching(/^[0-9a-f]{16}$/), recordedAt: expect.any(String), pending: false },
      { attribute: 'blocked', kind: 'false', jobId: 'crm-unblock', source: 'crm', order: at(2_000), tieBreak: expect.stringMatching(/^[0-9a-f]{16}$/), recordedAt: expect.any(String), pending: false },
      { attribute: `role:${admin.id}`, kind: 'assign', jobId: 'hr-grant', source: 'hr', order: at(1_500), tieBreak: expect.stringMatching(/^[0-9a-f]{16}$/), recordedAt: expect.any(String), pending: false },
    ]);
    expect((shown['recent'] as Array<Record<string, unknown>>).map(({ jobId, outcome, skipped }) => ({ jobId, outcome, skipped }))).toEqual([
      { jobId: 'crm-unblock', outcome: 'applied', skipped: 0 },
      { jobId: 'hr-grant', outcome: 'applied', skipped: 0 },
      { jobId: 'crm-plan', outcome: 'partial', skipped: 1 },
      { jobId: 'crm-block', outcome: 'superseded', skipped: 1 },
    ]);
    expect(asGiven.stderr).toBe('');
    expect(JSON.parse(asGiven.stdout)).toMatchObject({ userId: grace.user_id, attributes: [{ attribute: 'blocked', kind: 'true', jobId: 'crm-grace', source: null }] });
  }, 30_000);

  it('refuses an email no user has, and one several users have, naming their ids', async () => {
    // Act
    const nobody = await history(['--user', 'Nobody@Example.com']);
    const twins = await history(['--user', 'twin@example.com']);

    // Assess
    expect(nobody.status).toBe(1);
    expect(nobody.stderr).toBe('no Auth0 user has the email Nobody@Example.com (nor nobody@example.com): check the spelling, or give --user with the user id\n');
    const ids = [...s.tenant.state.users.values()].filter((user) => user.email === 'twin@example.com').map((user) => user.user_id);
    expect(ids).toHaveLength(2);
    expect(twins.status).toBe(1);
    expect(twins.stderr).toBe(`2 users have the email twin@example.com: ${ids.join(', ')}; give --user with one of these ids\n`);
  }, 30_000);

  it('says so for a user with no recorded job, without asking Auth0 for a user id that holds an @', async () => {
    // Act
    const userId = 'samlp|acme|nobody@example.com';
    const text = await history(['--user', userId, '--domain', 'http://127.0.0.1:9']);
    const json = await history(['--user', 'auth0|nobody', '--json']);

    // Assess: the unreachable domain would fail an Auth0 call
    expect(text.stderr).toBe('');
    expect(text.status).toBe(0);
    expect(text.stdout).toBe(`${userId}: no job of this user is recorded in ${s.dynamodb.ledgerTable} (or its record expired after the ledger's retention)\n`);
    expect(json.status).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ userId: 'auth0|nobody', table: s.dynamodb.ledgerTable, recorded: false, lease: null, attributes: [], recent: [] });
  }, 30_000);

  it('shows a job being applied now, and an attribute a failed job left pending', async () => {
    // Prepare: the ledger as the worker leaves it while a job writes, and after a try that failed
    const ledger = createDynamoLedger(s.dynamodb.client, { tableName: s.dynamodb.ledgerTable, retentionMs: 3_600_000 });
    const userId = 'auth0|in-flight';
    const failed = await ledger.claim(userId, { stamp: { order: `${String(base).padStart(15, '0')}:00000000000000aa`, key: 'j:crm-9:aa', jobId: 'crm-9' }, effects: [{ attribute: 'blocked', kind: 'true' }] }, 30_000);
    await failed.finish('pending');
    const now = await ledger.claim(userId, { stamp: { order: `${String(base + 1).padStart(15, '0')}:00000000000000bb`, key: 'j:crm-10:bb', jobId: 'crm-10' }, effects: [{ attribute: 'app_metadata.plan', kind: 'set' }] }, 30_000);

    // Act
    const during = await history(['--user', userId]);
    const json = await history(['--user', userId, '--json']);
    await now.finish('released');
    const after = await history(['--user', userId]);

    // Assess
    expect(during.status).toBe(0);
    expect(during.stdout.split('\n')[1]).toBe(`a job is being applied now (job crm-10), claim lapses at ${new Date(now.until).toISOString()}`);
    expect(row(during.stdout, 'blocked')).toMatch(/crm-9 +— +.* pending$/);
    expect(JSON.parse(json.stdout)).toMatchObject({ lease: { inForce: true, until: new Date(now.until).toISOString(), jobId: 'crm-10' }, attributes: [{ attribute: 'blocked', pending: true }], recent: [] });
    expect(after.stdout).not.toContain('being applied now');
  }, 30_000);

  it('tells a lapsed claim from one in force', async () => {
    // Prepare: a claim of 1 ms, never finished, as a container stopped midway leaves it
    const ledger = createDynamoLedger(s.dynamodb.client, { tableName: s.dynamodb.ledgerTable, retentionMs: 3_600_000 });
    const claim = await ledger.claim('auth0|stopped', { stamp: { order: `${String(base).padStart(15, '0')}:00000000000000cc`, key: 'j:crm-11:cc', jobId: 'crm-11' }, effects: [{ attribute: 'blocked', kind: 'true' }] }, 1);
    await sleep(20);

    // Act
    const { status, stdout } = await history(['--user', 'auth0|stopped']);

    // Assess
    expect(status).toBe(0);
    expect(stdout.split('\n')[1]).toBe(`job crm-11 claimed the user until ${new Date(claim.until).toISOString()} and was not recorded (its container stopped): the user's next job keeps its writes as pending`);
    expect(stdout).toContain('last job per attribute: none recorded');
  }, 30_000);

  it('finds the table from --stack, and from --function', async () => {
    // Act
    const byStack = await found(['--stack', s.stackName], ['--user', ada.user_id]);
    const byFunction = await found(['--function', 'worker'], ['--user', ada.user_id, '--json']);

    // Assess
    expect(byStack.stderr).toBe('');
    expect(byStack.status).toBe(0);
    expect(row(byStack.stdout, 'blocked')).toContain('crm-unblock');
    expect(byFunction.stderr).toBe('');
    expect(JSON.parse(byFunction.stdout)).toMatchObject({ table: s.dynamodb.ledgerTable, recorded: true });
  }, 30_000);

  it("reads the table from the stack's LedgerTableName output over the function's variable, and names a deployment without a ledger", async () => {
    // Prepare: the output names the table, the function another; a second stack's function has none
    const worker = s.controlPlane.functions.get('worker');
    if (worker === undefined) throw new Error('the local stack registers its worker');
    const environment = worker.environment;
    const outputs = [
      { key: 'Auth0JobsWorkerFunctionName1A2B3C4D', value: 'worker' },
      { key: 'Auth0JobsLedgerTableName5E6F7A8B', value: s.dynamodb.ledgerTable },
    ];
    s.controlPlane.stacks.set('Ledgered', { name: 'Ledgered', outputs });
    s.controlPlane.stacks.set('Unordered', { name: 'Unordered', outputs: outputs.slice(0, 1) });

    // Act
    worker.environment = { ...environment, LEDGER_TABLE: 'not-the-ledger' };
    const fromOutput = await found(['--stack', 'Ledgered'], ['--user', ada.user_id]);
    const fromVariable = await found(['--function', 'worker'], ['--user', ada.user_id]);
    const { LEDGER_TABLE: _, ...without } = environment;
    worker.environment = { ...without, ORDERING: 'unordered' };
    const none = await found(['--stack', 'Unordered'], ['--user', ada.user_id]);
    worker.environment = environment;

    // Assess
    expect(fromOutput.stderr).toBe('');
    expect(fromOutput.status).toBe(0);
    expect(row(fromOutput.stdout, 'blocked')).toContain('crm-unblock');
    expect(fromVariable.status).toBe(1);
    expect(fromVariable.stderr).toMatch(/^cannot read the ordering ledger not-the-ledger: ResourceNotFoundException.*; check the table \(--table or --stack\), the region \(--region or AWS_REGION\) and dynamodb:GetItem\n$/);
    expect(none.status).toBe(2);
    expect(none.stderr).toBe('stack Unordered has no ordering ledger (no LedgerTableName output, no LEDGER_TABLE on worker): it applies jobs unordered and keeps no history; or give --table (see --help)\n');
  }, 30_000);

  it('is a usage error without a table or without a user', async () => {
    // Act
    const noTable = await runCommand(['history', '--user', ada.user_id]);
    const noUser = await runCommand(['history', '--table', s.dynamodb.ledgerTable]);
    const help = await runCommand(['history', '--help']);

    // Assess
    expect(noTable.status).toBe(2);
    // One line each, --help named, the whole help not repeated after it
    expect(noTable.stderr).toBe("give --stack NAME (its LedgerTableName output names the ledger's table) or --table NAME (or set LEDGER_TABLE) (see --help)\n");
    expect(noUser.status).toBe(2);
    expect(noUser.stderr).toBe("give --user: the Auth0 user id (auth0|…) or the user's email (see --help)\n");
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--stack NAME');
    expect(help.stdout).toContain('--table NAME');
  });
});
