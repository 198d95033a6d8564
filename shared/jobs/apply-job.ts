import type { CallContext, ManagementClient } from '../auth0/client.ts';
import { assignRoles, findRolesByName, findUsersByEmail, removeRoles, updateUser } from '../auth0/operations.ts';
import { PermanentError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Job } from './schema.ts';

/** Applies one validated job through the Management API; throws a product error when it cannot. */
export type ApplyJob = (job: Job, context: CallContext) => Promise<void>;

/** A role id as Auth0 issues them; anything else in a job's `roles` is a role name. */
const ROLE_ID = /^rol_[A-Za-z0-9]+$/;

/**
 * Creates the job applier of a container. Role names are resolved through `GET /api/v2/roles` once per
 * container and cached; `ALLOWED_ROLES` is checked on the resolved ids, before any write, so a job outside
 * the policy is never partly applied.
 *
 * @example
 * const applyJob = createJobApplier({ client, allowedRoles: config.policy.allowedRoles, logger });
 * await applyJob(parseJob(body, config.policy), { correlationId: 'job-42' });
 */
export function createJobApplier(options: {
  client: ManagementClient;
  allowedRoles: ReadonlySet<string> | undefined;
  logger: Pick<Logger, 'warn'>;
}): ApplyJob {
  const { client, allowedRoles, logger } = options;
  const roleIds = new Map<string, Promise<string>>();
  let allowedIds: Promise<ReadonlySet<string>> | undefined;

  const resolveRoleName = (name: string, context: CallContext): Promise<string> => {
    let pending = roleIds.get(name);
    if (pending === undefined) {
      pending = findRolesByName(client, name, context).then((roles) => {
        // name_filter matches parts of names, case-insensitively: only an exact name counts.
        const role = roles.find((candidate) => candidate.name === name);
        if (role === undefined) throw new PermanentError('role_not_found', `no role is named ${JSON.stringify(name)}`);
        return role.id;
      });
      roleIds.set(name, pending);
      // Failures are not cached: the role may be created, or the call may pass, later.
      pending.catch(() => roleIds.delete(name));
    }
    return pending;
  };

  const resolveRole = (ref: string, context: CallContext) =>
    ROLE_ID.test(ref) ? Promise.resolve(ref) : resolveRoleName(ref, context);

  /** The ids behind the role names listed in ALLOWED_ROLES, resolved once, only if ever needed. */
  const allowedRoleIds = (allowed: ReadonlySet<string>, context: CallContext): Promise<ReadonlySet<string>> => {
    if (allowedIds === undefined) {
      const names = [...allowed].filter((ref) => !ROLE_ID.test(ref));
      const pending = Promise.all(
        names.map((name) =>
          resolveRoleName(name, context).catch((error: unknown) => {
            if (!(error instanceof PermanentError)) throw error;
            logger.warn('ALLOWED_ROLES names a role that does not exist', { role: name });
            return undefined;
          }),
        ),
      ).then((ids) => new Set(ids.filter((id) => id !== undefined)));
      allowedIds = pending;
      pending.catch(() => {
        if (allowedIds === pending) allowedIds = undefined;
      });
    }
    return allowedIds;
  };

  const resolveRoles = async (refs: readonly string[], context: CallContext): Promise<string[]> => {
    const ids = await Promise.all(refs.map((ref) => resolveRole(ref, context)));
    if (allowedRoles !== undefined) {
      const outside = refs.filter((ref, index) => !allowedRoles.has(ref) && !allowedRoles.has(ids[index] ?? ''));
      if (outside.length > 0) {
        const viaNames = await allowedRoleIds(allowedRoles, context);
        const refused = outside.filter((ref) => !viaNames.has(ids[refs.indexOf(ref)] ?? ''));
        if (refused.length > 0) {
          throw new PermanentError(
            'role_not_allowed',
            `role(s) ${refused.map((ref) => JSON.stringify(ref)).join(', ')} are not allowed by this deployment (ALLOWED_ROLES)`,
          );
        }
      }
    }
    return [...new Set(ids)];
  };

  const resolveUserId = async (job: Job, context: CallContext): Promise<string> => {
    if ('userId' in job) return job.userId;
    const users = await findUsersByEmail(client, job.email, context);
    const { connection } = job;
    const matches =
      connection === undefined
        ? users
        : users.filter((user) => user.identities?.some((identity) => identity.connection === connection));
    const on = connection === undefined ? '' : ` on connection ${JSON.stringify(connection)}`;
    const [match] = matches;
    if (match === undefined) throw new PermanentError('user_not_found', `no user has this email${on}`);
    if (matches.length > 1) {
      throw new PermanentError(
        'ambiguous_email',
        `${matches.length} users have this email${on}; add "connection" to the job to choose one`,
      );
    }
    return match.user_id;
  };

  return async (job, context) => {
    switch (job.type) {
      case 'user.update': {
        const userId = await resolveUserId(job, context);
        await updateUser(client, userId, job.changes, context);
        return;
      }
      case 'roles.assign':
      case 'roles.remove': {
        // Roles first: a job outside ALLOWED_ROLES fails before anything else is looked up or written.
        const ids = await resolveRoles(job.roles, context);
        const userId = await resolveUserId(job, context);
        await (job.type === 'roles.assign' ? assignRoles : removeRoles)(client, userId, ids, context);
        return;
      }
    }
  };
}
