import type { DesiredUser } from './desired-state.ts';
import type { ManagedRole, SyncJob, SyncLimits } from './plan-sync.ts';
import { type GroupRemovals, judgeRemovals } from './removal-limit.ts';

/** An organization whose removals (of members, or of members' roles there) went over its limit. */
export type OrganizationRemovals = GroupRemovals & { readonly organization: string };

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
  /** `org.members.remove` and `org.roles.remove` jobs (none when removals are off or withheld, none of a blocked organization). */
  readonly removes: SyncJob[];
  readonly memberAdds: number;
  readonly memberRemoves: number;
  readonly roleAssigns: number;
  readonly roleRemoves: number;
  /**
   * The organizations whose member removals, or removals of roles there, were over their limit: they keep
   * them all, and other organizations' removals go ahead.
   */
  readonly removalsBlocked: readonly OrganizationRemovals[] | undefined;
  /** The organizations over their limit whose removals the operator approved: made. */
  readonly removalsApproved: readonly OrganizationRemovals[];
}

/**
 * Plans what brings the managed organizations' membership, and members' managed roles there, to what the lines
 * say. A user is a member of an organization its line lists (with the managed roles listed for it), and of no
 * other managed organization. The same safety rules as for roles: removals (of members, and of roles within
 * an organization) only when allowed, never for a user named by a skipped line, none at all when a skipped
 * line names no one, and none from an organization that would lose more than its limit (unless approved).
 *
 * @param job Makes a job with a deterministic id from its body (the sync's own `job` maker).
 */
export function planOrganizations(input: {
  /** The sync's name, which approvals are bound to. */
  readonly name: string;
  readonly desired: readonly DesiredUser[];
  readonly organizations: readonly ManagedOrganization[];
  readonly members: ReadonlyMap<string, readonly OrganizationMember[]>;
  readonly managedRoles: readonly ManagedRole[];
  readonly limits: SyncLimits;
  /** Users named by skipped or doubtful lines: they lose no membership and no role. */
  readonly protectedKeys: ReadonlySet<string>;
  readonly removalsWithheld: boolean;
  /** Approval ids the operator gave: an organization over its limit whose removals match one loses them. */
  readonly approvals?: ReadonlySet<string>;
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
  let memberRemoveCount = 0;
  let roleAssigns = 0;
  let roleRemoves = 0;
  const removalsBlocked: OrganizationRemovals[] = [];
  const removalsApproved: OrganizationRemovals[] = [];
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
    const memberRemoves: SyncJob[] = [];
    const roleRemoveJobs: SyncJob[] = [];
    const removalKeys: string[] = [];
    let roleRemoveCount = 0;

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
      if (remove.length > 0 && !keysOf(member).some((key) => protectedKeys.has(key))) {
        roleRemoveCount += remove.length;
        removalKeys.push(...remove.map((id) => `role:${member.user_id}:${id}`));
        roleRemoveJobs.push(job({ type: 'org.roles.remove', ...target(user), organization: organization.id, roles: remove }, user.key));
      }
    }

    for (const member of current) {
      const keys = keysOf(member);
      if (keys.some((key) => wantedKeys.has(key) || protectedKeys.has(key))) continue;
      removalKeys.push(`member:${member.user_id}`);
      memberRemoves.push(job({ type: 'org.members.remove', userId: member.user_id, organization: organization.id }, `id:${member.user_id}`));
    }
    // The same limit for members losing the organization and for members losing roles in it.
    const verdict = judgeRemovals({
      sync: input.name,
      group: `organization:${organization.id}`,
      members: current.length,
      removals: removalKeys,
      counted: Math.max(memberRemoves.length, roleRemoveJobs.length),
      limits,
      approvals: input.approvals ?? new Set(),
    });
    if (verdict.kind !== 'within') (verdict.kind === 'blocked' ? removalsBlocked : removalsApproved).push({ organization: organization.name, ...verdict.group });
    if (verdict.kind === 'blocked' || !limits.allowRemovals || input.removalsWithheld) continue;
    removes.push(...memberRemoves, ...roleRemoveJobs);
    memberRemoveCount += memberRemoves.length;
    roleRemoves += roleRemoveCount;
  }

  return {
    jobs,
    removes,
    memberAdds,
    memberRemoves: memberRemoveCount,
    roleAssigns,
    roleRemoves,
    removalsBlocked: limits.allowRemovals && removalsBlocked.length > 0 ? removalsBlocked : undefined,
    removalsApproved: limits.allowRemovals && !input.removalsWithheld ? removalsApproved : [],
  };
}
