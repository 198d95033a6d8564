import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SQSClient } from '@aws-sdk/client-sqs';

/** What a command reads and writes, and the AWS clients it makes, so tests run commands in-process. */
export interface CliIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown; readonly isTTY?: boolean };
  readonly env: Readonly<Record<string, string | undefined>>;
  readStdin(): Promise<string>;
  createSqsClient(config: { region?: string; endpoint?: string }): Pick<SQSClient, 'send'>;
  createSecretsClient(config: { region?: string; endpoint?: string }): Pick<SecretsManagerClient, 'send'>;
  createCloudFormationClient(config: { region?: string; endpoint?: string }): Pick<CloudFormationClient, 'send'>;
  createLambdaClient(config: { region?: string; endpoint?: string }): Pick<LambdaClient, 'send'>;
  /** For the ordering ledger's table (`history`). */
  createDynamoDbClient(config: { region?: string; endpoint?: string }): Pick<DynamoDBClient, 'send'>;
  /** What `--stack` or `--function` found (the run-cli layer sets it). */
  readonly deployment?: FoundDeployment;
}

/** A deployed worker, as its stack and its function's configuration describe it. */
export interface FoundDeployment {
  /** `stack NAME` or `function NAME`, for messages. */
  readonly source: string;
  readonly functionName: string;
  readonly timeoutSeconds: number | undefined;
  /** The function's event source mapping on the jobs queue; undefined when it has none. */
  readonly eventSource:
    | {
        readonly reportBatchItemFailures: boolean;
        readonly maximumConcurrency: number | undefined;
        readonly state: string;
        readonly eventSourceArn: string;
        /** The function's mappings (one per producer's queue, with producers), and their maximum concurrency together. */
        readonly mappings?: { readonly count: number; readonly maximumConcurrency: number | undefined };
      }
    | undefined;
}
