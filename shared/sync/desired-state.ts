import * as z from 'zod/mini';
import { findUnsafeMetadata } from '../jobs/parse-job.ts';
import { MAX_ROLES_PER_JOB, RoleRefSchema, UserIdSchema } from '../jobs/schema.ts';

/** One user as the source of truth wants it. */
export interface DesiredUser {
  /** `id:{userId}` or `email:{email}`: how the user is matched and grouped. */
  readonly key: string;
  readonly userId?: string;
  readonly email?: string;
  /** Role ids or names the user should hold (only managed roles count). */
  readonly roles: readonly string[];
  readonly appMetadata?: Readonly<Record<string, unknown>>;
  /** 1-based line in the source file. */
  readonly line: number;
}

/** A line that failed validation, with why. Never quotes the line. */
export interface InvalidLine {
  readonly line: number;
  readonly reason: string;
}

const LineSchema = z.strictObject({
  userId: z.optional(UserIdSchema),
  email: z.optional(z.email()),
  roles: z.array(RoleRefSchema).check(z.maxLength(MAX_ROLES_PER_JOB)),
  app_metadata: z.optional(z.record(z.string().check(z.minLength(1), z.maxLength(255)), z.json())),
});


/**
 * Parses a desired-state file: JSON Lines, one user a line, `{"userId"|"email", "roles": […], "app_metadata"?}`.
 * Blank lines are ignored; invalid or duplicate lines are reported with their numbers and skipped.
 *
 * @example
 * const { users, invalid, lines } = parseDesiredState(await body.transformToString());
 */
export function parseDesiredState(text: string): { users: DesiredUser[]; invalid: InvalidLine[]; lines: number } {
  const users: DesiredUser[] = [];
  const invalid: InvalidLine[] = [];
  const seen = new Set<string>();
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
      continue;
    }
    const unsafe = findUnsafeMetadata((raw as { app_metadata?: unknown } | null)?.app_metadata, 'app_metadata');
    if (unsafe !== undefined) {
      invalid.push({ line, reason: unsafe.kind === 'key' ? `${unsafe.path}: "${unsafe.key}" is not accepted as a metadata key` : 'app_metadata nests too deep' });
      continue;
    }
    const parsed = LineSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      invalid.push({ line, reason: `${issue?.path.join('.') || 'line'}: ${issue?.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.join(', ')}` : (issue?.message ?? 'invalid')}` });
      continue;
    }
    const { userId, email, roles, app_metadata: appMetadata } = parsed.data;
    if ((userId === undefined) === (email === undefined)) {
      invalid.push({ line, reason: 'needs exactly one of userId or email' });
      continue;
    }
    const key = userId === undefined ? `email:${email?.toLowerCase()}` : `id:${userId}`;
    if (seen.has(key)) {
      invalid.push({ line, reason: 'the same user is on an earlier line' });
      continue;
    }
    seen.add(key);
    users.push({
      key,
      ...(userId === undefined ? { email: email?.toLowerCase() } : { userId }),
      roles: [...new Set(roles)],
      ...(appMetadata === undefined ? {} : { appMetadata }),
      line,
    });
  }
  return { users, invalid, lines };
}
