/**
 * `npm run sync -- [flags]` (`--help` lists them)
 * Runs a scheduled sync against the local stack: seeds a tenant, uploads a desired-state file (generated,
 * or yours with --file), runs the sync, lets the worker apply its jobs, then runs the sync again to show
 * that an unchanged file enqueues nothing. Prints each run's report.
 */
import { readFileSync } from 'node:fs';
import { type SyncReport, runSync } from '../shared/sync/run-sync.ts';
import { readScriptArgs, usageError, wholeNumber } from './script-args.ts';
import { queueDepth, startLocalStack } from './stack.ts';
import { createLocalSyncDeps, uploadDesiredState } from './sync.ts';
import { createRandom, generateDesiredState, seedTenant } from './workload.ts';

const HELP = `Usage: npm run sync -- [flags]

Runs a scheduled sync on the local stack: seeds a tenant, uploads a desired-state file (generated, or
yours), runs the sync, lets the worker apply its jobs, then runs it again to show that an unchanged file
enqueues nothing. Prints each run's report.

  --users N       users to seed, 1 to 100000 (default 5000)
  --managed N     roles the sync manages, 0 to 10 (default 3)
  --file F        your desired-state file (JSON Lines) instead of a generated one
  --dry-run       report the plan, enqueue nothing
  --unchanged     generate a file whose roles match the tenant (only app_metadata is new)
  --no-apply      do not run the worker between the two runs
  --help          this text
`;

const values = readScriptArgs(
  {
    users: { type: 'string', default: '5000' },
    managed: { type: 'string', default: '3' },
    file: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
    unchanged: { type: 'boolean', default: false },
    'no-apply': { type: 'boolean', default: false },
  },
  HELP,
);
const users = wholeNumber('users', values.users, 1, 100_000);
const managedCount = wholeNumber('managed', values.managed, 0, 10);
let fileText: string | undefined;
if (values.file !== undefined) {
  try {
    fileText = readFileSync(values.file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    usageError(`--file ${values.file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'not readable' : (code ?? 'cannot be read')}`);
  }
}

const stack = await startLocalStack({ rateLimit: 'enterprise' });
try {
  const deps = createLocalSyncDeps(stack);
  const seeded = seedTenant(stack.tenant.state, { users, roles: 10, random: createRandom(1) });
  const managed = seeded.roles.slice(0, managedCount);
  const text = fileText ?? generateDesiredState(stack.tenant.state, seeded.users, managed, { changes: !values.unchanged }).lines.join('\n');
  const source = await uploadDesiredState(deps.s3, 'hr/users.jsonl', text);
  const definition = { name: 'local', source, managedRoles: managed.map((role) => role.name), allowRemovals: true, dryRun: values['dry-run'] };
  const show = (title: string, report: SyncReport) =>
    process.stdout.write(
      [
        title,
        `  lines ${report.lines}, skipped ${report.skippedLines.length}${report.skippedLines.length > 0 ? ` (lines ${report.skippedLines.slice(0, 10).map((entry) => entry.line).join(', ')})` : ''}`,
        `  role adds ${report.roleAdds}, role removes ${report.roleRemoves}, metadata updates ${report.metadataUpdates}`,
        `  jobs enqueued ${report.jobsEnqueued}${report.dryRun ? ' (dry run)' : ''}`,
        `  reads spent ${report.readsSpent}, lowest x-ratelimit-remaining seen ${report.lowestRemaining ?? 'n/a'}`,
        report.aborted ? `  ABORTED: ${report.aborted}` : '',
        ...(report.removalsBlocked ?? []).map((group) => `  REMOVALS WITHHELD: ${group.role} would lose ${group.removals} of ${group.members} (limit ${group.limit}); approve with ${group.approval}`),
        ...(report.removalsApproved ?? []).map((group) => `  removals approved: ${'role' in group ? group.role : group.organization} lost ${group.removals} of ${group.members}`),
        ...(report.unknownRoles ?? []).slice(0, 5).map((entry) => `  line ${entry.line}: role ${JSON.stringify(entry.role)} exists nowhere; that user lost nothing`),
        ...(report.unknownOrganizations ?? []).slice(0, 5).map((entry) => `  line ${entry.line}: organization ${JSON.stringify(entry.organization)} is not managed; that user lost nothing`),
        `  duration ${(report.durationMs / 1000).toFixed(1)} s`,
        '',
      ].filter((line) => line !== '').join('\n') + '\n',
    );
  const first = await runSync(definition, deps);
  show(`Sync of ${seeded.users.length} users, ${managed.length} managed roles: first run`, first);
  if (!definition.dryRun && values['no-apply']) {
    show('Second run (the jobs of the first are still queued)', await runSync(definition, deps));
  } else if (!definition.dryRun && first.jobsEnqueued > 0) {
    const worker = stack.startWorker({ maxConcurrency: 2 });
    const depth = () => queueDepth(stack);
    const started = Date.now();
    let shown = 0;
    for (let left = await depth(); left > 0; left = await depth()) {
      if (process.stdout.isTTY) process.stdout.write(`\r  worker: ${left} jobs left…   `);
      else if (Date.now() - shown >= 10_000) {
        process.stdout.write(`  worker: ${left} jobs left…\n`);
        shown = Date.now();
      }
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    await worker.stop();
    process.stdout.write(`${process.stdout.isTTY ? '\r' : ''}  worker applied the jobs in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    show('Second run (nothing changed)', await runSync(definition, deps));
  }
} finally {
  await stack.stop();
}
