import type { DesiredUser } from './desired-state.ts';

/** Lines a sync cannot take at their word, and the users they protect. */
export interface DoubtfulLines {
  /** Users who lose no role and no membership this run (their keys, `id:…` or `email:…`). */
  readonly protectedKeys: ReadonlySet<string>;
  /** Roles lines name that exist nowhere in the tenant: misspellings, say, or deleted roles. */
  readonly unknownRoles: ReadonlyArray<{ line: number; role: string }>;
  /** Organizations lines name that the sync does not manage: misspellings, say. */
  readonly unknownOrganizations: ReadonlyArray<{ line: number; organization: string }>;
}

/**
 * Finds the lines that may not mean what they say: a line naming a role that exists nowhere, or an
 * organization the sync does not manage, might have meant a managed one ("acme-crop" for "acme-corp"). Their
 * users keep every role and membership this run, tenant-wide and in every organization, and the report names
 * the lines. Roles that exist but are not managed are ignored (a line may list every role a user has);
 * organizations are only checked when the sync manages some (else lines' organizations are ignored).
 *
 * @param known Every ref (id or name) of a managed role, and of a role that exists but is not managed.
 * @param organizations Every ref (id, name, and as the definition wrote it) of a managed organization.
 */
export function findDoubtfulLines(desired: readonly DesiredUser[], known: { readonly roles: ReadonlySet<string>; readonly organizations: ReadonlySet<string> | undefined }): DoubtfulLines {
  const protectedKeys = new Set<string>();
  const unknownRoles: Array<{ line: number; role: string }> = [];
  const unknownOrganizations: Array<{ line: number; organization: string }> = [];
  for (const user of desired) {
    const organizations = known.organizations === undefined ? {} : (user.organizations ?? {});
    const roles = [...new Set([...user.roles, ...Object.values(organizations).flat()])].filter((ref) => !known.roles.has(ref));
    const outside = Object.keys(organizations).filter((ref) => !known.organizations?.has(ref));
    for (const role of roles) unknownRoles.push({ line: user.line, role });
    for (const organization of outside) unknownOrganizations.push({ line: user.line, organization });
    if (roles.length > 0 || outside.length > 0) protectedKeys.add(user.key);
  }
  return { protectedKeys, unknownRoles, unknownOrganizations };
}
