import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Auth0Plan } from '../auth0/plans.ts';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { ManagementClient } from '../auth0/client.ts';
import { findOrganization, findRoleByName } from '../auth0/operations.ts';
import { PermanentError } from '../errors.ts';
import type { Ledger } from '../ledger/ledger.ts';
import { sendJobs } from '../producer/send-jobs.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { type SyncDefinition, syncObjectKeys, validateSyncDefinition } from './definition.ts';
import { type DesiredUser, parseDesiredState } from './desired-state.ts';
import { type ManagedRole, type Manifest, type ManifestEntry, type RoleMember, type RoleRemovals, type SyncJob } from './plan-sync.ts';
import { planRun } from './plan-run.ts';
import { changesOf, membersAfter, nextOutstanding, parseOutstanding, stillOutstanding } from './outstanding.ts';
import type { ManagedOrganization, OrganizationMember, OrganizationRemovals } from './plan-organizations.ts';
import { DEFAULT_REMOVAL_LIMITS, parseApprovals } from './removal-limit.ts';
import { createReadPacer, readOrganizationMembers, readRoleMembers } from './read-members.ts';

/** What a run did; written to S3 next to the source, logged, and published as metrics. */
export interface SyncReport {
  readonly name: string;
  readonly runId: string;
  readonly dryRun: boolean;
  /** Why the run stopped before enqueueing, if it did. */
  readonly aborted: string | undefined;
  readonly lines: number;
  readonly skippedLines: ReadonlyArray<{ line: number; reason: string }>;
  readonly roleAdds: number;
  readonly roleRemoves: number;
  readonly metadataUpdates: number;
  readonly jobsEnqueued: number;
  /**
   * The roles over their removal limit: each keeps its members this run (other roles' removals go ahead),
   * with the approval id that lets the next run make exactly those removals.
   */
  readonly removalsBlocked: readonly RoleRemovals[] | undefined;
  /** Set when removals were withheld because skipped lines name no user. */
  readonly removalsWithheld?: string | undefined;
  /** The roles and organizations over their limit whose removals the operator approved, and that were made. */
  readonly removalsApproved?: ReadonlyArray<RoleRemovals | OrganizationRemovals>;
  /** What an operator does about withheld removals; set when some were. */
  readonly removalsAdvice?: string | undefined;
  /** Lines naming roles that exist nowhere; their users lost no role and no membership. */
  readonly unknownRoles?: ReadonlyArray<{ line: number; role: string }>;
  /** Lines naming organizations the sync does not manage; their users lost no role and no membership. */
  readonly unknownOrganizations?: ReadonlyArray<{ line: number; organization: string }>;
  /** With managedOrganizations: the membership and organization-role changes planned. */
  readonly organizations?: {
    readonly memberAdds: number;
    readonly memberRemoves: number;
    readonly roleAssigns: number;
    readonly roleRemoves: number;
    /** The organizations over their removal limit, as {@link SyncReport.removalsBlocked} for roles. */
    readonly removalsBlocked: readonly OrganizationRemovals[] | undefined;
  };
  /**
   * Role changes earlier runs queued that were not applied yet when this run read the tenant: planned as done,
   * so they were not queued again, and a line that changed since got a newer change. Absent without a ledger.
   */
  readonly outstanding?: number | undefined;
  /** Set when the manifest could not be read: every app_metadata update was sent again. */
  readonly manifestUnreadable?: string | undefined;
  readonly readsSpent: number;
  readonly lowestRemaining: number | undefined;
  readonly durationMs: number;
}

/** What {@link runSync} needs. */
export interface SyncDeps {
  readonly s3: Pick<S3Client, 'send'>;
  readonly sqs: Pick<SQSClient, 'send'>;
  readonly queueUrl: string;
  readonly client: ManagementClient;
  readonly logger: Pick<Logger, 'info' | 'warn'>;
  readonly metrics: Metrics;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  /**
   * The ordering ledger, read to learn which role changes of earlier runs are applied. Without it (a deployment
   * with `ordering: 'unordered'`), a run plans from the tenant as it is.
   */
  readonly ledger?: Pick<Ledger, 'read'> | undefined;
  /** The tenant's plan (AUTH0_PLAN), whose buckets the reads are paced by; unset, learnt from the answers. */
  readonly plan?: Auth0Plan | undefined;
}

