import type { CallContext, ManagementClient } from '../auth0/client.ts';
import {
  type OrganizationSummary,
  assignRoles,
  changeOrganizationMemberRoles,
  changeOrganizationMembers,
  findOrganization,
  findRoleByName,
  findUsersByAnyCaseEmail,
  listUserOrganizationIds,
  removeRoles,
  updateUser,
} from '../auth0/operations.ts';
import { PermanentError, RetryableError } from '../errors.ts';
import type { Effect } from '../ledger/ledger.ts';
import type { Logger } from '../logger.ts';
import { type JobPolicy, refusedBy } from './parse-job.ts';
import type { Job, OrganizationJob, UserChanges } from './schema.ts';
import type { WriteGroups } from './write-groups.ts';

/**
 * The context a job's writes run in: its calls' context, and the invocation's grouped writes, through which
 * jobs writing the same role or organization share one call. Without them, one call per job.
 */
export interface ApplyContext extends CallContext {
  readonly groups?: WriteGroups | undefined;
}

/** Applies one validated job through the Management API; throws a product error when it cannot. */
export type ApplyJob = (job: Job, context: CallContext) => Promise<void>;

/**
 * A job looked up and checked, nothing written yet: its user, the attributes it writes, and how to write any
 * of them. The ordering ledger chooses which effects to write between the two steps.
 */
export interface JobPlan {
  /** The Auth0 user id, an email already resolved: a user named by email and by id is one user. */
  readonly userId: string;
  /** Every attribute the job writes, in the ledger's terms. */
  readonly effects: readonly Effect[];
  /** Writes `chosen` (some of {@link effects}) and nothing else; no call when none is chosen. */
  apply(chosen: readonly Effect[], context: ApplyContext): Promise<void>;
}

/**
 * The policy a job is checked against when it is not the planner's own: the policy of the producer whose
 * queue the job came from.
 */
export interface PlanContext extends CallContext {
  readonly policy?: Pick<JobPolicy, 'allowedRoles' | 'allowedOrganizations' | 'producer'> | undefined;
}

/** Looks a job up (user, roles, organization) and checks it against the policy, writing nothing. */
export type PlanJob = (job: Job, context: PlanContext) => Promise<JobPlan>;

/** Options of {@link createJobPlanner}. */
export interface JobPlannerOptions {
  readonly client: ManagementClient;
  readonly allowedRoles: ReadonlySet<string> | undefined;
  /** ALLOWED_ORGANIZATIONS: ids or names, checked on the resolved organization; `'*'` any; absent none. */
  readonly allowedOrganizations?: ReadonlySet<string> | '*';
  readonly logger: Pick<Logger, 'warn'>;
  /** The clock the role cache expires by. Default `Date.now`. */
  readonly now?: () => number;
}

/** A role id as Auth0 issues them; anything else in a job's `roles` is a role name. */
const ROLE_ID = /^rol_[A-Za-z0-9]+$/;
/** How long a role name → id lookup is trusted: a role deleted and created again gets a new id. */
const ROLE_CACHE_MS = 5 * 60_000;
/** An organization id as Auth0 issues them; anything else in a job's `organization` is its name. */
const ORGANIZATION_ID = /^org_[A-Za-z0-9]+$/;

/**
 * Creates the job applier of a container: every job planned, then every effect written, with no ordering
 * ledger between. See {@link createJobPlanner}.
 *
 * @example
 * const applyJob = createJobApplier({ client, allowedRoles: config.policy.allowedRoles, logger });
 * await applyJob(parseJob(body, config.policy), { correlationId: 'job-42' });
 */
export function createJobApplier(options: JobPlannerOptions): ApplyJob {
  const plan = createJobPlanner(options);
  return async (job, context) => {
    const planned = await plan(job, context);
    await planned.apply(planned.effects, context);
  };
}

