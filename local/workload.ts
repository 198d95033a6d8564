/**
 * The demo tenant and workload: seeded users and roles, a mix of jobs (valid, invalid, and for users that
 * do not exist), and the end state and dead letters the jobs ask for. Valid jobs are generated so that
 * they commute (no two touch the same metadata key or the same user-role pair), so the expected end state
 * holds in any delivery order, as a standard queue may deliver.
 */
import type { TenantOrganization, TenantRole, TenantState, TenantUser } from './tenant/state.ts';
import { addOrganization, addRole, addUser, rolesOf } from './tenant/state.ts';

/** A deterministic random source, so a run can be repeated with `--seed`. */
export function createRandom(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    // xorshift32
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4_294_967_296;
  };
}

const ROLE_NAMES = ['support-agent', 'billing-admin', 'sales', 'marketing', 'engineering', 'read-only', 'auditor', 'partner', 'beta-tester', 'admin'];
export const CONNECTION = 'Username-Password-Authentication';

/** Seeds users and roles, each user holding one or two roles. */
export function seedTenant(state: TenantState, options: { users: number; roles: number; organizations?: number; organizationMembers?: boolean; random: () => number }) {
  const roles: TenantRole[] = [];
  for (let n = 0; n < options.roles; n++) roles.push(addRole(state, { name: ROLE_NAMES[n] ?? `role-${n}`, description: 'demo role' }));
  const users: TenantUser[] = [];
  for (let n = 0; n < options.users; n++) {
    const user = addUser(state, { email: `user-${String(n).padStart(5, '0')}@example.com`, connection: CONNECTION, app_metadata: { plan: 'free' }, name: `User ${n}` });
    users.push(user);
    for (let r = 0; r < 1 + Math.floor(options.random() * 2); r++) {
      const role = roles[Math.floor(options.random() * roles.length)];
      if (role !== undefined) state.members.get(role.id)?.add(user.user_id);
    }
  }
  // Organizations come last and draw no random numbers, so a seed's users and roles stay what they were.
  // Every fourth user is a member of one of them, every eighth with a role there.
  const organizations: TenantOrganization[] = [];
  for (let n = 0; n < (options.organizations ?? 0); n++) organizations.push(addOrganization(state, { name: `org-${String(n + 1).padStart(3, '0')}`, display_name: `Customer ${n + 1}` }));
  if (options.organizationMembers && organizations.length > 0) {
    users.forEach((user, index) => {
      const organization = organizations[(index / 4) % organizations.length | 0];
      const role = roles[index % Math.max(1, roles.length)];
      if (index % 4 !== 0 || organization === undefined) return;
      state.organizationMembers.get(organization.id)?.set(user.user_id, new Set(index % 8 === 0 && role !== undefined ? [role.id] : []));
    });
  }
  return { users, roles, organizations };
}

/** One job to enqueue. */
export interface WorkloadJob {
  readonly jobId: string;
  readonly body: string;
  /** Message group on a FIFO queue: the user the job addresses. */
  readonly groupId: string;
  /** The dead-letter reason the job must end with, or undefined for a job that must apply. */
  readonly expectedReason: string | undefined;
  /** What a job that must apply changes on the tenant, so that one can tell whether it was applied. */
  readonly effect?: JobEffect;
  /** Seconds SQS holds the message before delivering it (standard queues only). */
  readonly delaySeconds?: number;
}

/** The one change a valid job makes: one metadata key of one user, or one user-role pair. */
export type JobEffect =
  | { readonly kind: 'metadata'; readonly userId: string; readonly key: string; readonly value: unknown }
  | { readonly kind: 'role'; readonly userId: string; readonly roleId: string; readonly held: boolean }
  | { readonly kind: 'membership'; readonly userId: string; readonly organizationId: string; readonly member: boolean }
  | { readonly kind: 'organization-role'; readonly userId: string; readonly organizationId: string; readonly roleId: string; readonly held: boolean };