/** Most skipped lines named in a report. */
export { type SyncDefinition, validateSyncDefinition } from './definition.ts';

const REPORTED_LINES = 100;

/**
 * Runs one sync: reads the desired state, the managed roles' members (paced) and the manifest, plans the
 * jobs, puts them on the jobs queue in batches of ten, then writes the manifest and the report.
 *
 * @example
 * const report = await runSync(definition, deps);
 */
export async function runSync(definition: SyncDefinition, deps: SyncDeps): Promise<SyncReport> {
  validateSyncDefinition(definition);
  const started = deps.now();
  const runId = new Date(started).toISOString().replace(/[:.]/g, '-');
  const { bucket, key } = definition.source;
  const objects = syncObjectKeys(key);
  const pacer = createReadPacer({ client: deps.client, readShare: definition.readShare ?? 0.5, now: deps.now, sleep: deps.sleep, plan: deps.plan });

  const maxSourceBytes = definition.maxSourceBytes ?? DEFAULT_MAX_SOURCE_BYTES;
  const source = await readObject(deps.s3, bucket, key, maxSourceBytes);
  if (source === undefined) throw new PermanentError('source_missing', `sync ${definition.name}: s3://${bucket}/${key} does not exist`);
  const desired = parseDesiredState(source === TOO_LARGE ? '' : source);
  const base = { name: definition.name, runId, dryRun: definition.dryRun ?? false, lines: desired.lines, skippedLines: desired.invalid.slice(0, REPORTED_LINES) };
  const finish = async (report: Omit<SyncReport, keyof typeof base | 'durationMs' | 'readsSpent' | 'lowestRemaining'>): Promise<SyncReport> => {
    const full: SyncReport = { ...base, ...report, readsSpent: pacer.reads, lowestRemaining: pacer.lowestRemaining, durationMs: deps.now() - started };
    await deps.s3.send(new PutObjectCommand({ Bucket: bucket, Key: objects.report, Body: JSON.stringify(full, null, 2), ContentType: 'application/json' }));
    deps.metrics.add('SyncRoleAdds', full.roleAdds);
    deps.metrics.add('SyncRoleRemoves', full.roleRemoves);
    deps.metrics.add('SyncMetadataUpdates', full.metadataUpdates);
    deps.metrics.add('SyncSkippedLines', desired.invalid.length);
    deps.metrics.add('SyncReads', full.readsSpent);
    deps.metrics.add('SyncAborted', full.aborted === undefined ? 0 : 1);
    // One per group that kept its members (and one for a run whose removals were all withheld), and one
    // line per group naming it.
    const blockedGroups = [...(full.removalsBlocked ?? []).map((group) => `role:${group.role}`), ...(full.organizations?.removalsBlocked ?? []).map((group) => `organization:${group.organization}`)];
    deps.metrics.add('SyncRemovalsBlocked', blockedGroups.length + (full.removalsWithheld === undefined ? 0 : 1));
    deps.metrics.flush();
    for (const group of blockedGroups) deps.metrics.addNamed('SyncRemovalsBlocked', { name: 'group', value: group });
    const quiet = full.aborted === undefined && blockedGroups.length === 0 && full.removalsWithheld === undefined && full.manifestUnreadable === undefined;
    (quiet ? deps.logger.info : deps.logger.warn)('sync finished', {
      name: full.name,
      runId,
      aborted: full.aborted,
      removalsBlocked: blockedGroups.length === 0 ? undefined : blockedGroups.join(', '),
      removalsAdvice: full.removalsAdvice,
      roleAdds: full.roleAdds,
      roleRemoves: full.roleRemoves,
      metadataUpdates: full.metadataUpdates,
      jobsEnqueued: full.jobsEnqueued,
      skippedLines: desired.invalid.length,
      readsSpent: full.readsSpent,
      durationMs: full.durationMs,
    });
    return full;
  };
  const nothing = { roleAdds: 0, roleRemoves: 0, metadataUpdates: 0, jobsEnqueued: 0, removalsBlocked: undefined };
  if (source === TOO_LARGE) return finish({ ...nothing, aborted: `s3://${bucket}/${key} is larger than maxSourceBytes (${maxSourceBytes} bytes)` });

  const invalidShare = desired.lines === 0 ? 0 : desired.invalid.length / desired.lines;
  if (invalidShare > (definition.maxInvalidShare ?? 0.01)) {
    return finish({ ...nothing, aborted: `${desired.invalid.length} of ${desired.lines} lines are invalid, more than the allowed share of ${definition.maxInvalidShare ?? 0.01}` });
  }
  if (desired.lines === 0) return finish({ ...nothing, aborted: 'the desired-state file is empty' });

  const manifestText = await readObject(deps.s3, bucket, objects.manifest, maxSourceBytes * 2);
  const { manifest, problem: manifestUnreadable } = readManifest(manifestText === TOO_LARGE ? '' : manifestText);

  const managed: ManagedRole[] = [];
  for (const ref of definition.managedRoles) managed.push(await resolveRole(deps.client, ref, pacer));
  const otherRoles = await findOtherRoles(deps.client, desired.users, managed, pacer);
  const managedOrganizations: ManagedOrganization[] = [];
  for (const ref of definition.managedOrganizations ?? []) managedOrganizations.push(await resolveOrganization(deps.client, ref, pacer));
  const approvalsText = await readObject(deps.s3, bucket, objects.approvals, MAX_APPROVALS_BYTES);
  const approvals = parseApprovals(approvalsText === TOO_LARGE ? undefined : approvalsText);
  const members = new Map<string, RoleMember[]>();
  for (const role of managed) members.set(role.id, await readRoleMembers(deps.client, role.id, pacer, deps.sleep, deps.now));
  // The tenant as it will be once the role changes of earlier runs still on the queue are applied.
  const outstandingText = deps.ledger === undefined ? undefined : await readObject(deps.s3, bucket, objects.outstanding, maxSourceBytes * 2);
  const waiting = deps.ledger === undefined ? [] : await stillOutstanding(parseOutstanding(outstandingText === TOO_LARGE ? undefined : outstandingText), { ledger: deps.ledger, members, now: started });

  const organizationMembers = new Map<string, OrganizationMember[]>();
  for (const organization of managedOrganizations) organizationMembers.set(organization.id, await readOrganizationMembers(deps.client, organization.id, pacer, deps.sleep, deps.now));

  const limits = {
    allowRemovals: definition.allowRemovals ?? false,
    maxRemovalShare: definition.maxRemovalShare ?? DEFAULT_REMOVAL_LIMITS.maxRemovalShare,
    maxRemovals: definition.maxRemovals ?? DEFAULT_REMOVAL_LIMITS.maxRemovals,
    minRemovals: definition.minRemovals ?? DEFAULT_REMOVAL_LIMITS.minRemovals,
  };
  const { roles: plan, organizations: organizationPlan, doubtful } = planRun({
    name: definition.name,
    desired,
    managed,
    otherRoles,
    organizations: managedOrganizations,
    roleMembers: membersAfter(members, waiting),
    organizationMembers,
    manifest,
    limits,
    approvals,
    now: started,
  });
  const jobs = [...plan.adds, ...organizationPlan.jobs, ...plan.updates, ...plan.removes, ...organizationPlan.removes];
  const removalsApproved = [...plan.removalsApproved, ...organizationPlan.removalsApproved];
  if (!base.dryRun) {
    await enqueue(deps, jobs, started);
    await deps.s3.send(new PutObjectCommand({ Bucket: bucket, Key: objects.manifest, Body: JSON.stringify(plan.manifest), ContentType: 'application/json' }));
    if (deps.ledger !== undefined) {
      const outstanding = nextOutstanding(waiting, changesOf([...plan.adds, ...plan.removes], started));
      await deps.s3.send(new PutObjectCommand({ Bucket: bucket, Key: objects.outstanding, Body: JSON.stringify(outstanding), ContentType: 'application/json' }));
    }
  }
  return finish({
    aborted: undefined,
    roleAdds: plan.roleAdds,
    roleRemoves: plan.roleRemoves,
    metadataUpdates: plan.updates.length,
    jobsEnqueued: base.dryRun ? 0 : jobs.length,
    removalsBlocked: plan.removalsBlocked,
    removalsWithheld: plan.removalsWithheld,
    ...(removalsApproved.length === 0 ? {} : { removalsApproved }),
    removalsAdvice: adviseOnRemovals(definition, [...(plan.removalsBlocked ?? []), ...(organizationPlan.removalsBlocked ?? [])]),
    ...(managedOrganizations.length === 0
      ? {}
      : {
          organizations: {
            memberAdds: organizationPlan.memberAdds,
            memberRemoves: organizationPlan.memberRemoves,
            roleAssigns: organizationPlan.roleAssigns,
            roleRemoves: organizationPlan.roleRemoves,
            removalsBlocked: organizationPlan.removalsBlocked,
          },
        }),
    unknownRoles: doubtful.unknownRoles.slice(0, REPORTED_LINES),
    ...(managedOrganizations.length === 0 ? {} : { unknownOrganizations: doubtful.unknownOrganizations.slice(0, REPORTED_LINES) }),
    ...(deps.ledger === undefined ? {} : { outstanding: waiting.length }),
    manifestUnreadable,
  });
}

