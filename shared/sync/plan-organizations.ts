import type { DesiredUser } from './desired-state.ts';
import type { ManagedRole, SyncJob, SyncLimits } from './plan-sync.ts';

/** A managed organization, resolved to both its id and its name: lines may use either. */
export interface ManagedOrganization {
  readonly ref: string;
  readonly id: string;
  readonly name: string;
}

/** A current member of an organization, with the ids of the roles it holds there. */
export interface OrganizationMember {
  readonly user_id: string;
  readonly email?: string;
  readonly roles: readonly string[];
}

/** The organization part of a sync's plan. */
export interface OrganizationPlan {
  /** `org.members.add` (with the member's managed roles), `org.roles.assign` and `org.roles.remove` jobs. */
  readonly jobs: SyncJob[];
  /** `org.members.remove` jobs (empty when removals are off, blocked or withheld). */
  readonly removes: SyncJob[];
  readonly memberAdds: number;
  readonly memberRemoves: number;
  readonly roleAssigns: number;
  readonly roleRemoves: number;
  /**
   * The first organization whose member removals, or removals of roles there, were over the limit; then no
   * organization removal is made.
   */
  readonly removalsBlocked: { organization: string; removals: number; members: number; limit: number } | undefined;
  /** Roles lines name in an organization that exist nowhere (misspellings, say): their users lose nothing. */
  readonly unknownRoles: ReadonlyArray<{ line: number; role: string }>;
}

/**
 * Plans what brings the managed organizations' membership, and members' managed roles there, to what the lines
 * say. A user is a member of an organization its line lists (with the managed roles listed for it), and of no
 * other managed organization. The same safety rules as for roles: removals (of members, and of roles within
 * an organization) only when allowed, never for a user named by a skipped line, none at all when a skipped
 * line names no one, and none when an organization would lose more members than the limit.
 *
 * @param job Makes a job with a deterministic id from its body (the sync's own `job` maker).
 */
export function planOrganizations(input: {
  readonly desired: readonly DesiredUser[];
  readonly organizations: readonly ManagedOrganization[];
  readonly members: ReadonlyMap<string, readonly OrganizationMember[]>;
  readonly managedRoles: readonly ManagedRole[];
  readonly limits: SyncLimits;
  readonly protectedKeys: ReadonlySet<string>;
  readonly removalsWithheld: boolean;
  /** Role refs that are not managed but exist in the tenant: lines may name them, and they are ignored. */
  readonly otherRoles?: ReadonlySet<string>;
  readonly job: (body: Record<string, unknown>, groupId: string) => SyncJob;
}): OrganizationPlan {
  const { desired, organizations, limits, protectedKeys, job } = input;
  const roleByRef = new Map<string, string>();
  for (const role of input.managedRoles) for (const ref of [role.ref, role.id, role.name]) roleByRef.set(ref, role.id);
  const managedRoleIds = new Set(input.managedRoles.map((role) => role.id));
  const target = (user: DesiredUser) => (user.userId === undefined ? { email: user.email } : { userId: user.userId });
  const keysOf = (member: OrganizationMember) => [`id:${member.user_id}`, ...(member.email === undefined ? [] : [`email:${member.email.toLowerCase()}`])];

  const jobs: SyncJob[] = [];
  const removes: SyncJob[] = [];
  let memberAdds = 0;
  let memberRemoves = 0;
  let roleAssigns = 0;
  let roleRemoves = 0;
  let removalsBlocked: OrganizationPlan['removalsBlocked'];
  const plannedRemoves: SyncJob[] = [];
  const plannedRoleRemoves: SyncJob[] = [];
  let plannedRoleRemoveCount = 0;
  // A user whose line names a role that exists nowhere might have meant a managed one: that user loses nothing.
  const unknownRoles: Array<{ line: number; role: string }> = [];
  const protectedUsers = new Set(protectedKeys);
  for (const user of desired) {
    const unknown = [...new Set(Object.values(user.organizations ?? {}).flat())].filter((ref) => !roleByRef.has(ref) && !input.otherRoles?.has(ref));
    if (unknown.length > 0) protectedUsers.add(user.key);
    for (const role of unknown) unknownRoles.push({ line: user.line, role });
  }
  const listedIn = (user: DesiredUser, organization: ManagedOrganization): readonly string[] | undefined => {
    const organizations = user.organizations ?? {};
    for (const ref of [organization.id, organization.name, organization.ref]) if (Object.hasOwn(organizations, ref)) return organizations[ref];
    return undefined;
  };

  for (const organization of organizations) {
    const current = input.members.get(organization.id) ?? [];
    const byKey = new Map<string, OrganizationMember>();
    for (const member of current) for (const key of keysOf(member)) byKey.set(key, member);
    const wantedKeys = new Set<string>();
    let roleRemovals = 0;

    for (const user of desired) {
      const listed = listedIn(user, organization);
      if (listed === undefined) continue;
      wantedKeys.add(user.key);
      const wanted = [...new Set(listed.map((ref) => roleByRef.get(ref)).filter((id): id is string => id !== undefined))].sort();
      const member = byKey.get(user.key);
      if (member === undefined) {
        memberAdds += 1;
        roleAssigns += wanted.length;
        jobs.push(job({ type: 'org.members.add', ...target(user), organization: organization.id, ...(wanted.length > 0 ? { roles: wanted } : {}) }, user.key));
        continue;
      }
      const held = new Set(member.roles.filter((id) => managedRoleIds.has(id)));
      const assign = wanted.filter((id) => !held.has(id));
      if (assign.length > 0) {
        roleAssigns += assign.length;
        jobs.push(job({ type: 'org.roles.assign', ...target(user), organization: organization.id, roles: assign }, user.key));
      }
      const remove = [...held].filter((id) => !wanted.includes(id)).sort();
      if (remove.length > 0 && !keysOf(member).some((key) => protectedUsers.has(key))) {
        roleRemovals += 1;
        plannedRoleRemoveCount += remove.length;
        plannedRoleRemoves.push(job({ type: 'org.roles.remove', ...target(user), organization: organization.id, roles: remove }, user.key));
      }
    }

    let removals = 0;
    for (const member of current) {
      const keys = keysOf(member);
      if (keys.some((key) => wantedKeys.has(key) || protectedUsers.has(key))) continue;
      removals += 1;
      plannedRemoves.push(job({ type: 'org.members.remove', userId: member.user_id, organization: organization.id }, `id:${member.user_id}`));
    }
    // The same limit for members losing the organization and for members losing roles in it.
    const limit = Math.min(limits.maxRemovals, Math.floor(current.length * limits.maxRemovalShare));
    const worst = Math.max(removals, roleRemovals);
    if (worst > limit && removalsBlocked === undefined) removalsBlocked = { organization: organization.name, removals: worst, members: current.length, limit };
  }

  if (limits.allowRemovals && removalsBlocked === undefined && !input.removalsWithheld) {
    removes.push(...plannedRemoves, ...plannedRoleRemoves);
    memberRemoves = plannedRemoves.length;
    roleRemoves = plannedRoleRemoveCount;
  }
  return { jobs, removes, memberAdds, memberRemoves, roleAssigns, roleRemoves, removalsBlocked: limits.allowRemovals ? removalsBlocked : undefined, unknownRoles };
}
