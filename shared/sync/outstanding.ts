/**
 * The role changes a sync queued that may not be applied yet. A run plans against the tenant as it will be
 * once those are applied, so that it neither queues one again nor lets one undo what the file says now: a
 * removal queued by run N, still on the queue when run N+1 finds the role restored in the file, is met by an
 * assignment of run N+1, which the ordering ledger lets win because it is newer.
 *
 * Whether a change was applied is read from the ordering ledger (one `GetItem` per user), never from the
 * tenant: the tenant cannot tell a change not applied yet from one applied and then undone.
 */
import type { Ledger } from '../ledger/ledger.ts';
import type { RoleMember, SyncJob } from './plan-sync.ts';

/** A managed-role change a run queued. */
export interface OutstandingChange {
  /** The user, by id when the job named the id, else by email (lower case). */
  readonly userId?: string;
  readonly email?: string;
  readonly roleId: string;
  readonly kind: 'assign' | 'remove';
  /** Epoch milliseconds: the `issuedAt` of the run that queued it, which is its order. */
  readonly issuedAt: number;
}

/**
 * How long a queued change is waited for: the worker's default JOB_MAX_AGE_SECONDS (24 h) and an hour. A
 * change older than that was applied or dead-lettered; the run then plans from the tenant as it is.
 */
export const OUTSTANDING_FOR_MS = 25 * 3_600_000;
/** Ledger reads in flight at once. */
const READS_AT_ONCE = 16;

/** The role changes of a run's jobs, as the next run will wait for them. */
export function changesOf(jobs: readonly SyncJob[], issuedAt: number): OutstandingChange[] {
  const changes: OutstandingChange[] = [];
  for (const { body } of jobs) {
    if (body['type'] !== 'roles.assign' && body['type'] !== 'roles.remove') continue;
    const user = typeof body['userId'] === 'string' ? { userId: body['userId'] } : { email: String(body['email']).toLowerCase() };
    for (const roleId of (body['roles'] as string[] | undefined) ?? []) {
      changes.push({ ...user, roleId, kind: body['type'] === 'roles.assign' ? 'assign' : 'remove', issuedAt });
    }
  }
  return changes;
}

/** Reads a saved list; anything unreadable is no list (the run then plans from the tenant as it is). */
export function parseOutstanding(text: string | undefined): OutstandingChange[] {
  if (text === undefined) return [];
  try {
    const raw = JSON.parse(text) as unknown;
    return Array.isArray(raw) ? raw.filter(isChange) : [];
  } catch {
    return [];
  }
}

/**
 * The changes of `queued` still waiting to be applied: younger than {@link OUTSTANDING_FOR_MS}, and not yet
 * recorded in the ledger at or after their order (a job of theirs left pending by a failure still waits). A
 * change by email is looked for under the user id the role's members give that email; an assignment whose
 * user is not among the members is still waiting, a removal is not.
 */
export async function stillOutstanding(
  queued: readonly OutstandingChange[],
  options: { readonly ledger: Pick<Ledger, 'read'>; readonly members: ReadonlyMap<string, readonly RoleMember[]>; readonly now: number },
): Promise<OutstandingChange[]> {
  const idsByEmail = new Map<string, string>();
  for (const list of options.members.values()) for (const member of list) if (member.email !== undefined) idsByEmail.set(member.email.toLowerCase(), member.user_id);
  const recent = queued.filter((change) => options.now - change.issuedAt < OUTSTANDING_FOR_MS);
  const userIds = [...new Set(recent.map((change) => change.userId ?? idsByEmail.get(change.email ?? '')).filter((id): id is string => id !== undefined))];
  const ledgers = new Map<string, Awaited<ReturnType<Ledger['read']>>>();
  for (let first = 0; first < userIds.length; first += READS_AT_ONCE) {
    await Promise.all(userIds.slice(first, first + READS_AT_ONCE).map(async (userId) => ledgers.set(userId, await options.ledger.read(userId))));
  }
  return recent.filter((change) => {
    const userId = change.userId ?? idsByEmail.get(change.email ?? '');
    if (userId === undefined) return change.kind === 'assign';
    const entry = ledgers.get(userId)?.attributes[`role:${change.roleId}`];
    if (entry === undefined) return true;
    const at = Number(entry.o.slice(0, 15));
    // Recorded at its order and done, or overtaken by a newer job: no longer waiting.
    return !(at > change.issuedAt || (at === change.issuedAt && entry.p !== true));
  });
}

/** The role members as they will be once `changes` are applied. */
export function membersAfter(members: ReadonlyMap<string, readonly RoleMember[]>, changes: readonly OutstandingChange[]): Map<string, RoleMember[]> {
  const after = new Map([...members].map(([roleId, list]) => [roleId, [...list]]));
  const same = (member: RoleMember, change: OutstandingChange) => (change.userId !== undefined ? member.user_id === change.userId : member.email?.toLowerCase() === change.email);
  for (const change of changes) {
    const list = after.get(change.roleId);
    if (list === undefined) continue;
    const at = list.findIndex((member) => same(member, change));
    if (change.kind === 'remove' && at >= 0) list.splice(at, 1);
    // A member known by email only has no id yet: '' (the plan then names the user by email).
    if (change.kind === 'assign' && at < 0) list.push({ user_id: change.userId ?? '', ...(change.email === undefined ? {} : { email: change.email }) });
  }
  return after;
}

/**
 * The list the next run waits for: this run's changes, and the earlier ones still waiting that this run did not
 * overtake (a change of the same user and role).
 */
export function nextOutstanding(waiting: readonly OutstandingChange[], queued: readonly OutstandingChange[]): OutstandingChange[] {
  const key = (change: OutstandingChange) => `${change.userId ?? `email:${change.email}`} ${change.roleId}`;
  const overtaken = new Set(queued.map(key));
  return [...waiting.filter((change) => !overtaken.has(key(change))), ...queued];
}

function isChange(value: unknown): value is OutstandingChange {
  const change = value as Partial<OutstandingChange> | null;
  return (
    typeof change === 'object' && change !== null && typeof change.roleId === 'string' && (change.kind === 'assign' || change.kind === 'remove') &&
    typeof change.issuedAt === 'number' && (typeof change.userId === 'string' || typeof change.email === 'string')
  );
}
