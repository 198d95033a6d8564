import { SignJWT, generateKeyPair } from 'jose';
import { MockAgent } from 'undici';
import type { AccessToken, TokenSource } from '../../shared/auth0/token.ts';

/** Test tenant origin; MockAgent answers for it, nothing leaves the process. */
export const ORIGIN = 'https://acme.eu.auth0.com';
export const AUDIENCE = `${ORIGIN}/api/v2/`;

/** Every scope the worker's calls may need. */
export const ALL_SCOPES = 'read:users update:users read:roles create:role_members delete:role_members';

const keys = generateKeyPair('RS256');

/** Signs a Management-API-shaped RS256 access token, as Auth0 issues them. */
export async function signAccessToken(options: { now: number; expiresIn?: number; scope?: string; clientId?: string }): Promise<string> {
  const { privateKey } = await keys;
  const iat = Math.floor(options.now / 1000);
  const clientId = options.clientId ?? 'client-1';
  return new SignJWT({ scope: options.scope ?? ALL_SCOPES, gty: 'client-credentials', azp: clientId })
    .setProtectedHeader({ alg: 'RS256', kid: 'test' })
    .setIssuer(`${ORIGIN}/`)
    .setSubject(`${clientId}@clients`)
    .setAudience(AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(iat + (options.expiresIn ?? 86_400))
    .sign(privateKey);
}

/** A MockAgent that refuses any request no interceptor matches. */
export function createMockAgent(): MockAgent {
  const agent = new MockAgent();
  agent.disableNetConnect();
  return agent;
}

/** Auth0's documented error bodies (FACTS.md). */
export const AUTH0_ERRORS = {
  badRequest: { statusCode: 400, error: 'Bad Request', message: 'Payload validation error', errorCode: 'invalid_body' },
  invalidToken: { statusCode: 401, error: 'Unauthorized', message: 'Invalid token', attributes: { error: 'Invalid token' } },
  insufficientScope: {
    statusCode: 403,
    error: 'Forbidden',
    message: 'Insufficient scope, expected any of: update:users,create:role_members',
    errorCode: 'insufficient_scope',
  },
  notFound: { statusCode: 404, error: 'Not Found', message: 'The user does not exist.', errorCode: 'inexistent_user' },
  roleNotFound: { statusCode: 404, error: 'Not Found', message: 'The role does not exist.', errorCode: 'inexistent_role' },
  conflict: { statusCode: 409, error: 'Conflict', message: 'The user already exists.', errorCode: 'auth0_idp_error' },
  tooManyRequests: { statusCode: 429, error: 'Too Many Requests', message: 'Global limit has been reached', errorCode: 'too_many_requests' },
} as const;

/** A token source that hands out fixed tokens and counts what it was asked. */
export function createFakeTokens(scopes: string = ALL_SCOPES, options: { now?: () => number; scopesLater?: string } = {}) {
  let serial = 0;
  const issued: AccessToken[] = [];
  const invalidated: AccessToken[] = [];
  let current: AccessToken | undefined;
  const tokens: TokenSource = {
    async get() {
      if (current === undefined) {
        serial += 1;
        const granted = serial > 1 && options.scopesLater !== undefined ? options.scopesLater : scopes;
        current = { value: `token-${serial}`, scopes: new Set(granted.split(' ')), refreshAt: Number.MAX_SAFE_INTEGER, fetchedAt: options.now?.() ?? 0 };
        issued.push(current);
      }
      return current;
    },
    invalidate(token) {
      invalidated.push(token);
      if (current === token) current = undefined;
    },
  };
  return { tokens, issued, invalidated };
}

/** A controllable clock. */
export function createClock(start = Date.UTC(2026, 10, 23, 12, 0, 0)) {
  let time = start;
  return {
    now: () => time,
    advance(ms: number) {
      time += ms;
    },
  };
}
