import type { CliIo } from './io.ts';

/**
 * Runs a command's argument parser: a usage error prints the message and the help to stderr (exit status 2),
 * `--help` prints the help (exit status 0); otherwise resolves with what was parsed.
 *
 * @example
 * const parsed = readArgs(() => parseArgs({ args: [...argv], options }), HELP, io);
 * if (typeof parsed === 'number') return parsed;
 */
export function readArgs<T extends { values: { help?: boolean | undefined } }>(parse: () => T, help: string, io: CliIo): T | number {
  let parsed: T;
  try {
    parsed = parse();
  } catch (error) {
    // One line and exit status 2, the command's --help named: the whole help after an error buries the error.
    // Node's message for an unknown option runs on with advice about positionals: its first sentence names the problem.
    const first = (error instanceof Error ? error.message : String(error)).split('\n')[0]?.split('. To specify')[0]?.replace(/\.$/, '') ?? 'bad arguments';
    io.stderr.write(`${first} (see --help)\n`);
    return 2;
  }
  if (parsed.values.help) {
    io.stdout.write(help);
    return 0;
  }
  return parsed;
}

/** The AWS client settings of the `--region` and `--endpoint-url` flags, when given. */
export function awsConfig(region: string | undefined, endpoint: string | undefined): { region?: string; endpoint?: string } {
  return { ...(region === undefined ? {} : { region }), ...(endpoint === undefined ? {} : { endpoint }) };
}
