import { withDeployment } from './discover.ts';
import { DLQ_HELP, runDlq } from './dlq.ts';
import { DOCTOR_HELP, runDoctor } from './doctor.ts';
import { ENQUEUE_HELP, runEnqueue } from './enqueue.ts';
import { HISTORY_HELP, runHistory } from './history.ts';
import type { CliIo } from './io.ts';
import { TOKEN_HELP, runToken } from './token.ts';

const COMMANDS = {
  doctor: { run: runDoctor, help: DOCTOR_HELP, summary: 'check the deployment end to end: secret, grant, token, scopes, rate limit, queues' },
  enqueue: { run: runEnqueue, help: ENQUEUE_HELP, summary: 'validate a file of jobs and send it to the jobs queue' },
  token: { run: runToken, help: TOKEN_HELP, summary: "fetch a token with the deployment's secret and show its claims (never the token)" },
  dlq: { run: runDlq, help: DLQ_HELP, summary: 'what the dead-letter queue holds, by reason; dlq redrive sends chosen jobs back' },
  history: { run: runHistory, help: HISTORY_HELP, summary: "one user's audit trail: the last job per attribute, and their recent jobs' outcomes" },
} as const;

const HELP = `Usage: auth0-queue-worker <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, command]) => `  ${name.padEnd(10)} ${command.summary}`)
  .join('\n')}

Run auth0-queue-worker <command> --help for a command's options.
`;

/**
 * The operator's command line: dispatches to a command and resolves with the exit status.
 *
 * @example
 * process.exitCode = await runCli(process.argv.slice(2), io);
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(HELP);
    return name === undefined ? 2 : 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name as keyof typeof COMMANDS] : undefined;
  if (command === undefined) {
    io.stderr.write(`unknown command ${JSON.stringify(name)}: the commands are ${Object.keys(COMMANDS).join(', ')} (see --help)\n`);
    return 2;
  }
  // enqueue and dlq need the queues only, which a stack's outputs name.
  const found = await withDeployment(rest, io, name === 'enqueue' || name === 'dlq' ? 'queues' : 'all');
  if ('error' in found) {
    io.stderr.write(`${found.error}\n`);
    return 2;
  }
  return command.run(found.argv, found.io);
}
