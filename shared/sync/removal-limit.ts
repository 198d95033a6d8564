/**
 * The sync's removal limit, judged per group (a managed role, or a managed organization): a group that would
 * lose more members than its limit keeps them all this run, and the other groups' removals go ahead. An
 * operator approves one group's withheld removals by the approval id the report gives them; the id is bound
 * to exactly those removals, so it approves nothing else, and nothing once the file or the tenant changed.
 */
import { createHash } from 'node:crypto';

/** Safety limits of a sync's removals. */
export interface RemovalLimits {
  /** Whether the sync may remove at all. */
  readonly allowRemovals: boolean;
  /** Most removals from one group, as a share of its current members. Default 0.1. */
  readonly maxRemovalShare: number;
  /** Most removals from one group, as a count; applies over the others. Default 1,000. */
  readonly maxRemovals: number;
  /**
   * Removals a group may always lose, however small the share makes its limit (a role of 5 admins has a
   * 10 % share of 0). Default 1; at most {@link maxRemovals}.
   */
  readonly minRemovals: number;
}

/** Defaults of the limits a sync definition leaves out. */
export const DEFAULT_REMOVAL_LIMITS: Omit<RemovalLimits, 'allowRemovals'> = { maxRemovalShare: 0.1, maxRemovals: 1_000, minRemovals: 1 };

/** A group whose removals went over its limit: withheld, or approved by the operator. */
export interface GroupRemovals {
  readonly removals: number;
  readonly members: number;
  readonly limit: number;
  /** Put in the sync's approvals object to let the next run make exactly these removals. */
  readonly approval: string;
}

/** What one group may do this run. */
export type GroupVerdict = { readonly kind: 'within' } | { readonly kind: 'blocked' | 'approved'; readonly group: GroupRemovals };

/** Most removals a group of `members` may lose in one run. */
export function removalLimit(members: number, limits: Omit<RemovalLimits, 'allowRemovals'>): number {
  return Math.min(limits.maxRemovals, Math.max(limits.minRemovals, Math.floor(members * limits.maxRemovalShare)));
}

/**
 * Judges one group's removals against its limit and the operator's approvals.
 *
 * @param group Names the group for the approval (`role:rol_…`, `organization:org_…`).
 * @param removals One key per removal (a user, or a user's role there): the approval is bound to them.
 * @param counted How many removals count against the limit (by default, all of them).
 */
export function judgeRemovals(input: {
  readonly sync: string;
  readonly group: string;
  readonly members: number;
  readonly removals: readonly string[];
  readonly counted?: number;
  readonly limits: Omit<RemovalLimits, 'allowRemovals'>;
  readonly approvals: ReadonlySet<string>;
}): GroupVerdict {
  const limit = removalLimit(input.members, input.limits);
  const counted = input.counted ?? input.removals.length;
  if (counted <= limit) return { kind: 'within' };
  const group = { removals: counted, members: input.members, limit, approval: approvalId(input.sync, input.group, input.removals) };
  return { kind: input.approvals.has(group.approval) ? 'approved' : 'blocked', group };
}

/** The id that approves exactly these removals of this group by this sync. */
export function approvalId(sync: string, group: string, removals: readonly string[]): string {
  const digest = createHash('sha256').update(`${sync}\n${group}\n${[...removals].sort().join('\n')}`).digest('base64url');
  return `approve_${digest.slice(0, 24)}`;
}

/** The approval ids in an approvals object: any text, one id or many, separated by anything. */
export function parseApprovals(text: string | undefined): Set<string> {
  return new Set(text?.match(/approve_[A-Za-z0-9_-]{24}/g) ?? []);
}