/** Most distinct unmanaged role refs looked up per run; refs beyond are treated as unknown. */
const MAX_OTHER_ROLE_LOOKUPS = 50;

/**
 * The role refs lines name that the sync does not manage but that exist in the tenant (lines may list every
 * role a user has). The others are misspellings or deleted roles, and protect their users from removals.
 */
async function findOtherRoles(client: ManagementClient, users: readonly DesiredUser[], managed: readonly ManagedRole[], pacer: ReturnType<typeof createReadPacer>): Promise<Set<string>> {
  const managedRefs = new Set(managed.flatMap((role) => [role.ref, role.id, role.name]));
  const refs = [...new Set(users.flatMap((user) => [...user.roles, ...Object.values(user.organizations ?? {}).flat()]))].filter((ref) => !managedRefs.has(ref)).slice(0, MAX_OTHER_ROLE_LOOKUPS);
  const existing = new Set<string>();
  for (const ref of refs) {
    try {
      await resolveRole(client, ref, pacer);
      existing.add(ref);
    } catch (error) {
      if (!(error instanceof PermanentError && error.code === 'role_not_found')) throw error;
    }
  }
  return existing;
}

/** Resolves a managed role to both its id and its name: desired-state lines may use either. */
async function resolveRole(client: ManagementClient, ref: string, pacer: ReturnType<typeof createReadPacer>): Promise<ManagedRole> {
  await pacer.beforeRead({ method: 'GET', route: /^rol_[A-Za-z0-9]+$/.test(ref) ? '/api/v2/roles/{id}' : '/api/v2/roles' });
  let role: { id: string; name: string } | undefined;
  if (/^rol_[A-Za-z0-9]+$/.test(ref)) {
    const body = (await client.call({ method: 'GET', route: '/api/v2/roles/{id}', params: { id: ref }, scopes: ['read:roles'] }).catch((error: unknown) => {
      if (error instanceof PermanentError && error.status === 404) return undefined;
      throw error;
    })) as { id?: unknown; name?: unknown } | undefined;
    if (typeof body?.id === 'string' && typeof body.name === 'string') role = { id: body.id, name: body.name };
  } else {
    role = await findRoleByName(client, ref);
  }
  pacer.afterRead();
  if (role === undefined) throw new PermanentError('role_not_found', `managed role ${JSON.stringify(ref)} does not exist`);
  return { ref, id: role.id, name: role.name };
}

