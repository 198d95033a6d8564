import type { CallContext, ManagementClient } from '../auth0/client.ts';
import { assignRoles, assignRoleToUsers, changeOrganizationMembers } from '../auth0/operations.ts';
import { PermanentError } from '../errors.ts';

/** A write that takes many users per call: one role to users, or users into or out of one organization. */
export type GroupTarget =
  | { readonly kind: 'role.users'; readonly roleId: string }
  | { readonly kind: 'org.members.add' | 'org.members.remove'; readonly organizationId: string };

/** The invocation's grouped writes: jobs that write the same target share one call. */
export interface WriteGroups {
  /**
   * Adds `userId` to the next call for `target`, and resolves when the write for that user is done, or rejects
   * with the error of the call that isolated it (see {@link createWriteGroups}). The job's slot of the
   * invocation is free while it waits.
   */
  write(target: GroupTarget, userId: string, context: CallContext): Promise<void>;
  /** Sends every open group now: no job of the invocation can join one any more. */
  flushAll(): void;
}

/** Options of {@link createWriteGroups}. */
export interface WriteGroupsOptions {
  readonly client: ManagementClient;
  /** Users per call at most (GROUP_MAX_ITEMS). */
  readonly maxItems: number;
  /** How long a group waits for more users once it has one, in milliseconds, unless flushed sooner. */
  readonly lingerMs: number;
  /** Frees the waiting job's slot of the invocation until `waiting` settles. Default: waits in place. */
  readonly park?: <T>(waiting: Promise<T>) => Promise<T>;
  /** Told of every grouped call: its target and how many users it carried. */
  readonly onCall?: (target: GroupTarget, users: number) => void;
}

/** Default users per grouped call (GROUP_MAX_ITEMS); see docs/behaviour.md, Grouped calls. */
export const DEFAULT_GROUP_MAX_ITEMS = 100;
/** Default linger of an open group, in milliseconds. */
export const DEFAULT_GROUP_LINGER_MS = 250;