/** What the tenant must look like once every job is done. */
export interface ExpectedState {
  readonly appMetadata: Map<string, Record<string, unknown>>;
  readonly roles: Map<string, Set<string>>;
  /** With organization jobs: organization id → member user id → role ids held there. */
  readonly organizations?: Map<string, Map<string, Set<string>>>;
}

/**
 * Generates `count` jobs against the seeded tenant: a mix of valid and failing jobs, or with `validOnly`
 * only jobs that must apply (then `expected` is exactly what those jobs ask for).
 */
export function generateWorkload(
  state: TenantState,
  seeded: { users: TenantUser[]; roles: TenantRole[]; organizations?: TenantOrganization[] },
  options: { jobs: number; random: () => number; validOnly?: boolean; organizationJobs?: boolean; /** Default 0.15. */ organizationShare?: number },
) {
  const { random } = options;
  const organizations = options.organizationJobs ? (seeded.organizations ?? []) : [];
  const expected: ExpectedState = {
    appMetadata: new Map(),
    roles: new Map(),
    ...(organizations.length === 0
      ? {}
      : { organizations: new Map(organizations.map((organization) => [organization.id, new Map([...(state.organizationMembers.get(organization.id) ?? new Map<string, Set<string>>())].map(([userId, held]) => [userId, new Set(held)]))])) }),
  };
  for (const user of seeded.users) {
    expected.appMetadata.set(user.user_id, structuredClone(user.app_metadata));
    expected.roles.set(user.user_id, new Set(rolesOf(state, user.user_id).map((role) => role.id)));
  }
  const touched = new Set<string>();
  const jobs: WorkloadJob[] = [];
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;

  for (let n = 0; jobs.length < options.jobs; n++) {
    const jobId = `demo-${String(n).padStart(5, '0')}`;
    const user = pick(seeded.users);
    const roll = random();
    const add = (job: Record<string, unknown>, expectedReason?: string, effect?: JobEffect, groupId = user.user_id) =>
      jobs.push({ jobId, body: JSON.stringify({ ...job, jobId, source: 'demo' }), groupId, expectedReason, ...(effect === undefined ? {} : { effect }) });

    // Organization jobs draw one more number, only when asked for, so other workloads keep their sequence.
    if (expected.organizations !== undefined && random() < (options.organizationShare ?? 0.15)) {
      const organization = pick(organizations);
      const members = expected.organizations.get(organization.id)!;
      const orgRef = random() < 0.5 ? organization.id : organization.name;
      const target = random() < 0.2 ? { email: user.email } : { userId: user.user_id };
      const pair = `${user.user_id} ${organization.id}`;
      const kind = random();
      if (kind < 0.08) {
        if (!options.validOnly) add({ type: 'org.members.add', ...target, organization: `missing-org-${n % 3}` }, 'organization_not_found');
        continue;
      }
      // Each user-organization pair at most once, so no two jobs race on one membership.
      if (touched.has(pair)) continue;
      touched.add(pair);
      const held = members.get(user.user_id);
      const role = pick(seeded.roles);
      if (held === undefined) {
        if (kind < 0.16) {
          if (!options.validOnly) add({ type: 'org.roles.assign', ...target, organization: orgRef, roles: [role.name] }, 'not_a_member');
        } else {
          const roles = random() < 0.5 ? [role.id] : [];
          members.set(user.user_id, new Set(roles));
          add({ type: 'org.members.add', ...target, organization: orgRef, ...(roles.length > 0 ? { roles: [role.name] } : {}) }, undefined, { kind: 'membership', userId: user.user_id, organizationId: organization.id, member: true });
        }
      } else if (kind < 0.4) {
        members.delete(user.user_id);
        add({ type: 'org.members.remove', ...target, organization: orgRef }, undefined, { kind: 'membership', userId: user.user_id, organizationId: organization.id, member: false });
      } else if (held.has(role.id)) {
        held.delete(role.id);
        add({ type: 'org.roles.remove', ...target, organization: orgRef, roles: [role.name] }, undefined, { kind: 'organization-role', userId: user.user_id, organizationId: organization.id, roleId: role.id, held: false });
      } else {
        held.add(role.id);
        add({ type: 'org.roles.assign', ...target, organization: orgRef, roles: [role.id] }, undefined, { kind: 'organization-role', userId: user.user_id, organizationId: organization.id, roleId: role.id, held: true });
      }
      continue;
    }
    if (roll < 0.45) {
      // user.update: a fresh metadata key per job, addressed by id or (one in five) by email
      const key = `k${n}`;
      const value = Math.floor(random() * 1000);
      expected.appMetadata.get(user.user_id)![key] = value;
      const target = random() < 0.2 ? { email: user.email, connection: CONNECTION } : { userId: user.user_id };
      add({ type: 'user.update', ...target, changes: { app_metadata: { [key]: value } } }, undefined, { kind: 'metadata', userId: user.user_id, key, value });
    } else if (roll < 0.85) {
      // roles.assign or roles.remove, by name or by id, each user-role pair at most once
      const role = pick(seeded.roles);
      if (touched.has(`${user.user_id} ${role.id}`)) continue;
      touched.add(`${user.user_id} ${role.id}`);
      const held = expected.roles.get(user.user_id)!;
      const ref = random() < 0.5 ? role.name : role.id;
      if (held.has(role.id)) held.delete(role.id);
      else held.add(role.id);
      add({ type: held.has(role.id) ? 'roles.assign' : 'roles.remove', userId: user.user_id, roles: [ref] }, undefined, { kind: 'role', userId: user.user_id, roleId: role.id, held: held.has(role.id) });
    } else if (options.validOnly) {
      continue;
    } else if (roll < 0.93) {
      // users that do not exist: by id (Auth0 answers 404) and by email (no match)
      if (random() < 0.5) add({ type: 'user.update', userId: `auth0|missing${n}`, changes: { blocked: true } }, 'http_404', undefined, `missing-${n}`);
      else add({ type: 'roles.assign', email: `nobody-${n}@example.com`, roles: ['sales'] }, 'user_not_found', undefined, `missing-${n}`);
    } else {
      // bad input, each with the reason it must be dead-lettered with
      const bad = INVALID[n % INVALID.length]!;
      jobs.push({ jobId, body: bad.body(user.user_id, jobId), groupId: user.user_id, expectedReason: bad.reason });
    }
  }
  return { jobs, expected, touched };
}

