import type { ApplyJob, PlanJob } from '../../shared/jobs/apply-job.ts';
import { MAX_JOB_BYTES, MAX_ROLES_PER_JOB } from '../../shared/jobs/schema.ts';

/** The contract's examples, as docs/contract.md shows them. */
export const VALID_JOBS = [
  { type: 'user.update', userId: 'auth0|65a1b2c3', changes: { app_metadata: { plan: 'pro' }, blocked: false } },
  { type: 'user.update', email: 'ada@example.com', connection: 'Username-Password-Authentication', changes: { user_metadata: { locale: 'fr' } } },
  { type: 'roles.assign', userId: 'auth0|65a1b2c3', roles: ['rol_9xAbCdEfGh123456', 'support-agent'], jobId: 'crm-2026-11-23-0001', source: 'crm', issuedAt: '2026-11-23T09:14:02.517Z' },
  { type: 'roles.remove', email: 'ada@example.com', roles: ['support-agent'] },
  { type: 'org.members.add', userId: 'auth0|65a1b2c3', organization: 'acme-corp', roles: ['org-admin'], jobId: 'crm-2026-11-23-0002' },
  { type: 'org.members.remove', email: 'ada@example.com', organization: 'org_W8mZ2nX4pQ1rT6vY' },
  { type: 'org.roles.assign', userId: 'auth0|65a1b2c3', organization: 'org_W8mZ2nX4pQ1rT6vY', roles: ['rol_9xAbCdEfGh123456'] },
  { type: 'org.roles.remove', email: 'ada@example.com', organization: 'acme-corp', roles: ['org-admin'] },
];

/** Bad input, each with the reason code it must be dead-lettered with. */
export const INVALID_JOBS: Array<[string, string, string]> = [
  ['malformed JSON', '{"type":"user.update",', 'malformed_json'],
  ['a JSON array', '[1,2]', 'invalid_job'],
  ['no type', '{"userId":"auth0|1","changes":{"blocked":true}}', 'unknown_type'],
  ['an unknown type', '{"type":"user.delete","userId":"auth0|1"}', 'unknown_type'],
  ['both userId and email', '{"type":"roles.assign","userId":"auth0|1","email":"a@example.com","roles":["x"]}', 'invalid_target'],
  ['neither userId nor email', '{"type":"roles.assign","roles":["x"]}', 'invalid_target'],
  ['an unknown top-level field', '{"type":"roles.assign","userId":"auth0|1","roles":["x"],"priority":1}', 'unknown_field'],
  ['an organization that is neither an id nor a name', '{"type":"org.members.add","userId":"auth0|1","organization":"Acme Corp"}', 'invalid_organization'],
  ['no organization', '{"type":"org.members.remove","userId":"auth0|1"}', 'invalid_organization'],
  ['org.roles.assign without roles', '{"type":"org.roles.assign","userId":"auth0|1","organization":"acme"}', 'invalid_roles'],
  ['roles on org.members.remove', '{"type":"org.members.remove","userId":"auth0|1","organization":"acme","roles":["x"]}', 'unknown_field'],
  ['connection with userId', '{"type":"roles.assign","userId":"auth0|1","connection":"db","roles":["x"]}', 'unknown_field'],
  ['a change PATCH does not accept', '{"type":"user.update","userId":"auth0|1","changes":{"roles":["x"]}}', 'unknown_field'],
  ['no changes', '{"type":"user.update","userId":"auth0|1","changes":{}}', 'invalid_changes'],
  ['a field outside the policy', '{"type":"user.update","userId":"auth0|1","changes":{"password":"hunter2hunter2"}}', 'field_not_allowed'],
  ['an empty role list', '{"type":"roles.assign","userId":"auth0|1","roles":[]}', 'invalid_roles'],
  ['an oversized role list', JSON.stringify({ type: 'roles.assign', userId: 'auth0|1', roles: Array.from({ length: MAX_ROLES_PER_JOB + 1 }, (_, i) => `role-${i}`) }), 'invalid_roles'],
  ['a user id with a slash', '{"type":"roles.assign","userId":"auth0|1/../../roles","roles":["x"]}', 'invalid_user_id'],
  ['a user id with ..', '{"type":"roles.assign","userId":"..","roles":["x"]}', 'invalid_user_id'],
  ['a user id with ?', '{"type":"roles.assign","userId":"auth0|1?fields=x","roles":["x"]}', 'invalid_user_id'],
  ['a user id with #', '{"type":"roles.assign","userId":"auth0|1#x","roles":["x"]}', 'invalid_user_id'],
  ['a user id with %', '{"type":"roles.assign","userId":"auth0%7C1","roles":["x"]}', 'invalid_user_id'],
  ['a user id with a space', '{"type":"roles.assign","userId":"auth0| 1","roles":["x"]}', 'invalid_user_id'],
  ['__proto__ in metadata', '{"type":"user.update","userId":"auth0|1","changes":{"app_metadata":{"__proto__":{"admin":true}}}}', 'forbidden_key'],
  ['constructor deep in metadata', '{"type":"user.update","userId":"auth0|1","changes":{"user_metadata":{"a":[{"constructor":{"prototype":1}}]}}}', 'forbidden_key'],
  ['a jobId over 64 characters', JSON.stringify({ type: 'roles.assign', userId: 'auth0|1', roles: ['x'], jobId: 'j'.repeat(65) }), 'invalid_field'],
  ['an issuedAt without an offset', '{"type":"roles.assign","userId":"auth0|1","roles":["x"],"issuedAt":"2026-11-23T09:14:02"}', 'invalid_issued_at'],
  ['an issuedAt on a day February lacks', '{"type":"roles.assign","userId":"auth0|1","roles":["x"],"issuedAt":"2026-02-30T09:14:02Z"}', 'invalid_issued_at'],
  ['a phone number that is not E.164', '{"type":"user.update","userId":"auth0|1","changes":{"phone_number":"0155 555"}}', 'invalid_field'],
  ['a body over 1 MB', JSON.stringify({ type: 'user.update', userId: 'auth0|1', changes: { user_metadata: { blob: 'x'.repeat(MAX_JOB_BYTES) } } }), 'oversized_job'],
];


/**
 * A planner around a test's applier: the whole job is one effect of its user, written by calling `apply`.
 * For tests of the queue that do not look at per-attribute ordering.
 */
export function planOf(apply: ApplyJob): PlanJob {
  return async (job, context) => ({
    userId: job.userId ?? job.email,
    effects: [{ attribute: 'job', kind: job.type }],
    apply: async (chosen, applyContext) => {
      if (chosen.length > 0) await apply(job, applyContext ?? context);
    },
  });
}
