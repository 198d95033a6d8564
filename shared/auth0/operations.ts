import { PermanentError, RetryableError } from '../errors.ts';
import type { UserChanges } from '../jobs/schema.ts';
import type { CallContext, ManagementCall, ManagementClient } from './client.ts';

/** A user as `GET /api/v2/users-by-email` lists it, reduced to what the worker reads. */
export interface UserSummary {
  readonly user_id: string;
  readonly identities?: ReadonlyArray<{ readonly connection?: string }>;
}

/** A role as `GET /api/v2/roles` lists it. */
export interface RoleSummary {
  readonly id: string;
  readonly name: string;
}

/** An organization as the Management API answers it, reduced to what the worker reads. */
export interface OrganizationSummary {
  readonly id: string;
  readonly name: string;
}

const METADATA_FIELDS = new Set(['app_metadata', 'user_metadata']);

/**
 * Every Management API call the worker makes, with the scopes it accepts (Auth0's "any of" lists).
 * A test checks each against Auth0's OpenAPI description.
 */
export const ROUTES = {
  updateUser: { method: 'PATCH', route: '/api/v2/users/{id}', scopes: ['update:users'] },
  updateUserMetadata: { method: 'PATCH', route: '/api/v2/users/{id}', scopes: ['update:users', 'update:users_app_metadata'] },
  findUsersByEmail: { method: 'GET', route: '/api/v2/users-by-email', scopes: ['read:users'] },
  assignRoles: { method: 'POST', route: '/api/v2/users/{id}/roles', scopes: ['update:users', 'create:role_members'] },
  removeRoles: { method: 'DELETE', route: '/api/v2/users/{id}/roles', scopes: ['update:users', 'delete:role_members'] },
  assignRoleUsers: { method: 'POST', route: '/api/v2/roles/{id}/users', scopes: ['update:roles', 'create:role_members'] },
  findRolesByName: { method: 'GET', route: '/api/v2/roles', scopes: ['read:roles'] },
  getOrganization: { method: 'GET', route: '/api/v2/organizations/{id}', scopes: ['read:organizations', 'read:organizations_summary'] },
  getOrganizationByName: { method: 'GET', route: '/api/v2/organizations/name/{name}', scopes: ['read:organizations'] },
  listUserOrganizations: { method: 'GET', route: '/api/v2/users/{id}/organizations', scopes: ['read:organizations'] },
  addOrganizationMembers: { method: 'POST', route: '/api/v2/organizations/{id}/members', scopes: ['create:organization_members'] },
  removeOrganizationMembers: { method: 'DELETE', route: '/api/v2/organizations/{id}/members', scopes: ['delete:organization_members'] },
  assignOrganizationMemberRoles: { method: 'POST', route: '/api/v2/organizations/{id}/members/{user_id}/roles', scopes: ['create:organization_member_roles'] },
  removeOrganizationMemberRoles: { method: 'DELETE', route: '/api/v2/organizations/{id}/members/{user_id}/roles', scopes: ['delete:organization_member_roles'] },
} as const satisfies Record<string, Pick<ManagementCall, 'method' | 'route' | 'scopes'>>;

/**
 * `PATCH /api/v2/users/{id}`. A change of metadata alone also passes with `update:users_app_metadata`;
 * any other field needs `update:users`.
 */
export async function updateUser(client: ManagementClient, userId: string, changes: UserChanges, context?: CallContext): Promise<void> {
  const metadataOnly = Object.keys(changes).every((field) => METADATA_FIELDS.has(field));
  await client.call(
    { ...(metadataOnly ? ROUTES.updateUserMetadata : ROUTES.updateUser), params: { id: userId }, json: changes },
    context,
  );
}

/**
 * Every user with an email, in the case given or in lower case: Auth0's lookup is exact, database connections
 * keep emails in lower case, and some social and enterprise connections the case they were given. Asking for
 * both spellings and merging misses neither a user nor an ambiguity.
 */
export async function findUsersByAnyCaseEmail(client: ManagementClient, email: string, context?: CallContext): Promise<UserSummary[]> {
  const lower = email.toLowerCase();
  const users = await findUsersByEmail(client, lower, context);
  if (lower === email) return users;
  const seen = new Set(users.map((user) => user.user_id));
  return [...users, ...(await findUsersByEmail(client, email, context)).filter((user) => !seen.has(user.user_id))];
}

/** `GET /api/v2/users-by-email`: every user with that email, across connections. */
export async function findUsersByEmail(client: ManagementClient, email: string, context?: CallContext): Promise<UserSummary[]> {
  const body = await client.call(
    { ...ROUTES.findUsersByEmail, query: { email, fields: 'user_id,identities', include_fields: true } },
    context,
  );
  return expectArray<UserSummary>(body, 'GET /api/v2/users-by-email', (item) => typeof item['user_id'] === 'string');
}

/** `POST /api/v2/users/{id}/roles`: assigns role ids (already assigned ones are left as they are). */
export async function assignRoles(client: ManagementClient, userId: string, roleIds: readonly string[], context?: CallContext): Promise<void> {
  await client.call(
    { ...ROUTES.assignRoles, params: { id: userId }, json: { roles: roleIds } },
    context,
  );
}

/** `DELETE /api/v2/users/{id}/roles`: removes role ids (ones the user does not hold are ignored). */
export async function removeRoles(client: ManagementClient, userId: string, roleIds: readonly string[], context?: CallContext): Promise<void> {
  await client.call(
    { ...ROUTES.removeRoles, params: { id: userId }, json: { roles: roleIds } },
    context,
  );
}

