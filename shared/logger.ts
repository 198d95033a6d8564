import { LogItem, Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';

/** Log levels, lowest first. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Context fields attached to every line a logger writes. Never put tokens, secrets or metadata values here. */
export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

/** A structured JSON logger: one line per entry, with its context fields. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger whose lines also carry `fields` (a record's messageId and jobId, say). */
  child(fields: LogFields): Logger;
}

/** A function's logger: {@link Logger}, plus the invocation whose request id its lines carry. */
export interface FunctionLogger extends Logger {
  /** Call at the start of each invocation: lines then carry its request id, cold_start and the function's name. */
  addContext(context: Context): void;
}

/**
 * Creates a function's logger on Powertools for AWS Lambda (TypeScript): JSON lines with Powertools' field
 * names (`level`, `message`, `timestamp`, `service`, `cold_start`, `function_name`, `function_request_id`,
 * `xray_trace_id`, …). The level follows Lambda's application log level (`AWS_LAMBDA_LOG_LEVEL`) when the
 * function's logging config sets one, else `level`. Lines go to stdout, which Lambda ships to CloudWatch,
 * or to `write` when given (tests).
 *
 * A child costs one object: its fields ride on each entry, so records handled concurrently in one
 * invocation never see each other's keys.
 *
 * @example
 * const logger = createLogger({ service: 'worker', level: 'info' });
 * export const handler = async (event, context) => {
 *   logger.addContext(context);
 *   logger.child({ messageId }).warn('job requeued', { delaySeconds: 30 });
 * };
 */
export function createLogger(options: { service: string; level: LogLevel; write?: (line: string) => void }): FunctionLogger {
  const settings = { serviceName: options.service, logLevel: options.level.toUpperCase() as Uppercase<LogLevel> };
  const powertools = options.write === undefined ? new PowertoolsLogger(settings) : lineLogger(settings, options.write);
  const make = (context: LogFields | undefined): Logger => ({
    debug: (message, fields) => powertools.debug(message, { ...context, ...fields }),
    info: (message, fields) => powertools.info(message, { ...context, ...fields }),
    warn: (message, fields) => powertools.warn(message, { ...context, ...fields }),
    error: (message, fields) => powertools.error(message, { ...context, ...fields }),
    child: (fields) => make({ ...context, ...fields }),
  });
  return { ...make(undefined), addContext: (context) => powertools.addContext(context) };
}

/**
 * Powertools' logger writing each line through `write` instead of its own console. The class closes over
 * `write`, so the lines Powertools prints while it is still being constructed (its warnings) have it too.
 */
function lineLogger(settings: ConstructorParameters<typeof PowertoolsLogger>[0], write: (line: string) => void): PowertoolsLogger {
  class LineLogger extends PowertoolsLogger {
    protected override printLog(_level: number, log: LogItem): void {
      log.prepareForPrint();
      write(JSON.stringify(log.getAttributes(), this.getJsonReplacer()));
    }
  }
  return new LineLogger(settings);
}
