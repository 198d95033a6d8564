/**
 * The job contract, for producers: the types, the JSON Schema and a validator, the same the worker applies.
 * Imported as `auth0-queue-worker/contract`.
 *
 * @example
 * import { validateJob, type Job } from 'auth0-queue-worker/contract';
 * const result = validateJob(JSON.parse(line));
 * if (!result.ok) console.error(`${result.code}: ${result.reason}`);
 */
import { isJobError } from '../errors.ts';
import { parseJob } from './parse-job.ts';
import { type Job, USER_FIELDS } from './schema.ts';

export {
  DEFAULT_ALLOWED_FIELDS,
  JOB_TYPES,
  MAX_JOB_BYTES,
  MAX_ROLES_PER_JOB,
  USER_FIELDS,
  createJobJsonSchema,
  parseIssuedAt,
  type Job,
  type JobType,
  type OrganizationJob,
  type RolesJob,
  type UserChanges,
  type UserField,
  type UserUpdateJob,
} from './schema.ts';

/** What {@link validateJob} found: the job, or the contract code and reason the worker would dead-letter it with. */
export type JobValidation = { readonly ok: true; readonly job: Job } | { readonly ok: false; readonly code: string; readonly reason: string };

/** The contract alone: a deployment's policy (which fields and roles it allows) is the worker's to apply. */
const CONTRACT_ONLY = { allowedFields: new Set(USER_FIELDS), allowedRoles: undefined, allowedOrganizations: '*' as const };

/**
 * Checks a job (a value, or its JSON text) against contract version 1, exactly as the worker parses it:
 * size, JSON, type, target, fields, roles, well-formed text. Never throws.
 */
export function validateJob(job: unknown): JobValidation {
  try {
    const text = typeof job === 'string' ? job : (JSON.stringify(job) ?? '');
    return { ok: true, job: parseJob(text, CONTRACT_ONLY) };
  } catch (error) {
    return isJobError(error) ? { ok: false, code: error.code, reason: error.message } : { ok: false, code: 'invalid_job', reason: 'not a job' };
  }
}
