import { parseArgs } from 'node:util';
import { readErrorBody } from '../auth0/classify.ts';
import { createManagementClient } from '../auth0/client.ts';
import { ROUTES, findUsersByAnyCaseEmail } from '../auth0/operations.ts';
import { isJobError } from '../errors.ts';
import { createDynamoLedger } from '../ledger/dynamodb-ledger.ts';
import { type Entry, type Ledger, type RecentJob, compareStamps } from '../ledger/ledger.ts';
import { AUTH0_OPTIONS, AUTH0_OPTIONS_HELP, type Auth0Target, auth0Clients, auth0Target, requestToken } from './deployment.ts';
import { awsConfig, readArgs } from './args.ts';
import { DISCOVERY_HELP } from './discover.ts';
import type { CliIo } from './io.ts';

/** The help of `history`, for `--help` and usage errors. */
export const HISTORY_HELP = `Usage: auth0-queue-worker history --user ID|EMAIL [--stack NAME | --table NAME] [--json]

What the ordering ledger holds for one user: per attribute a job can touch (blocked, app_metadata.plan,
role:rol_…, org:org_…, org:org_…/role:rol_…), the last job applied to it, "pending" when that job failed and
will be retried; then the user's recent jobs, newest first (by their order), each applied, partial (some
effects skipped: a newer job had written them) or superseded (none written); and a job being applied now.
An email is resolved to the user id with the Management API (GET /api/v2/users-by-email, with the
deployment's secret, as doctor gets a token); a user id is read as it is, without Auth0. Nothing is changed.

${DISCOVERY_HELP}
  --user ID|EMAIL           the Auth0 user id (auth0|…), or the user's email
  --table NAME              the ledger's DynamoDB table (default: LEDGER_TABLE, else the stack's LedgerTableName)
  --dynamodb-endpoint-url U a DynamoDB endpoint other than AWS's (the local stack's)
${AUTH0_OPTIONS_HELP}
  (--domain, --audience, --secret-id and --secrets-endpoint-url serve an email only)
`;

/** Longest wait for the ledger's one read. */
const READ_TIMEOUT_MS = 10_000;

/** A job's order, for people: when it was issued (or first accepted by SQS) and the tie-break between equal times. */
interface ShownOrder {
  readonly order: string;
  readonly tieBreak: string;
}