/** How the older job of an out-of-order pair comes to arrive after the newer one. */
export type LateBy = 'delay' | 'throttle';

/** Pairs of jobs for one user and one attribute, the older sent or applied after the newer. */
export interface OutOfOrderPairs {
  readonly jobs: WorkloadJob[];
  /** The older jobs' writes the tenant must answer 429 the first time: `PATCH userId key=older`, `POST userId roleId`. */
  readonly throttle: Set<string>;
  readonly count: number;
}

/**
 * Jobs sent out of order on purpose, `count` pairs for one user each: a metadata key or a role, the older job
 * (issuedAt one second earlier) either sent after the newer one and delayed on the queue (on FIFO, simply sent
 * after it in the user's group), or sent first and throttled on its first write so that it comes back later. Each pair
 * touches an attribute no other job touches, and `expected` is set to the newer job's value: the end-state
 * check then proves that the newest job won.
 */
export function generateOutOfOrderPairs(
  seeded: { users: TenantUser[]; roles: TenantRole[] },
  expected: ExpectedState,
  touched: Set<string>,
  options: { count: number; random: () => number; fifo?: boolean; now?: number },
): OutOfOrderPairs {
  const { random } = options;
  const base = (options.now ?? Date.now()) - 60_000;
  const jobs: WorkloadJob[] = [];
  const throttle = new Set<string>();
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  let pairs = 0;
  for (let n = 0; pairs < options.count && n < options.count * 20; n++) {
    const user = pick(seeded.users);
    const lateBy: LateBy = n % 2 === 0 ? 'delay' : 'throttle';
    const newer = { issuedAt: new Date(base + n * 10 + 2_000).toISOString(), source: 'demo-pairs' };
    const older = { issuedAt: new Date(base + n * 10 + 1_000).toISOString(), source: 'demo-pairs' };
    const delay = lateBy === 'delay' && !options.fifo ? { delaySeconds: 2 + Math.floor(random() * 5) } : {};
    // A delayed older job is sent after its newer one; a throttled one first, its write answered 429 once.
    const add = (jobId: string, body: Record<string, unknown>, extra: Partial<WorkloadJob> = {}) => {
      const job = { jobId, body: JSON.stringify({ ...body, jobId }), groupId: user.user_id, expectedReason: undefined, ...extra };
      if (lateBy === 'throttle' && jobId.endsWith('-older')) jobs.splice(jobs.length - 1, 0, job);
      else jobs.push(job);
    };
    if (n % 4 < 2) {
      const key = `late${n}`;
      expected.appMetadata.get(user.user_id)![key] = 'newer';
      add(`pair-${n}-newer`, { type: 'user.update', userId: user.user_id, changes: { app_metadata: { [key]: 'newer' } }, ...newer }, { effect: { kind: 'metadata', userId: user.user_id, key, value: 'newer' } });
      add(`pair-${n}-older`, { type: 'user.update', userId: user.user_id, changes: { app_metadata: { [key]: 'older' } }, ...older }, delay);
      if (lateBy === 'throttle') throttle.add(`PATCH ${user.user_id} ${key}=older`);
    } else {
      const role = pick(seeded.roles);
      if (touched.has(`${user.user_id} ${role.id}`)) continue;
      touched.add(`${user.user_id} ${role.id}`);
      const held = expected.roles.get(user.user_id)!;
      // The newer job flips the role; the older one, arriving late, would flip it back.
      const keep = !held.has(role.id);
      if (keep) held.add(role.id);
      else held.delete(role.id);
      add(`pair-${n}-newer`, { type: keep ? 'roles.assign' : 'roles.remove', userId: user.user_id, roles: [role.id], ...newer }, { effect: { kind: 'role', userId: user.user_id, roleId: role.id, held: keep } });
      add(`pair-${n}-older`, { type: keep ? 'roles.remove' : 'roles.assign', userId: user.user_id, roles: [role.id], ...older }, delay);
      if (lateBy === 'throttle') throttle.add(`${keep ? 'DELETE' : 'POST'} ${user.user_id} ${role.id}`);
    }
    pairs += 1;
  }
  return { jobs, throttle, count: pairs };
}

