import type { Dispatcher } from 'undici';
import { createHttpAgent } from '../http-agent.ts';
import type { Logger } from '../logger.ts';
import type { ReadCredentials } from '../secrets.ts';
import { type ManagementClient, createManagementClient } from './client.ts';
import type { BucketPacer } from './bucket-pacer.ts';
import { createTokenSource } from './token.ts';

/** The product's user agent on Management API calls. */
export const USER_AGENT = 'auth0-queue-worker/0.1';

/**
 * Wires a Management API client for one container: one keep-alive HTTP agent (connect timeout 3 s at most),
 * one token source fed by the secret reader, the same timeouts for headers and body.
 *
 * @example
 * const client = createAuth0Client({ origin, audience, readCredentials, httpTimeoutMs: 10_000, now: Date.now, logger });
 */
export function createAuth0Client(options: {
  readonly origin: string;
  readonly audience: string;
  readonly readCredentials: ReadCredentials;
  readonly httpTimeoutMs: number;
  readonly now: () => number;
  readonly logger: Pick<Logger, 'debug' | 'info' | 'warn'>;
  /** Agent connections; default 6. */
  readonly connections?: number;
  /** A dispatcher to use instead of a new agent (undici MockAgent in tests). */
  readonly dispatcher?: Dispatcher;
  /** Paces calls to the tenant's rate limit (the worker's); without one, calls go out at once. */
  readonly pacer?: BucketPacer;
  readonly onTokenFetched?: () => void;
  readonly onRateLimited?: () => void;
  readonly onPaced?: (waitedMs: number) => void;
}): ManagementClient {
  const { origin, now, logger } = options;
  const timeouts = { headersTimeoutMs: options.httpTimeoutMs, bodyTimeoutMs: options.httpTimeoutMs };
  const dispatcher =
    options.dispatcher ?? createHttpAgent({ connect: { timeout: Math.min(3_000, options.httpTimeoutMs) }, keepAliveTimeout: 30_000, connections: options.connections ?? 6 });
  const tokens = createTokenSource({
    origin,
    audience: options.audience,
    readCredentials: options.readCredentials,
    dispatcher,
    timeouts,
    now,
    logger,
    ...(options.onTokenFetched === undefined ? {} : { onTokenFetched: options.onTokenFetched }),
  });
  return createManagementClient({
    origin,
    dispatcher,
    tokens,
    timeouts,
    now,
    logger,
    userAgent: USER_AGENT,
    ...(options.pacer === undefined ? {} : { pacer: options.pacer }),
    ...(options.onRateLimited === undefined ? {} : { onRateLimited: options.onRateLimited }),
    ...(options.onPaced === undefined ? {} : { onPaced: options.onPaced }),
  });
}
