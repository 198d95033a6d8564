import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, generateKeyPair, jwtVerify } from 'jose';

/** A stored user, as far as the worker's calls touch it. */
export interface StubUser {
  user_id: string;
  email?: string;
  app_metadata: Record<string, unknown>;
  user_metadata: Record<string, unknown>;
  [field: string]: unknown;
}

/**
 * A small stand-in for one Auth0 tenant on loopback, covering the calls of the worker's bundle test:
 * `/oauth/token` (RS256 JWTs), `PATCH /api/v2/users/{id}` with Auth0's top-level metadata merge, the
 * documented error bodies, and rate-limit headers on every answer.
 */
export async function startAuth0Stub(options: { clientId: string; clientSecret: string; scope: string }) {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const users = new Map<string, StubUser>();
  const requests: Array<{ method: string; path: string; correlationId: string | undefined }> = [];
  let tokensIssued = 0;
  let rateLimitNext = 0;
  let origin = '';

  const send = (response: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}) => {
    const now = Math.floor(Date.now() / 1000);
    response.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'x-ratelimit-limit': '50',
      'x-ratelimit-remaining': status === 429 ? '0' : '49',
      'x-ratelimit-reset': String(now + (status === 429 ? 4 : 1)),
      ...headers,
    });
    response.end(body === undefined ? undefined : JSON.stringify(body));
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const url = new URL(request.url ?? '/', origin);
    const correlation = request.headers['x-correlation-id'];
    requests.push({ method: request.method ?? '', path: url.pathname + url.search, correlationId: typeof correlation === 'string' ? correlation : undefined });
    let body: Record<string, unknown> = {};
    try {
      body = chunks.length > 0 ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {};
    } catch {
      return send(response, 400, { statusCode: 400, error: 'Bad Request', message: 'Invalid request payload JSON format', errorCode: 'invalid_body' });
    }

    if (request.method === 'POST' && url.pathname === '/oauth/token') {
      if (body['client_id'] !== options.clientId || body['client_secret'] !== options.clientSecret) {
        return send(response, 401, { error: 'access_denied', error_description: 'Unauthorized' });
      }
      if (body['audience'] !== `${origin}/api/v2/`) {
        return send(response, 403, { error: 'access_denied', error_description: 'Service not enabled within domain' });
      }
      tokensIssued += 1;
      const token = await new SignJWT({ scope: options.scope, gty: 'client-credentials', azp: options.clientId })
        .setProtectedHeader({ alg: 'RS256' })
        .setIssuer(`${origin}/`)
        .setSubject(`${options.clientId}@clients`)
        .setAudience(`${origin}/api/v2/`)
        .setIssuedAt()
        .setExpirationTime('24h')
        .sign(privateKey);
      return send(response, 200, { access_token: token, expires_in: 86_400, scope: options.scope, token_type: 'Bearer' });
    }

    if (rateLimitNext > 0) {
      rateLimitNext -= 1;
      return send(response, 429, { statusCode: 429, error: 'Too Many Requests', message: 'Global limit has been reached', errorCode: 'too_many_requests' }, { 'retry-after': '2' });
    }
    const bearer = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
    try {
      if (bearer === undefined) throw new Error('missing');
      await jwtVerify(bearer, publicKey, { audience: `${origin}/api/v2/`, issuer: `${origin}/` });
    } catch {
      return send(response, 401, { statusCode: 401, error: 'Unauthorized', message: 'Invalid token', attributes: { error: 'Invalid token' } }, { 'www-authenticate': 'Token error="Invalid token"' });
    }

    const match = /^\/api\/v2\/users\/([^/]+)$/.exec(url.pathname);
    if (request.method === 'PATCH' && match?.[1] !== undefined) {
      const user = users.get(decodeURIComponent(match[1]));
      if (user === undefined) return send(response, 404, { statusCode: 404, error: 'Not Found', message: 'The user does not exist.', errorCode: 'inexistent_user' });
      for (const [field, value] of Object.entries(body)) {
        if (field === 'app_metadata' || field === 'user_metadata') {
          // Auth0 merges metadata at the top level only: null removes a key, objects replace.
          for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
            if (inner === null) delete user[field][key];
            else user[field][key] = inner;
          }
        } else {
          user[field] = value;
        }
      }
      return send(response, 200, user);
    }
    return send(response, 404, { statusCode: 404, error: 'Not Found', message: 'Not Found' });
  };

  const server = createServer((request, response) => void handle(request, response));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    origin,
    users,
    requests,
    tokensIssued: () => tokensIssued,
    /** Answers the next `count` Management API requests with 429 and `Retry-After: 2`. */
    rateLimit(count: number) {
      rateLimitNext = count;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