interface Waiter {
  readonly userId: string;
  readonly context: CallContext;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

interface OpenGroup {
  readonly target: GroupTarget;
  readonly waiters: Waiter[];
  readonly users: Set<string>;
  readonly timer: ReturnType<typeof setTimeout>;
}

/**
 * Creates an invocation's grouped writes. Jobs that assign one role (`POST /api/v2/roles/{id}/users`) or add
 * users to, or remove them from, one organization (`POST` / `DELETE /api/v2/organizations/{id}/members`) join
 * that target's open group; a group is sent when it holds `maxItems` users, when the invocation goes quiet
 * (every job still running waits for a group: {@link WriteGroups.flushAll}), or `lingerMs` after it opened.
 *
 * Each job keeps its own fate. A grouped call refused for a reason that may concern one user (400, 409, a
 * 404 naming the user) is split in halves, and each half sent again, until the user at fault is alone: only
 * its job gets the error (a role granted to one user goes by `POST /users/{id}/roles`, whose refusal names
 * what is wrong with the user), whether Auth0 refused the whole list or applied the rest (sending a user again is
 * harmless: assigning a role or adding a member twice changes nothing). Anything else (429, 5xx, a dropped
 * connection, a missing scope, a 404 for the role or the organization) fails every job of the call, each
 * to be retried or dead-lettered as it would alone. A token without the scopes of `POST /roles/{id}/users`
 * (update:roles or create:role_members) makes role grants one call per user again, for the container's life.
 *
 * @example
 * const groups = createWriteGroups({ client, maxItems: 100, lingerMs: 250 });
 * await groups.write({ kind: 'role.users', roleId: 'rol_1' }, 'auth0|42', context);
 */
export function createWriteGroups(options: WriteGroupsOptions): WriteGroups {
  const { client, maxItems, lingerMs } = options;
  const park = options.park ?? (<T>(waiting: Promise<T>) => waiting);
  const open = new Map<string, OpenGroup>();

  const flush = (key: string) => {
    const group = open.get(key);
    if (group === undefined) return;
    open.delete(key);
    clearTimeout(group.timer);
    void send(group.target, group.waiters);
  };

  /** Sends one call for `waiters`' users; splits on an error that may concern one of them. */
  const send = async (target: GroupTarget, waiters: readonly Waiter[]): Promise<void> => {
    const users = [...new Set(waiters.map((waiter) => waiter.userId))];
    try {
      await call(target, users, groupContext(waiters));
      options.onCall?.(target, users.length);
      for (const waiter of waiters) waiter.resolve();
    } catch (error) {
      if (users.length > 1 && mayConcernOneUser(error)) {
        // The halves split by user, so that two jobs of one user stay together.
        const firstHalf = new Set(users.slice(0, Math.ceil(users.length / 2)));
        await Promise.all([
          send(target, waiters.filter((waiter) => firstHalf.has(waiter.userId))),
          send(target, waiters.filter((waiter) => !firstHalf.has(waiter.userId))),
        ]);
        return;
      }
      for (const waiter of waiters) waiter.reject(error);
    }
  };

  let roleUsersRefused = false;
  const call = async (target: GroupTarget, users: readonly string[], context: CallContext): Promise<void> => {
    if (target.kind !== 'role.users') {
      await changeOrganizationMembers(client, target.kind === 'org.members.add' ? 'add' : 'remove', target.organizationId, users, context);
      return;
    }
    // One user: the per-user route, whose refusals say what is wrong with that user (404 inexistent_user).
    if (!roleUsersRefused && users.length > 1) {
      try {
        await assignRoleToUsers(client, target.roleId, users, context);
        return;
      } catch (error) {
        if (!(error instanceof PermanentError && error.code === 'insufficient_scope')) throw error;
        roleUsersRefused = true;
      }
    }
    // One user, or a token that may assign roles user by user only (update:users): one call per user.
    const failures = await Promise.allSettled(users.map((userId) => assignRoles(client, userId, [target.roleId], context)));
    const failed = failures.find((outcome) => outcome.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  };

  return {
    write(target, userId, context) {
      const waiting = new Promise<void>((resolve, reject) => {
        const key = target.kind === 'role.users' ? `${target.kind}\n${target.roleId}` : `${target.kind}\n${target.organizationId}`;
        let group = open.get(key);
        if (group === undefined) {
          group = { target, waiters: [], users: new Set(), timer: setTimeout(() => flush(key), lingerMs) };
          open.set(key, group);
        }
        group.waiters.push({ userId, context, resolve, reject });
        group.users.add(userId);
        if (group.users.size >= maxItems) flush(key);
      });
      return park(waiting);
    },
    flushAll() {
      for (const key of [...open.keys()]) flush(key);
    },
  };
}

/** One call's context for several jobs: cut short by any job's signal, started no later than the earliest may start. */
function groupContext(waiters: readonly Waiter[]): CallContext {
  const signals = waiters.map((waiter) => waiter.context.signal).filter((signal) => signal !== undefined);
  const waitUntil = Math.min(...waiters.map((waiter) => waiter.context.waitUntil ?? Number.POSITIVE_INFINITY));
  const first = waiters[0]?.context.correlationId;
  return {
    ...(first === undefined ? {} : { correlationId: waiters.length === 1 ? first : `${first}+${waiters.length - 1}` }),
    ...(signals.length === 0 ? {} : { signal: signals.length === 1 ? signals[0] : AbortSignal.any(signals) }),
    ...(Number.isFinite(waitUntil) ? { waitUntil } : {}),
  };
}

/**
 * Whether a refusal may be about one user of the list: a 400 (a malformed or unknown user id), a 409 (a
 * user's limit), or a 404 that names the user. A 404 for the role or the organization concerns them all.
 */
function mayConcernOneUser(error: unknown): boolean {
  if (!(error instanceof PermanentError)) return false;
  if (error.status === 400 || error.status === 409) return true;
  return error.status === 404 && error.auth0ErrorCode === 'inexistent_user';
}
