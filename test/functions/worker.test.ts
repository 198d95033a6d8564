/**
 * The deployable worker bundle, run as Lambda runs it: a fresh Node process imports the esbuild output
 * and calls its handler with real SQS records from the fauxqs emulator. The real SDK clients reach
 * fauxqs, the local Secrets Manager and dynalite (the ordering ledger) through the standard AWS_ENDPOINT_URL_*
 * variables, and the
 * worker reaches an Auth0 stand-in over HTTP on loopback.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CreateQueueCommand, GetQueueAttributesCommand, type Message, ReceiveMessageCommand, SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse } from 'aws-lambda';
import { type FauxqsServer, startFauxqs } from 'fauxqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleFunction } from '../../infra/build.ts';
import { type LocalDynamoDb, startLocalDynamoDb } from '../../local/dynamodb.ts';
import { type LocalSecretsManager, startSecretsManager } from '../../local/secrets-manager.ts';
import { toSqsRecord } from '../../local/sqs-event.ts';
import { startAuth0Stub } from '../helpers/auth0-stub.ts';
import { rememberSecrets, suiteLog } from '../helpers/suite-logs.ts';

const region = 'eu-west-1';
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const CLIENT_SECRET = 'client-secret-that-must-never-be-logged';
/** The worker processes' output, kept with the run's other logs. */
const keepLog = suiteLog('worker-process');
rememberSecrets([CLIENT_SECRET]);

const DRIVER = `
const { handler } = await import(process.env.BUNDLE_URL);
let input = '';
for await (const chunk of process.stdin) input += chunk;
for (const event of JSON.parse(input)) {
  const deadline = Date.now() + 30000;
  const result = await handler(event, { getRemainingTimeInMillis: () => deadline - Date.now() });
  process.stdout.write('RESULT ' + JSON.stringify(result) + '\\n');
}
`;

