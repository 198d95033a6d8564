import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetFunctionConfigurationCommand, ListEventSourceMappingsCommand } from '@aws-sdk/client-lambda';
import { GetQueueUrlCommand } from '@aws-sdk/client-sqs';
import { awsConfig } from './args.ts';
import type { CliIo, FoundDeployment } from './io.ts';
import { PRODUCER_NAME, producerIdPrefix } from '../config.ts';

/** The flags that find a deployment, for every command's help. */
export const DISCOVERY_HELP = `  --stack NAME              find the deployment from its CloudFormation stack: the queues and the ledger table
                            from the stack's outputs, the rest from the worker function's configuration (any
                            flag given wins)
  --function NAME           the same from the worker function alone (name or ARN): the jobs queue is its
                            event source
  --deployment ID           with --stack, in a stack that holds more than one deployment: the construct id of
                            the one to use (the start of its output keys: Europe for EuropeJobsQueueUrl)
  --producer NAME           with --stack, in a deployment that declares producers: the producer whose queues
                            (and, for doctor, whose policy) the command uses
  --cloudformation-endpoint-url URL, --lambda-endpoint-url URL
                            CloudFormation and Lambda endpoints other than AWS's (the local stack's)`;

/** The worker's settings the commands read; any other variable of the function (AWS_*, NODE_OPTIONS) stays there. */
const SETTINGS = ['AUTH0_DOMAIN', 'AUTH0_AUDIENCE', 'AUTH0_SECRET_ID', 'DLQ_URL', 'LEDGER_TABLE', 'ALLOWED_ROLES', 'ALLOWED_FIELDS', 'ALLOWED_ORGANIZATIONS', 'MAX_CONCURRENCY', 'RATE_LIMIT_RESERVE', 'RATE_LIMIT_SHARE', 'AUTH0_PLAN', 'JOB_CONCURRENCY', 'GROUP_MAX_ITEMS', 'MAX_RECEIVE_COUNT', 'JOB_MAX_AGE_SECONDS'];
const FLAGS = ['--stack', '--function', '--deployment', '--producer', '--cloudformation-endpoint-url', '--lambda-endpoint-url'] as const;
/** The outputs the commands read, per producer where the deployment declares producers. */
const OUTPUTS = ['WorkerFunctionName', 'DeadLetterQueueUrl', 'JobsQueueUrl', 'JobsQueueArn', 'LedgerTableName'] as const;
const PRODUCER_OUTPUTS = new Set<string>(['DeadLetterQueueUrl', 'JobsQueueUrl', 'JobsQueueArn']);

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
  const producer = given.get('--producer');
  const deploymentId = given.get('--deployment');
  const needsStack = producer !== undefined ? '--producer needs --stack: the producer\'s queues are found among the stack\'s outputs' : deploymentId !== undefined ? '--deployment needs --stack: it says which of the stack\'s deployments to use' : undefined;
  if (help || (stackName === undefined && functionGiven === undefined)) {
    return needsStack === undefined || help ? { argv: rest, io } : { error: needsStack };
  }
  if (needsStack !== undefined && stackName === undefined) return { error: needsStack };
  if (producer !== undefined && !PRODUCER_NAME.test(producer)) return { error: `--producer ${JSON.stringify(producer)} is not a producer name (lower-case letters, digits and -)` };
  const region = flagValue(rest, '--region');

  let outputs = new Map<string, string>();
  let functionName = functionGiven;
  if (stackName !== undefined) {
    const cloudFormation = io.createCloudFormationClient(awsConfig(region, given.get('--cloudformation-endpoint-url')));
    try {
      const { Stacks = [] } = await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }));
      // Outputs by deployment (the construct's path, the start of each key), each under its plain name.
      const deployments = new Map<string, Map<string, string>>();
      for (const output of Stacks[0]?.Outputs ?? []) {
        const { path, name } = splitKey(output.OutputKey ?? '');
        if (!deployments.has(path)) deployments.set(path, new Map());
        deployments.get(path)?.set(name, output.OutputValue ?? '');
      }
      const paths = [...deployments].filter(([, each]) => [...each.keys()].some((name) => (OUTPUTS as readonly string[]).includes(name) || /^Producer[A-Z]/.test(name))).map(([path]) => path);
      if (deploymentId !== undefined) {
        const chosen = deployments.get(deploymentId);
        if (chosen === undefined || !paths.includes(deploymentId)) {
          return { error: `stack ${stackName} has no deployment ${deploymentId}; ${paths.length === 0 ? 'it has none' : `its deployments are ${paths.join(', ')}`}` };
        }
        outputs = chosen;
      } else if (paths.length > 1) {
        // Two deployments in one stack (one per tenant, say): taking either silently would aim at the wrong tenant.
        return { error: `stack ${stackName} holds ${paths.length} deployments (${paths.join(', ')}): give --deployment ID` };
      } else {
        outputs = deployments.get(paths[0] ?? '') ?? new Map();
      }
    } catch (error) {
      return { error: `cannot read stack ${stackName}: ${awsMessage(error)}; check the name, the region (--region or AWS_REGION) and cloudformation:DescribeStacks` };
    }
    // A deployment with producers has each producer's queues under its own keys: the command uses the one named.
    const prefixes = [...outputs.keys()].map((key) => /^(Producer[A-Z][A-Za-z0-9]*)JobsQueueUrl$/.exec(key)?.[1]).filter((prefix) => prefix !== undefined);
    if (prefixes.length > 0 && producer === undefined) {
      return { error: `stack ${stackName} declares producers (${prefixes.map((prefix) => producerName(prefix)).join(', ')}): give --producer NAME` };
    }
    if (producer !== undefined) {
      const prefix = producerIdPrefix(producer);
      if (!outputs.has(`${prefix}JobsQueueUrl`)) {
        return { error: prefixes.length === 0 ? `stack ${stackName} declares no producers: leave --producer out` : `stack ${stackName} has no producer ${producer}; its producers are ${prefixes.map((each) => producerName(each)).join(', ')}` };
      }
      for (const name of PRODUCER_OUTPUTS) {
        const value = outputs.get(`${prefix}${name}`);
        if (value !== undefined) outputs.set(name, value);
      }
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
            mappings: {
              count: EventSourceMappings.length,
              maximumConcurrency: EventSourceMappings.every((each) => each.ScalingConfig?.MaximumConcurrency !== undefined)
                ? EventSourceMappings.reduce((sum, each) => sum + (each.ScalingConfig?.MaximumConcurrency ?? 0), 0)
                : undefined,
            },
          };
  } catch (error) {
    return { error: `cannot list the event source mappings of ${functionName}: ${awsMessage(error)}; check lambda:ListEventSourceMappings` };
  }

  const found: Record<string, string> = {};
  for (const name of SETTINGS) if (variables[name] !== undefined) found[name] = variables[name];
  // The producer's policy, as the deployment-wide variables the commands read (doctor checks the roles it names).
  const producers = variables['PRODUCERS'];
  if (producer !== undefined && producers !== undefined) {
    const entry = parseProducerEntries(producers).find((candidate) => candidate.name === producer);
    if (entry !== undefined) {
      for (const [variable, key] of [['ALLOWED_FIELDS', 'allowedFields'], ['ALLOWED_ROLES', 'allowedRoles'], ['ALLOWED_ORGANIZATIONS', 'allowedOrganizations']] as const) {
        const list = entry[key];
        if (Array.isArray(list) && list.length > 0) found[variable] = list.join(',');
      }
    }
  }
  if (queueUrl !== undefined) found['JOBS_QUEUE_URL'] = queueUrl;
  const dlqUrl = outputs.get('DeadLetterQueueUrl');
  if (dlqUrl !== undefined) found['DLQ_URL'] = dlqUrl;
  const ledgerTable = outputs.get('LedgerTableName');
  if (ledgerTable !== undefined) found['LEDGER_TABLE'] = ledgerTable;
  const deployment: FoundDeployment = { source: stackName === undefined ? `function ${functionName}` : `stack ${stackName}`, functionName, timeoutSeconds, eventSource };
  return { argv: rest, io: { ...io, env: { ...io.env, ...found }, deployment } };
}

