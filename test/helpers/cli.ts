import type { CliIo } from '../../shared/cli/io.ts';
import { runCli } from '../../shared/cli/run-cli.ts';
import { suiteLog } from './suite-logs.ts';

let log: ((text: string) => void) | undefined;
/** The commands' output, kept with the run's other logs. */
const cliLog = () => (log ??= suiteLog('cli'));

/** The AWS clients and input a command run in-process gets; a client a test does not give fails when made. */
export interface CommandSetup {
  readonly sqs?: CliIo['createSqsClient'];
  readonly secrets?: CliIo['createSecretsClient'];
  readonly cloudFormation?: CliIo['createCloudFormationClient'];
  readonly lambda?: CliIo['createLambdaClient'];
  readonly dynamodb?: CliIo['createDynamoDbClient'];
  readonly stdin?: string;
}

/** Runs `auth0-queue-worker <argv>` in-process and gathers what it printed. */
export async function runCommand(argv: readonly string[], setup: CommandSetup = {}) {
  let stdout = '';
  let stderr = '';
  const missing = (service: string) => () => {
    throw new Error(`no ${service} client in this test`);
  };
  const io: CliIo = {
    stdout: { write: (text: string) => ((stdout += text), cliLog()(text)) },
    stderr: { write: (text: string) => ((stderr += text), cliLog()(text)) },
    env: {},
    readStdin: async () => setup.stdin ?? '',
    createSqsClient: setup.sqs ?? missing('SQS'),
    createSecretsClient: setup.secrets ?? missing('Secrets Manager'),
    createCloudFormationClient: setup.cloudFormation ?? missing('CloudFormation'),
    createLambdaClient: setup.lambda ?? missing('Lambda'),
    createDynamoDbClient: setup.dynamodb ?? missing('DynamoDB'),
  };
  const status = await runCli(argv, io);
  return { status, stdout, stderr };
}
