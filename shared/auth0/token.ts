import { decodeJwt } from 'jose';
import type { Dispatcher } from 'undici';
import { type JobError, RateLimitedError, RetryableError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { ClientCredentials, ReadCredentials } from '../secrets.ts';
import { classifyAnswer, readErrorBody } from './classify.ts';
import { type HttpTimeouts, sendToAuth0 } from './http.ts';

/** A Management API access token and what it allows. */
export interface AccessToken {
  /** The bearer JWT. Never log it. */
  readonly value: string;
  /** Scopes granted to the application; `undefined` when Auth0 did not say. */
  readonly scopes: ReadonlySet<string> | undefined;
  /** Epoch milliseconds after which the token is no longer used. */
  readonly refreshAt: number;
  /** Epoch milliseconds the token was fetched. */
  readonly fetchedAt: number;
}

/** Gives out a cached Management API token, fetching one when needed. */
export interface TokenSource {
  /** A valid token; concurrent callers share one fetch. */
  get(): Promise<AccessToken>;
  /** Drops `token` (after a 401) so that the next `get()` fetches a new one. */
  invalidate(token: AccessToken): void;
}

/** Options of {@link createTokenSource}. */
export interface TokenSourceOptions {
  readonly origin: string;
  readonly audience: string;
  readonly readCredentials: ReadCredentials;
  readonly dispatcher: Dispatcher;
  readonly timeouts: HttpTimeouts;
  readonly now: () => number;
  readonly logger: Pick<Logger, 'info' | 'warn'>;
  /** Called once per token minted (for the TokensFetched metric). */
  readonly onTokenFetched?: () => void;
  /** How long before `exp` a token stops being used. Default 60 s, at most half its lifetime. */
  readonly refreshMarginMs?: number;
}

/** `/oauth/token` errors that mean the client id or secret is wrong: possibly a rotated secret. */
const CREDENTIAL_ERRORS = new Set(['access_denied', 'invalid_client', 'unauthorized_client']);

/**
 * Creates the container's token source: client credentials read once from Secrets Manager, tokens cached
 * until shortly before `exp`, one fetch in flight shared by every caller (the pattern of jose's
 * `createRemoteJWKSet`). When `/oauth/token` rejects the credentials, the secret is read again once, so a
 * rotated secret is picked up without a cold start.
 *
 * @example
 * const tokens = createTokenSource({ origin, audience, readCredentials, dispatcher, timeouts, now: Date.now, logger });
 * const { value } = await tokens.get();
 */
export function createTokenSource(options: TokenSourceOptions): TokenSource {
  const { origin, audience, dispatcher, timeouts, now, logger } = options;
  const margin = options.refreshMarginMs ?? 60_000;
  let credentials: Promise<ClientCredentials> | undefined;
  let cached: AccessToken | undefined;
  let inFlight: Promise<AccessToken> | undefined;
  let blockedUntil = 0;

  const readCredentials = (fresh: boolean) => {
    if (fresh || credentials === undefined) {
      const reading = options.readCredentials();
      credentials = reading;
      // A failed read is not kept: the next fetch reads again.
      reading.catch(() => {
        if (credentials === reading) credentials = undefined;
      });
    }
    return credentials;
  };

  const requestToken = async (client: ClientCredentials) =>
    sendToAuth0(
      dispatcher,
      origin,
      {
        method: 'POST',
        path: '/oauth/token',
        json: {
          grant_type: 'client_credentials',
          client_id: client.clientId,
          client_secret: client.clientSecret,
          audience,
        },
      },
      timeouts,
    );

  const fetchToken = async (): Promise<AccessToken> => {
    const firstCredentials = await readCredentials(false);
    let answer = await requestToken(firstCredentials);
    if (isCredentialError(answer.status, answer.body)) {
      // Maybe the secret was rotated since this container read it: read it once more before failing.
      const fresh = await readCredentials(true);
      if (fresh.clientId !== firstCredentials.clientId || fresh.clientSecret !== firstCredentials.clientSecret) {
        logger.info('client credentials rejected; retrying with the secret read again', { reason: 'rotation' });
        answer = await requestToken(fresh);
      }
    }
    const at = now();
    if (answer.status !== 200) throw tokenError(answer.status, answer.body, classifyAnswer(answer, 'POST /oauth/token', at), audience);
    const token = toAccessToken(answer.body, at, margin);
    options.onTokenFetched?.();
    logger.info('management API token fetched', {
      expiresInSeconds: Math.round((token.refreshAt - at) / 1000),
      scopes: token.scopes === undefined ? undefined : [...token.scopes].join(' '),
    });
    return token;
  };

  return {
    get() {
      const at = now();
      if (cached !== undefined && at < cached.refreshAt) return Promise.resolve(cached);
      if (at < blockedUntil) {
        return Promise.reject(new RateLimitedError(blockedUntil, 'POST /oauth/token is rate limited; waiting before asking again'));
      }
      inFlight ??= fetchToken()
        .then((token) => {
          cached = token;
          return token;
        })
        .catch((error: unknown) => {
          if (error instanceof RateLimitedError) blockedUntil = error.retryAt;
          throw error;
        })
        .finally(() => {
          inFlight = undefined;
        });
      return inFlight;
    },
    invalidate(token) {
      if (cached === token) cached = undefined;
    },
  };
}

function isCredentialError(status: number, body: unknown): boolean {
  if (status !== 401 && status !== 403) return false;
  const { errorCode } = readErrorBody(body);
  return errorCode !== undefined && CREDENTIAL_ERRORS.has(errorCode);
}

function tokenError(status: number, body: unknown, classified: JobError, audience: string): JobError {
  if (classified instanceof RateLimitedError || !(status === 401 || status === 403 || status === 400)) return classified;
  const { errorCode, message } = readErrorBody(body);
  // A refused grant is a deployment problem, not the job's: keep the job on the queue until it is fixed.
  return new RetryableError(
    'auth0_credentials_rejected',
    `Auth0 refused the client-credentials grant (${errorCode ?? `HTTP ${status}`}${message === undefined ? '' : `: ${message}`}): ` +
      `check clientId/clientSecret in the secret named by AUTH0_SECRET_ID and that the application is authorized for the audience ${audience}`,
    { status, ...(errorCode === undefined ? {} : { auth0ErrorCode: errorCode }) },
  );
}

function toAccessToken(body: unknown, at: number, margin: number): AccessToken {
  const record = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const value = record['access_token'];
  if (typeof value !== 'string' || value === '') {
    throw new RetryableError('token_invalid', 'POST /oauth/token answered 200 without an access_token');
  }
  let claims: { exp?: number; scope?: unknown } = {};
  try {
    claims = decodeJwt(value);
  } catch {
    throw new RetryableError('token_invalid', 'POST /oauth/token answered with an access token that is not a JWT');
  }
  const expiresIn = typeof record['expires_in'] === 'number' ? record['expires_in'] : undefined;
  const expiresAt = claims.exp !== undefined ? claims.exp * 1000 : at + (expiresIn ?? 0) * 1000;
  const lifetime = expiresAt - at;
  if (!(lifetime > 0)) throw new RetryableError('token_invalid', 'POST /oauth/token answered with an expired token');
  const scope = typeof record['scope'] === 'string' ? record['scope'] : claims.scope;
  return {
    value,
    scopes: typeof scope === 'string' ? new Set(scope.split(' ').filter(Boolean)) : undefined,
    refreshAt: expiresAt - Math.min(margin, lifetime / 2),
    fetchedAt: at,
  };
}
