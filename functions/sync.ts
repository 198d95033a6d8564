import type { Context } from 'aws-lambda';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { createAuth0Client } from '../shared/auth0/create-auth0-client.ts';
import { loadConfig } from '../shared/config.ts';
import { createDynamoLedger } from '../shared/ledger/dynamodb-ledger.ts';
import { createLogger } from '../shared/logger.ts';
import { createMetrics } from '../shared/metrics.ts';
import { createSecretReader } from '../shared/secrets.ts';
import { type SyncDefinition, type SyncReport, runSync } from '../shared/sync/run-sync.ts';

// Once per container: configuration errors fail the init with the variable's name.
const config = loadConfig(process.env, 'sync');
const logger = createLogger({ service: 'sync', level: config.logLevel });
const metrics = createMetrics({ namespace: config.metricsNamespace, service: 'sync' });
const client = createAuth0Client({
  origin: config.auth0.origin,
  audience: config.auth0.audience,
  readCredentials: createSecretReader(new SecretsManagerClient({}), config.auth0.secretId),
  httpTimeoutMs: config.httpTimeoutMs,
  now: Date.now,
  logger,
});
const deps = {
  s3: new S3Client({}),
  sqs: new SQSClient({ useQueueUrlAsEndpoint: false }),
  queueUrl: config.jobsQueueUrl,
  client,
  logger,
  metrics,
  now: Date.now,
  sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
  plan: config.rateLimit.plan,
  // Read to learn which role changes of earlier runs are applied (LEDGER_TABLE, unless ordering is off).
  ledger: config.ledger === undefined ? undefined : createDynamoLedger(new DynamoDBClient({}), config.ledger),
};

/** Runs the sync an EventBridge Scheduler schedule names in its input. */
export const handler = async (definition: SyncDefinition, context: Context): Promise<SyncReport> => {
  logger.addContext(context);
  metrics.captureColdStart(context.functionName);
  return runSync(definition, deps);
};