/** `POST /api/v2/roles/{id}/users`: assigns one role to several users (users holding it already keep it). */
export async function assignRoleToUsers(client: ManagementClient, roleId: string, userIds: readonly string[], context?: CallContext): Promise<void> {
  await client.call({ ...ROUTES.assignRoleUsers, params: { id: roleId }, json: { users: userIds } }, context);
}

/** Roles per page when looking a name up: the public cloud's documented maximum. */
const ROLES_PER_PAGE = 50;
/** Offset paging ends at 1,000 results on Auth0. */
const MAX_OFFSET_RESULTS = 1_000;

/** `GET /api/v2/roles?name_filter=`: roles whose name contains `name` (case-insensitive), one page. */
export async function findRolesByName(client: ManagementClient, name: string, context?: CallContext, page = 0): Promise<RoleSummary[]> {
  const body = await client.call(
    { ...ROUTES.findRolesByName, query: { name_filter: name, per_page: ROLES_PER_PAGE, page } },
    context,
  );
  return expectArray<RoleSummary>(
    body,
    'GET /api/v2/roles',
    (item) => typeof item['id'] === 'string' && typeof item['name'] === 'string',
  );
}

/**
 * The role named exactly `name`, or `undefined`. `name_filter` matches parts of names, so in a tenant with
 * many roles containing the name the exact one may be on a later page: pages are read until it is found or
 * the list ends.
 *
 * @throws {PermanentError} `role_not_found` when more than 1,000 roles contain the name (Auth0's offset
 *   paging ends there), asking for the role id instead.
 */
export async function findRoleByName(client: ManagementClient, name: string, context?: CallContext): Promise<RoleSummary | undefined> {
  for (let page = 0; page * ROLES_PER_PAGE < MAX_OFFSET_RESULTS; page++) {
    const roles = await findRolesByName(client, name, context, page);
    const role = roles.find((candidate) => candidate.name === name);
    if (role !== undefined) return role;
    if (roles.length < ROLES_PER_PAGE) return undefined;
  }
  throw new PermanentError('role_not_found', `more than ${MAX_OFFSET_RESULTS} roles contain the name ${JSON.stringify(name)}: give the role id (rol_…) instead`);
}

/**
 * `GET /api/v2/organizations/{id}` or `GET /api/v2/organizations/name/{name}`: the organization, or `undefined`
 * when Auth0 answers 404.
 */
export async function findOrganization(client: ManagementClient, ref: { id: string } | { name: string }, context?: CallContext): Promise<OrganizationSummary | undefined> {
  const call: ManagementCall = 'id' in ref ? { ...ROUTES.getOrganization, params: { id: ref.id } } : { ...ROUTES.getOrganizationByName, params: { name: ref.name } };
  let body: unknown;
  try {
    body = await client.call(call, context);
  } catch (error) {
    if (error instanceof PermanentError && error.status === 404) return undefined;
    throw error;
  }
  const organization = body as Partial<OrganizationSummary> | undefined;
  if (typeof organization?.id !== 'string' || typeof organization.name !== 'string') {
    throw new RetryableError('unexpected_answer', `${call.route} answered 2xx with a body that is not an organization`);
  }
  return { id: organization.id, name: organization.name };
}

/**
 * `GET /api/v2/users/{id}/organizations`, every page (offset paging ends at 1,000): the organization ids the user
 * is a member of. A 404 is `user_not_found`.
 */
export async function listUserOrganizationIds(client: ManagementClient, userId: string, context?: CallContext): Promise<Set<string>> {
  const ids = new Set<string>();
  for (let page = 0; page * ROLES_PER_PAGE < MAX_OFFSET_RESULTS; page++) {
    let body: unknown;
    try {
      body = await client.call({ ...ROUTES.listUserOrganizations, params: { id: userId }, query: { per_page: ROLES_PER_PAGE, page } }, context);
    } catch (error) {
      if (error instanceof PermanentError && error.status === 404) throw new PermanentError('user_not_found', 'the user does not exist', { status: 404 });
      throw error;
    }
    const organizations = expectArray<OrganizationSummary>(body, ROUTES.listUserOrganizations.route, (item) => typeof item['id'] === 'string');
    for (const organization of organizations) ids.add(organization.id);
    if (organizations.length < ROLES_PER_PAGE) break;
  }
  return ids;
}

/** `POST` or `DELETE /api/v2/organizations/{id}/members`: users in or out of an organization. */
export async function changeOrganizationMembers(client: ManagementClient, action: 'add' | 'remove', organizationId: string, userIds: readonly string[], context?: CallContext): Promise<void> {
  await client.call({ ...(action === 'add' ? ROUTES.addOrganizationMembers : ROUTES.removeOrganizationMembers), params: { id: organizationId }, json: { members: userIds } }, context);
}

/** `POST` or `DELETE /api/v2/organizations/{id}/members/{user_id}/roles`: a member's roles in that organization. */
export async function changeOrganizationMemberRoles(client: ManagementClient, action: 'assign' | 'remove', organizationId: string, userId: string, roleIds: readonly string[], context?: CallContext): Promise<void> {
  await client.call(
    { ...(action === 'assign' ? ROUTES.assignOrganizationMemberRoles : ROUTES.removeOrganizationMemberRoles), params: { id: organizationId, user_id: userId }, json: { roles: roleIds } },
    context,
  );
}

function expectArray<T>(body: unknown, route: string, isItem: (item: Record<string, unknown>) => boolean): T[] {
  if (Array.isArray(body) && body.every((item) => typeof item === 'object' && item !== null && isItem(item))) {
    return body as T[];
  }
  throw new RetryableError('unexpected_answer', `${route} answered 2xx with a body that is not the documented list`);
}
