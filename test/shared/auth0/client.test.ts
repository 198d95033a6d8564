import type { MockAgent } from 'undici';
import type { TokenSource } from '../../../shared/auth0/token.ts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildPath, createManagementClient } from '../../../shared/auth0/client.ts';
import { createBucketPacer } from '../../../shared/auth0/bucket-pacer.ts';
import { PermanentError, RateLimitedError, RetryableError } from '../../../shared/errors.ts';
import { AUTH0_ERRORS, ORIGIN, createClock, createFakeTokens, createMockAgent } from '../../helpers/auth0.ts';
import { createLogger } from '../../../shared/logger.ts';
import { suiteLog } from '../../helpers/suite-logs.ts';

const timeouts = { headersTimeoutMs: 1_000, bodyTimeoutMs: 1_000 };
/** Their lines go with the run's other logs, which the end-of-run check reads for tokens and secrets. */
const silent = createLogger({ service: 'worker', level: 'debug', write: suiteLog('client') });
const getUser = (id: string) => ({ method: 'GET' as const, route: '/api/v2/users/{id}', params: { id }, scopes: ['read:users'] });

describe('Function: buildPath()', () => {
  it('percent-encodes every path parameter as a whole', () => {
    // Act
    const pipe = buildPath({ route: '/api/v2/users/{id}', params: { id: 'auth0|abc' } });
    const slash = buildPath({ route: '/api/v2/users/{id}/roles', params: { id: 'samlp|acme/ada' } });

    // Assess
    expect(pipe).toBe('/api/v2/users/auth0%7Cabc');
    expect(slash).toBe('/api/v2/users/samlp%7Cacme%2Fada/roles');
  });

  it('refuses "." and ".." which encoding cannot neutralise', () => {
    // Act & Assess
    for (const id of ['.', '..', '']) {
      expect(() => buildPath({ route: '/api/v2/users/{id}', params: { id } })).toThrow(PermanentError);
    }
  });

  it('encodes query values', () => {
    // Act
    const path = buildPath({ route: '/api/v2/users-by-email', query: { email: 'a+b@example.com' } });

    // Assess
    expect(path).toBe('/api/v2/users-by-email?email=a%2Bb%40example.com');
  });
});

