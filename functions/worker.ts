import type { SQSBatchResponse, SQSHandler } from 'aws-lambda';
import { loadConfig } from '../shared/config.ts';
import { processJobs } from '../shared/queue/process-jobs.ts';
import { createWorkerDeps } from '../shared/worker.ts';

// Once per container: configuration errors fail the init with the variable's name.
const deps = createWorkerDeps(loadConfig(process.env));

/** Applies queued user-update and role-assignment jobs; returns a partial batch response. */
export const handler = (async (event, context): Promise<SQSBatchResponse> => {
  deps.logger.addContext(context);
  deps.metrics.captureColdStart(context.functionName);
  return processJobs(event, context, deps);
}) satisfies SQSHandler;
