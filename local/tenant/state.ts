/**
 * The emulated tenant's data: users, roles and role members, with Auth0's rules for ids, emails and
 * metadata merging (FACTS.md: top-level merge, `null` removes a key, nested objects are replaced).
 */
import { randomBytes } from 'node:crypto';

/** A user as the emulator stores it. */
export interface TenantUser {
  user_id: string;
  email: string;
  email_verified: boolean;
  connection: string;
  name?: string;
  nickname?: string;
  given_name?: string;
  family_name?: string;
  picture?: string;
  phone_number?: string;
  phone_verified?: boolean;
  username?: string;
  blocked?: boolean;
  app_metadata: Record<string, unknown>;
  user_metadata: Record<string, unknown>;
  created_at: string;
  updated_at: string;
}

/** A role as the emulator stores it. */
export interface TenantRole {
  id: string;
  name: string;
  description: string;
}

/** An organization as the emulator stores it. */
export interface TenantOrganization {
  id: string;
  name: string;
  display_name?: string;
}

/** Everything in one emulated tenant. */
export interface TenantState {
  readonly users: Map<string, TenantUser>;
  readonly roles: Map<string, TenantRole>;
  /** Role id → ids of the users holding it tenant-wide, in assignment order. */
  readonly members: Map<string, Set<string>>;
  readonly organizations: Map<string, TenantOrganization>;
  /**
   * Organization id → member user id → ids of the roles the member holds in that organization: separate from
   * the tenant-wide roles above, as in Auth0.
   */
  readonly organizationMembers: Map<string, Map<string, Set<string>>>;
}

export function createState(): TenantState {
  return { users: new Map(), roles: new Map(), members: new Map(), organizations: new Map(), organizationMembers: new Map() };
}

/** Auth0's rule for an organization name: 1 to 50 of lower-case letters, digits, `-` and `_`. */
export const ORGANIZATION_NAME = /^[a-z0-9_-]{1,50}$/;

/** A new organization, as `POST /api/v2/organizations` creates it. */
export function addOrganization(state: TenantState, input: { name: string; display_name?: string; id?: string }): TenantOrganization {
  const organization: TenantOrganization = { id: input.id ?? `org_${alnum(16)}`, name: input.name, ...(input.display_name === undefined ? {} : { display_name: input.display_name }) };
  state.organizations.set(organization.id, organization);
  state.organizationMembers.set(organization.id, new Map());
  return organization;
}

/** The organizations a user is a member of. */
export function organizationsOf(state: TenantState, userId: string): TenantOrganization[] {
  return [...state.organizations.values()].filter((organization) => state.organizationMembers.get(organization.id)?.has(userId));
}

/** The roles a member holds in one organization (none when not a member). */
export function organizationRolesOf(state: TenantState, organizationId: string, userId: string): TenantRole[] {
  const held = state.organizationMembers.get(organizationId)?.get(userId) ?? new Set<string>();
  return [...held].map((id) => state.roles.get(id)).filter((role) => role !== undefined);
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const alnum = (length: number) => randomBytes(length * 2).toString('base64').replace(/[^A-Za-z0-9]/g, '').slice(0, length);

/** A new user on a database connection, as `POST /api/v2/users` creates it. */
export function addUser(state: TenantState, input: { email: string; connection: string; user_id?: string } & Partial<TenantUser>): TenantUser {
  const now = new Date().toISOString();
  const id = input.user_id ?? `auth0|${hex(12)}`;
  const user: TenantUser = {
    ...input,
    user_id: id.includes('|') ? id : `auth0|${id}`,
    email: input.email.toLowerCase(),
    email_verified: input.email_verified ?? false,
    app_metadata: input.app_metadata ?? {},
    user_metadata: input.user_metadata ?? {},
    created_at: now,
    updated_at: now,
  };
  state.users.set(user.user_id, user);
  return user;
}

/** A new role, as `POST /api/v2/roles` creates it. */
export function addRole(state: TenantState, input: { name: string; description?: string; id?: string }): TenantRole {
  const role = { id: input.id ?? `rol_${alnum(16)}`, name: input.name, description: input.description ?? '' };
  state.roles.set(role.id, role);
  state.members.set(role.id, new Set());
  return role;
}

/** Applies a `PATCH /api/v2/users/{id}` body with Auth0's merge rules. */
export function patchUser(user: TenantUser, changes: Record<string, unknown>): TenantUser {
  for (const [field, value] of Object.entries(changes)) {
    if (field === 'app_metadata' || field === 'user_metadata') {
      const target = user[field];
      for (const [key, inner] of Object.entries((value ?? {}) as Record<string, unknown>)) {
        if (inner === null) delete target[key];
        else target[key] = inner;
      }
    } else if (['password', 'verify_email', 'verify_phone_number', 'client_id', 'connection'].includes(field)) {
      // Accepted, but not stored on the profile.
    } else if (value === null) {
      delete (user as unknown as Record<string, unknown>)[field];
    } else {
      (user as unknown as Record<string, unknown>)[field] = field === 'email' ? String(value).toLowerCase() : value;
    }
  }
  user.updated_at = new Date().toISOString();
  return user;
}

/** Role ids a user holds. */
export function rolesOf(state: TenantState, userId: string): TenantRole[] {
  return [...state.roles.values()].filter((role) => state.members.get(role.id)?.has(userId));
}

/** Removes a user and its role memberships. */
export function deleteUser(state: TenantState, userId: string): void {
  state.users.delete(userId);
  for (const members of state.members.values()) members.delete(userId);
  for (const members of state.organizationMembers.values()) members.delete(userId);
}

/** A user as Management API answers show it. */
export function toUserBody(user: TenantUser) {
  const { connection, ...profile } = user;
  const [provider, id] = user.user_id.split('|');
  return { ...profile, identities: [{ connection, user_id: id ?? user.user_id, provider: provider ?? 'auth0', isSocial: false }] };
}
