/**
 * One Lambda execution environment ("container") for the local event source mapping: a worker thread
 * that imports the function bundle once (its cold start) and then serves invocations one at a time, with
 * its module state (clients, caches, tokens) kept warm between them, as on AWS.
 */
import { parentPort, workerData } from 'node:worker_threads';

interface Invoke {
  readonly id: number;
  readonly event: unknown;
  /** Epoch milliseconds at which the invocation times out. */
  readonly deadline: number;
}

const port = parentPort;
if (port === null) throw new Error('local/container.ts runs only as a worker thread');

const started = performance.now();
try {
  const module = (await import(String(workerData.bundleUrl))) as { handler?: (event: unknown, context: unknown) => Promise<unknown> };
  const { handler } = module;
  if (typeof handler !== 'function') throw new Error(`${String(workerData.bundleUrl)} exports no handler`);
  port.postMessage({ type: 'ready', initMs: performance.now() - started });
  port.on('message', (message: Invoke) => {
    const functionName = process.env['AWS_LAMBDA_FUNCTION_NAME'] ?? 'worker';
    const context = {
      functionName,
      functionVersion: process.env['AWS_LAMBDA_FUNCTION_VERSION'] ?? '$LATEST',
      invokedFunctionArn: `arn:aws:lambda:${process.env['AWS_REGION'] ?? 'us-east-1'}:000000000000:function:${functionName}`,
      memoryLimitInMB: process.env['AWS_LAMBDA_FUNCTION_MEMORY_SIZE'] ?? '512',
      awsRequestId: crypto.randomUUID(),
      logGroupName: process.env['AWS_LAMBDA_LOG_GROUP_NAME'] ?? `/aws/lambda/${functionName}`,
      logStreamName: 'local',
      callbackWaitsForEmptyEventLoop: false,
      getRemainingTimeInMillis: () => Math.max(0, message.deadline - Date.now()),
    };
    handler(message.event, context).then(
      (result) => port.postMessage({ type: 'result', id: message.id, result }),
      (error: unknown) => port.postMessage({ type: 'error', id: message.id, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }),
    );
  });
} catch (error) {
  port.postMessage({ type: 'init_error', error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
}