/** Resolves a managed organization to both its id and its name: lines may use either. */
async function resolveOrganization(client: ManagementClient, ref: string, pacer: ReturnType<typeof createReadPacer>): Promise<ManagedOrganization> {
  const byId = /^org_[A-Za-z0-9]+$/.test(ref);
  await pacer.beforeRead({ method: 'GET', route: byId ? '/api/v2/organizations/{id}' : '/api/v2/organizations/name/{name}' });
  const organization = await findOrganization(client, byId ? { id: ref } : { name: ref });
  pacer.afterRead();
  if (organization === undefined) throw new PermanentError('organization_not_found', `managed organization ${JSON.stringify(ref)} does not exist`);
  return { ref, id: organization.id, name: organization.name };
}

/**
 * Puts the plan's jobs on the queue through the producer module, each with the run's start as `issuedAt`:
 * batches of 10 and 1 MiB, on FIFO the user as
 * message group (hashed when SQS could not carry it) and the job id as deduplication id, so a retried or
 * overlapping run adds no duplicate. Throws when any job was not sent, before the manifest is written.
 */
async function enqueue(deps: SyncDeps, jobs: readonly SyncJob[], runStartedAt: number): Promise<void> {
  // Every job carries the run's start as its order: it says what the file said then, so a job another producer
  // issued later wins over it, and it wins over what earlier runs queued.
  const issuedAt = new Date(runStartedAt).toISOString();
  const result = await sendJobs(deps.sqs, deps.queueUrl, jobs.map((job) => ({ ...job.body, issuedAt })));
  const unsent = [...result.invalid, ...result.failed];
  if (unsent.length > 0) {
    const [first] = unsent;
    throw new Error(`could not enqueue ${unsent.length} of ${jobs.length} sync jobs (${first?.code}: ${first?.reason}); the manifest was not written, so the next run plans them again`);
  }
}

