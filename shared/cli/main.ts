#!/usr/bin/env node
/**
 * `auth0-queue-worker`: the operator's command line (`npx auth0-queue-worker --help` in a checkout).
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createCliSqsClient } from './enqueue.ts';
import { runCli } from './run-cli.ts';

const readStdin = async (): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
};

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  readStdin,
  createSqsClient: createCliSqsClient,
  createSecretsClient: (config) => new SecretsManagerClient(config),
  createCloudFormationClient: (config) => new CloudFormationClient(config),
  createLambdaClient: (config) => new LambdaClient(config),
  createDynamoDbClient: (config) => new DynamoDBClient(config),
});