describe('Bundle: dist/worker/index.mjs on the local AWS endpoints', () => {
  let dir: string;
  let bundleUrl: string;
  let fauxqs: FauxqsServer;
  let secrets: LocalSecretsManager;
  let dynamodb: LocalDynamoDb;
  let auth0: Awaited<ReturnType<typeof startAuth0Stub>>;
  let sqs: SQSClient;
  let jobs: { url: string; arn: string };
  let dlq: { url: string; arn: string };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'worker-bundle-'));
    bundleUrl = pathToFileURL((await bundleFunction('worker', dir)).outfile).href;
    fauxqs = await startFauxqs({ port: 0, logger: false, defaultRegion: region });
    secrets = await startSecretsManager({ port: 0, region });
    dynamodb = await startLocalDynamoDb({ region });
    secrets.putSecret('auth0-m2m', JSON.stringify({ clientId: 'worker-client', clientSecret: CLIENT_SECRET }));
    auth0 = await startAuth0Stub({ clientId: 'worker-client', clientSecret: CLIENT_SECRET, scope: 'read:users update:users' });
    sqs = new SQSClient({ region, credentials, endpoint: fauxqs.address, useQueueUrlAsEndpoint: false });
    const create = async (name: string) => {
      const { QueueUrl = '' } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: { VisibilityTimeout: '30' } }));
      const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
      return { url: QueueUrl, arn: Attributes?.QueueArn ?? '' };
    };
    jobs = await create('jobs');
    dlq = await create('jobs-dlq');
  });

  afterAll(async () => {
    sqs?.destroy();
    await Promise.all([fauxqs?.stop(), secrets?.stop(), dynamodb?.stop(), auth0?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const enqueue = async (bodies: string[]) => {
    for (const body of bodies) await sqs.send(new SendMessageCommand({ QueueUrl: jobs.url, MessageBody: body }));
  };

  const receiveAll = async (url: string, count: number): Promise<Message[]> => {
    const messages: Message[] = [];
    for (let polls = 0; messages.length < count && polls < 20; polls++) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, MessageSystemAttributeNames: ['All'], MessageAttributeNames: ['All'] }),
      );
      messages.push(...Messages);
    }
    return messages;
  };

  /** Runs the bundle in a fresh process, like a cold Lambda container, for each batch in turn. */
  const invoke = (batches: Message[][], env: Record<string, string> = {}) =>
    new Promise<{ results: SQSBatchResponse[]; output: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', DRIVER], {
        env: {
          PATH: process.env['PATH'] ?? '',
          BUNDLE_URL: bundleUrl,
          AWS_REGION: region,
          AWS_ACCESS_KEY_ID: credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
          AWS_ENDPOINT_URL_SQS: fauxqs.address,
          AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
          AWS_ENDPOINT_URL_DYNAMODB: dynamodb.endpoint,
          LEDGER_TABLE: dynamodb.ledgerTable,
          AUTH0_DOMAIN: auth0.origin,
          AUTH0_SECRET_ID: 'auth0-m2m',
          DLQ_URL: dlq.url,
          LOG_LEVEL: 'debug',
          ...env,
        },
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      child.on('close', () => keepLog(output));
      child.on('error', reject);
      child.on('close', (code) => {
        const results = output.split('\n').filter((line) => line.startsWith('RESULT ')).map((line) => JSON.parse(line.slice(7)) as SQSBatchResponse);
        if (code === 0 && results.length === batches.length) resolve({ results, output });
        else reject(new Error(`worker process exited with ${code}:\n${output}`));
      });
      child.stdin.end(JSON.stringify(batches.map((messages) => ({ Records: messages.map((message) => toSqsRecord(message, jobs.arn)) }))));
    });

  it('applies jobs, dead-letters the impossible ones with their reason, and logs no secret, token or metadata value', async () => {
    // Prepare
    auth0.users.set('auth0|ada', { user_id: 'auth0|ada', app_metadata: { plan: 'free', legacy: true }, user_metadata: {} });
    await enqueue([
      JSON.stringify({ type: 'user.update', userId: 'auth0|ada', jobId: 'crm-1', changes: { app_metadata: { plan: 'pro-metadata-value', legacy: null }, blocked: false } }),
      JSON.stringify({ type: 'user.update', userId: 'auth0|nobody', jobId: 'crm-2', changes: { blocked: true } }),
      '{"type":"user.update",',
    ]);
    const received = await receiveAll(jobs.url, 3);

    // Act
    const { results, output } = await invoke([received.slice(0, 2), received.slice(2)], { ALLOWED_FIELDS: 'blocked,app_metadata' });

    // Assess
    expect(results).toEqual([{ batchItemFailures: [] }, { batchItemFailures: [] }]);
    expect(auth0.users.get('auth0|ada')).toMatchObject({ app_metadata: { plan: 'pro-metadata-value' }, blocked: false });
    expect(auth0.users.get('auth0|ada')?.app_metadata).not.toHaveProperty('legacy');
    expect(auth0.tokensIssued()).toBe(1);
    expect(auth0.requests.find((request) => request.method === 'PATCH' && decodeURIComponent(request.path).endsWith('/auth0|ada'))?.correlationId).toBe('crm-1');
    const letters = await receiveAll(dlq.url, 2);
    const reasons = letters.map((letter) => letter.MessageAttributes?.['reason']?.StringValue).sort();
    expect(reasons).toEqual(['http_404', 'malformed_json']);
    const missing = letters.find((letter) => letter.MessageAttributes?.['reason']?.StringValue === 'http_404');
    expect(missing?.MessageAttributes?.['auth0ErrorCode']?.StringValue).toBe('inexistent_user');
    expect(missing?.MessageAttributes?.['jobId']?.StringValue).toBe('crm-2');
    expect(output).toContain('"message":"job applied"');
    expect(output).not.toContain(CLIENT_SECRET);
    expect(output).not.toContain('eyJ');
    expect(output).not.toContain('pro-metadata-value');
  });

  it('after a 429, puts that job back as a fresh message delayed by the wait Auth0 asked for, and applies the rest once the wait is over', async () => {
    // Prepare: one call at a time, so that the 429 comes before any other call starts
    for (const n of [1, 2, 3]) auth0.users.set(`auth0|user-${n}`, { user_id: `auth0|user-${n}`, app_metadata: {}, user_metadata: {} });
    const bodies = [1, 2, 3].map((n) => JSON.stringify({ type: 'user.update', userId: `auth0|user-${n}`, changes: { blocked: true } }));
    await enqueue(bodies);
    const received = await receiveAll(jobs.url, 3);
    auth0.rateLimit(1);
    const before = auth0.requests.length;

    // Act
    const started = Date.now();
    const { results, output } = await invoke([received], { JOB_CONCURRENCY: '1' });
    const elapsed = Date.now() - started;

    // Assess: the rate-limited job is back on the queue as a new message for Retry-After 2 s plus jitter;
    // the other two waited out the 2 s inside the invocation instead of being requeued, then applied
    expect(results[0]?.batchItemFailures).toEqual([]);
    expect(auth0.requests.slice(before).filter((request) => request.path.startsWith('/api/v2/'))).toHaveLength(3);
    const delayed = (fauxqs.inspectQueue('jobs')?.messages.delayed ?? []).filter((message) => bodies.includes(message.body));
    expect(delayed).toHaveLength(1);
    expect((delayed[0]?.delayUntil ?? 0) - started).toBeGreaterThanOrEqual(2_000);
    expect((delayed[0]?.delayUntil ?? 0) - started).toBeLessThan(15_000);
    // It carries when it was first sent and that it was tried once.
    const firstSentAt = received.find((message) => message.Body === delayed[0]?.body)?.Attributes?.['SentTimestamp'];
    expect(delayed[0]?.messageAttributes['auth0-queue-worker.retry']).toEqual({ DataType: 'String', StringValue: `${firstSentAt}:1` });
    const applied = [1, 2, 3].filter((n) => auth0.users.get(`auth0|user-${n}`)?.['blocked'] === true);
    expect(applied).toHaveLength(2);
    expect(elapsed).toBeGreaterThanOrEqual(2_000);
    expect(output).toContain('"CallsPaced":');
    expect(output).toContain('"level":"INFO"');
    expect(output).not.toContain('"level":"WARN"');
  });
});
