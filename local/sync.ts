/**
 * Runs a sync against the local stack: an S3 bucket on fauxqs holds the desired-state file, and the sync
 * talks to the tenant emulator and the local jobs queue with the product's own clients.
 */
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createAuth0Client } from '../shared/auth0/create-auth0-client.ts';
import { createLogger, type Logger } from '../shared/logger.ts';
import { createMetrics } from '../shared/metrics.ts';
import { createDynamoLedger } from '../shared/ledger/dynamodb-ledger.ts';
import { createSecretReader } from '../shared/secrets.ts';
import type { SyncDeps } from '../shared/sync/run-sync.ts';
import type { LocalStack } from './stack.ts';

/** The bucket local syncs read from. */
export const SYNC_BUCKET = 'sync-sources';

/** An S3 client for fauxqs, path-style: `{bucket}.localhost` names do not resolve here. */
export function createLocalS3(stack: LocalStack): S3Client {
  return new S3Client({ region: stack.workerEnv['AWS_REGION'], endpoint: stack.fauxqs.address, forcePathStyle: true, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
}

/** Creates the bucket and uploads a desired-state file; returns its location. */
export async function uploadDesiredState(s3: S3Client, key: string, text: string) {
  await s3.send(new CreateBucketCommand({ Bucket: SYNC_BUCKET })).catch(() => undefined);
  await s3.send(new PutObjectCommand({ Bucket: SYNC_BUCKET, Key: key, Body: text }));
  return { bucket: SYNC_BUCKET, key };
}

/** The sync's dependencies on the local stack, wired as functions/sync.ts wires them on AWS. */
export function createLocalSyncDeps(stack: LocalStack, options: { logger?: Logger; write?: (line: string) => void } = {}): SyncDeps & { s3: S3Client } {
  const write = options.write ?? stack.writeLog;
  const logger = options.logger ?? createLogger({ service: 'sync', level: 'info', write });
  const secrets = new SecretsManagerClient({ region: stack.workerEnv['AWS_REGION'], endpoint: stack.secrets.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  const client = createAuth0Client({
    origin: stack.tenant.origin,
    audience: stack.tenant.audience,
    readCredentials: createSecretReader(secrets, stack.client.secretName),
    httpTimeoutMs: 10_000,
    now: Date.now,
    logger,
  });
  return {
    s3: createLocalS3(stack),
    sqs: stack.sqs,
    queueUrl: stack.jobs.url,
    client,
    logger,
    metrics: createMetrics({ namespace: 'Auth0QueueWorker', service: 'sync', write }),
    now: Date.now,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    ledger: createDynamoLedger(stack.dynamodb.client, { tableName: stack.dynamodb.ledgerTable, retentionMs: 90 * 86_400_000 }),
  };
}
