import type { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTokenSource } from '../../../shared/auth0/token.ts';
import { RateLimitedError, RetryableError } from '../../../shared/errors.ts';
import type { ClientCredentials } from '../../../shared/secrets.ts';
import { AUDIENCE, ORIGIN, createClock, createMockAgent, signAccessToken } from '../../helpers/auth0.ts';
import { createLogger } from '../../../shared/logger.ts';
import { rememberSecrets, suiteLog } from '../../helpers/suite-logs.ts';

const timeouts = { headersTimeoutMs: 1_000, bodyTimeoutMs: 1_000 };
/** Their lines go with the run's other logs, which the end-of-run check reads for tokens and secrets. */
const silent = createLogger({ service: 'worker', level: 'debug', write: suiteLog('token') });
rememberSecrets(['secret-one', 'secret-two']);

describe('Function: createTokenSource()', () => {
  let agent: MockAgent;
  let clock: ReturnType<typeof createClock>;
  let secretReads: number;
  let stored: ClientCredentials;
  let versions: ClientCredentials[];
  let fetched: number;

  beforeEach(() => {
    agent = createMockAgent();
    clock = createClock();
    secretReads = 0;
    fetched = 0;
    stored = { clientId: 'client-1', clientSecret: 'secret-one' };
    versions = [];
  });

  afterEach(async () => {
    agent.assertNoPendingInterceptors();
    await agent.close();
  });

  const create = () =>
    createTokenSource({
      origin: ORIGIN,
      audience: AUDIENCE,
      readCredentials: async () => {
        secretReads += 1;
        return versions[secretReads - 1] ?? versions.at(-1) ?? stored;
      },
      dispatcher: agent,
      timeouts,
      now: clock.now,
      logger: silent,
      onTokenFetched: () => {
        fetched += 1;
      },
    });

  const tokenAnswer = async (options: { expiresIn?: number; scope?: string } = {}) => {
    const scope = options.scope ?? 'read:users update:users';
    const accessToken = await signAccessToken({ now: clock.now(), scope, ...options });
    return { access_token: accessToken, expires_in: options.expiresIn ?? 86_400, scope, token_type: 'Bearer' };
  };

  it('posts the client-credentials grant with the audience and reads scopes and expiry from the JWT', async () => {
    // Prepare
    const answer = await tokenAnswer({ scope: 'read:users read:roles' });
    let sent: unknown;
    agent
      .get(ORIGIN)
      .intercept({ path: '/oauth/token', method: 'POST' })
      .reply((options) => {
        sent = JSON.parse(String(options.body));
        return { statusCode: 200, data: answer, responseOptions: { headers: { 'content-type': 'application/json' } } };
      });

    // Act
    const token = await create().get();

    // Assess
    expect(sent).toEqual({ grant_type: 'client_credentials', client_id: 'client-1', client_secret: 'secret-one', audience: AUDIENCE });
    expect(token.value).toBe(answer.access_token);
    expect([...(token.scopes ?? [])]).toEqual(['read:users', 'read:roles']);
    expect(token.refreshAt).toBe(clock.now() + 86_400_000 - 60_000);
  });

  it('shares one fetch between concurrent callers and caches the token', async () => {
    // Prepare
    agent.get(ORIGIN).intercept({ path: '/oauth/token', method: 'POST' }).reply(200, await tokenAnswer()).delay(20);
    const tokens = create();

    // Act
    const all = await Promise.all(Array.from({ length: 20 }, () => tokens.get()));
    const later = await tokens.get();

    // Assess
    expect(new Set(all.map((token) => token.value)).size).toBe(1);
    expect(later).toBe(all[0]);
    expect(fetched).toBe(1);
    expect(secretReads).toBe(1);
  });

  it('fetches a new token shortly before exp, without reading the secret again', async () => {
    // Prepare
    const pool = agent.get(ORIGIN);
    pool.intercept({ path: '/oauth/token', method: 'POST' }).reply(200, await tokenAnswer({ expiresIn: 3_600 }));
    const tokens = create();
    const first = await tokens.get();
    clock.advance(3_600_000 - 60_000);
    pool.intercept({ path: '/oauth/token', method: 'POST' }).reply(200, await tokenAnswer({ expiresIn: 3_600 }));

    // Act
    const second = await tokens.get();

    // Assess
    expect(second.value).not.toBe(first.value);
    expect(fetched).toBe(2);
    expect(secretReads).toBe(1);
  });

  it('fetches a new token after invalidate()', async () => {
    // Prepare
    const pool = agent.get(ORIGIN);
    pool.intercept({ path: '/oauth/token', method: 'POST' }).reply(200, await tokenAnswer());
    const tokens = create();
    const first = await tokens.get();
    clock.advance(1_000);
    pool.intercept({ path: '/oauth/token', method: 'POST' }).reply(200, await tokenAnswer());

    // Act
    tokens.invalidate(first);
    const second = await tokens.get();

    // Assess
    expect(second.value).not.toBe(first.value);
    expect(fetched).toBe(2);
  });

  it('re-reads the secret once when Auth0 rejects the credentials, and uses the rotated one', async () => {
    // Prepare
    const pool = agent.get(ORIGIN);
    pool
      .intercept({ path: '/oauth/token', method: 'POST', body: (body) => body.includes('secret-one') })
      .reply(401, { error: 'access_denied', error_description: 'Unauthorized' });
    pool.intercept({ path: '/oauth/token', method: 'POST', body: (body) => body.includes('secret-two') }).reply(200, await tokenAnswer());
    const tokens = create();
    // The first read sees the old secret; by the second read the store holds the rotated one.
    versions = [stored, { clientId: 'client-1', clientSecret: 'secret-two' }];

    // Act
    const token = await tokens.get();

    // Assess
    expect(token.value).toMatch(/^eyJ/);
    expect(secretReads).toBe(2);
  });

  it('fails with a retryable error that names the fix, never the secret, when the credentials stay wrong', async () => {
    // Prepare
    agent
      .get(ORIGIN)
      .intercept({ path: '/oauth/token', method: 'POST' })
      .reply(401, { error: 'access_denied', error_description: 'Unauthorized' });

    // Act
    const error = await create().get().catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(RetryableError);
    expect(error).toMatchObject({ code: 'auth0_credentials_rejected', auth0ErrorCode: 'access_denied', status: 401 });
    expect((error as Error).message).toContain('AUTH0_SECRET_ID');
    expect((error as Error).message).not.toContain('secret-one');
    expect(secretReads).toBe(2);
  });

  it('after a 429 from /oauth/token, asks again only once the wait is over', async () => {
    // Prepare
    const pool = agent.get(ORIGIN);
    pool.intercept({ path: '/oauth/token', method: 'POST' }).reply(429, { error: 'too_many_requests' }, { headers: { 'retry-after': '2' } });
    const tokens = create();

    // Act
    const first = await tokens.get().catch((caught: unknown) => caught);
    const second = await tokens.get().catch((caught: unknown) => caught);
    clock.advance(2_000);
    pool.intercept({ path: '/oauth/token', method: 'POST' }).reply(200, await tokenAnswer());
    const third = await tokens.get();

    // Assess
    expect(first).toBeInstanceOf(RateLimitedError);
    expect(second).toBeInstanceOf(RateLimitedError);
    expect(third.value).toMatch(/^eyJ/);
  });

  it('does not keep a failed secret read: the next call reads again', async () => {
    // Prepare
    let reads = 0;
    const tokens = createTokenSource({
      origin: ORIGIN,
      audience: AUDIENCE,
      readCredentials: async () => {
        reads += 1;
        if (reads === 1) throw new RetryableError('secret_unavailable', 'could not read secret');
        return stored;
      },
      dispatcher: agent,
      timeouts,
      now: clock.now,
      logger: silent,
    });
    agent.get(ORIGIN).intercept({ path: '/oauth/token', method: 'POST' }).reply(200, await tokenAnswer());

    // Act
    const first = await tokens.get().catch((caught: unknown) => caught);
    const second = await tokens.get();

    // Assess
    expect(first).toMatchObject({ code: 'secret_unavailable' });
    expect(second.value).toMatch(/^eyJ/);
    expect(reads).toBe(2);
  });
});
