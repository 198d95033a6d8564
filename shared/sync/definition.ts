/**
 * A scheduled sync's definition and its check, apart from the sync itself so that the CDK construct can
 * check definitions at synth without loading the sync's clients.
 */
import { PermanentError } from '../errors.ts';

/** A sync definition: the input of a schedule. */
export interface SyncDefinition {
  /** Names the sync in job ids, reports and logs. */
  readonly name: string;
  /** The desired-state file (JSON Lines). Its manifest and report are written next to it. */
  readonly source: { readonly bucket: string; readonly key: string };
  /** Role ids or names the sync manages; no other role is ever touched, tenant-wide or in an organization. */
  readonly managedRoles: readonly string[];
  /**
   * Organization ids or names whose membership the sync manages (and, within each, members' managed roles).
   * Default none: lines' `organizations` are then ignored.
   */
  readonly managedOrganizations?: readonly string[];
  /** Default false: a sync only adds until told it may remove. */
  readonly allowRemovals?: boolean;
  /** Default 0.1: most of a role's (or a managed organization's) members one run may remove. */
  readonly maxRemovalShare?: number;
  /** Default 1,000: most removals from one role (or organization) in one run, whatever the share. */
  readonly maxRemovals?: number;
  /**
   * Default 1: removals one role (or organization) may always have in a run, however small the share makes
   * its limit (10 % of a 5-person admin role is 0). `maxRemovals` still caps it.
   */
  readonly minRemovals?: number;
  /** Default 0.01: above this share of invalid lines the run aborts. */
  readonly maxInvalidShare?: number;
  /** Default 0.5: most of the tenant's rate-limit bucket the sync's reads may use. */
  readonly readShare?: number;
  /** Default 100 MB: a larger desired-state file aborts the run unread. */
  readonly maxSourceBytes?: number;
  /** Compute and report the plan; enqueue nothing, write no manifest. */
  readonly dryRun?: boolean;
}

/**
 * Checks a sync definition's types and ranges: a string where a boolean belongs (`"false"`, as JSON in
 * `cdk.json` is often written) would otherwise read as true, and a number that is not one would disable a limit.
 *
 * @throws {PermanentError} `invalid_sync_definition`, naming every problem.
 */
export function validateSyncDefinition(definition: SyncDefinition): void {
  const problems: string[] = [];
  const value = definition as unknown as Record<string, unknown>;
  if (typeof definition.name !== 'string' || !/^[\w.-]{1,40}$/.test(definition.name)) problems.push('name must be 1 to 40 letters, digits, ".", "_" or "-"');
  if (typeof definition.source?.bucket !== 'string' || typeof definition.source.key !== 'string') problems.push('source must be {"bucket","key"}');
  if (!Array.isArray(definition.managedRoles) || definition.managedRoles.length === 0 || !definition.managedRoles.every((role) => typeof role === 'string' && role !== '')) {
    problems.push('managedRoles must list at least one role id or name');
  }
  const organizations = value['managedOrganizations'];
  if (organizations !== undefined && !(Array.isArray(organizations) && organizations.every((ref) => typeof ref === 'string' && /^(org_[A-Za-z0-9]+|[a-z0-9_-]{1,50})$/.test(ref)))) {
    problems.push('managedOrganizations must list organization ids (org_…) or names');
  }
  for (const field of ['allowRemovals', 'dryRun'] as const) {
    if (value[field] !== undefined && typeof value[field] !== 'boolean') problems.push(`${field} must be true or false (a JSON boolean, not a string)`);
  }
  for (const field of ['maxRemovalShare', 'maxInvalidShare', 'readShare'] as const) {
    const share = value[field];
    if (share !== undefined && !(typeof share === 'number' && share >= 0 && share <= 1)) problems.push(`${field} must be a number from 0 to 1`);
  }
  for (const field of ['maxRemovals', 'minRemovals', 'maxSourceBytes'] as const) {
    const count = value[field];
    if (count !== undefined && !(typeof count === 'number' && Number.isSafeInteger(count) && count >= 0)) problems.push(`${field} must be a whole number, 0 or more`);
  }
  if (problems.length > 0) throw new PermanentError('invalid_sync_definition', `invalid sync definition: ${problems.join('; ')}`);
}

/**
 * The S3 objects a sync reads and writes beside its source, by what they hold: the construct grants exactly
 * these, so the sync and its permissions cannot drift apart.
 */
export function syncObjectKeys(key: string) {
  return {
    source: key,
    /** What was last sent to each user's app_metadata. */
    manifest: `${key}.manifest.json`,
    /** The last run's report. */
    report: `${key}.report.json`,
    /** Role changes queued by earlier runs and not yet known to be applied. */
    outstanding: `${key}.outstanding.json`,
    /** Approval ids the operator writes to let withheld removals go ahead. Read only. */
    approvals: `${key}.approvals`,
  } as const;
}

/** Which of {@link syncObjectKeys} the sync reads, and which it writes. */
export const SYNC_OBJECT_ACCESS = {
  read: ['source', 'manifest', 'outstanding', 'approvals'],
  write: ['manifest', 'report', 'outstanding'],
} as const satisfies Record<'read' | 'write', ReadonlyArray<keyof ReturnType<typeof syncObjectKeys>>>;
