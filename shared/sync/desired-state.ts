import * as z from 'zod/mini';
import { validateJob } from '../jobs/contract.ts';
import { findIllFormedText, findUnsafeMetadata } from '../jobs/parse-job.ts';
import { boundedText } from '../text.ts';
import { MAX_ROLES_PER_JOB, OrganizationRefSchema, RoleRefSchema, UserIdSchema } from '../jobs/schema.ts';

/** One user as the source of truth wants it. */
export interface DesiredUser {
  /** `id:{userId}` or `email:{email}`: how the user is matched and grouped. */
  readonly key: string;
  readonly userId?: string;
  readonly email?: string;
  /** Role ids or names the user should hold (only managed roles count). */
  readonly roles: readonly string[];
  readonly appMetadata?: Readonly<Record<string, unknown>>;
  /**
   * Organization id or name → role ids or names the user should hold in it (only managed organizations and
   * managed roles count). An organization not listed is one the user should not be a member of.
   */
  readonly organizations?: Readonly<Record<string, readonly string[]>>;
  /** 1-based line in the source file. */
  readonly line: number;
}

/** A line that failed validation, with why. Never quotes the line. */
export interface InvalidLine {
  readonly line: number;
  readonly reason: string;
}

/** A parsed desired-state file. */
export interface DesiredState {
  readonly users: DesiredUser[];
  /** Every skipped line, once. */
  readonly invalid: InvalidLine[];
  /** Users named by skipped lines: never removed from a role this run. */
  readonly protectedKeys: ReadonlySet<string>;
  /** Skipped lines that name no user (not JSON, say): any of them could have been anyone's. */
  readonly unattributed: number;
  /** Non-blank lines. */
  readonly lines: number;
}

const LineSchema = z.strictObject({
  userId: z.optional(UserIdSchema),
  email: z.optional(z.email()),
  roles: z.array(RoleRefSchema).check(z.maxLength(MAX_ROLES_PER_JOB)),
  app_metadata: z.optional(z.record(z.string().check(z.minLength(1), z.maxLength(255)), z.json())),
  organizations: z.optional(z.record(OrganizationRefSchema, z.array(RoleRefSchema).check(z.maxLength(MAX_ROLES_PER_JOB)))),
});


/**
 * Parses a desired-state file: JSON Lines, one user a line, `{"userId"|"email", "roles": […], "app_metadata"?}`.
 * Blank lines are ignored; invalid or duplicate lines are reported with their numbers and skipped.
 *
 * @example
 * const { users, invalid, lines } = parseDesiredState(await body.transformToString());
 */
export function parseDesiredState(text: string): DesiredState {
  const users: DesiredUser[] = [];
  const invalid: InvalidLine[] = [];
  const seen = new Set<string>();
  const protectedKeys = new Set<string>();
  let unattributed = 0;
  let lines = 0;
  const rows = text.split('\n');
  for (let index = 0; index < rows.length; index++) {
    const row = rows[index]?.trim() ?? '';
    if (row === '') continue;
    lines += 1;
    const line = index + 1;
    let raw: unknown;
    try {
      raw = JSON.parse(row);
    } catch {
      invalid.push({ line, reason: 'not valid JSON' });
      unattributed += 1;
      continue;
    }
    const named = namedUsers(raw);
    const skip = (reason: string) => {
      invalid.push({ line, reason });
      // A line naming two users protects both; one naming none could have been anyone's.
      for (const key of named) protectedKeys.add(key);
      if (named.length === 0) unattributed += 1;
    };
    const illFormed = findIllFormedText(raw);
    if (illFormed !== undefined) {
      skip(`${illFormed}: text that is not well-formed Unicode (a lone surrogate)`);
      continue;
    }
    const unsafe = findUnsafeMetadata((raw as { app_metadata?: unknown } | null)?.app_metadata, 'app_metadata');
    if (unsafe !== undefined) {
      skip(unsafe.kind === 'key' ? `${boundedText(unsafe.path, 200)}: "${unsafe.key}" is not accepted as a metadata key` : 'app_metadata nests too deep');
      continue;
    }
    const parsed = LineSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue?.path.map((segment) => boundedText(String(segment), 64)).join('.') || 'line';
      skip(`${where}: ${issue?.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.slice(0, 5).map((name) => boundedText(name, 64)).join(', ')}` : (issue?.message ?? 'invalid')}`);
      continue;
    }
    const { userId, email, roles, app_metadata: appMetadata, organizations } = parsed.data;
    if ((userId === undefined) === (email === undefined)) {
      skip('needs exactly one of userId or email');
      continue;
    }
    // The jobs this line becomes must pass the worker's contract (the email's form and length, every
    // metadata key at any depth): a line they would fail is skipped here, and its user kept, not dead-lettered later.
    const target = userId === undefined ? { email } : { userId };
    const contract = validateJob({ type: 'user.update', ...target, changes: { app_metadata: appMetadata ?? {} } });
    if (!contract.ok) {
      skip(boundedText(contract.reason.replace(/^changes\.app_metadata/, 'app_metadata'), 300));
      continue;
    }
    const key = userId === undefined ? `email:${email?.toLowerCase()}` : `id:${userId}`;
    if (seen.has(key)) {
      skip('the same user is on an earlier line');
      continue;
    }
    seen.add(key);
    users.push({
      key,
      ...(userId === undefined ? { email: email?.toLowerCase() } : { userId }),
      roles: [...new Set(roles)],
      ...(appMetadata === undefined ? {} : { appMetadata }),
      ...(organizations === undefined ? {} : { organizations }),
      line,
    });
  }
  return { users, invalid, protectedKeys, unattributed, lines };
}

/**
 * The users a line names (`id:…`, `email:…` in lower case), whatever else is wrong with it: as written and
 * trimmed, since a stray space is a likely reason for the line to fail.
 */
function namedUsers(raw: unknown): string[] {
  if (typeof raw !== 'object' || raw === null) return [];
  const { userId, email } = raw as { userId?: unknown; email?: unknown };
  const forms = (value: unknown) => (typeof value === 'string' ? [...new Set([value, value.trim()])].filter((form) => form !== '') : []);
  return [...forms(userId).map((id) => `id:${id}`), ...forms(email).map((address) => `email:${address.toLowerCase()}`)];
}