/** Largest approvals object read: ids are 32 characters, so thousands of them. */
const MAX_APPROVALS_BYTES = 256 * 1024;

/**
 * What an operator does about removals withheld for the limit: approve exactly those (the ids in the report,
 * written to the approvals object), or change the limits for every run, or fix the file.
 */
function adviseOnRemovals(definition: SyncDefinition, blocked: ReadonlyArray<RoleRemovals | OrganizationRemovals>): string | undefined {
  if (blocked.length === 0) return undefined;
  const { bucket, key } = definition.source;
  const groups = blocked.map((group) => `${'role' in group ? `role ${group.role}` : `organization ${group.organization}`} (${group.removals} of ${group.members}, limit ${group.limit})`);
  return (
    `removals withheld from ${groups.join(', ')}; every other removal was made. If the file is right, approve them: ` +
    `write their approval ids (removalsBlocked[].approval) to s3://${bucket}/${syncObjectKeys(key).approvals} and the next run makes exactly ` +
    `those removals, and nothing else. If groups this small or this busy should lose more on every run, raise maxRemovalShare or minRemovals. ` +
    `If the file is wrong (truncated, say), fix it: nothing was removed from these groups.`
  );
}

/** Default largest desired-state file read. */
const DEFAULT_MAX_SOURCE_BYTES = 100 * 1024 * 1024;
/** What {@link readObject} gives for an object over its limit. */
const TOO_LARGE = Symbol('too large');

/** Reads an object as text, unless it is larger than `maxBytes`; `undefined` when there is none. */
async function readObject(s3: Pick<S3Client, 'send'>, bucket: string, key: string, maxBytes: number): Promise<string | typeof TOO_LARGE | undefined> {
  try {
    const answer = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    if ((answer.ContentLength ?? 0) > maxBytes) {
      // Not read: a large body would cost the memory the limit exists to save.
      (answer.Body as { destroy?: () => void } | undefined)?.destroy?.();
      return TOO_LARGE;
    }
    return await answer.Body?.transformToString('utf8');
  } catch (error) {
    if (error instanceof Error && (error.name === 'NoSuchKey' || error.name === 'NotFound')) return undefined;
    throw error;
  }
}

/**
 * The manifest of the last run, or an empty one with the reason when it cannot be read: a corrupt manifest
 * costs one run that sends every app_metadata update again (they are idempotent), never a failed run.
 * A manifest of earlier versions (user key → hash) is read as sent long ago.
 */
function readManifest(text: string | undefined): { manifest: Manifest; problem: string | undefined } {
  if (text === undefined) return { manifest: {}, problem: undefined };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { manifest: {}, problem: 'the manifest is not valid JSON; every app_metadata update was sent again' };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { manifest: {}, problem: 'the manifest is not a JSON object; every app_metadata update was sent again' };
  const manifest: Record<string, ManifestEntry> = {};
  for (const [user, entry] of Object.entries(raw)) {
    if (typeof entry === 'string') manifest[user] = { hash: entry, keys: [], sentAt: 0 };
    else if (isManifestEntry(entry)) manifest[user] = entry;
  }
  return { manifest, problem: undefined };
}

function isManifestEntry(value: unknown): value is ManifestEntry {
  const entry = value as Partial<ManifestEntry> | null;
  return typeof entry === 'object' && entry !== null && typeof entry.hash === 'string' && typeof entry.sentAt === 'number' && Array.isArray(entry.keys) && entry.keys.every((key) => typeof key === 'string');
}

