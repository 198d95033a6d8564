/**
 * Every log the test suite writes, kept for one check at the end (test/logs/no-secrets.test.ts): the local
 * stacks' function logs, the commands' output, the worker processes' output and the in-process loggers' lines
 * go to files in one directory per run, and the client secrets the tests used are listed beside them.
 */
import { appendFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type LocalStack, type LocalStackOptions, startLocalStack } from '../../local/stack.ts';

/** Set by test/global-setup.ts for the whole run. */
const RUN_DIR_VARIABLE = 'SUITE_LOG_DIR';
const SECRETS_FILE = 'secrets-used.jsonl';
let files = 0;

/** This run's log directory. */
export function suiteLogDir(): string {
  const dir = process.env[RUN_DIR_VARIABLE];
  if (dir === undefined) throw new Error(`${RUN_DIR_VARIABLE} is not set: run the tests through vitest, whose global setup sets it`);
  return dir;
}

/** A new log file of this run for `source`; returns its path. */
export function suiteLogFile(source: string): string {
  files += 1;
  const dir = suiteLogDir();
  mkdirSync(dir, { recursive: true });
  return join(dir, `${source}-${process.pid}-${files}.log`);
}

/** Returns a function that appends lines (or chunks of output) to a new log file of this run. */
export function suiteLog(source: string): (text: string) => void {
  const file = suiteLogFile(source);
  return (text) => appendFileSync(file, text.endsWith('\n') ? text : `${text}\n`);
}

/** Lists client secrets a test used, so that the end-of-run check looks for them in every log. */
export function rememberSecrets(values: Iterable<string>): void {
  const lines = [...values].map((value) => `${JSON.stringify(value)}\n`).join('');
  if (lines !== '') appendFileSync(join(suiteLogDir(), SECRETS_FILE), lines);
}

/** The secrets this run's tests listed. */
export function secretsUsed(): string[] {
  try {
    return readFileSync(join(suiteLogDir(), SECRETS_FILE), 'utf8').split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as string);
  } catch {
    return [];
  }
}

/** Every log file of this run, with its text. */
export function suiteLogs(): Array<{ file: string; text: string }> {
  const dir = suiteLogDir();
  return readdirSync(dir)
    .filter((name) => name.endsWith('.log'))
    .sort()
    .map((name) => ({ file: name, text: readFileSync(join(dir, name), 'utf8') }));
}

/**
 * Starts the local stack with its functions' lines in this run's logs; when it stops, the client secrets it
 * issued (rotations included) are listed for the end-of-run check.
 */
export async function startTestStack(options: Omit<LocalStackOptions, 'logFile'> = {}): Promise<LocalStack> {
  const stack = await startLocalStack({ ...options, logFile: suiteLogFile('stack') });
  const stop = stack.stop.bind(stack);
  return {
    ...stack,
    async stop() {
      rememberSecrets(stack.client.secretsIssued);
      await stop();
    },
  };
}
