import type { Dispatcher } from 'undici';
import { PermanentError, RateLimitedError, RetryableError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { classifyAnswer, readErrorBody } from './classify.ts';
import { type Auth0Answer, type HttpTimeouts, sendToAuth0 } from './http.ts';
import type { BucketPacer } from './bucket-pacer.ts';
import { type RateLimitInfo, readRateLimit } from './rate-limit.ts';
import type { AccessToken, TokenSource } from './token.ts';

/** One Management API call, described by its route so that errors and scope checks can name it. */
export interface ManagementCall {
  readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** The route as Auth0 documents it, e.g. `/api/v2/users/{id}/roles`. */
  readonly route: string;
  /** Values for the route's `{params}`; each is percent-encoded as a whole. */
  readonly params?: Readonly<Record<string, string>>;
  readonly query?: Readonly<Record<string, string | number | boolean>>;
  readonly json?: unknown;
  /** Scopes of which the token needs any one. */
  readonly scopes: readonly string[];
}

/** Per-call context: the job's correlation id, the invocation's deadline signal, and how long a call may wait. */
export interface CallContext {
  readonly correlationId?: string | undefined;
  readonly signal?: AbortSignal | undefined;
  /**
   * Epoch milliseconds after which a call must not start: a call the pacer cannot start by then fails at
   * once with a `throttled` {@link RateLimitedError}, without a request. Default: no limit.
   */
  readonly waitUntil?: number | undefined;
}

/** The Management API v2, as the jobs use it. */
export interface ManagementClient {
  /** Sends one call; resolves with the parsed body of a 2xx answer, throws a product error otherwise. */
  call(call: ManagementCall, context?: CallContext): Promise<unknown>;
  /** The rate-limit headers of the latest answer, if any. */
  lastRateLimit(): RateLimitInfo | undefined;
}

/** Options of {@link createManagementClient}. */
export interface ManagementClientOptions {
  readonly origin: string;
  readonly dispatcher: Dispatcher;
  readonly tokens: TokenSource;
  readonly timeouts: HttpTimeouts;
  readonly now: () => number;
  readonly logger: Pick<Logger, 'debug' | 'warn'>;
  /** Paces every call to the tenant's rate limits, bucket by bucket; without one, calls go out at once. */
  readonly pacer?: BucketPacer;
  /** Called on every 429 Auth0 answers (for the RateLimited metric). */
  readonly onRateLimited?: () => void;
  /** Called when a call waited for room in the tenant's bucket before it started, with the wait. */
  readonly onPaced?: (waitedMs: number) => void;
  readonly userAgent?: string;
}

/**
 * Creates the container's Management API client.
 *
 * - Every path parameter is percent-encoded as a whole (`auth0|1` → `auth0%7C1`, `/` → `%2F`).
 * - The token's scopes are checked before the call, so a missing grant fails with the scope and route.
 * - A 401 drops the token, fetches a new one and retries the call once.
 * - Every call waits its turn with the pacer (the tenant's bucket, as the `x-ratelimit-*` headers describe
 *   it, above the reserve), but not past the context's `waitUntil`: a call that would wait longer fails
 *   at once with a `throttled` {@link RateLimitedError}, and the queue layer puts the work back.
 * - A 429 is never retried here: it fails the call with a {@link RateLimitedError}, and the pacer holds the
 *   container's next calls until the bucket has room again.
 *
 * @example
 * const user = await client.call({ method: 'GET', route: '/api/v2/users/{id}', params: { id }, scopes: ['read:users'] });
 */
export function createManagementClient(options: ManagementClientOptions): ManagementClient {
  const { origin, dispatcher, tokens, timeouts, now, logger, pacer } = options;
  let latest: RateLimitInfo | undefined;

  const send = async (call: ManagementCall, path: string, token: AccessToken, context: CallContext): Promise<Auth0Answer> => {
    const headers: Record<string, string> = { authorization: `Bearer ${token.value}` };
    if (options.userAgent !== undefined) headers['user-agent'] = options.userAgent;
    if (context.correlationId !== undefined) headers['x-correlation-id'] = context.correlationId;
    const ticket = await pacer?.acquire({ method: call.method, route: call.route }, { waitUntil: context.waitUntil, signal: context.signal });
    if (ticket !== undefined && ticket.waitedMs > 0) options.onPaced?.(ticket.waitedMs);
    let answer: Auth0Answer;
    try {
      answer = await sendToAuth0(dispatcher, origin, { method: call.method, path, headers, json: call.json, signal: context.signal }, timeouts);
    } catch (error) {
      if (ticket !== undefined) pacer?.settle(ticket);
      throw error;
    }
    latest = readRateLimit(answer.headers, now());
    if (ticket !== undefined) pacer?.observe(ticket, latest, answer.status === 429);
    return answer;
  };

  return {
    async call(call, context = {}) {
      const name = `${call.method} ${call.route}`;
      const path = buildPath(call);
      for (let attempt = 1; ; attempt++) {
        const token = await untilDeadline(tokens.get(), context.signal, `${name}: waiting for a Management API token`);
        if (!hasScope(token, call.scopes)) {
          // The grant may have been fixed since this token was minted (docs/operations.md: fix, then redrive):
          // a token older than a minute is dropped and a fresh one asked for, once per call.
          if (attempt === 1 && now() - token.fetchedAt >= SCOPE_RECHECK_MS) {
            tokens.invalidate(token);
            continue;
          }
          throw scopeError(call.scopes, name);
        }
        const answer = await send(call, path, token, context);
        if (answer.status >= 200 && answer.status < 300) return answer.body;
        if (attempt === 1 && (answer.status === 401 || (isInsufficientScope(answer) && now() - token.fetchedAt >= SCOPE_RECHECK_MS))) {
          logger.warn('management API refused the token; fetching a new one', { route: name });
          tokens.invalidate(token);
          continue;
        }
        const error = classifyAnswer(answer, name, now());
        if (error instanceof RateLimitedError) options.onRateLimited?.();
        throw error;
      }
    },
    lastRateLimit: () => latest,
  };
}

/**
 * Builds the request path, encoding every parameter as a whole so that no id can change the path.
 * `.` and `..` survive percent-encoding and would still walk the path, so they are refused outright.
 */
export function buildPath(call: Pick<ManagementCall, 'route' | 'params' | 'query'>): string {
  const path = call.route.replace(/\{(\w+)\}/g, (_, key: string) => {
    const value = call.params?.[key];
    if (value === undefined) throw new TypeError(`${call.route}: no value for {${key}}`);
    if (value === '' || value === '.' || value === '..') {
      throw new PermanentError('invalid_path_parameter', `${call.route}: {${key}} may not be empty, "." or ".."`);
    }
    return encodeURIComponent(value);
  });
  if (call.query === undefined) return path;
  const query = new URLSearchParams(Object.entries(call.query).map(([key, value]): [string, string] => [key, String(value)]));
  return `${path}?${query.toString()}`;
}

/** Age past which a token that lacks a scope is replaced before the call is refused. */
const SCOPE_RECHECK_MS = 60_000;

function hasScope(token: AccessToken, scopes: readonly string[]): boolean {
  return token.scopes === undefined || scopes.some((scope) => token.scopes?.has(scope));
}

function isInsufficientScope(answer: Auth0Answer): boolean {
  return answer.status === 403 && readErrorBody(answer.body).errorCode === 'insufficient_scope';
}

/**
 * Waits for `promise`, but no longer than `signal` allows: a shared fetch (a token, a secret) that stalls
 * must not hold the invocation past its deadline. The fetch itself goes on, for the next caller.
 */
function untilDeadline<T>(promise: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (signal === undefined) return promise;
  const cut = () => new RetryableError('deadline', `${what} was cut short: the invocation is about to time out`);
  if (signal.aborted) return Promise.reject(cut());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(cut());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function scopeError(scopes: readonly string[], name: string): PermanentError {
  return new PermanentError(
    'insufficient_scope',
    `${name} needs one of the scopes ${scopes.join(', ')}, and the Management API token has none of them: ` +
      'grant it in the Auth0 Dashboard (Applications > APIs > Auth0 Management API > Machine to Machine Applications), then redrive the dead-lettered jobs',
  );
}
