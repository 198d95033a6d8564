import { createHash } from 'node:crypto';
import type { DesiredUser } from './desired-state.ts';
import { type GroupRemovals, type RemovalLimits, judgeRemovals } from './removal-limit.ts';

/** A managed role, resolved. */
export interface ManagedRole {
  /** As the definition names it (id or name). */
  readonly ref: string;
  readonly id: string;
  readonly name: string;
}

/** A current member of a role, as `GET /api/v2/roles/{id}/users` lists it. */
export interface RoleMember {
  readonly user_id: string;
  readonly email?: string;
}

/** Safety limits of a sync, applied to each role and each organization on its own. */
export type SyncLimits = RemovalLimits;

/** A role whose removals went over its limit. */
export type RoleRemovals = GroupRemovals & { readonly role: string };

/** A job the sync puts on the queue, with the id derived from the change. */
export interface SyncJob {
  readonly jobId: string;
  readonly groupId: string;
  readonly body: Record<string, unknown>;
}

/** What a sync would do, and why it would not remove anything when it would not. */
export interface SyncPlan {
  readonly adds: SyncJob[];
  readonly removes: SyncJob[];
  readonly updates: SyncJob[];
  /** Counts of role changes (a job names one role, except a grant of several roles to a user named by email). */
  readonly roleAdds: number;
  readonly roleRemoves: number;
  /** The roles that would lose more members than their limit: they keep them all; other roles' removals go ahead. */
  readonly removalsBlocked: readonly RoleRemovals[] | undefined;
  /** The roles over their limit whose removals the operator approved: made. */
  readonly removalsApproved: readonly RoleRemovals[];
  /** Set when skipped lines name no user, so any member might be on one: then no removal is planned at all. */
  readonly removalsWithheld: string | undefined;
  /** The manifest after this run: what was last sent to each user. */
  readonly manifest: Manifest;
}

/** What a sync last sent to a user's app_metadata: a hash of it, its keys, and when. */
export interface ManifestEntry {
  readonly hash: string;
  /** The top-level keys sent: a key that leaves the file later is unset (sent as null). */
  readonly keys: readonly string[];
  /** Epoch milliseconds of the run that sent it. */
  readonly sentAt: number;
}

/** The sync's memory between runs, by user key. */
export type Manifest = Readonly<Record<string, ManifestEntry>>;

/**
 * How long a sent app_metadata update is trusted at most: after that it is sent again, so one that was
 * dead-lettered (or changed in the tenant by someone else) is put right within a week. Updates are idempotent.
 */
export const MANIFEST_TRUST_MS = 7 * 24 * 3_600_000;

/** Content hash of a user's app_metadata, stable under key order. */
export function metadataHash(value: Readonly<Record<string, unknown>>): string {
  return createHash('sha256').update(canonical(value)).digest('base64url').slice(0, 22);
}

/**
 * Computes the jobs that bring the managed roles and app_metadata in line with the desired state.
 * Only managed roles are touched; a current member missing from the file loses the role. app_metadata is
 * sent only for users whose line changed since the last successful run (`manifest`). Job ids come from the
 * sync's name and the change itself, so a retried or overlapping run produces the same ids.
 */