/**
 * The tenant's answer to a write of an older job of an out-of-order pair, the first time: 429, as a busy
 * tenant answers, so that the job comes back after the newer one was applied. Undefined for any other request.
 */
export function throttleOlderWrite(pairs: Pick<OutOfOrderPairs, 'throttle'>, request: { method: string; route: string; params: readonly string[]; body: Record<string, unknown> }) {
  const userId = request.params[0] ?? '';
  // The older job's own write: its metadata value, or its way round for the role (the newer job's is the other).
  const writes =
    request.route === 'PATCH /api/v2/users/{id}' ? Object.entries((request.body['app_metadata'] as Record<string, unknown> | undefined) ?? {}).map(([key, value]) => `PATCH ${userId} ${key}=${String(value)}`)
    : request.route === 'POST /api/v2/users/{id}/roles' || request.route === 'DELETE /api/v2/users/{id}/roles' ? ((request.body['roles'] as string[] | undefined) ?? []).map((role) => `${request.method} ${userId} ${role}`)
    : [];
  const hit = writes.find((write) => pairs.throttle.has(write));
  if (hit === undefined) return undefined;
  pairs.throttle.delete(hit);
  return {
    status: 429,
    body: { statusCode: 429, error: 'Too Many Requests', message: 'Global limit has been reached', errorCode: 'too_many_requests' },
    headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000) + 1) },
  };
}

