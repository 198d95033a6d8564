import { createHash } from 'node:crypto';
import type { DesiredUser } from './desired-state.ts';

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

/** Safety limits of a sync. */
export interface SyncLimits {
  /** Whether the sync may remove roles at all. */
  readonly allowRemovals: boolean;
  /** Most removals from one role, as a share of its current members. Default 0.1. */
  readonly maxRemovalShare: number;
  /** Most removals from one role, as a count (applies with the share: the lower wins). */
  readonly maxRemovals: number;
}

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
  /** Counts of role changes (a job may carry several roles of one user). */
  readonly roleAdds: number;
  readonly roleRemoves: number;
  /** Set when a role would lose more members than the limits allow: then no removal is planned at all. */
  readonly removalsBlocked: { role: string; removals: number; members: number; limit: number } | undefined;
  /** The app_metadata hashes after this run, for the manifest. */
  readonly manifest: Record<string, string>;
}

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
  readonly manifest: Readonly<Record<string, string>>;
  readonly limits: SyncLimits;
}): SyncPlan {
  const { name, desired, managed, members, limits } = input;
  const byRef = new Map<string, ManagedRole>();
  for (const role of managed) {
    byRef.set(role.ref, role);
    byRef.set(role.id, role);
    byRef.set(role.name, role);
  }

  // Which managed role ids each desired user should hold, and how to find the user among members.
  const wanted = new Map<string, Set<string>>();
  for (const user of desired) {
    wanted.set(user.key, new Set(user.roles.map((ref) => byRef.get(ref)?.id).filter((id): id is string => id !== undefined)));
  }
  const keyOf = (member: RoleMember): string[] => [`id:${member.user_id}`, ...(member.email === undefined ? [] : [`email:${member.email.toLowerCase()}`])];

  const toAdd = new Map<string, { user: DesiredUser; roles: string[] }>();
  const toRemove = new Map<string, { userId: string; roles: string[] }>();
  let removalsBlocked: SyncPlan['removalsBlocked'];
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
    let removals = 0;
    for (const member of current) {
      const key = keyOf(member).find((candidate) => wanted.has(candidate));
      if (key !== undefined && wanted.get(key)?.has(role.id)) continue;
      removals += 1;
      const entry = toRemove.get(member.user_id) ?? { userId: member.user_id, roles: [] };
      entry.roles.push(role.id);
      toRemove.set(member.user_id, entry);
    }
    const limit = Math.min(limits.maxRemovals, Math.floor(current.length * limits.maxRemovalShare));
    if (removals > limit && removalsBlocked === undefined) removalsBlocked = { role: role.name, removals, members: current.length, limit };
  }

  const job = (body: Record<string, unknown>, groupId: string): SyncJob => {
    const jobId = `sync-${createHash('sha256').update(`${name}\n${canonical(body)}`).digest('base64url').slice(0, 32)}`;
    return { jobId, groupId, body: { ...body, jobId, source: `sync:${name}` } };
  };
  const target = (user: DesiredUser) => (user.userId === undefined ? { email: user.email } : { userId: user.userId });

  const adds = [...toAdd.values()].map(({ user, roles }) => job({ type: 'roles.assign', ...target(user), roles: roles.sort() }, user.key));
  const removeAllowed = limits.allowRemovals && removalsBlocked === undefined;
  const removes = removeAllowed ? [...toRemove.values()].map(({ userId, roles }) => job({ type: 'roles.remove', userId, roles: roles.sort() }, `id:${userId}`)) : [];

  const manifest: Record<string, string> = {};
  const updates: SyncJob[] = [];
  for (const user of desired) {
    if (user.appMetadata === undefined) continue;
    const hash = metadataHash(user.appMetadata);
    manifest[user.key] = hash;
    if (input.manifest[user.key] !== hash) updates.push(job({ type: 'user.update', ...target(user), changes: { app_metadata: user.appMetadata } }, user.key));
  }

  return {
    adds,
    removes,
    updates,
    roleAdds: adds.reduce((sum, entry) => sum + (entry.body['roles'] as string[]).length, 0),
    roleRemoves: removes.reduce((sum, entry) => sum + (entry.body['roles'] as string[]).length, 0),
    removalsBlocked: limits.allowRemovals ? removalsBlocked : undefined,
    manifest,
  };
}

/** JSON with object keys sorted, so equal content hashes equally. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
