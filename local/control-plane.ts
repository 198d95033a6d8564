/**
 * A local stand-in for the read-only AWS control-plane calls the operator commands make to find and check a
 * deployment, so that the real SDK clients work unmodified against it:
 * - CloudFormation `DescribeStacks` (AWS Query protocol: a form-encoded POST, an XML answer);
 * - Lambda `GetFunctionConfiguration` and `ListEventSourceMappings` (REST JSON).
 * The local stack registers what it runs (its stack's outputs, the worker function, its event source mapping);
 * errors have AWS's codes and messages. Signatures are not checked.
 */
import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A stack as DescribeStacks shows it. */
export interface LocalCfnStack {
  readonly name: string;
  readonly outputs: ReadonlyArray<{ readonly key: string; readonly value: string; readonly description?: string }>;
}

/** A function as GetFunctionConfiguration shows it (the fields the commands read). */
export interface LocalFunction {
  readonly name: string;
  timeoutSeconds: number;
  memorySize: number;
  environment: Record<string, string>;
}

/** An event source mapping as ListEventSourceMappings shows it. */
export interface LocalEventSourceMapping {
  readonly uuid: string;
  readonly functionName: string;
  readonly eventSourceArn: string;
  batchSize: number;
  maximumConcurrency: number;
  reportBatchItemFailures: boolean;
  state: 'Enabled' | 'Disabled';
}

/** A running control plane. */
export interface LocalControlPlane {
  /** `http://127.0.0.1:PORT`, for both `AWS_ENDPOINT_URL_CLOUDFORMATION` and `AWS_ENDPOINT_URL_LAMBDA`. */
  readonly endpoint: string;
  readonly stacks: Map<string, LocalCfnStack>;
  readonly functions: Map<string, LocalFunction>;
  readonly mappings: LocalEventSourceMapping[];
  stop(): Promise<void>;
}

/**
 * Starts the endpoint on loopback.
 *
 * @example
 * const plane = await startControlPlane({ region: 'us-east-1' });
 * plane.stacks.set('Auth0QueueWorker', { name: 'Auth0QueueWorker', outputs: [{ key: 'JobsQueueUrl', value: url }] });
 */
export async function startControlPlane(options: { region?: string; account?: string } = {}): Promise<LocalControlPlane> {
  const region = options.region ?? 'us-east-1';
  const account = options.account ?? '000000000000';
  const stacks = new Map<string, LocalCfnStack>();
  const functions = new Map<string, LocalFunction>();
  const mappings: LocalEventSourceMapping[] = [];
  const functionArn = (name: string) => `arn:aws:lambda:${region}:${account}:function:${name}`;
  const stackId = (name: string) => `arn:aws:cloudformation:${region}:${account}:stack/${name}/00000000-0000-0000-0000-000000000000`;
  // Lambda accepts a function's name, its ARN, or a partial ARN; the name is the last part.
  const functionName = (id: string) => decodeURIComponent(id).split(':').at(-1) ?? '';

  const lambda = (request: IncomingMessage, url: URL, response: ServerResponse) => {
    const notFound = (what: string) => sendJson(response, 404, { Type: 'User', Message: what }, 'ResourceNotFoundException');
    const configuration = /^\/2015-03-31\/functions\/([^/]+)\/configuration\/?$/.exec(url.pathname);
    if (request.method === 'GET' && configuration !== null) {
      const fn = functions.get(functionName(configuration[1] ?? ''));
      if (fn === undefined) return notFound(`Function not found: ${functionArn(functionName(configuration[1] ?? ''))}`);
      return sendJson(response, 200, {
        FunctionName: fn.name,
        FunctionArn: functionArn(fn.name),
        Runtime: 'nodejs24.x',
        Handler: 'index.handler',
        Timeout: fn.timeoutSeconds,
        MemorySize: fn.memorySize,
        Architectures: ['arm64'],
        Environment: { Variables: fn.environment },
        LoggingConfig: { LogFormat: 'JSON', ApplicationLogLevel: 'INFO', SystemLogLevel: 'INFO', LogGroup: `/aws/lambda/${fn.name}` },
        State: 'Active',
        Version: '$LATEST',
      });
    }
    if (request.method === 'GET' && /^\/2015-03-31\/event-source-mappings\/?$/.test(url.pathname)) {
      const wanted = url.searchParams.get('FunctionName');
      const name = wanted === null ? undefined : functionName(wanted);
      if (name !== undefined && !functions.has(name)) return notFound(`Function does not exist: ${functionArn(name)}`);
      return sendJson(response, 200, {
        EventSourceMappings: mappings
          .filter((mapping) => name === undefined || mapping.functionName === name)
          .map((mapping) => ({
            UUID: mapping.uuid,
            EventSourceArn: mapping.eventSourceArn,
            FunctionArn: functionArn(mapping.functionName),
            BatchSize: mapping.batchSize,
            State: mapping.state,
            FunctionResponseTypes: mapping.reportBatchItemFailures ? ['ReportBatchItemFailures'] : [],
            ScalingConfig: { MaximumConcurrency: mapping.maximumConcurrency },
          })),
      });
    }
    return sendJson(response, 404, { Type: 'User', Message: `${request.method} ${url.pathname} is not served here` }, 'UnknownOperationException');
  };

  const cloudFormation = (form: URLSearchParams, response: ServerResponse) => {
    const action = form.get('Action');
    if (action !== 'DescribeStacks') return sendXml(response, 400, queryError('InvalidAction', `${action ?? 'no action'} is not served here`));
    const name = form.get('StackName') ?? '';
    const stack = stacks.get(name) ?? [...stacks.values()].find((candidate) => stackId(candidate.name) === name);
    if (stack === undefined) return sendXml(response, 400, queryError('ValidationError', `Stack with id ${name} does not exist`));
    const outputs = stack.outputs
      .map((output) => `<member><OutputKey>${xml(output.key)}</OutputKey><OutputValue>${xml(output.value)}</OutputValue>${output.description === undefined ? '' : `<Description>${xml(output.description)}</Description>`}</member>`)
      .join('');
    return sendXml(
      response,
      200,
      `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member>` +
        `<StackName>${xml(stack.name)}</StackName><StackId>${xml(stackId(stack.name))}</StackId><StackStatus>CREATE_COMPLETE</StackStatus>` +
        `<CreationTime>2026-01-01T00:00:00.000Z</CreationTime><Outputs>${outputs}</Outputs>` +
        `</member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></DescribeStacksResponse>`,
    );
  };

  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const url = new URL(request.url ?? '/', 'http://127.0.0.1');
      if (url.pathname.startsWith('/2015-03-31/')) return lambda(request, url, response);
      if (request.method === 'POST' && url.pathname === '/') return cloudFormation(new URLSearchParams(Buffer.concat(chunks).toString('utf8')), response);
      return sendJson(response, 404, { message: 'not found' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stacks,
    functions,
    mappings,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function sendJson(response: ServerResponse, status: number, body: unknown, errorType?: string): void {
  response.writeHead(status, { 'content-type': 'application/json', 'x-amzn-requestid': randomUUID(), ...(errorType === undefined ? {} : { 'x-amzn-errortype': errorType }) });
  response.end(JSON.stringify(body));
}

function sendXml(response: ServerResponse, status: number, body: string): void {
  response.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': randomUUID() });
  response.end(body);
}

function queryError(code: string, message: string): string {
  return `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${xml(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`;
}

function xml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}
