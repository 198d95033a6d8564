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

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/**
 * Creates a JSON-lines logger. Lines go to `write` (stdout by default, which Lambda ships to CloudWatch
 * as they are).
 *
 * @example
 * const logger = createLogger({ level: 'info', fields: { service: 'worker' } });
 * logger.child({ messageId }).warn('job requeued', { delaySeconds: 30 });
 */
export function createLogger(options: {
  level: LogLevel;
  fields?: LogFields;
  now?: () => number;
  write?: (line: string) => void;
}): Logger {
  const { level, now = Date.now, write = (line: string) => process.stdout.write(`${line}\n`) } = options;
  const threshold = RANK[level];
  const make = (context: LogFields): Logger => {
    const emit = (entryLevel: LogLevel, message: string, fields?: LogFields) => {
      if (RANK[entryLevel] < threshold) return;
      write(JSON.stringify({ level: entryLevel, message, timestamp: new Date(now()).toISOString(), ...context, ...fields }));
    };
    return {
      debug: (message, fields) => emit('debug', message, fields),
      info: (message, fields) => emit('info', message, fields),
      warn: (message, fields) => emit('warn', message, fields),
      error: (message, fields) => emit('error', message, fields),
      child: (fields) => make({ ...context, ...fields }),
    };
  };
  return make(options.fields ?? {});
}