export function planSync(input: {
  readonly name: string;
  readonly desired: readonly DesiredUser[];
  readonly managed: readonly ManagedRole[];
  readonly members: ReadonlyMap<string, readonly RoleMember[]>;
  readonly manifest: Manifest;
  readonly limits: SyncLimits;
  /** Users named by skipped or doubtful lines: never removed from a role. */
  readonly protectedKeys?: ReadonlySet<string>;
  /** Skipped lines that name no user: any count withholds every removal. */
  readonly unattributedSkips?: number;
  /** Approval ids the operator gave: a role over its limit whose removals match one loses them. */
  readonly approvals?: ReadonlySet<string>;
  /** The run's time, for the manifest. */
  readonly now: number;
}): SyncPlan {
  const { name, desired, managed, members, limits, now } = input;
  const byRef = new Map<string, ManagedRole>();
  for (const role of managed) {
    byRef.set(role.ref, role);
    byRef.set(role.id, role);
    byRef.set(role.name, role);
  }

  // Which managed role ids each desired user should hold, and how to find the user among members.
  const wanted = new Map<string, Set<string>>();
  const protectedKeys = input.protectedKeys ?? new Set<string>();
  for (const user of desired) wanted.set(user.key, new Set(user.roles.map((ref) => byRef.get(ref)?.id).filter((id): id is string => id !== undefined)));
  const keyOf = (member: RoleMember): string[] => [`id:${member.user_id}`, ...(member.email === undefined ? [] : [`email:${member.email.toLowerCase()}`])];

  const toAdd = new Map<string, { user: DesiredUser; roles: string[] }>();
  const toRemove = new Map<string, { member: RoleMember; roles: string[] }>();
  const removalsBlocked: RoleRemovals[] = [];
  const removalsApproved: RoleRemovals[] = [];
  const blocked = new Set<string>();
  for (const role of managed) {
    const current = members.get(role.id) ?? [];
    const holders = new Set(current.flatMap(keyOf));
    for (const user of desired) {
      if (wanted.get(user.key)?.has(role.id) && !holders.has(user.key)) {
        const entry = toAdd.get(user.key) ?? { user, roles: [] };
        entry.roles.push(role.id);
        toAdd.set(user.key, entry);
      }
    }
    const removed: string[] = [];
    for (const member of current) {
      const keys = keyOf(member);
      if (keys.some((candidate) => protectedKeys.has(candidate))) continue;
      const key = keys.find((candidate) => wanted.has(candidate));
      if (key !== undefined && wanted.get(key)?.has(role.id)) continue;
      // A member an earlier run's assignment will add has no id yet (''): it is named by its email.
      const id = member.user_id === '' ? `email:${member.email ?? ''}` : member.user_id;
      removed.push(id);
      const entry = toRemove.get(id) ?? { member, roles: [] };
      entry.roles.push(role.id);
      toRemove.set(id, entry);
    }
    const verdict = judgeRemovals({ sync: name, group: `role:${role.id}`, members: current.length, removals: removed, limits, approvals: input.approvals ?? new Set() });
    if (verdict.kind === 'within') continue;
    (verdict.kind === 'blocked' ? removalsBlocked : removalsApproved).push({ role: role.name, ...verdict.group });
    if (verdict.kind === 'blocked') blocked.add(role.id);
  }

  const job = syncJobMaker(name);
  const target = (user: DesiredUser) => (user.userId === undefined ? { email: user.email } : { userId: user.userId });

  const adds = groupableGrants([...toAdd.values()]).map(({ user, roles }) => job({ type: 'roles.assign', ...target(user), roles }, user.key));
  const unattributed = input.unattributedSkips ?? 0;
  const removalsWithheld =
    limits.allowRemovals && unattributed > 0
      ? `${unattributed} skipped line(s) name no user, and any member could have been on one: no removal this run; fix the lines`
      : undefined;
  // A role over its limit keeps its members; the user's other roles are removed all the same.
  const removeAllowed = limits.allowRemovals && removalsWithheld === undefined;
  const removes = removeAllowed
    ? [...toRemove.values()].flatMap(({ member, roles: all }) => {
        const roles = all.filter((id) => !blocked.has(id)).sort();
        if (roles.length === 0) return [];
        return [
          member.user_id === ''
            ? job({ type: 'roles.remove', email: member.email ?? '', roles }, `email:${(member.email ?? '').toLowerCase()}`)
            : job({ type: 'roles.remove', userId: member.user_id, roles }, `id:${member.user_id}`),
        ];
      })
    : [];

  // app_metadata: sent when it changed since the last send, or when that send is over a week old (it may
  // have been dead-lettered). Keys the sync sent before and the line no longer has are unset (null).
  // Users not planned this run (their line skipped, or gone) keep their entry: what was sent to them stays known.
  const manifest: Record<string, ManifestEntry> = { ...input.manifest };
  const updates: SyncJob[] = [];
  for (const user of desired) {
    const previous = input.manifest[user.key];
    const metadata = user.appMetadata ?? {};
    const dropped = (previous?.keys ?? []).filter((key) => !Object.hasOwn(metadata, key));
    if (user.appMetadata === undefined && dropped.length === 0) {
      delete manifest[user.key];
      continue;
    }
    const hash = metadataHash(metadata);
    const fresh = previous !== undefined && previous.hash === hash && dropped.length === 0 && now - previous.sentAt < trustFor(user.key);
    if (fresh) {
      manifest[user.key] = previous;
      continue;
    }
    const changes: Record<string, unknown> = { ...metadata };
    for (const key of dropped) changes[key] = null;
    if (Object.keys(changes).length > 0) updates.push(job({ type: 'user.update', ...target(user), changes: { app_metadata: changes } }, user.key));
    if (Object.keys(metadata).length > 0) manifest[user.key] = { hash, keys: Object.keys(metadata).sort(), sentAt: now };
    else delete manifest[user.key];
  }

  return {
    adds,
    removes,
    updates,
    roleAdds: adds.reduce((sum, entry) => sum + (entry.body['roles'] as string[]).length, 0),
    roleRemoves: removes.reduce((sum, entry) => sum + (entry.body['roles'] as string[]).length, 0),
    removalsBlocked: limits.allowRemovals && removalsBlocked.length > 0 ? removalsBlocked : undefined,
    removalsApproved: removeAllowed ? removalsApproved : [],
    removalsWithheld,
    manifest,
  };
}