/** `auth0-queue-worker history`. Resolves with the exit status. */
export async function runHistory(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = readArgs(() => parse(argv), HISTORY_HELP, io);
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  const user = values.user?.trim() ?? '';
  const table = values.table ?? io.env['LEDGER_TABLE'];
  const problem =
    user === '' ? "give --user: the Auth0 user id (auth0|…) or the user's email"
    : table !== undefined && table !== '' ? undefined
    : io.deployment !== undefined ? `${io.deployment.source} has no ordering ledger (no LedgerTableName output, no LEDGER_TABLE on ${io.deployment.functionName}): it applies jobs unordered and keeps no history; or give --table`
    : "give --stack NAME (its LedgerTableName output names the ledger's table) or --table NAME (or set LEDGER_TABLE)";
  if (problem !== undefined || table === undefined) {
    io.stderr.write(`${problem} (see --help)\n`);
    return 2;
  }

  const email = isEmail(user) ? user : undefined;
  let userId = user;
  if (email !== undefined) {
    const target = auth0Target(values, io.env);
    if ('error' in target) {
      io.stderr.write(`${target.error} (an email is looked up in Auth0; give --user with the user id to skip it)\n`);
      return 2;
    }
    const found = await resolveEmail(email, target, io, values);
    if ('error' in found) {
      io.stderr.write(`${found.error}\n`);
      return 1;
    }
    userId = found.userId;
  }

  const ledger: Ledger = createDynamoLedger(io.createDynamoDbClient(awsConfig(values.region, values['dynamodb-endpoint-url'])), {
    tableName: table,
    // Only read here: the retention is the worker's to apply.
    retentionMs: 0,
    callTimeoutMs: READ_TIMEOUT_MS,
  });
  let state: Awaited<ReturnType<Ledger['read']>>;
  try {
    state = await ledger.read(userId);
  } catch (error) {
    // The ledger's error speaks of a job being retried; the operator needs the SDK's own name and message.
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
    io.stderr.write(`cannot read the ordering ledger ${table}: ${awsMessage(cause)}; check the table (--table or --stack), the region (--region or AWS_REGION) and dynamodb:GetItem\n`);
    return 1;
  }

  const now = Date.now();
  const who = email === undefined ? userId : `${userId} (${email})`;
  if (state === undefined) {
    if (values.json) io.stdout.write(`${JSON.stringify({ userId, ...(email === undefined ? {} : { email }), table, recorded: false, lease: null, attributes: [], recent: [] }, null, 2)}\n`);
    else io.stdout.write(`${who}: no job of this user is recorded in ${table} (or its record expired after the ledger's retention)\n`);
    return 0;
  }

  const attributes = Object.entries(state.attributes)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([attribute, entry]) => ({ attribute, ...viewEntry(entry) }));
  const recent = [...state.recent].sort((a, b) => compareStamps({ order: b.o, key: b.k }, { order: a.o, key: a.k })).map(viewRecent);
  const lease =
    state.lease === undefined
      ? null
      : { inForce: state.lease.until > now, until: iso(state.lease.until), jobId: state.lease.intent.stamp.jobId ?? null, source: state.lease.intent.stamp.source ?? null, ...showOrder(state.lease.intent.stamp.order) };

  if (values.json) {
    io.stdout.write(`${JSON.stringify({ userId, ...(email === undefined ? {} : { email }), table, recorded: true, lease, attributes, recent }, null, 2)}\n`);
    return 0;
  }
  const out = [`${who} in ${table}`];
  if (lease !== null) {
    const job = lease.jobId === null ? `the job of ${lease.order}` : `job ${lease.jobId}`;
    out.push(
      lease.inForce
        ? `a job is being applied now (${job}), claim lapses at ${lease.until}`
        : `${job} claimed the user until ${lease.until} and was not recorded (its container stopped): the user's next job keeps its writes as pending`,
    );
  }
  out.push('', attributes.length === 0 ? 'last job per attribute: none recorded' : 'last job per attribute:');
  if (attributes.length > 0) {
    out.push(
      ...columns([
        ['attribute', 'kind', 'job', 'source', 'order', 'recorded', ''],
        ...attributes.map((row) => [row.attribute, row.kind, row.jobId ?? '—', row.source ?? '—', `${row.order} ${row.tieBreak}`, row.recordedAt, row.pending ? 'pending' : '']),
      ]),
    );
  }
  out.push('', recent.length === 0 ? 'recent jobs: none recorded (a job left pending is listed once it is applied)' : `recent jobs, newest first (${recent.length}):`);
  if (recent.length > 0) {
    out.push(
      ...columns([
        ['job', 'source', 'order', 'recorded', 'outcome'],
        ...recent.map((row) => [row.jobId ?? '—', row.source ?? '—', `${row.order} ${row.tieBreak}`, row.recordedAt, row.outcome === 'partial' ? `partial, ${row.skipped} skipped` : row.outcome]),
      ]),
    );
  }
  io.stdout.write(`${out.join('\n')}\n`);
  return 0;
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: false,
    strict: true,
    options: { ...AUTH0_OPTIONS, user: { type: 'string' }, table: { type: 'string' }, 'dynamodb-endpoint-url': { type: 'string' } },
  });
}

/**
 * An email, not a user id: user ids are `{provider}|{id}` and may hold an `@` after the `|`
 * (`samlp|acme|ada@example.com`), while an email has exactly one `@` and no `|`.
 */
function isEmail(value: string): boolean {
  return !value.includes('|') && /^[^@\s]+@[^@\s]+$/.test(value);
}

