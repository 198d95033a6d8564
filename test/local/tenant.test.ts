import { existsSync, readFileSync } from 'node:fs';
import { SignJWT, createRemoteJWKSet, generateKeyPair, jwtVerify } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { OAS_FILE, loadOperations } from '../../local/tenant/oas.ts';
import { ALL_SCOPES, type Tenant, type TenantOptions, startTenant } from '../../local/tenant/tenant.ts';
import { ROUTES } from '../../shared/auth0/operations.ts';
import { createClock } from '../helpers/auth0.ts';

const CLIENT = { clientId: 'test-client', clientSecret: 'secret-1', scopes: [...ALL_SCOPES] };

describe('Emulator: startTenant()', () => {
  let tenant: Tenant | undefined;

  afterEach(async () => {
    await tenant?.stop();
    tenant = undefined;
  });

  const start = async (options: TenantOptions = {}) => {
    tenant = await startTenant({ rateLimit: { burst: 100, perSecond: 100 }, clients: [CLIENT], ...options });
    return tenant;
  };

  const token = async (t: Tenant, body: Record<string, string> = {}) => {
    const response = await fetch(`${t.origin}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'client_credentials', client_id: CLIENT.clientId, client_secret: CLIENT.clientSecret, audience: t.audience, ...body }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, string> };
  };

  const call = async (t: Tenant, method: string, path: string, options: { bearer?: string; body?: string; headers?: Record<string, string> } = {}) => {
    const response = await fetch(`${t.origin}${path}`, {
      method,
      headers: {
        ...(options.bearer === undefined ? {} : { authorization: `Bearer ${options.bearer}` }),
        ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...options.headers,
      },
      ...(options.body === undefined ? {} : { body: options.body }),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>) };
  };

  describe('/oauth/token', () => {
    it('issues an RS256 JWT with Auth0 claims, verifiable through the JWKS', async () => {
      // Prepare
      const t = await start();

      // Act
      const answer = await token(t);
      const { payload, protectedHeader } = await jwtVerify(answer.body['access_token'] ?? '', createRemoteJWKSet(new URL(`${t.origin}/.well-known/jwks.json`)), { audience: t.audience, issuer: `${t.origin}/` });

      // Assess
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ expires_in: 86_400, token_type: 'Bearer', scope: ALL_SCOPES.join(' ') });
      expect(protectedHeader.alg).toBe('RS256');
      expect(payload).toMatchObject({ sub: 'test-client@clients', azp: 'test-client', gty: 'client-credentials', scope: ALL_SCOPES.join(' ') });
      expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(86_400);
    });

    it('accepts a form-encoded grant', async () => {
      // Prepare
      const t = await start();

      // Act
      const response = await fetch(`${t.origin}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: CLIENT.clientId, client_secret: CLIENT.clientSecret, audience: t.audience }),
      });

      // Assess
      expect(response.status).toBe(200);
    });

    it('accepts two secrets during a rotation, and refuses a revoked one', async () => {
      // Prepare
      const t = await start();
      const secrets = t.clients.get(CLIENT.clientId)?.secrets;
      secrets?.add('secret-2');

      // Act
      const both = [await token(t), await token(t, { client_secret: 'secret-2' })];
      secrets?.delete('secret-1');
      const revoked = await token(t);

      // Assess
      expect(both.map((answer) => answer.status)).toEqual([200, 200]);
      expect(revoked).toEqual({ status: 401, body: { error: 'access_denied', error_description: 'Unauthorized' } });
    });

    it('refuses a wrong audience, as for a custom domain', async () => {
      // Prepare
      const t = await start();

      // Act
      const answer = await token(t, { audience: 'https://login.acme.com/api/v2/' });

      // Assess
      expect(answer.status).toBe(403);
      expect(answer.body['error']).toBe('access_denied');
    });

    it('has its own rate limit', async () => {
      // Prepare
      const t = await start({ tokenRateLimit: { burst: 2, perSecond: 0.01 } });

      // Act
      const statuses = [(await token(t)).status, (await token(t)).status, (await token(t)).status];

      // Assess
      expect(statuses).toEqual([200, 200, 429]);
      expect(t.counters.tokensIssued).toBe(2);
    });
  });

  describe('Management API', () => {
    it('answers bad input with Auth0 errors, never a crash', async () => {
      // Prepare
      const t = await start();
      t.state.users.set('auth0|1', { user_id: 'auth0|1', email: 'a@example.com', email_verified: true, connection: 'db', app_metadata: {}, user_metadata: {}, created_at: '', updated_at: '' });
      const { body } = await token(t);
      const bearer = body['access_token'] ?? '';

      // Act
      const missing = await call(t, 'GET', '/api/v2/users/auth0%7C1');
      const malformedHeader = await call(t, 'GET', '/api/v2/users/auth0%7C1', { headers: { authorization: 'Token abc def' } });
      const opaque = await call(t, 'GET', '/api/v2/users/auth0%7C1', { bearer: 'abcdefghijklmnopqrstuvwxyz123456' });
      const malformedJson = await call(t, 'PATCH', '/api/v2/users/auth0%7C1', { bearer, body: '{"blocked":' });
      const wrongShape = await call(t, 'POST', '/api/v2/users/auth0%7C1/roles', { bearer, body: '{"roles":"rol_1"}' });
      const oversized = await call(t, 'PATCH', '/api/v2/users/auth0%7C1', { bearer, body: JSON.stringify({ user_metadata: { blob: 'x'.repeat(1_100_000) } }) });
      const stillServing = await call(t, 'GET', '/api/v2/users/auth0%7C1', { bearer });

      // Assess
      expect(missing).toMatchObject({ status: 401, body: { statusCode: 401, error: 'Unauthorized', message: 'Missing authentication' } });
      expect(malformedHeader).toMatchObject({ status: 400, body: { message: 'Bad HTTP authentication header format' } });
      expect(opaque).toMatchObject({ status: 401, body: { message: 'Invalid token' } });
      expect(opaque.headers.get('www-authenticate')).toBe('Token error="Invalid token"');
      expect(malformedJson).toMatchObject({ status: 400, body: { errorCode: 'invalid_body' } });
      expect(wrongShape).toMatchObject({ status: 400, body: { errorCode: 'invalid_body' } });
      expect(String(wrongShape.body?.['message'])).toContain('roles');
      expect(oversized.status).toBe(413);
      expect(stillServing).toMatchObject({ status: 200, body: { user_id: 'auth0|1' } });
    });

    it('refuses expired tokens and tokens signed by another key', async () => {
      // Prepare
      const clock = createClock(Date.now());
      const t = await start({ now: clock.now, tokenLifetimeSeconds: 60 });
      const bearer = (await token(t)).body['access_token'] ?? '';
      const { privateKey } = await generateKeyPair('RS256');
      const forged = await new SignJWT({ scope: ALL_SCOPES.join(' ') }).setProtectedHeader({ alg: 'RS256' }).setIssuer(`${t.origin}/`).setAudience(t.audience).setExpirationTime('1h').sign(privateKey);

      // Act
      const signature = await call(t, 'GET', '/api/v2/roles', { bearer: forged });
      clock.advance(61_000);
      const expired = await call(t, 'GET', '/api/v2/roles', { bearer });

      // Assess
      expect(signature.body?.['message']).toBe('Invalid signature received for JSON Web Token validation.');
      expect(expired).toMatchObject({ status: 401, body: { message: 'Expired token received for JSON Web Token validation.' } });
    });

    it('enforces scopes with the "any of" rule from the OpenAPI description', async () => {
      // Prepare
      const t = await start({ clients: [{ ...CLIENT, scopes: ['update:users_app_metadata'] }] });
      t.state.users.set('auth0|1', { user_id: 'auth0|1', email: 'a@example.com', email_verified: true, connection: 'db', app_metadata: {}, user_metadata: {}, created_at: '', updated_at: '' });
      const bearer = (await token(t)).body['access_token'] ?? '';

      // Act
      const patch = await call(t, 'PATCH', '/api/v2/users/auth0%7C1', { bearer, body: '{"app_metadata":{"plan":"pro"}}' });
      const assign = await call(t, 'POST', '/api/v2/users/auth0%7C1/roles', { bearer, body: '{"roles":["rol_1"]}' });

      // Assess
      expect(patch.status).toBe(200);
      expect(assign).toMatchObject({
        status: 403,
        body: { statusCode: 403, error: 'Forbidden', message: 'Insufficient scope, expected any of: update:users,create:role_members', errorCode: 'insufficient_scope' },
      });
    });

    it('runs one token bucket for the tenant: x-ratelimit-reset is when it is full again', async () => {
      // Prepare
      const clock = createClock(Date.UTC(2026, 10, 23, 12, 0, 0));
      const t = await start({ now: clock.now, rateLimit: 'free' });
      const bearer = (await token(t)).body['access_token'] ?? '';

      // Act
      const answers = [];
      for (let n = 0; n < 3; n++) answers.push(await call(t, 'GET', '/api/v2/roles', { bearer }));
      clock.advance(500);
      const afterHalfASecond = await call(t, 'GET', '/api/v2/roles', { bearer });

      // Assess: burst 2, refill 2/s
      expect(answers.map((answer) => answer.status)).toEqual([200, 200, 429]);
      expect(answers[2]?.body).toEqual({ statusCode: 429, error: 'Too Many Requests', message: 'Global limit has been reached', errorCode: 'too_many_requests' });
      expect(answers[2]?.headers.get('x-ratelimit-limit')).toBe('2');
      expect(answers[2]?.headers.get('x-ratelimit-remaining')).toBe('0');
      expect(Number(answers[2]?.headers.get('x-ratelimit-reset'))).toBe(Math.ceil((clock.now() + 500) / 1000));
      expect(answers[2]?.headers.get('retry-after')).toBeNull();
      expect(afterHalfASecond.status).toBe(200);
    });

    it('pages by offset up to 1,000 results, and by checkpoint beyond', async () => {
      // Prepare
      const t = await start();
      const bearer = (await token(t)).body['access_token'] ?? '';
      const role = await call(t, 'POST', '/api/v2/roles', { bearer, body: '{"name":"big"}' });

      // Act
      const tooFar = await call(t, 'GET', `/api/v2/roles/${String(role.body?.['id'])}/users?page=20&per_page=50`, { bearer });
      const badPerPage = await call(t, 'GET', `/api/v2/roles/${String(role.body?.['id'])}/users?per_page=500`, { bearer });

      // Assess
      expect(tooFar.status).toBe(400);
      expect(badPerPage).toMatchObject({ status: 400, body: { errorCode: 'invalid_query_string' } });
    });

    it('injects faults: 5xx, 429 storms, token outages and dropped connections', async () => {
      // Prepare
      const t = await start();
      const bearer = (await token(t)).body['access_token'] ?? '';

      // Act
      t.faults.errorRate = 1;
      const unavailable = await call(t, 'GET', '/api/v2/roles', { bearer });
      t.faults.errorRate = 0;
      const stormUntil = Date.now() + 30_000;
      t.faults.stormUntil = stormUntil;
      const storm = await call(t, 'GET', '/api/v2/roles', { bearer });
      t.faults.stormUntil = 0;
      t.faults.tokenOutage = true;
      const outage = await token(t);
      t.faults.tokenOutage = false;
      t.faults.dropRate = 1;
      const dropped = await call(t, 'GET', '/api/v2/roles', { bearer }).catch((caught: unknown) => caught);

      // Assess
      expect(unavailable.status).toBe(503);
      expect(storm.status).toBe(429);
      expect(storm.headers.get('x-ratelimit-reset')).toBe(String(Math.ceil(stormUntil / 1000)));
      expect(outage.status).toBe(503);
      expect(dropped).toBeInstanceOf(TypeError);
    });
  });

  describe('OpenAPI description', () => {
    it('is the same file as the handbook copy of Auth0 description', () => {
      // Prepare
      const handbook = new URL('../../../shared/auth0/management-api.subset.oas.json', import.meta.url);
      if (!existsSync(handbook)) return; // a clone without the handbook beside it keeps its own copy

      // Act & Assess
      expect(readFileSync(OAS_FILE, 'utf8')).toBe(readFileSync(handbook, 'utf8'));
    });

    it('lists every route the worker calls, with every scope the worker accepts', () => {
      // Prepare
      const operations = loadOperations();

      // Act
      const mismatches = Object.entries(ROUTES).filter(([, route]) => {
        const operation = operations.find((candidate) => candidate.method === route.method && `/api/v2${candidate.path}` === route.route);
        return operation === undefined || !route.scopes.every((scope) => operation.scopes.includes(scope));
      });

      // Assess
      expect(mismatches).toEqual([]);
    });
  });
});
