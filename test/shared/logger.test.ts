import type { Context } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/logger.ts';
import { createMetrics } from '../../shared/metrics.ts';
import { suiteLog } from '../helpers/suite-logs.ts';

const keep = suiteLog('logger');
const context = (requestId: string) =>
  ({ functionName: 'worker', functionVersion: '$LATEST', invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:worker', memoryLimitInMB: '512', awsRequestId: requestId }) as Context;

describe('Function: createLogger() on Powertools', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  const capture = () => {
    const lines: Array<Record<string, unknown>> = [];
    return { lines, write: (line: string) => (keep(line), lines.push(JSON.parse(line) as Record<string, unknown>)) };
  };

  it("follows Lambda's application log level, and survives the warning Powertools prints while it is built", () => {
    // Prepare: Lambda's logging config says WARN; the deployment asked for debug
    process.env['AWS_LAMBDA_LOG_LEVEL'] = 'WARN';
    const { lines, write } = capture();

    // Act
    const logger = createLogger({ service: 'worker', level: 'debug', write });
    logger.info('not shown');
    logger.warn('shown');

    // Assess
    expect(lines.map((line) => line['message'])).toEqual([expect.stringContaining('does not match AWS Lambda Advanced Logging Controls'), 'shown']);
  });

  it("puts the invocation on every line, cold_start on the container's first only, and keeps each record's keys to its own lines", async () => {
    // Prepare: an on-demand container, two invocations
    process.env['AWS_LAMBDA_INITIALIZATION_TYPE'] = 'on-demand';
    const { lines, write } = capture();
    const logger = createLogger({ service: 'worker', level: 'info', write });

    // Act: records handled concurrently within each invocation
    for (const requestId of ['req-1', 'req-2']) {
      logger.addContext(context(requestId));
      await Promise.all(
        ['a', 'b'].map(async (messageId) => {
          const log = logger.child({ messageId });
          await Promise.resolve();
          log.child({ jobId: `job-${messageId}` }).info('job applied');
        }),
      );
    }

    // Assess
    expect(lines.map(({ function_request_id, cold_start, messageId, jobId }) => ({ function_request_id, cold_start, messageId, jobId }))).toEqual([
      { function_request_id: 'req-1', cold_start: true, messageId: 'a', jobId: 'job-a' },
      { function_request_id: 'req-1', cold_start: true, messageId: 'b', jobId: 'job-b' },
      { function_request_id: 'req-2', cold_start: false, messageId: 'a', jobId: 'job-a' },
      { function_request_id: 'req-2', cold_start: false, messageId: 'b', jobId: 'job-b' },
    ]);
    expect(lines[0]).toMatchObject({ level: 'INFO', service: 'worker', function_name: 'worker', function_memory_size: '512' });
  });
});

describe('Function: createMetrics() on Powertools', () => {
  it('publishes one embedded-metric line per flush, summed and maximised, under the service dimension', () => {
    // Prepare
    const { lines, write } = { lines: [] as string[], write: (line: string) => lines.push(line) };
    const metrics = createMetrics({ namespace: 'Test', service: 'worker', write });

    // Act
    metrics.add('JobsApplied', 2);
    metrics.add('JobsApplied');
    metrics.maximum('OldestJobAgeSeconds', 5);
    metrics.maximum('OldestJobAgeSeconds', 3);
    metrics.flush();
    metrics.flush();

    // Assess
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0] ?? '{}') as { _aws: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: unknown[] }> } } & Record<string, unknown>;
    expect(entry).toMatchObject({ service: 'worker', JobsApplied: 3, OldestJobAgeSeconds: 5 });
    expect(entry._aws.CloudWatchMetrics[0]).toEqual({
      Namespace: 'Test',
      Dimensions: [['service']],
      Metrics: [
        { Name: 'JobsApplied', Unit: 'Count' },
        { Name: 'OldestJobAgeSeconds', Unit: 'Seconds' },
      ],
    });
  });
});
