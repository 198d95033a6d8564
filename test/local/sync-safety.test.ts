/**
 * The sync's removals fail safe, on the local stack: a line that names an organization the sync does not
 * manage (a misspelling) protects its user, each role and organization has its own removal limit with a floor,
 * a group over its limit withholds its own removals only, and an operator's approval lets exactly those go.
 * Every S3 object the sync touches is one the construct grants.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalStack, queueDepth } from '../../local/stack.ts';
import { SYNC_BUCKET, createLocalSyncDeps, uploadDesiredState } from '../../local/sync.ts';
import { type TenantOrganization, type TenantRole, type TenantUser, addOrganization, addRole, addUser, rolesOf } from '../../local/tenant/state.ts';
import { CONNECTION } from '../../local/workload.ts';
import { SYNC_OBJECT_ACCESS, syncObjectKeys } from '../../shared/sync/definition.ts';
import { runSync } from '../../shared/sync/run-sync.ts';
import { startTestStack } from '../helpers/suite-logs.ts';
import { drained } from '../helpers/drained.ts';

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, index) => from + index);

describe('Sync: removals that fail safe', () => {
  let stack: LocalStack;
  let deps: ReturnType<typeof createLocalSyncDeps>;
  let users: TenantUser[];
  let admin: TenantRole;
  let support: TenantRole;
  let billing: TenantRole;
  let acme: TenantOrganization;
  const metricLines: string[] = [];
  /** What runs of the sync read and wrote in S3, by the source each run had. */
  const touched: Array<{ command: string; key: string; source: string }> = [];
  let running: string | undefined;

  beforeAll(async () => {
    stack = await startTestStack({ build: false, rateLimit: { burst: 50, perSecond: 50 } });
    deps = createLocalSyncDeps(stack, {
      write: (line) => {
        if (line.includes('"_aws"')) metricLines.push(line);
        stack.writeLog(line);
      },
    });
    const send = deps.s3.send.bind(deps.s3);
    deps.s3.send = ((command: { constructor: { name: string }; input: { Key?: string } }, ...rest: unknown[]) => {
      if (running !== undefined) touched.push({ command: command.constructor.name, key: command.input.Key ?? '', source: running });
      return (send as (...args: unknown[]) => unknown)(command, ...rest);
    }) as typeof deps.s3.send;
    const state = stack.tenant.state;
    users = range(0, 120).map((n) => addUser(state, { email: `u${n}@example.com`, connection: CONNECTION }));
    admin = addRole(state, { name: 'admin' });
    support = addRole(state, { name: 'support' });
    billing = addRole(state, { name: 'billing' });
    acme = addOrganization(state, { name: 'acme-corp' });
    // admin: 5 members; support: 100; billing: 10; acme-corp: 20
    for (const n of range(0, 5)) state.members.get(admin.id)?.add(users[n]?.user_id ?? '');
    for (const n of range(0, 100)) state.members.get(support.id)?.add(users[n]?.user_id ?? '');
    for (const n of range(100, 110)) state.members.get(billing.id)?.add(users[n]?.user_id ?? '');
    for (const n of range(0, 20)) state.organizationMembers.get(acme.id)?.set(users[n]?.user_id ?? '', new Set());
  }, 300_000);

  afterAll(async () => {
    await stack?.stop();
  });

  /** Lines for every user: the roles they hold now minus `drop`, and acme-corp for its members unless `organizations` says otherwise. */
  const file = (drop: Record<number, string[]> = {}, organizations: Record<number, Record<string, string[]>> = {}) =>
    users
      .map((user, n) => {
        const roles = rolesOf(stack.tenant.state, user.user_id).map((role) => role.name).filter((name) => !(drop[n] ?? []).includes(name));
        const member = stack.tenant.state.organizationMembers.get(acme.id)?.has(user.user_id) ?? false;
        return JSON.stringify({ userId: user.user_id, roles, organizations: organizations[n] ?? (member ? { 'acme-corp': [] } : {}) });
      })
      .join('\n');
  const sync = async (key: string) => {
    running = key;
    try {
      return await runSync({ name: 'safety', source: { bucket: SYNC_BUCKET, key }, managedRoles: ['admin', 'support', 'billing'], managedOrganizations: ['acme-corp'], allowRemovals: true }, deps);
    } finally {
      running = undefined;
    }
  };
  const apply = async () => {
    const worker = stack.startWorker({ maxConcurrency: 2 });
    expect(await drained(stack, { stalledFor: 30_000, atMost: 120_000 })).toBe(true);
    await worker.stop();
    expect(await queueDepth(stack)).toBe(0);
  };
  const holders = (role: TenantRole) => [...(stack.tenant.state.members.get(role.id) ?? [])].map((id) => users.findIndex((user) => user.user_id === id)).sort((a, b) => a - b);

  it('a line that misspells a managed organization protects its user, and the report names the line', async () => {
    // Prepare: user 0 wrote "acme-crop"; nothing else changes
    await uploadDesiredState(deps.s3, 'safety/misspelt.jsonl', file({}, { 0: { 'acme-crop': [] } }));

    // Act
    const report = await sync('safety/misspelt.jsonl');
    await apply();

    // Assess
    expect(stack.tenant.state.organizationMembers.get(acme.id)?.has(users[0]?.user_id ?? '')).toBe(true);
    expect(report.organizations?.memberRemoves).toBe(0);
    expect(report.unknownOrganizations).toEqual([{ line: 1, organization: 'acme-crop' }]);
  }, 300_000);

  it('one leaver from 5 admins and one from 100 support agents: both lose the role', async () => {
    // Prepare
    await uploadDesiredState(deps.s3, 'safety/leavers.jsonl', file({ 4: ['admin'], 99: ['support'] }));

    // Act
    const report = await sync('safety/leavers.jsonl');
    await apply();

    // Assess
    expect(report).toMatchObject({ roleRemoves: 2, removalsBlocked: undefined });
    expect(holders(admin)).toEqual(range(0, 4));
    expect(holders(support)).toEqual(range(0, 99));
  }, 300_000);

  it('a role over its limit keeps its members while the others lose theirs, until the operator approves exactly those removals', async () => {
    // Prepare: 3 of 10 billing members leave (limit 1), and one support agent
    await uploadDesiredState(deps.s3, 'safety/billing.jsonl', file({ 100: ['billing'], 101: ['billing'], 102: ['billing'], 98: ['support'] }));
    metricLines.length = 0;

    // Act: a run; the operator approves what it withheld; two more runs
    const blocked = await sync('safety/billing.jsonl');
    await apply();
    const afterBlocked = { billing: holders(billing), support: holders(support) };
    const approval = blocked.removalsBlocked?.[0]?.approval ?? '';
    await deps.s3.send(new PutObjectCommand({ Bucket: SYNC_BUCKET, Key: 'safety/billing.jsonl.approvals', Body: `${approval}\n` }));
    const approved = await sync('safety/billing.jsonl');
    await apply();
    const settled = await sync('safety/billing.jsonl');

    // Assess: the first run removed the agent only, and named billing in its report, its advice and its metric
    expect(afterBlocked).toEqual({ billing: range(100, 110), support: range(0, 98) });
    expect(blocked.removalsBlocked).toEqual([{ role: 'billing', removals: 3, members: 10, limit: 1, approval: expect.stringMatching(/^approve_[\w-]{24}$/) }]);
    expect(blocked.removalsAdvice).toContain('s3://sync-sources/safety/billing.jsonl.approvals');
    const named = metricLines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line['group'] !== undefined);
    expect(named).toEqual([expect.objectContaining({ group: 'role:billing', SyncRemovalsBlocked: 1 })]);
    // The approved run removed exactly the three, and the next run has nothing left to approve
    expect(approved).toMatchObject({ roleRemoves: 3, removalsBlocked: undefined, removalsApproved: [expect.objectContaining({ role: 'billing', approval })] });
    expect(holders(billing)).toEqual(range(103, 110));
    expect(settled).toMatchObject({ roleRemoves: 0, jobsEnqueued: 0, removalsBlocked: undefined });
  }, 360_000);

  it('touches only the S3 objects the construct grants it', () => {
    // Assess: every read and write of the runs above is one SYNC_OBJECT_ACCESS names (the construct grants those)
    const granted = (entry: (typeof touched)[number]) => {
      const access = entry.command === 'GetObjectCommand' ? 'read' : entry.command === 'PutObjectCommand' ? 'write' : undefined;
      return access !== undefined && SYNC_OBJECT_ACCESS[access].some((kind) => syncObjectKeys(entry.source)[kind] === entry.key);
    };
    expect(new Set(touched.map((entry) => `${entry.command} ${entry.key.replace(/^safety\/\w+\.jsonl/, '…')}`))).toEqual(
      new Set(['GetObjectCommand …', 'GetObjectCommand ….manifest.json', 'GetObjectCommand ….approvals', 'GetObjectCommand ….outstanding.json', 'PutObjectCommand ….manifest.json', 'PutObjectCommand ….outstanding.json', 'PutObjectCommand ….report.json']),
    );
    expect(touched.filter((entry) => !granted(entry))).toEqual([]);
  });
});
