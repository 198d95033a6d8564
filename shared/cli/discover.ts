import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetFunctionConfigurationCommand, ListEventSourceMappingsCommand } from '@aws-sdk/client-lambda';
import { GetQueueUrlCommand } from '@aws-sdk/client-sqs';
import { awsConfig } from './args.ts';
import type { CliIo, FoundDeployment } from './io.ts';

/** The flags that find a deployment, for every command's help. */
export const DISCOVERY_HELP = `  --stack NAME              find the deployment from its CloudFormation stack: the queues and the ledger table
                            from the stack's outputs, the rest from the worker function's configuration (any
                            flag given wins)
  --function NAME           the same from the worker function alone (name or ARN): the jobs queue is its
                            event source
  --cloudformation-endpoint-url URL, --lambda-endpoint-url URL
                            CloudFormation and Lambda endpoints other than AWS's (the local stack's)`;

/** The worker's settings the commands read; any other variable of the function (AWS_*, NODE_OPTIONS) stays there. */
const SETTINGS = ['AUTH0_DOMAIN', 'AUTH0_AUDIENCE', 'AUTH0_SECRET_ID', 'DLQ_URL', 'LEDGER_TABLE', 'ALLOWED_ROLES', 'ALLOWED_FIELDS', 'ALLOWED_ORGANIZATIONS', 'MAX_CONCURRENCY', 'RATE_LIMIT_RESERVE', 'RATE_LIMIT_SHARE', 'AUTH0_PLAN', 'JOB_CONCURRENCY', 'GROUP_MAX_ITEMS', 'MAX_RECEIVE_COUNT', 'JOB_MAX_AGE_SECONDS'];
const FLAGS = ['--stack', '--function', '--cloudformation-endpoint-url', '--lambda-endpoint-url'] as const;

/**
 * Takes `--stack` / `--function` (and their endpoint flags) out of a command's arguments and, when one is given,
 * finds the deployment: its settings become the defaults the command reads from the environment (flags still
 * win), and what only the deployment knows (timeout, event source mapping) rides along as `io.deployment`.
 *
 * @example
 * const found = await withDeployment(['doctor', '--stack', 'Auth0QueueWorker'], io);
 */