/**
 * An output's key split into the construct's path (which deployment of the stack) and its name without CDK's hash:
 * `Auth0JobsJobsQueueUrl1A2B3C4D` → `Auth0Jobs` and `JobsQueueUrl`, and a producer's
 * `Auth0JobsProducerHrJobsQueueUrl` → `Auth0Jobs` and `ProducerHrJobsQueueUrl`. A key of no deployment keeps its name.
 */
function splitKey(key: string): { path: string; name: string } {
  for (const name of OUTPUTS) {
    const match = new RegExp(`^(.*?)(Producer[A-Z][A-Za-z0-9]*?)?${name}(?:[0-9A-F]{8})?$`).exec(key);
    if (match !== null) return { path: match[1] ?? '', name: PRODUCER_OUTPUTS.has(name) && match[2] !== undefined ? `${match[2]}${name}` : name };
  }
  return { path: '', name: key };
}

/** `ProducerHrSystem` → `hr-system`, for messages that list a stack's producers. */
function producerName(prefix: string): string {
  return prefix.slice('Producer'.length).replace(/[A-Z]/g, (letter, index: number) => `${index === 0 ? '' : '-'}${letter.toLowerCase()}`);
}

/** The entries of a worker's PRODUCERS, or none when it is not the JSON the construct writes. */
function parseProducerEntries(text: string): Array<Record<string, unknown>> {
  try {
    const parsed: unknown = JSON.parse(text);
    return Array.isArray(parsed) ? parsed.filter((entry): entry is Record<string, unknown> => typeof entry === 'object' && entry !== null) : [];
  } catch {
    return [];
  }
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