/**
 * Creates the job planner of a container. Role names are resolved exactly through `GET /api/v2/roles`
 * (every page of the name filter's matches, if need be) and cached for 5 minutes; a role call that Auth0
 * answers 404 drops the cache. `ALLOWED_ROLES` is checked on the resolved ids, before any write, so a job
 * outside the policy is never partly applied.
 *
 * @example
 * const plan = createJobPlanner({ client, allowedRoles: config.policy.allowedRoles, logger });
 * const planned = await plan(parseJob(body, config.policy), { correlationId: 'job-42' });
 * await planned.apply(planned.effects, { correlationId: 'job-42' });
 */
export function createJobPlanner(options: JobPlannerOptions): PlanJob {
  const { client, allowedRoles, logger, now = Date.now } = options;
  const roleIds = new Map<string, { id: Promise<string>; until: number }>();
  const organizations = new Map<string, { value: Promise<OrganizationSummary>; until: number }>();
  /** The ids behind each policy's allowed role names (one policy per producer). */
  const allowedIds = new Map<ReadonlySet<string>, { ids: Promise<ReadonlySet<string>>; until: number }>();

  const resolveRoleName = (name: string, context: CallContext): Promise<string> => {
    const cached = roleIds.get(name);
    if (cached !== undefined && now() < cached.until) return cached.id;
    const pending = findRoleByName(client, name, context).then((role) => {
      if (role === undefined) throw new PermanentError('role_not_found', `no role is named ${JSON.stringify(name)}`);
      return role.id;
    });
    const entry = { id: pending, until: now() + ROLE_CACHE_MS };
    roleIds.set(name, entry);
    // Failures are not cached: the role may be created, or the call may pass, later.
    pending.catch(() => {
      if (roleIds.get(name) === entry) roleIds.delete(name);
    });
    return pending;
  };

  /** Whether any of `refs` is a role name this container has cached (its id may have changed since). */
  const cachedRoleNames = (refs: readonly string[] | undefined): boolean =>
    (refs ?? []).some((ref) => !ROLE_ID.test(ref) && (roleIds.get(ref)?.until ?? 0) > now());

  /**
   * After Auth0 said a role (or an organization) does not exist, every cached name is suspect. When the job's
   * roles came from cached names, the role may have been deleted and created again under a new id: the job is
   * tried again with a fresh lookup (`role_changed`) instead of dead-lettered; a role looked up afresh that
   * Auth0 still says does not exist is dead-lettered with Auth0's answer.
   */
  const forgetRoles = (usedCachedNames: boolean) => (error: unknown): never => {
    if (error instanceof PermanentError && error.status === 404) {
      roleIds.clear();
      allowedIds.clear();
      organizations.clear();
      if (usedCachedNames && error.auth0ErrorCode === 'inexistent_role') {
        throw new RetryableError('role_changed', 'a role named by the job no longer has the id cached for its name; it is looked up again on the next try', { status: 404, auth0ErrorCode: error.auth0ErrorCode }, { cause: error });
      }
    }
    throw error;
  };

  /** An organization by id or name, cached like role names (5 minutes; failures are not cached). */
  const resolveOrganization = (ref: string, context: CallContext): Promise<OrganizationSummary> => {
    const cached = organizations.get(ref);
    if (cached !== undefined && now() < cached.until) return cached.value;
    const byId = ORGANIZATION_ID.test(ref);
    const pending = findOrganization(client, byId ? { id: ref } : { name: ref }, context).then((organization) => {
      if (organization === undefined) throw new PermanentError('organization_not_found', `no organization ${byId ? 'has the id' : 'is named'} ${JSON.stringify(ref)}`, { status: 404 });
      return organization;
    });
    const entry = { value: pending, until: now() + ROLE_CACHE_MS };
    organizations.set(ref, entry);
    pending.catch(() => {
      if (organizations.get(ref) === entry) organizations.delete(ref);
    });
    return pending;
  };

  /** The job's policy: its producer's, else the planner's own. */
  const policyOf = (context: PlanContext): Pick<JobPolicy, 'allowedRoles' | 'allowedOrganizations' | 'producer'> =>
    context.policy ?? { allowedRoles, ...(options.allowedOrganizations === undefined ? {} : { allowedOrganizations: options.allowedOrganizations }) };

  const checkOrganization = (organization: OrganizationSummary, ref: string, context: PlanContext): void => {
    const policy = policyOf(context);
    const allowed = policy.allowedOrganizations;
    if (allowed === '*' || allowed?.has(organization.id) || allowed?.has(organization.name)) return;
    throw new PermanentError('organization_not_allowed', `organization ${JSON.stringify(ref)} is not allowed by ${refusedBy(policy, 'allowedOrganizations', 'ALLOWED_ORGANIZATIONS')}`);
  };

  const resolveRole = (ref: string, context: CallContext) =>
    ROLE_ID.test(ref) ? Promise.resolve(ref) : resolveRoleName(ref, context);

  /** The ids behind the role names a policy lists, resolved once per policy, only if ever needed. */
  const allowedRoleIds = (allowed: ReadonlySet<string>, context: CallContext): Promise<ReadonlySet<string>> => {
    const cached = allowedIds.get(allowed);
    if (cached !== undefined && now() < cached.until) return cached.ids;
    const names = [...allowed].filter((ref) => !ROLE_ID.test(ref));
    const pending = Promise.all(
      names.map((name) =>
        resolveRoleName(name, context).catch((error: unknown) => {
          if (!(error instanceof PermanentError)) throw error;
          logger.warn('an allowed role does not exist', { role: name });
          return undefined;
        }),
      ),
    ).then((ids) => new Set(ids.filter((id) => id !== undefined)));
    const entry = { ids: pending, until: now() + ROLE_CACHE_MS };
    allowedIds.set(allowed, entry);
    pending.catch(() => {
      if (allowedIds.get(allowed) === entry) allowedIds.delete(allowed);
    });
    return pending;
  };

  const resolveRoles = async (refs: readonly string[], context: PlanContext): Promise<string[]> => {
    const policy = policyOf(context);
    const { allowedRoles } = policy;
    if (allowedRoles?.size === 0) {
      throw new PermanentError(
        'role_not_allowed',
        policy.producer === undefined
          ? 'this deployment allows no role to be assigned or removed: set ALLOWED_ROLES (role names or ids, or * for any)'
          : `producer ${policy.producer} may assign or remove no role: list them in its allowedRoles (role names or ids, or * for any)`,
      );
    }
    const ids = await Promise.all(refs.map((ref) => resolveRole(ref, context)));
    if (allowedRoles !== undefined) {
      const outside = refs.filter((ref, index) => !allowedRoles.has(ref) && !allowedRoles.has(ids[index] ?? ''));
      if (outside.length > 0) {
        const viaNames = await allowedRoleIds(allowedRoles, context);
        const refused = outside.filter((ref) => !viaNames.has(ids[refs.indexOf(ref)] ?? ''));
        if (refused.length > 0) {
          throw new PermanentError(
            'role_not_allowed',
            `role(s) ${refused.map((ref) => JSON.stringify(ref)).join(', ')} are not allowed by ${refusedBy(policy, 'allowedRoles', 'ALLOWED_ROLES')}`,
          );
        }
      }
    }
    return [...new Set(ids)];
  };

  const resolveUserId = async (job: Job, context: CallContext): Promise<string> => {
    if (job.userId !== undefined) return job.userId;
    const users = await findUsersByAnyCaseEmail(client, job.email, context);
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

  /**
   * Writes an organization job's chosen effects, letting Auth0's answer decide: removing a membership or a role
   * the user does not hold is a no-op there, and adding a member again is harmless. Only `org.roles.assign`
   * reads the user's memberships first (Auth0 would refuse roles for a non-member with a 404 that says less);
   * it reads them here, while the user is claimed, so that no other job's write comes between.
   */
  const applyOrganizationJob = async (job: OrganizationJob, userId: string, organization: OrganizationSummary, wasCached: boolean, chosen: readonly Effect[], roles: readonly string[], usedCachedNames: boolean, context: ApplyContext): Promise<void> => {
    if (chosen.length === 0) return;
    /**
     * A write answered 404: for the user, it does not exist; for a role, see forgetRoles; for the organization,
     * the cached one is gone: try again with a fresh lookup.
     */
    const organizationGone = (error: unknown): never => {
      if (error instanceof PermanentError && error.status === 404 && error.auth0ErrorCode === 'inexistent_user') {
        throw new PermanentError('user_not_found', 'no user has this id (Auth0 answered 404 inexistent_user)', { status: 404, auth0ErrorCode: error.auth0ErrorCode }, { cause: error });
      }
      if (error instanceof PermanentError && error.status === 404 && error.auth0ErrorCode !== 'inexistent_role') {
        organizations.clear();
        throw new RetryableError('organization_changed', `organization ${JSON.stringify(job.organization)} answered 404 to a write; it is looked up again on the next try`, { status: 404 });
      }
      return forgetRoles(usedCachedNames)(error);
    };
    const chosenRoles = roles.filter((id) => chosen.some((effect) => effect.attribute === `org:${organization.id}/role:${id}`));
    const membershipChosen = chosen.some((effect) => effect.attribute === `org:${organization.id}`);
    /** The membership write: in the invocation's group for the organization, if there is one. */
    const changeMembership = (action: 'add' | 'remove') =>
      (context.groups === undefined
        ? changeOrganizationMembers(client, action, organization.id, [userId], context)
        : context.groups.write({ kind: action === 'add' ? 'org.members.add' : 'org.members.remove', organizationId: organization.id }, userId, context)
      ).catch(organizationGone);
    const assign = async () => {
      if (chosenRoles.length === 0) return;
      await changeOrganizationMemberRoles(client, 'assign', organization.id, userId, chosenRoles, context).catch((error: unknown) => {
        if (error instanceof PermanentError && error.status === 409) throw new PermanentError('organization_role_limit', `Auth0 refused the roles: ${error.message}`, { status: 409 });
        return organizationGone(error);
      });
    };
    switch (job.type) {
      case 'org.members.add':
        // Membership first, then roles. A membership a newer job removed took its roles with it: none chosen.
        if (membershipChosen) await changeMembership('add');
        await assign();
        return;
      case 'org.members.remove':
        if (membershipChosen) await changeMembership('remove');
        return;
      case 'org.roles.assign': {
        let member = (await listUserOrganizationIds(client, userId, context)).has(organization.id);
        if (!member && wasCached) {
          // The name may now belong to an organization created again since it was cached: look again before
          // deciding that the user is not a member. Another organization is another attribute: try again.
          organizations.delete(job.organization);
          const fresh = await resolveOrganization(job.organization, context);
          if (fresh.id !== organization.id) {
            throw new RetryableError('organization_changed', `organization ${JSON.stringify(job.organization)} was created again since it was looked up; the job is tried again with the new one`);
          }
          member = (await listUserOrganizationIds(client, userId, context)).has(organization.id);
        }
        if (!member) {
          throw new PermanentError('not_a_member', `the user is not a member of organization ${JSON.stringify(job.organization)}: send org.members.add, which can carry the roles too`);
        }
        await assign();
        return;
      }
      case 'org.roles.remove':
        if (chosenRoles.length > 0) await changeOrganizationMemberRoles(client, 'remove', organization.id, userId, chosenRoles, context).catch(organizationGone);
        return;
    }
  };

  const effectsOfRoles = (kind: 'assign' | 'remove', roleIds: readonly string[], organizationId?: string): Effect[] =>
    roleIds.map((id) =>
      organizationId === undefined
        ? { attribute: `role:${id}`, kind }
        : { attribute: `org:${organizationId}/role:${id}`, kind, voidedBy: { attribute: `org:${organizationId}`, kind: 'remove' } },
    );

  return async (job, context) => {
    switch (job.type) {
      case 'user.update': {
        const userId = await resolveUserId(job, context);
        return {
          userId,
          effects: userUpdateEffects(job.changes),
          apply: async (effects, applyContext) => {
            const changes = selectChanges(job.changes, effects);
            if (changes !== undefined) await updateUser(client, userId, changes, applyContext);
          },
        };
      }
      case 'roles.assign':
      case 'roles.remove': {
        // Roles first: a job outside ALLOWED_ROLES fails before anything else is looked up or written.
        const usedCachedNames = cachedRoleNames(job.roles);
        const ids = await resolveRoles(job.roles, context);
        const userId = await resolveUserId(job, context);
        const kind = job.type === 'roles.assign' ? 'assign' : 'remove';
        return {
          userId,
          effects: effectsOfRoles(kind, ids),
          apply: async (effects, applyContext) => {
            const chosen = ids.filter((id) => effects.some((effect) => effect.attribute === `role:${id}`));
            const [only] = chosen;
            // One role granted: in the invocation's group for the role (many users per call). Auth0 removes
            // users from a role only user by user, and several roles of one user go in one call anyway.
            const grouped = kind === 'assign' && chosen.length === 1 && only !== undefined && applyContext.groups !== undefined;
            const write = grouped
              ? applyContext.groups?.write({ kind: 'role.users', roleId: only }, userId, applyContext)
              : chosen.length > 0 ? (kind === 'assign' ? assignRoles : removeRoles)(client, userId, chosen, applyContext) : undefined;
            await write?.catch(forgetRoles(usedCachedNames));
          },
        };
      }
      case 'org.members.add':
      case 'org.members.remove':
      case 'org.roles.assign':
      case 'org.roles.remove': {
        // Everything is looked up and checked against the policy before the first write.
        const usedCachedNames = cachedRoleNames('roles' in job ? job.roles : undefined);
        const roles = 'roles' in job && job.roles !== undefined ? await resolveRoles(job.roles, context) : [];
        const cached = organizations.get(job.organization);
        const wasCached = cached !== undefined && now() < cached.until;
        const found = await resolveOrganization(job.organization, context);
        checkOrganization(found, job.organization, context);
        const userId = await resolveUserId(job, context);
        const membership = { attribute: `org:${found.id}`, kind: job.type === 'org.members.remove' ? 'remove' : 'add' };
        const roleKind = job.type === 'org.roles.remove' ? 'remove' : 'assign';
        const effects = [...(job.type.startsWith('org.members.') ? [membership] : []), ...effectsOfRoles(roleKind, roles, found.id)];
        return {
          userId,
          effects,
          apply: (chosen, applyContext) => applyOrganizationJob(job, userId, found, wasCached, chosen, roles, usedCachedNames, applyContext),
        };
      }
    }
  };
}

/** Fields that only route a `PATCH` (which connection, which application): sent along, never an attribute. */
const ROUTING_FIELDS = new Set(['connection', 'client_id']);
const METADATA_FIELDS = new Set(['app_metadata', 'user_metadata']);

/**
 * The attributes a `user.update` writes: each field, and each top-level key of `app_metadata` and
 * `user_metadata` (Auth0 merges metadata at the top level). Booleans keep their value as the kind, others
 * only `set` or `unset`: the ledger never holds personal data.
 */
export function userUpdateEffects(changes: UserChanges): Effect[] {
  const effects: Effect[] = [];
  for (const [field, value] of Object.entries(changes)) {
    if (ROUTING_FIELDS.has(field)) continue;
    if (METADATA_FIELDS.has(field) && value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) effects.push({ attribute: `${field}.${key}`, kind: item === null ? 'unset' : 'set' });
      continue;
    }
    effects.push({ attribute: field, kind: typeof value === 'boolean' ? String(value) : value === null ? 'unset' : 'set' });
  }
  return effects;
}

/** The part of `changes` that writes `chosen`, with the routing fields; undefined when nothing is chosen. */
function selectChanges(changes: UserChanges, chosen: readonly Effect[]): UserChanges | undefined {
  const attributes = new Set(chosen.map((effect) => effect.attribute));
  const selected: Record<string, unknown> = {};
  let written = false;
  for (const [field, value] of Object.entries(changes)) {
    if (ROUTING_FIELDS.has(field)) {
      selected[field] = value;
    } else if (METADATA_FIELDS.has(field) && value !== null && typeof value === 'object') {
      const kept = Object.fromEntries(Object.entries(value).filter(([key]) => attributes.has(`${field}.${key}`)));
      if (Object.keys(kept).length > 0) {
        selected[field] = kept;
        written = true;
      }
    } else if (attributes.has(field)) {
      selected[field] = value;
      written = true;
    }
  }
  return written ? (selected as UserChanges) : undefined;
}