export async function withDeployment(argv: readonly string[], io: CliIo, needs: 'queues' | 'all' = 'all'): Promise<{ argv: string[]; io: CliIo } | { error: string }> {
  const help = argv.includes('--help') || argv.includes('-h');
  const rest: string[] = [];
  const given = new Map<string, string>();
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index] ?? '';
    const flag = FLAGS.find((name) => arg === name || arg.startsWith(`${name}=`));
    if (flag === undefined) {
      rest.push(arg);
      continue;
    }
    const inline = arg.includes('=');
    const value = inline ? arg.slice(flag.length + 1) : argv[index + 1];
    if (value === undefined || value === '' || value.startsWith('-')) {
      if (help) continue;
      return { error: `${flag} needs a value` };
    }
    if (!inline) index += 1;
    given.set(flag, value);
  }
  const stackName = given.get('--stack');
  const functionGiven = given.get('--function');
  if (help || (stackName === undefined && functionGiven === undefined)) return { argv: rest, io };
  const region = flagValue(rest, '--region');

  let outputs = new Map<string, string>();
  let functionName = functionGiven;
  if (stackName !== undefined) {
    const cloudFormation = io.createCloudFormationClient(awsConfig(region, given.get('--cloudformation-endpoint-url')));
    try {
      const { Stacks = [] } = await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }));
      outputs = new Map((Stacks[0]?.Outputs ?? []).map((output) => [baseKey(output.OutputKey ?? ''), output.OutputValue ?? '']));
    } catch (error) {
      return { error: `cannot read stack ${stackName}: ${awsMessage(error)}; check the name, the region (--region or AWS_REGION) and cloudformation:DescribeStacks` };
    }
    // A producer sending jobs, or reading dead letters, needs the queues only: no Lambda permission asked.
    if (needs === 'queues' && functionGiven === undefined && outputs.has('JobsQueueUrl') && outputs.has('DeadLetterQueueUrl')) {
      return { argv: rest, io: { ...io, env: { ...io.env, JOBS_QUEUE_URL: outputs.get('JobsQueueUrl'), DLQ_URL: outputs.get('DeadLetterQueueUrl') } } };
    }
    functionName ??= outputs.get('WorkerFunctionName');
    if (functionName === undefined) return { error: `stack ${stackName} has no WorkerFunctionName output: deploy this version of the stack, or give --function` };
  }
  if (functionName === undefined) return { error: 'give --stack or --function' };

  const lambda = io.createLambdaClient(awsConfig(region, given.get('--lambda-endpoint-url')));
  let variables: Record<string, string>;
  let timeoutSeconds: number | undefined;
  try {
    const configuration = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: functionName }));
    variables = configuration.Environment?.Variables ?? {};
    timeoutSeconds = configuration.Timeout;
  } catch (error) {
    return { error: `cannot read function ${functionName}: ${awsMessage(error)}; check the name and lambda:GetFunctionConfiguration` };
  }
  let queueUrl = outputs.get('JobsQueueUrl') ?? flagValue(rest, '--queue-url');
  let eventSource: FoundDeployment['eventSource'];
  try {
    const { EventSourceMappings = [] } = await lambda.send(new ListEventSourceMappingsCommand({ FunctionName: functionName }));
    const queueName = queueUrl?.split('/').at(-1);
    let mapping;
    if (queueName !== undefined) {
      mapping = EventSourceMappings.find((candidate) => candidate.EventSourceArn?.endsWith(`:${queueName}`));
    } else if (EventSourceMappings.length === 1) {
      // The worker's one mapping names the jobs queue; SQS says its URL.
      mapping = EventSourceMappings[0];
      queueUrl = await queueUrlOf(mapping?.EventSourceArn ?? '', io.createSqsClient(awsConfig(region, flagValue(rest, '--endpoint-url'))));
    } else if (EventSourceMappings.length > 1) {
      return { error: `${functionName} has ${EventSourceMappings.length} event source mappings: give --stack, or --queue-url to say which queue is the jobs queue` };
    }
    eventSource =
      mapping === undefined
        ? undefined
        : {
            reportBatchItemFailures: mapping.FunctionResponseTypes?.includes('ReportBatchItemFailures') ?? false,
            maximumConcurrency: mapping.ScalingConfig?.MaximumConcurrency,
            state: mapping.State ?? 'unknown',
            eventSourceArn: mapping.EventSourceArn ?? '',
          };
  } catch (error) {
    return { error: `cannot list the event source mappings of ${functionName}: ${awsMessage(error)}; check lambda:ListEventSourceMappings` };
  }

  const found: Record<string, string> = {};
  for (const name of SETTINGS) if (variables[name] !== undefined) found[name] = variables[name];
  if (queueUrl !== undefined) found['JOBS_QUEUE_URL'] = queueUrl;
  const dlqUrl = outputs.get('DeadLetterQueueUrl');
  if (dlqUrl !== undefined) found['DLQ_URL'] = dlqUrl;
  const ledgerTable = outputs.get('LedgerTableName');
  if (ledgerTable !== undefined) found['LEDGER_TABLE'] = ledgerTable;
  const deployment: FoundDeployment = { source: stackName === undefined ? `function ${functionName}` : `stack ${stackName}`, functionName, timeoutSeconds, eventSource };
  return { argv: rest, io: { ...io, env: { ...io.env, ...found }, deployment } };
}

/** An output's key without the construct path and CDK's hash: `Auth0JobsJobsQueueUrl1A2B3C4D` → `JobsQueueUrl`. */
function baseKey(key: string): string {
  for (const name of ['WorkerFunctionName', 'DeadLetterQueueUrl', 'JobsQueueUrl', 'JobsQueueArn', 'LedgerTableName']) {
    if (new RegExp(`${name}([0-9A-F]{8})?$`).test(key)) return name;
  }
  return key;
}

/** The URL of the queue `arn:aws:sqs:REGION:ACCOUNT:NAME`, from SQS's GetQueueUrl; undefined when SQS does not say. */
async function queueUrlOf(arn: string, sqs: ReturnType<CliIo['createSqsClient']>): Promise<string | undefined> {
  const [, , service, , account, name] = arn.split(':');
  if (service !== 'sqs' || account === undefined || name === undefined) return undefined;
  try {
    return (await sqs.send(new GetQueueUrlCommand({ QueueName: name, QueueOwnerAWSAccountId: account }))).QueueUrl;
  } catch {
    return undefined;
  }
}

function flagValue(argv: readonly string[], flag: string): string | undefined {
  const at = argv.findIndex((arg) => arg === flag || arg.startsWith(`${flag}=`));
  if (at < 0) return undefined;
  const arg = argv[at] ?? '';
  return arg.includes('=') ? arg.slice(flag.length + 1) : argv[at + 1];
}

function awsMessage(error: unknown): string {
  if (!(error instanceof Error)) return 'unknown error';
  return error.message === '' || error.message === 'UnknownError' ? error.name : `${error.name}: ${error.message}`;
}
