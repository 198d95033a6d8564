import type * as z from 'zod/mini';
import { PermanentError } from '../errors.ts';
import { boundedText } from '../text.ts';
import {
  JOB_TYPES,
  JOB_VARIANTS,
  MAX_JOB_BYTES,
  SAFE_TEXT_PATTERN,
  UNSAFE_CHARACTERS,
  hasUnsafeAstralText,
  type Job,
  type JobType,
  type UserField,
  parseIssuedAt,
} from './schema.ts';

/** What a deployment lets jobs do, from `ALLOWED_FIELDS` and `ALLOWED_ROLES`. */
export interface JobPolicy {
  /** `changes` fields a `user.update` job may carry. */
  readonly allowedFields: ReadonlySet<UserField>;
  /** Whether `changes.picture` may be an `http:` URL (ALLOW_HTTP_PICTURES); `https:` only otherwise. */
  readonly allowHttpPictures?: boolean;
  /** Role ids or names jobs may assign or remove; empty allows none, `undefined` any (`ALLOWED_ROLES=*`). */
  readonly allowedRoles: ReadonlySet<string> | undefined;
  /**
   * Organization ids or names `org.*` jobs may touch (`ALLOWED_ORGANIZATIONS`); `'*'` any. Absent or empty
   * allows none: deny by default.
   */
  readonly allowedOrganizations?: ReadonlySet<string> | '*';
  /**
   * The producer whose policy this is, when the deployment declares producers: refusals name it and its
   * setting (`producer crm (its allowedRoles)`) instead of the deployment's environment variable.
   */
  readonly producer?: string;
}

/**
 * Where a refusal points the reader: the producer's own setting, or the deployment's variable.
 *
 * @example
 * refusedBy(policy, 'allowedRoles', 'ALLOWED_ROLES'); // 'producer crm (its allowedRoles)' or 'this deployment (ALLOWED_ROLES)'
 */
export function refusedBy(policy: Pick<JobPolicy, 'producer'>, setting: string, variable: string): string {
  return policy.producer === undefined ? `this deployment (${variable})` : `producer ${policy.producer} (its ${setting})`;
}

/** Keys refused anywhere inside metadata: JavaScript would treat them as prototype access, not data. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/** Deepest metadata nesting accepted; deeper input is refused before any recursive code sees it. */
const MAX_METADATA_DEPTH = 32;
/** The one message for any bad `issuedAt`: it names the form expected, never the value given. */
const ISSUED_AT_MESSAGE = 'issuedAt must be an RFC 3339 date-time with seconds and an offset (Z or ±hh:mm), e.g. 2026-12-04T16:27:58.123Z';

/**
 * Parses and validates one queued job body against the contract and the deployment's policy.
 * Role policy needs role ids, so it is checked when the job is applied, still before any write.
 *
 * @throws {PermanentError} with a `code` naming the problem (`malformed_json`, `oversized_job`,
 *   `unknown_type`, `invalid_target`, `unknown_field`, `forbidden_key`, `invalid_user_id`, `invalid_roles`,
 *   `invalid_field`, `invalid_issued_at`, `field_not_allowed`). Messages never quote values from the body.
 * @example
 * const job = parseJob(record.body, config.policy);
 * if (job.type === 'user.update') console.log(Object.keys(job.changes));
 */
