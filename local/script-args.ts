/**
 * Flags for the local scripts (`npm start`, `npm run tenant`, `npm run sync`): `--help` prints every flag and
 * its default; a bad flag or value ends the script with one line naming the problem and exit status 2.
 */
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';

/** Ends the script: one line on stderr, exit status 2. */
export function usageError(message: string): never {
  process.stderr.write(`${message} (see --help)\n`);
  process.exit(2);
}

/**
 * Parses `argv` strictly against `options`; `--help` prints `help` and exits 0, an unknown flag or a
 * missing value is a usage error.
 *
 * @example
 * const values = readScriptArgs({ users: { type: 'string', default: '0' } }, HELP);
 */
export function readScriptArgs<const O extends ParseArgsOptionsConfig>(options: O, help: string, argv: readonly string[] = process.argv.slice(2)) {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(help);
    process.exit(0);
  }
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    // Node's message runs on over lines of advice: its first sentence names the problem.
    const first = (error instanceof Error ? error.message : String(error)).split('\n')[0]?.split('. To specify')[0] ?? 'bad arguments';
    return usageError(first.replace(/\.$/, ''));
  }
}

/** `value` as a whole number from `min` to `max`, or a usage error naming `--flag`. */
export function wholeNumber(flag: string, value: string | undefined, min: number, max: number): number {
  const number = Number(value);
  if (value === undefined || value.trim() === '' || !Number.isInteger(number) || number < min || number > max) {
    usageError(`--${flag} must be a whole number from ${min} to ${max}, not ${JSON.stringify(value)}`);
  }
  return number;
}

/** `value` as a number above 0 and at most `max`, or a usage error naming `--flag`. */
export function positiveNumber(flag: string, value: string | undefined, max: number): number {
  const number = Number(value);
  if (value === undefined || value.trim() === '' || !Number.isFinite(number) || number <= 0 || number > max) {
    usageError(`--${flag} must be a number above 0 and at most ${max}, not ${JSON.stringify(value)}`);
  }
  return number;
}

/** The value `parse` makes of a flag, or a usage error naming the flag and why `parse` refused it. */
export function parsedFlag<T>(flag: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    return usageError(`--${flag}: ${error instanceof Error ? error.message : String(error)}`);
  }
}