const INVALID: ReadonlyArray<{ reason: string; body: (userId: string, jobId: string) => string }> = [
  { reason: 'malformed_json', body: (userId, jobId) => `{"jobId":"${jobId}","type":"user.update","userId":"${userId}",` },
  { reason: 'unknown_type', body: (userId, jobId) => JSON.stringify({ type: 'user.delete', userId, jobId }) },
  { reason: 'invalid_target', body: (userId, jobId) => JSON.stringify({ type: 'roles.assign', userId, email: 'x@example.com', roles: ['sales'], jobId }) },
  { reason: 'field_not_allowed', body: (userId, jobId) => JSON.stringify({ type: 'user.update', userId, changes: { password: 'Sup3r-secret!' }, jobId }) },
  { reason: 'forbidden_key', body: (userId, jobId) => `{"type":"user.update","userId":${JSON.stringify(userId)},"jobId":"${jobId}","changes":{"app_metadata":{"__proto__":{"admin":true}}}}` },
  { reason: 'invalid_user_id', body: (_, jobId) => JSON.stringify({ type: 'roles.assign', userId: 'auth0|../../roles', roles: ['sales'], jobId }) },
  { reason: 'role_not_found', body: (userId, jobId) => JSON.stringify({ type: 'roles.assign', userId, roles: ['no-such-role'], jobId }) },
];

/** Whether the tenant shows the change a valid job asks for (false for a job without an effect). */
export function isApplied(state: TenantState, job: Pick<WorkloadJob, 'effect'>): boolean {
  const { effect } = job;
  if (effect === undefined) return false;
  if (effect.kind === 'metadata') {
    const metadata = state.users.get(effect.userId)?.app_metadata;
    return metadata !== undefined && Object.hasOwn(metadata, effect.key) && metadata[effect.key] === effect.value;
  }
  if (effect.kind === 'membership') return (state.organizationMembers.get(effect.organizationId)?.has(effect.userId) ?? false) === effect.member;
  if (effect.kind === 'organization-role') return (state.organizationMembers.get(effect.organizationId)?.get(effect.userId)?.has(effect.roleId) ?? false) === effect.held;
  return (state.members.get(effect.roleId)?.has(effect.userId) ?? false) === effect.held;
}

/**
 * A backlog of one kind of job for the bulk benchmarks: `roles.assign` of one role (one of the first
 * `targets` seeded roles) to a user who does not hold it, or `org.members.add` of a user who is not a member
 * to one of the first `targets` organizations; each user-target pair once, every job with its effect.
 */
export function generateBulkWorkload(
  state: TenantState,
  seeded: { users: TenantUser[]; roles: TenantRole[]; organizations?: TenantOrganization[] },
  options: { kind: 'roles-assign' | 'org-members-add'; jobs: number; targets: number; random: () => number },
) {
  const targets = (options.kind === 'roles-assign' ? seeded.roles : (seeded.organizations ?? [])).slice(0, options.targets);
  const expected: ExpectedState = {
    appMetadata: new Map(seeded.users.map((user) => [user.user_id, structuredClone(user.app_metadata)])),
    roles: new Map(seeded.users.map((user) => [user.user_id, new Set(rolesOf(state, user.user_id).map((role) => role.id))])),
    ...(options.kind === 'org-members-add'
      ? { organizations: new Map(targets.map((target) => [target.id, new Map([...(state.organizationMembers.get(target.id) ?? new Map<string, Set<string>>())].map(([userId, held]) => [userId, new Set(held)]))])) }
      : {}),
  };
  const jobs: WorkloadJob[] = [];
  const taken = new Set<string>();
  for (let n = 0; jobs.length < options.jobs && n < options.jobs * 20; n++) {
    const user = seeded.users[Math.floor(options.random() * seeded.users.length)];
    const target = targets[Math.floor(options.random() * targets.length)];
    if (user === undefined || target === undefined || taken.has(`${user.user_id} ${target.id}`)) continue;
    taken.add(`${user.user_id} ${target.id}`);
    const jobId = `bulk-${String(n).padStart(5, '0')}`;
    if (options.kind === 'roles-assign') {
      const held = expected.roles.get(user.user_id) ?? new Set<string>();
      if (held.has(target.id)) continue;
      held.add(target.id);
      const body = { type: 'roles.assign', userId: user.user_id, roles: [target.id], jobId, source: 'bench' };
      jobs.push({ jobId, body: JSON.stringify(body), groupId: user.user_id, expectedReason: undefined, effect: { kind: 'role', userId: user.user_id, roleId: target.id, held: true } });
    } else {
      const members = expected.organizations?.get(target.id);
      if (members === undefined || members.has(user.user_id)) continue;
      members.set(user.user_id, new Set());
      const body = { type: 'org.members.add', userId: user.user_id, organization: target.id, jobId, source: 'bench' };
      jobs.push({ jobId, body: JSON.stringify(body), groupId: user.user_id, expectedReason: undefined, effect: { kind: 'membership', userId: user.user_id, organizationId: target.id, member: true } });
    }
  }
  return { jobs, expected };
}