export function parseJob(body: string, policy: JobPolicy): Job {
  // Cheap length test first: a string of n UTF-16 units holds at most 3n UTF-8 bytes.
  if (body.length * 3 > MAX_JOB_BYTES && Buffer.byteLength(body, 'utf8') > MAX_JOB_BYTES) {
    throw invalid('oversized_job', `job body exceeds ${MAX_JOB_BYTES} bytes, the Management API payload limit`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    // The parser's message quotes the body, which may hold personal data: say only what is wrong.
    throw invalid('malformed_json', 'job body is not valid JSON');
  }
  if (!isPlainObject(raw)) throw invalid('invalid_job', 'job body must be a JSON object');

  const type = raw['type'];
  if (type === undefined) throw invalid('unknown_type', `job has no "type"; expected one of ${JOB_TYPES.join(', ')}`);
  if (typeof type !== 'string' || !Object.hasOwn(JOB_VARIANTS, type)) {
    throw invalid('unknown_type', `unknown job type; expected one of ${JOB_TYPES.join(', ')}`);
  }

  const hasUserId = Object.hasOwn(raw, 'userId');
  const hasEmail = Object.hasOwn(raw, 'email');
  if (hasUserId === hasEmail) {
    throw invalid(
      'invalid_target',
      hasUserId ? 'job has both "userId" and "email"; give exactly one' : 'job needs exactly one of "userId" or "email"',
    );
  }
  const variant = JOB_VARIANTS[type as JobType][hasUserId ? 'userId' : 'email'];
  const fields: Readonly<Record<string, unknown>> = variant.def.shape;

  const unknown = Object.keys(raw).filter((key) => !Object.hasOwn(fields, key));
  if (unknown.length > 0) {
    const hint = hasUserId && unknown.includes('connection') ? ' ("connection" only narrows an "email")' : '';
    throw invalid('unknown_field', `unknown field(s) ${list(unknown)} in a ${type} job${hint}`);
  }

  if (type === 'user.update' && isPlainObject(raw['changes'])) {
    for (const field of ['user_metadata', 'app_metadata'] as const) {
      checkMetadataKeys(raw['changes'][field], `changes.${field}`);
    }
  }
  // JSON may escape a lone surrogate (\ud800); no such text can be encoded into a URL or sent to Auth0 as UTF-8.
  const illFormed = findIllFormedText(raw);
  if (illFormed === 'issuedAt') throw invalid('invalid_issued_at', ISSUED_AT_MESSAGE);
  if (illFormed !== undefined) {
    throw invalid(
      illFormed === 'userId' ? 'invalid_user_id' : 'invalid_field',
      `${illFormed}: text that is not well-formed Unicode (a lone surrogate); send UTF-8 text`,
    );
  }

  const parsed = (variant as z.ZodMiniType<Job>).safeParse(raw);
  if (!parsed.success) {
    // Report the user id first when it is wrong: it is the one problem a producer must fix in any case.
    const issues = parsed.error.issues;
    throw fromSchemaIssue(issues.find((issue) => issue.path[0] === 'userId') ?? issues[0]);
  }
  const job = parsed.data;
  // The schema's pattern refuses impossible dates already; parseIssuedAt is what the queue orders by, so a job passes it too.
  if (job.issuedAt !== undefined && parseIssuedAt(job.issuedAt) === undefined) throw invalid('invalid_issued_at', ISSUED_AT_MESSAGE);

  if (job.type === 'user.update') {
    const refused = Object.keys(job.changes).filter((field) => !policy.allowedFields.has(field as UserField));
    if (refused.length > 0) {
      throw invalid('field_not_allowed', `changes to ${list(refused)} are not allowed by ${refusedBy(policy, 'allowedFields', 'ALLOWED_FIELDS')}`);
    }
    if (typeof job.changes.picture === 'string' && /^http:/i.test(job.changes.picture) && policy.allowHttpPictures !== true) {
      throw invalid('invalid_field', `changes.picture: an http: URL is refused (send https:, or set ${policy.producer === undefined ? 'ALLOW_HTTP_PICTURES=true' : `allowHttpPictures on producer ${policy.producer}`})`);
    }
  } else if ('roles' in job && job.roles !== undefined) {
    job.roles = [...new Set(job.roles)];
  }
  if ('organization' in job) {
    const allowed = policy.allowedOrganizations;
    if (allowed === undefined || (allowed !== '*' && allowed.size === 0)) {
      throw invalid(
        'organization_not_allowed',
        policy.producer === undefined
          ? 'this deployment allows no organization: set ALLOWED_ORGANIZATIONS (organization ids or names, or * for any)'
          : `producer ${policy.producer} may touch no organization: list them in its allowedOrganizations (ids or names, or * for any)`,
      );
    }
  }
  return job;
}

function fromSchemaIssue(issue: z.core.$ZodIssue | undefined): PermanentError {
  if (issue === undefined) return invalid('invalid_job', 'job does not match the contract');
  const [head, second] = issue.path;
  if (head === 'issuedAt') return invalid('invalid_issued_at', ISSUED_AT_MESSAGE);
  const where = issue.path.map((segment) => pathKey(String(segment))).join('.') || 'job';
  if (issue.code === 'unrecognized_keys') {
    const fields = issue.keys.map((key) => `${where}.${pathKey(key)}`);
    return invalid('unknown_field', `${list(fields)} ${head === 'changes' ? 'not accepted by PATCH /api/v2/users/{id}' : 'unknown'}`);
  }
  const code =
    head === 'userId' ? 'invalid_user_id'
    : head === 'roles' ? 'invalid_roles'
    : head === 'organization' ? 'invalid_organization'
    : head === 'changes' && second === undefined ? 'invalid_changes'
    : 'invalid_field';
  return invalid(code, `${where}: ${issue.message}`);
}

/**
 * Walks metadata without recursion, refusing prototype keys and runaway nesting, then the keys Auth0 or a
 * reader would trip on: at any depth, a key with a control or invisible formatting character; at the top, a
 * key of more than 255 characters, an empty one, or one with `.` or `$` (Auth0 answers 400 to a dotted field name).
 */
function checkMetadataKeys(value: unknown, where: string): void {
  const problem = findUnsafeMetadata(value, where);
  if (problem?.kind === 'depth') throw invalid('invalid_field', `${where} nests deeper than ${MAX_METADATA_DEPTH} levels`);
  if (problem?.kind === 'key') throw invalid('forbidden_key', `${problem.path}: "${problem.key}" is not accepted as a metadata key`);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return;
  for (const key of Object.keys(value)) {
    const path = `${where}.${pathKey(key)}`;
    if (key.length === 0 || Array.from(key).length > 255) throw invalid('invalid_field', `${path}: a metadata key must be 1 to 255 characters`);
    if (/[.$]/.test(key)) throw invalid('invalid_field', `${path}: a top-level metadata key must not contain "." or "$" (Auth0 refuses a dotted field name)`);
  }
  // Depth is bounded above, so this walk is too.
  const pending: Array<{ value: unknown; path: string }> = [{ value, path: where }];
  for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
    if (item.value === null || typeof item.value !== 'object') continue;
    for (const [key, child] of Object.entries(item.value)) {
      const path = Array.isArray(item.value) ? `${item.path}.${key}` : `${item.path}.${pathKey(key)}`;
      if (!Array.isArray(item.value) && key.isWellFormed() && (!SAFE_TEXT_PATTERN.test(key) || hasUnsafeAstralText(key))) {
        throw invalid('invalid_field', `${path}: a metadata key must not contain control characters or invisible formatting characters (bidirectional controls, zero-width characters, tag characters)`);
      }
      pending.push({ value: child, path });
    }
  }
}

