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
}