/** The one user an email names, through `GET /api/v2/users-by-email` with a token of the deployment's secret. */
async function resolveEmail(
  email: string,
  target: Auth0Target,
  io: CliIo,
  values: { region?: string | undefined; 'secrets-endpoint-url'?: string | undefined },
): Promise<{ userId: string } | { error: string }> {
  const { readCredentials, dispatcher } = auth0Clients(io, values, target);
  try {
    const outcome = await requestToken(target, await readCredentials(), dispatcher);
    if (outcome.token === undefined) {
      const { errorCode, message } = readErrorBody(outcome.answer.body);
      return { error: `POST ${target.origin}/oauth/token answered ${outcome.answer.status}${errorCode === undefined ? '' : ` ${errorCode}`}${message === undefined ? '' : `: ${message}`}. Run auth0-queue-worker doctor for the cause, or give --user with the user id` };
    }
    const route = ROUTES.findUsersByEmail;
    if (outcome.claims !== undefined && !route.scopes.some((scope) => outcome.claims?.scopes.includes(scope))) {
      return { error: `looking up an email needs the ${route.scopes.join(' or ')} scope, which the deployment's grant lacks: give --user with the user id, or add the scope to the grant` };
    }
    const token = { value: outcome.token, scopes: undefined, fetchedAt: Date.now(), refreshAt: Number.POSITIVE_INFINITY };
    const client = createManagementClient({
      origin: target.origin,
      dispatcher,
      tokens: { get: async () => token, invalidate: () => {} },
      timeouts: { headersTimeoutMs: 10_000, bodyTimeoutMs: 10_000 },
      now: Date.now,
      logger: { debug: () => {}, warn: () => {} },
    });
    // As the worker looks a job's email up.
    const lower = email.toLowerCase();
    const users = await findUsersByAnyCaseEmail(client, email);
    const [only, ...others] = users;
    if (only === undefined) return { error: `no Auth0 user has the email ${email}${lower === email ? '' : ` (nor ${lower})`}: check the spelling, or give --user with the user id` };
    if (others.length > 0) return { error: `${users.length} users have the email ${email}: ${users.map((found) => found.user_id).join(', ')}; give --user with one of these ids` };
    return { userId: only.user_id };
  } catch (error) {
    return { error: `could not look up ${email} in Auth0: ${isJobError(error) ? error.message : error instanceof Error ? `${error.name}: ${error.message}` : String(error)}` };
  } finally {
    await dispatcher.close();
  }
}

function viewEntry(entry: Entry) {
  return { kind: entry.v, jobId: entry.j ?? null, source: entry.s ?? null, ...showOrder(entry.o), recordedAt: iso(entry.t), pending: entry.p === true };
}

function viewRecent(job: RecentJob) {
  return { jobId: job.j ?? null, source: job.s ?? null, ...showOrder(job.o), recordedAt: iso(job.t), outcome: job.r, skipped: job.n };
}

/** `001767225600000::3f2a…` → the time it stands for, and the tie-breaks; an order of another shape as it is. */
function showOrder(order: string): ShownOrder {
  const match = /^(\d{15}):(.*)$/.exec(order);
  const at = Number(match?.[1]);
  if (match === null || !Number.isSafeInteger(at)) return { order, tieBreak: '' };
  // The tie-breaks: a FIFO sequence number (none on a standard queue), then the body's hash.
  return { order: iso(at), tieBreak: (match[2] ?? '').split(':').filter((part) => part !== '').map((part) => (/^\d{40}$/.test(part) ? BigInt(part).toString() : part)).join(' ') };
}

function iso(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString();
}

/** Rows padded to columns two spaces apart, indented by two; trailing blanks trimmed. */
function columns(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, index) => (widths[index] = Math.max(widths[index] ?? 0, cell.length)));
  return rows.map((row) => `  ${row.map((cell, index) => cell.padEnd(widths[index] ?? 0)).join('  ')}`.trimEnd());
}

function awsMessage(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.message === '' || error.message === 'UnknownError' ? error.name : `${error.name}: ${error.message}`;
}