/**
 * The path of the first key or string anywhere in `value` that is not well-formed UTF-16 (a lone surrogate),
 * without recursion; nesting is already bounded by the size limit and the metadata check.
 */
export function findIllFormedText(value: unknown): string | undefined {
  const pending: Array<{ value: unknown; path: string }> = [{ value, path: '' }];
  for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
    if (typeof item.value === 'string') {
      if (!item.value.isWellFormed()) return item.path || 'job';
      continue;
    }
    if (item.value === null || typeof item.value !== 'object') continue;
    for (const [key, child] of Object.entries(item.value)) {
      const path = item.path === '' ? pathKey(key) : `${item.path}.${pathKey(key)}`;
      if (!key.isWellFormed()) return path;
      pending.push({ value: child, path });
    }
  }
  return undefined;
}

/**
 * Finds the first `__proto__`, `constructor` or `prototype` key anywhere in `value`, or nesting deeper than
 * 32 levels, without recursion. Run it on parsed JSON before any schema library rebuilds the objects:
 * rebuilding silently drops a `__proto__` key.
 */
export function findUnsafeMetadata(value: unknown, where: string): { kind: 'key'; path: string; key: string } | { kind: 'depth' } | undefined {
  const pending: Array<{ value: unknown; path: string; depth: number }> = [{ value, path: where, depth: 0 }];
  for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
    if (item.value === null || typeof item.value !== 'object') continue;
    if (item.depth > MAX_METADATA_DEPTH) return { kind: 'depth' };
    for (const [key, child] of Object.entries(item.value)) {
      const path = `${item.path}.${pathKey(key)}`;
      if (FORBIDDEN_KEYS.has(key)) return { kind: 'key', path, key };
      pending.push({ value: child, path, depth: item.depth + 1 });
    }
  }
  return undefined;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A key as a message shows it in a path: at most 64 characters, and every character SQS or a log reader
 * would choke on (control characters, lone surrogates) or be misled by (bidirectional controls, zero-width
 * characters) replaced with U+FFFD, so a hostile key cannot make the message large, unsendable or reordered.
 */
function pathKey(key: string): string {
  return boundedText(key, 64).replace(UNSAFE_CHARACTERS, '\uFFFD');
}

/** Names keys for a message, bounded so that a hostile body cannot make the message large. */
function list(keys: readonly string[]): string {
  const shown = keys.slice(0, 5).map((key) => JSON.stringify(pathKey(key)));
  return shown.join(', ') + (keys.length > 5 ? ` and ${keys.length - 5} more` : '');
}

function invalid(code: string, message: string): PermanentError {
  return new PermanentError(code, message);
}