/** Compares the tenant with the expected state; returns one line per difference. */
export function compareState(state: TenantState, expected: ExpectedState): string[] {
  const differences: string[] = [];
  for (const [userId, metadata] of expected.appMetadata) {
    const actual = state.users.get(userId)?.app_metadata;
    if (JSON.stringify(sortKeys(actual ?? {})) !== JSON.stringify(sortKeys(metadata))) differences.push(`${userId}: app_metadata differs`);
  }
  for (const [userId, roles] of expected.roles) {
    const actual = new Set(rolesOf(state, userId).map((role) => role.id));
    if (actual.size !== roles.size || [...roles].some((id) => !actual.has(id))) differences.push(`${userId}: roles differ`);
  }
  for (const [organizationId, members] of expected.organizations ?? []) {
    const actual = state.organizationMembers.get(organizationId) ?? new Map<string, Set<string>>();
    for (const userId of new Set([...members.keys(), ...actual.keys()])) {
      const want = members.get(userId);
      const have = actual.get(userId);
      if ((want === undefined) !== (have === undefined)) differences.push(`${userId}: membership of ${organizationId} differs`);
      else if (want !== undefined && have !== undefined && (want.size !== have.size || [...want].some((id) => !have.has(id)))) differences.push(`${userId}: roles in ${organizationId} differ`);
    }
  }
  return differences;
}

function sortKeys(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * A desired-state file for a seeded tenant: every user with its current managed roles, one in 20 gaining
 * a managed role, one in 60 losing one (unless `changes` is false), one in 10 carrying app_metadata; a third
 * of the lines by email.
 */
export function generateDesiredState(state: TenantState, users: readonly TenantUser[], managed: readonly TenantRole[], options: { changes?: boolean } = {}) {
  const changes = options.changes ?? true;
  const managedIds = new Set(managed.map((role) => role.id));
  const expected = { roleAdds: 0, roleRemoves: 0, addUsers: 0, removeUsers: 0, updates: 0, roles: new Map<string, Set<string>>() };
  const lines = users.map((user, n) => {
    const current = rolesOf(state, user.user_id).map((role) => role.id);
    const wanted = new Set(current.filter((id) => managedIds.has(id)));
    const extra = managed[n % managed.length];
    if (changes && n % 20 === 0 && extra !== undefined && !wanted.has(extra.id)) {
      wanted.add(extra.id);
      expected.roleAdds += 1;
      expected.addUsers += 1;
    } else if (changes && n % 60 === 1 && wanted.size > 0) {
      wanted.delete([...wanted][0] ?? '');
      expected.roleRemoves += 1;
      expected.removeUsers += 1;
    }
    expected.roles.set(user.user_id, wanted);
    const roleRefs = [...wanted].map((id) => (n % 2 === 0 ? id : (state.roles.get(id)?.name ?? id)));
    const line: Record<string, unknown> =
      n % 3 === 0 ? { email: user.email, roles: [...roleRefs, ...current.filter((id) => !managedIds.has(id))] } : { userId: user.user_id, roles: roleRefs };
    if (n % 10 === 0) {
      line['app_metadata'] = { plan: 'pro', seats: n };
      expected.updates += 1;
    }
    return JSON.stringify(line);
  });
  return { lines, expected };
}