describe('Function: createManagementClient()', () => {
  let agent: MockAgent;
  let clock: ReturnType<typeof createClock>;

  beforeEach(() => {
    agent = createMockAgent();
    clock = createClock();
  });

  afterEach(async () => {
    agent.assertNoPendingInterceptors();
    await agent.close();
  });

  const create = (fake = createFakeTokens(undefined, { now: clock.now })) => ({
    ...fake,
    client: createManagementClient({ origin: ORIGIN, dispatcher: agent, tokens: fake.tokens, timeouts, now: clock.now, logger: silent }),
  });

  it('sends the bearer token and correlation id and returns the parsed body', async () => {
    // Prepare
    const { client } = create();
    let seen: Record<string, string> = {};
    agent
      .get(ORIGIN)
      .intercept({ path: '/api/v2/users/auth0%7C1', method: 'GET' })
      .reply((options) => {
        seen = options.headers as Record<string, string>;
        return { statusCode: 200, data: { user_id: 'auth0|1' }, responseOptions: { headers: { 'content-type': 'application/json' } } };
      });

    // Act
    const body = await client.call(getUser('auth0|1'), { correlationId: 'job-42' });

    // Assess
    expect(body).toEqual({ user_id: 'auth0|1' });
    expect(seen['authorization']).toBe('Bearer token-1');
    expect(seen['x-correlation-id']).toBe('job-42');
  });

  it('reads x-ratelimit-* on every answer', async () => {
    // Prepare
    const { client } = create();
    agent
      .get(ORIGIN)
      .intercept({ path: '/api/v2/users/u1', method: 'GET' })
      .reply(200, {}, { headers: { 'x-ratelimit-limit': '50', 'x-ratelimit-remaining': '49', 'x-ratelimit-reset': '1790000000' } });

    // Act
    await client.call(getUser('u1'));

    // Assess
    expect(client.lastRateLimit()).toMatchObject({ limit: 50, remaining: 49, resetAt: 1_790_000_000_000 });
  });

  it('drops the token after a 401, fetches a new one and retries once', async () => {
    // Prepare
    const { client, issued, invalidated } = create();
    const pool = agent.get(ORIGIN);
    pool.intercept({ path: '/api/v2/users/u1', method: 'GET', headers: { authorization: 'Bearer token-1' } }).reply(401, AUTH0_ERRORS.invalidToken);
    pool.intercept({ path: '/api/v2/users/u1', method: 'GET', headers: { authorization: 'Bearer token-2' } }).reply(200, { user_id: 'u1' });

    // Act
    await client.call(getUser('u1'));

    // Assess
    expect(issued.map((token) => token.value)).toEqual(['token-1', 'token-2']);
    expect(invalidated.map((token) => token.value)).toEqual(['token-1']);
  });

  it('gives up after a second 401 with a retryable error that names the audience setting', async () => {
    // Prepare
    const { client } = create();
    agent.get(ORIGIN).intercept({ path: '/api/v2/users/u1', method: 'GET' }).reply(401, AUTH0_ERRORS.invalidToken).times(2);

    // Act
    const error = await client.call(getUser('u1')).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(RetryableError);
    expect(error).toMatchObject({ code: 'unauthorized', status: 401 });
    expect((error as Error).message).toContain('AUTH0_AUDIENCE');
    expect((error as Error).message).not.toContain('token-');
  });

  it('after a 429, paces the next call: one that cannot start before its waitUntil fails at once as throttled, without a request', async () => {
    // Prepare
    const pacer = createBucketPacer({ reserve: 0.2, share: 1, now: clock.now, random: () => 0, sleep: async (ms) => clock.advance(ms) });
    const fake = createFakeTokens();
    const client = createManagementClient({ origin: ORIGIN, dispatcher: agent, tokens: fake.tokens, timeouts, now: clock.now, logger: silent, pacer });
    const pool = agent.get(ORIGIN);
    pool.intercept({ path: '/api/v2/users/u1', method: 'GET' }).reply(429, AUTH0_ERRORS.tooManyRequests, { headers: { 'retry-after': '3' } });
    pool.intercept({ path: '/api/v2/users/u2', method: 'GET' }).reply(200, { user_id: 'u2' });

    // Act
    const first = await client.call(getUser('u1')).catch((caught: unknown) => caught);
    const rateLimitedAt = clock.now();
    const second = await client.call(getUser('u2'), { waitUntil: clock.now() + 1_000 }).catch((caught: unknown) => caught);
    const third = await client.call(getUser('u2'), { waitUntil: clock.now() + 10_000 });

    // Assess: the 429 is not retried; the second call is refused without a request; the third waits 3 s
    expect(first).toBeInstanceOf(RateLimitedError);
    expect(first).toMatchObject({ code: 'rate_limited', status: 429, auth0ErrorCode: 'too_many_requests', retryAt: rateLimitedAt + 3_000 });
    expect(second).toBeInstanceOf(RateLimitedError);
    expect(second).toMatchObject({ code: 'throttled', retryAt: rateLimitedAt + 3_000 });
    expect(third).toEqual({ user_id: 'u2' });
    expect(clock.now() - rateLimitedAt).toBe(3_000);
  });

  it.each([
    [400, AUTH0_ERRORS.badRequest, 'http_400', 'invalid_body'],
    [403, AUTH0_ERRORS.insufficientScope, 'insufficient_scope', 'insufficient_scope'],
    [404, AUTH0_ERRORS.notFound, 'http_404', 'inexistent_user'],
    [409, AUTH0_ERRORS.conflict, 'http_409', 'auth0_idp_error'],
  ])('classifies HTTP %i as permanent with Auth0 errorCode', async (status, body, code, auth0ErrorCode) => {
    // Prepare
    const { client } = create();
    agent.get(ORIGIN).intercept({ path: '/api/v2/users/u1', method: 'GET' }).reply(status, body);

    // Act
    const error = await client.call(getUser('u1')).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ code, status, auth0ErrorCode, retryable: false });
    expect((error as Error).message).toContain(body.message);
  });

  it.each([500, 502, 503, 408])('classifies HTTP %i as retryable', async (status) => {
    // Prepare
    const { client } = create();
    agent.get(ORIGIN).intercept({ path: '/api/v2/users/u1', method: 'GET' }).reply(status, 'upstream trouble');

    // Act
    const error = await client.call(getUser('u1')).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(RetryableError);
    expect(error).toMatchObject({ code: 'auth0_unavailable', status, retryable: true });
  });

  it('turns a network failure into a retryable error', async () => {
    // Prepare
    const { client } = create();
    agent.get(ORIGIN).intercept({ path: '/api/v2/users/u1', method: 'GET' }).replyWithError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));

    // Act
    const error = await client.call(getUser('u1')).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(RetryableError);
    expect(error).toMatchObject({ code: 'network' });
  });

  it('refuses a call the token has no scope for, naming the scopes and the route, without a request', async () => {
    // Prepare
    const { client } = create(createFakeTokens('read:users'));

    // Act
    const error = await client
      .call({ method: 'POST', route: '/api/v2/users/{id}/roles', params: { id: 'u1' }, json: { roles: ['rol_1'] }, scopes: ['update:users', 'create:role_members'] })
      .catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ code: 'insufficient_scope' });
    expect((error as Error).message).toContain('POST /api/v2/users/{id}/roles');
    expect((error as Error).message).toContain('update:users, create:role_members');
  });

  it('after the grant is fixed, drops a token older than a minute that lacks the scope, instead of refusing with it for a day', async () => {
    // Prepare: the first token lacks create:role_members; the grant is fixed; the next token has it
    const fake = createFakeTokens('read:users', { now: clock.now, scopesLater: 'read:users create:role_members' });
    const { client } = create(fake);
    const call = { method: 'POST', route: '/api/v2/users/{id}/roles', params: { id: 'u1' }, json: { roles: ['rol_1'] }, scopes: ['update:users', 'create:role_members'] } as const;
    agent.get(ORIGIN).intercept({ path: '/api/v2/users/u1/roles', method: 'POST' }).reply(204, '');

    // Act
    const fresh = await client.call(call).catch((caught: unknown) => caught);
    clock.advance(61_000);
    const later = await client.call(call);

    // Assess: a token just fetched is trusted; one over a minute old is replaced once
    expect(fresh).toMatchObject({ code: 'insufficient_scope' });
    expect(later).toBeUndefined();
    expect(fake.issued).toHaveLength(2);
  });

  it('gives up waiting for a token at the invocation\'s deadline, as a retryable deadline error', async () => {
    // Prepare: a token fetch that never ends
    const stalled: TokenSource = { get: () => new Promise(() => {}), invalidate() {} };
    const { client } = create({ ...createFakeTokens(), tokens: stalled });
    const deadline = new AbortController();

    // Act
    const pending = client.call({ method: 'GET', route: '/api/v2/users/{id}', params: { id: 'u1' }, scopes: ['read:users'] }, { signal: deadline.signal });
    deadline.abort();

    // Assess
    await expect(pending).rejects.toMatchObject({ code: 'deadline', kind: 'retryable' });
  });
});
