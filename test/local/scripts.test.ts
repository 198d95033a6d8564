/**
 * The local scripts' command lines (`npm start`, `npm run tenant`, `npm run sync`): --help lists every flag
 * with its default, and bad input ends in one line naming the problem and exit status 2, never a stack trace.
 */
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { runProcess } from '../helpers/process.ts';

const SCRIPTS = {
  start: 'local/start.ts',
  tenant: 'local/tenant/cli.ts',
  sync: 'local/sync-cli.ts',
  build: 'infra/build.ts',
  'build:package': 'infra/build-package.ts',
  schema: 'shared/jobs/write-json-schema.ts',
  'docs:api': 'infra/api-reference.ts',
  bench: 'test/bench/pacing.ts',
  'bench:cold-start': 'test/bench/cold-start.ts',
  cli: 'shared/cli/bin.js',
} as const;

/** Runs a script in a fresh Node process, as `npm run` does, and gathers what it printed. */
const run = (script: keyof typeof SCRIPTS, args: string[]) => runProcess(process.execPath, [SCRIPTS[script], ...args], { env: { PATH: process.env['PATH'] ?? '' } });

describe('The local scripts', () => {
  it.each([
    ['start', ['--jobs', '--rate', '--burst', '--concurrency', '--job-concurrency', '--batch-size', '--batching-window', '--fifo', '--faults', '--interactive', '--users', '--seed', '--timeout', '--help']],
    ['tenant', ['--port', '--rate', '--client-id', '--client-secret', '--users', '--roles', '--organizations', '--help']],
    ['sync', ['--users', '--managed', '--file', '--dry-run', '--unchanged', '--no-apply', '--help']],
  ] as const)('%s --help lists every flag, and its default', async (script, flags) => {
    // Act
    const { status, stdout, stderr } = await run(script, ['--help']);

    // Assess
    expect(status).toBe(0);
    expect(stderr).toBe('');
    for (const flag of flags) expect(stdout).toMatch(new RegExp(`^  ${flag}\\b`, 'm'));
    expect(stdout.match(/\(default/g)?.length ?? 0).toBeGreaterThanOrEqual(script === 'sync' ? 2 : 5);
  });

  it.each([
    ['tenant', ['--bogus'], "Unknown option '--bogus' (see --help)"],
    ['tenant', ['--users', 'abc'], '--users must be a whole number from 0 to 100000, not "abc" (see --help)'],
    ['tenant', ['--rate', 'fast'], '--rate: rate limit must be free, enterprise, enterprise-non-production or BURST:PER_SECOND (e.g. 10:5), not "fast" (see --help)'],
    ['tenant', ['--port', '-1'], "Option '--port' argument is ambiguous (see --help)"],
    ['tenant', ['--port=-1'], '--port must be a whole number from 0 to 65535, not "-1" (see --help)'],
    ['start', ['--jobs', '1.5'], '--jobs must be a whole number from 1 to 100000, not "1.5" (see --help)'],
    ['start', ['--rate', 'turbo'], '--rate must be a plan (free, enterprise, enterprise-non-production) or requests per second above 0 and at most 10000, not "turbo" (see --help)'],
    ['start', ['--fifo', '--batch-size', '11'], '--batch-size must be a whole number from 1 to 10, not "11" (see --help)'],
    ['start', ['--batch-size', '50', '--batching-window', '0'], '--batch-size 50 needs a --batching-window of at least 1 second: Lambda takes more than 10 records only with one (see --help)'],
    ['start', ['--fifo', '--batching-window', '1'], '--batching-window: a FIFO queue has no batching window (see --help)'],
    ['sync', ['--file', '/nonexistent'], '--file /nonexistent: no such file (see --help)'],
    ['sync', ['--users', '12abc'], '--users must be a whole number from 1 to 100000, not "12abc" (see --help)'],
    ['sync', ['extra'], "Unexpected argument 'extra'"],
    ['build', ['--bogus'], "Unknown option '--bogus' (see --help)"],
    ['build:package', ['--bogus'], "Unknown option '--bogus' (see --help)"],
    ['schema', ['--bogus'], "Unknown option '--bogus' (see --help)"],
    ['docs:api', ['--bogus'], "Unknown option '--bogus' (see --help)"],
    ['bench', ['--config', 'enterprise-9'], 'npm run bench: --config: unknown value "enterprise-9"; choose from'],
    ['bench:cold-start', ['--bogus'], "Unknown option '--bogus' (see --help)"],
    ['cli', ['sideways'], 'unknown command "sideways": the commands are doctor, enqueue, token, dlq, history (see --help)'],
    ['cli', ['dlq', '--sideways'], "Unknown option '--sideways' (see --help)"],
    ['cli', ['enqueue', '--sideways'], "Unknown option '--sideways' (see --help)"],
    ['cli', ['doctor', '--sideways'], "Unknown option '--sideways' (see --help)"],
    ['cli', ['token', '--sideways'], "Unknown option '--sideways' (see --help)"],
    ['cli', ['history', '--sideways'], "Unknown option '--sideways' (see --help)"],
    ['cli', ['token'], 'give --stack NAME (the deployment finds the rest), or --domain (or set AUTH0_DOMAIN)'],
    ['cli', ['dlq', 'sideways'], 'unknown dlq action "sideways" (dlq, dlq redrive or dlq discard) (see --help)'],
    ['cli', ['dlq', '--dlq-url', 'http://127.0.0.1:1/000000000000/dlq', '--max', '5', '--reason', 'http_404'], '--max, --reason choose what dlq redrive or dlq discard acts on; plain dlq reads every letter and changes none (see --help)'],
    ['cli', ['dlq', 'discard', '--dlq-url', 'http://127.0.0.1:1/000000000000/dlq'], 'dlq discard deletes letters for good: name them with --reason R or --job ID (repeat for several), or give --all (see --help)'],
    ['cli', ['dlq', 'discard', '--dlq-url', 'http://127.0.0.1:1/000000000000/dlq', '--all', '--reason', 'expired'], '--all and --reason: give one of them (see --help)'],
    ['cli', ['dlq', 'redrive', '--dlq-url', 'http://127.0.0.1:1/000000000000/dlq', '--queue-url', 'http://127.0.0.1:1/000000000000/jobs', '--all'], '--all is for dlq discard; dlq redrive takes every letter unless --reason names some (see --help)'],
  ] as const)('%s %j: one line, exit status 2', async (script, args, message) => {
    // Act
    const { status, stdout, stderr } = await run(script, [...args]);

    // Assess
    expect(status).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.split('\n')).toEqual([expect.stringContaining(message), '']);
    expect(stderr).not.toMatch(/^\s+at /m);
  });

  it("the CLI's usage lines name every way to find a deployment: doctor's named --stack and --domain, not --function", async () => {
    // Act
    const doctor = await run('cli', ['doctor', '--help']);
    const dlq = await run('cli', ['dlq', '--help']);

    // Assess
    const usage = (text: string) => text.slice(0, text.indexOf('\n\n'));
    expect(usage(doctor.stdout)).toMatch(/--stack NAME \[--producer NAME\][^\n]*\n.*doctor --function NAME/);
    expect(usage(dlq.stdout)).toContain('--stack NAME [--producer NAME]');
  });

  it.each(['build', 'build:package', 'schema', 'docs:api'] as const)('%s --help says what it does, and does nothing else', async (script) => {
    // Prepare: what each would write
    const { statSync } = await import('node:fs');
    const written = { build: 'dist/worker/index.mjs', 'build:package': 'lib', schema: 'shared/jobs/job.schema.json', 'docs:api': 'docs/api/cdk/index.md' }[script];
    const before = (() => {
      try {
        return statSync(written).mtimeMs;
      } catch {
        return undefined;
      }
    })();

    // Act
    const { status, stdout, stderr } = await run(script, ['--help']);

    // Assess
    expect(status).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toMatch(/^Usage: npm run /);
    const after = (() => {
      try {
        return statSync(written).mtimeMs;
      } catch {
        return undefined;
      }
    })();
    expect(after).toBe(before);
  });

  it('tenant on a port in use: one line naming the fix, exit status 2', async () => {
    // Prepare: hold a port
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };

    // Act
    const { status, stderr } = await run('tenant', ['--port', String(port)]).finally(() => server.close());

    // Assess
    expect(status).toBe(2);
    expect(stderr).toBe(`port ${port} is in use: pick another with --port, or --port 0 for any free one (see --help)\n`);
  });
});