/**
 * The grants as jobs the worker can share calls between: one role per job, ordered by role, so that the jobs
 * of a batch granting one role go out as one `POST /roles/{id}/users`. A user named by email with several
 * roles keeps one job: each job named by email costs a lookup, and one `POST /users/{id}/roles` carries all
 * of that user's roles.
 */
function groupableGrants(grants: readonly { user: DesiredUser; roles: string[] }[]): { user: DesiredUser; roles: string[] }[] {
  const single = grants.flatMap(({ user, roles }) => (user.userId === undefined && roles.length > 1 ? [] : roles.map((role) => ({ user, roles: [role] }))));
  const several = grants.filter(({ user, roles }) => user.userId === undefined && roles.length > 1).map(({ user, roles }) => ({ user, roles: [...roles].sort() }));
  const byRole = (a: { user: DesiredUser; roles: string[] }, b: { user: DesiredUser; roles: string[] }) =>
    compareText(a.roles[0] ?? '', b.roles[0] ?? '') || compareText(a.user.key, b.user.key);
  return [...single.sort(byRole), ...several];
}

/**
 * Makes a sync's jobs: each id is a hash of the sync's name and the job's body, so a retried or overlapping
 * run produces the same ids.
 */
export function syncJobMaker(name: string): (body: Record<string, unknown>, groupId: string) => SyncJob {
  return (body, groupId) => {
    const jobId = `sync-${createHash('sha256').update(`${name}\n${canonical(body)}`).digest('base64url').slice(0, 32)}`;
    return { jobId, groupId, body: { ...body, jobId, source: `sync:${name}` } };
  };
}

/**
 * How long one user's last send is trusted: between half of {@link MANIFEST_TRUST_MS} and all of it, fixed
 * per user, so that the updates one run sent are not all sent again by the same later run.
 */
function trustFor(userKey: string): number {
  const spread = createHash('sha256').update(userKey).digest().readUInt32BE(0) / 2 ** 32;
  return MANIFEST_TRUST_MS * (0.5 + spread / 2);
}

/** JSON with object keys sorted, so equal content hashes equally. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Orders text by code unit, the same in every locale. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
