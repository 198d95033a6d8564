import type { DesiredState } from './desired-state.ts';
import { type DoubtfulLines, findDoubtfulLines } from './doubtful-lines.ts';
import { type OrganizationMember, type OrganizationPlan, type ManagedOrganization, planOrganizations } from './plan-organizations.ts';
import { type ManagedRole, type Manifest, type RoleMember, type SyncLimits, type SyncPlan, planSync, syncJobMaker } from './plan-sync.ts';

/** Everything one run plans, from a parsed file and the tenant as read. */
export interface RunPlan {
  readonly roles: SyncPlan;
  readonly organizations: OrganizationPlan;
  readonly doubtful: DoubtfulLines;
}

/**
 * Plans one run, with no I/O: which lines are doubtful, then the role and organization plans, both protecting
 * every user a skipped or doubtful line names. What {@link runSync} enqueues is exactly this plan's jobs.
 *
 * @param otherRoles Refs of roles lines name that exist in the tenant but are not managed.
 */
export function planRun(input: {
  readonly name: string;
  readonly desired: DesiredState;
  readonly managed: readonly ManagedRole[];
  readonly otherRoles: ReadonlySet<string>;
  readonly organizations: readonly ManagedOrganization[];
  readonly roleMembers: ReadonlyMap<string, readonly RoleMember[]>;
  readonly organizationMembers: ReadonlyMap<string, readonly OrganizationMember[]>;
  readonly manifest: Manifest;
  readonly limits: SyncLimits;
  readonly approvals: ReadonlySet<string>;
  readonly now: number;
}): RunPlan {
  const { desired, managed, organizations } = input;
  // Lines naming a role that exists nowhere, or an organization not managed, protect their users entirely.
  const doubtful = findDoubtfulLines(desired.users, {
    roles: new Set([...managed.flatMap((role) => [role.ref, role.id, role.name]), ...input.otherRoles]),
    organizations: organizations.length === 0 ? undefined : new Set(organizations.flatMap((organization) => [organization.ref, organization.id, organization.name])),
  });
  const protectedKeys = new Set([...desired.protectedKeys, ...doubtful.protectedKeys]);
  const roles = planSync({
    name: input.name,
    desired: desired.users,
    managed,
    members: input.roleMembers,
    manifest: input.manifest,
    limits: input.limits,
    protectedKeys,
    unattributedSkips: desired.unattributed,
    approvals: input.approvals,
    now: input.now,
  });
  const organizationPlan = planOrganizations({
    name: input.name,
    desired: desired.users,
    organizations,
    members: input.organizationMembers,
    managedRoles: managed,
    limits: input.limits,
    protectedKeys,
    removalsWithheld: roles.removalsWithheld !== undefined,
    approvals: input.approvals,
    job: syncJobMaker(input.name),
  });
  return { roles, organizations: organizationPlan, doubtful };
}
