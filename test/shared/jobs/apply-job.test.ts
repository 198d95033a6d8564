import type { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createManagementClient } from '../../../shared/auth0/client.ts';
import { PermanentError } from '../../../shared/errors.ts';
import { createJobApplier } from '../../../shared/jobs/apply-job.ts';
import type { Job } from '../../../shared/jobs/schema.ts';
import { AUTH0_ERRORS, ORIGIN, createClock, createFakeTokens, createMockAgent } from '../../helpers/auth0.ts';
import { createLogger } from '../../../shared/logger.ts';
import { suiteLog } from '../../helpers/suite-logs.ts';

const timeouts = { headersTimeoutMs: 1_000, bodyTimeoutMs: 1_000 };
const json = { headers: { 'content-type': 'application/json' } };

describe('Function: createJobApplier()', () => {
  let agent: MockAgent;
  let warnings: string[];

  beforeEach(() => {
    agent = createMockAgent();
    warnings = [];
  });

  afterEach(async () => {
    agent.assertNoPendingInterceptors();
    await agent.close();
  });

  const create = (options: { allowedRoles?: string[]; scopes?: string; clock?: ReturnType<typeof createClock> } = {}) => {
    const { tokens } = createFakeTokens(options.scopes);
    const now = (options.clock ?? createClock()).now;
    const client = createManagementClient({ origin: ORIGIN, dispatcher: agent, tokens, timeouts, now, logger: createLogger({ service: 'worker', level: 'debug', write: suiteLog('apply-job') }) });
    return createJobApplier({
      client,
      allowedRoles: options.allowedRoles === undefined ? undefined : new Set(options.allowedRoles),
      logger: { warn: (message) => warnings.push(message) },
      now,
    });
  };

  const apply = (applyJob: ReturnType<typeof create>, job: Job) => applyJob(job, { correlationId: job.jobId });

  it('looks a mixed-case email up in lower case, as database connections store it, then as written', async () => {
    // Prepare: the lower-case lookup finds Ada; for Bob only the address as written does
    const applyJob = create();
    const asked: string[] = [];
    const byEmail = (found: Record<string, string>) =>
      agent
        .get(ORIGIN)
        .intercept({ path: (path) => path.startsWith('/api/v2/users-by-email?'), method: 'GET' })
        .reply((options) => {
          const email = new URL(String(options.path), ORIGIN).searchParams.get('email') ?? '';
          asked.push(email);
          const id = found[email];
          return { statusCode: 200, data: id === undefined ? [] : [{ user_id: id }], responseOptions: json };
        });
    byEmail({ 'ada@example.com': 'auth0|ada' });
    byEmail({ 'ada@example.com': 'auth0|ada' });
    byEmail({ 'Bob@Example.com': 'oauth2|bob' });
    byEmail({ 'Bob@Example.com': 'oauth2|bob' });
    agent.get(ORIGIN).intercept({ path: '/api/v2/users/auth0%7Cada', method: 'PATCH' }).reply(200, {}, json);
    agent.get(ORIGIN).intercept({ path: '/api/v2/users/oauth2%7Cbob', method: 'PATCH' }).reply(200, {}, json);

    // Act
    await apply(applyJob, { type: 'user.update', email: 'Ada@Example.com', changes: { blocked: true } });
    await apply(applyJob, { type: 'user.update', email: 'Bob@Example.com', changes: { blocked: true } });

    // Assess
    expect(asked).toEqual(['ada@example.com', 'Ada@Example.com', 'bob@example.com', 'Bob@Example.com']);
  });

  it('finds an email ambiguous when one user has it in lower case and another as written', async () => {
    // Prepare: a database user jane@acme.com, and a SAML user Jane@Acme.com
    const applyJob = create();
    const byEmail = (id: string) => agent.get(ORIGIN).intercept({ path: (path) => path.startsWith('/api/v2/users-by-email?'), method: 'GET' }).reply(200, [{ user_id: id }], json);
    byEmail('auth0|jane');
    byEmail('samlp|acme|jane');

    // Act & Assess: nothing is written to either
    await expect(apply(applyJob, { type: 'user.update', email: 'Jane@Acme.com', changes: { blocked: true } })).rejects.toMatchObject({ code: 'ambiguous_email' });
  });

  it('patches the user with exactly the job changes', async () => {
    // Prepare
    const applyJob = create();
    let body: unknown;
    agent
      .get(ORIGIN)
      .intercept({ path: '/api/v2/users/auth0%7C1', method: 'PATCH' })
      .reply((options) => {
        body = JSON.parse(String(options.body));
        return { statusCode: 200, data: { user_id: 'auth0|1' }, responseOptions: json };
      });

    // Act
    await apply(applyJob, { type: 'user.update', userId: 'auth0|1', changes: { app_metadata: { plan: 'pro' }, blocked: false } });

    // Assess
    expect(body).toEqual({ app_metadata: { plan: 'pro' }, blocked: false });
  });

  it('accepts update:users_app_metadata for a metadata-only change, but not for other fields', async () => {
    // Prepare
    const applyJob = create({ scopes: 'update:users_app_metadata' });
    agent.get(ORIGIN).intercept({ path: '/api/v2/users/auth0%7C1', method: 'PATCH' }).reply(200, {});

    // Act
    await apply(applyJob, { type: 'user.update', userId: 'auth0|1', changes: { user_metadata: { locale: 'fr' } } });
    const refused = apply(applyJob, { type: 'user.update', userId: 'auth0|1', changes: { blocked: true } });

    // Assess
    await expect(refused).rejects.toMatchObject({ code: 'insufficient_scope' });
  });

  it('resolves an email to the one user on the given connection', async () => {
    // Prepare
    const applyJob = create();
    const pool = agent.get(ORIGIN);
    pool
      .intercept({ path: (path) => path.startsWith('/api/v2/users-by-email?') && path.includes('email=ada%40example.com'), method: 'GET' })
      .reply(200, [
        { user_id: 'auth0|1', identities: [{ connection: 'Username-Password-Authentication' }] },
        { user_id: 'google-oauth2|9', identities: [{ connection: 'google-oauth2' }] },
      ], json);
    pool.intercept({ path: '/api/v2/users/auth0%7C1/roles', method: 'DELETE' }).reply(204, '');

    // Act
    const result = apply(applyJob, { type: 'roles.remove', email: 'ada@example.com', connection: 'Username-Password-Authentication', roles: ['rol_abc'] });

    // Assess: only the DELETE for auth0|1 is intercepted; any other user id would be refused
    await expect(result).resolves.toBeUndefined();
  });

  it.each([
    [[], 'user_not_found'],
    [[{ user_id: 'auth0|1' }, { user_id: 'google-oauth2|9' }], 'ambiguous_email'],
  ])('refuses an email that matches %j users', async (users, code) => {
    // Prepare
    const applyJob = create();
    agent.get(ORIGIN).intercept({ path: (path) => path.startsWith('/api/v2/users-by-email?'), method: 'GET' }).reply(200, users, json);

    // Act
    const result = apply(applyJob, { type: 'user.update', email: 'ada@example.com', changes: { blocked: true } });

    // Assess
    await expect(result).rejects.toBeInstanceOf(PermanentError);
    await expect(result).rejects.toMatchObject({ code });
  });

  it('resolves role names by exact name, once per container', async () => {
    // Prepare
    const applyJob = create();
    const pool = agent.get(ORIGIN);
    pool
      .intercept({ path: '/api/v2/roles?name_filter=support-agent&per_page=50&page=0', method: 'GET' })
      .reply(200, [{ id: 'rol_senior', name: 'senior-support-agent' }, { id: 'rol_support', name: 'support-agent' }], json);
    const assigned: unknown[] = [];
    pool
      .intercept({ path: '/api/v2/users/auth0%7C1/roles', method: 'POST' })
      .reply((options) => {
        assigned.push(JSON.parse(String(options.body)));
        return { statusCode: 204, data: '' };
      })
      .times(2);

    // Act
    await apply(applyJob, { type: 'roles.assign', userId: 'auth0|1', roles: ['support-agent', 'rol_other'] });
    await apply(applyJob, { type: 'roles.assign', userId: 'auth0|1', roles: ['support-agent'] });

    // Assess: one lookup for two jobs
    expect(assigned).toEqual([{ roles: ['rol_support', 'rol_other'] }, { roles: ['rol_support'] }]);
  });

  it('finds the exact role on a later page when more roles than a page contain its name', async () => {
    // Prepare: 120 roles contain "admin"; the one named exactly so is the 111th
    const applyJob = create();
    const roles = Array.from({ length: 120 }, (_, n) => ({ id: `rol_${n}`, name: n === 110 ? 'admin' : `team-${n}-admin` }));
    const pool = agent.get(ORIGIN);
    for (const page of [0, 1, 2]) {
      pool.intercept({ path: `/api/v2/roles?name_filter=admin&per_page=50&page=${page}`, method: 'GET' }).reply(200, roles.slice(page * 50, page * 50 + 50), json);
    }
    let assigned: unknown;
    pool.intercept({ path: '/api/v2/users/auth0%7C1/roles', method: 'POST' }).reply((options) => {
      assigned = JSON.parse(String(options.body));
      return { statusCode: 204, data: '' };
    });

    // Act
    await apply(applyJob, { type: 'roles.assign', userId: 'auth0|1', roles: ['admin'] });

    // Assess
    expect(assigned).toEqual({ roles: ['rol_110'] });
  });

  it('looks a role name up again after 5 minutes, and at once after Auth0 says a role does not exist', async () => {
    // Prepare: the role is deleted and created again under a new id
    const clock = createClock();
    const applyJob = create({ clock });
    const pool = agent.get(ORIGIN);
    const lookup = (id: string) => pool.intercept({ path: (path) => path.startsWith('/api/v2/roles?name_filter=support'), method: 'GET' }).reply(200, [{ id, name: 'support' }], json);
    const assigned: unknown[] = [];
    const assign = (statusCode: number) =>
      pool.intercept({ path: '/api/v2/users/auth0%7C1/roles', method: 'POST' }).reply((options) => {
        assigned.push(JSON.parse(String(options.body)));
        return statusCode === 204 ? { statusCode, data: '' } : { statusCode, data: AUTH0_ERRORS.roleNotFound, responseOptions: json };
      });
    lookup('rol_old');
    assign(204);
    assign(404);
    lookup('rol_new');
    assign(204);
    lookup('rol_newer');
    assign(204);
    const job: Job = { type: 'roles.assign', userId: 'auth0|1', roles: ['support'] };

    // Act
    await apply(applyJob, job);
    const stale = apply(applyJob, job);
    // The id came from the cached name: tried again with a fresh lookup, not dead-lettered
    await expect(stale).rejects.toMatchObject({ code: 'role_changed', retryable: true, status: 404 });
    await apply(applyJob, job);
    clock.advance(5 * 60_000);
    await apply(applyJob, job);

    // Assess
    expect(assigned).toEqual([{ roles: ['rol_old'] }, { roles: ['rol_old'] }, { roles: ['rol_new'] }, { roles: ['rol_newer'] }]);
  });

  it('dead-letters with Auth0\'s answer a role looked up afresh that Auth0 still says does not exist', async () => {
    // Prepare
    const applyJob = create();
    const pool = agent.get(ORIGIN);
    pool.intercept({ path: (path) => path.startsWith('/api/v2/roles?name_filter=support'), method: 'GET' }).reply(200, [{ id: 'rol_gone', name: 'support' }], json);
    pool.intercept({ path: '/api/v2/users/auth0%7C1/roles', method: 'POST' }).reply(404, AUTH0_ERRORS.roleNotFound, json);

    // Act & Assess
    await expect(apply(applyJob, { type: 'roles.assign', userId: 'auth0|1', roles: ['support'] })).rejects.toMatchObject({ status: 404, retryable: false, auth0ErrorCode: 'inexistent_role' });
  });

  it('refuses an unknown role name', async () => {
    // Prepare
    const applyJob = create();
    agent.get(ORIGIN).intercept({ path: (path) => path.startsWith('/api/v2/roles?'), method: 'GET' }).reply(200, [{ id: 'rol_x', name: 'admins' }], json);

    // Act & Assess
    await expect(apply(applyJob, { type: 'roles.assign', userId: 'auth0|1', roles: ['admin'] })).rejects.toMatchObject({ code: 'role_not_found' });
  });

  it('refuses every role job, without a call, when the deployment allows no role', async () => {
    // Prepare
    const applyJob = create({ allowedRoles: [] });

    // Act & Assess: no interceptor, so any call would fail differently
    await expect(apply(applyJob, { type: 'roles.assign', userId: 'auth0|1', roles: ['support-agent'] })).rejects.toMatchObject({ code: 'role_not_allowed' });
    await expect(apply(applyJob, { type: 'roles.remove', email: 'ada@example.com', roles: ['rol_1'] })).rejects.toThrow(/ALLOWED_ROLES/);
  });

  it('checks ALLOWED_ROLES on resolved ids before any write', async () => {
    // Prepare: the deployment allows "support-agent" by name; the job names its id and another role
    const applyJob = create({ allowedRoles: ['support-agent'] });
    agent
      .get(ORIGIN)
      .intercept({ path: (path) => path.startsWith('/api/v2/roles?name_filter=support-agent'), method: 'GET' })
      .reply(200, [{ id: 'rol_support', name: 'support-agent' }], json);

    // Act
    const result = apply(applyJob, { type: 'roles.assign', userId: 'auth0|1', roles: ['rol_support', 'rol_admin'] });

    // Assess: no POST was intercepted, so nothing was written
    await expect(result).rejects.toMatchObject({ code: 'role_not_allowed' });
    await expect(result).rejects.toThrow(/rol_admin/);
  });

  it('allows a role given by id when ALLOWED_ROLES names it', async () => {
    // Prepare
    const applyJob = create({ allowedRoles: ['support-agent'] });
    const pool = agent.get(ORIGIN);
    pool.intercept({ path: (path) => path.startsWith('/api/v2/roles?name_filter=support-agent'), method: 'GET' }).reply(200, [{ id: 'rol_support', name: 'support-agent' }], json);
    pool.intercept({ path: '/api/v2/users/auth0%7C1/roles', method: 'POST' }).reply(204, '');

    // Act & Assess
    await expect(apply(applyJob, { type: 'roles.assign', userId: 'auth0|1', roles: ['rol_support'] })).resolves.toBeUndefined();
  });
});
