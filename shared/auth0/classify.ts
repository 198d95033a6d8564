import { type JobError, PermanentError, RateLimitedError, RetryableError } from '../errors.ts';
import type { Auth0Answer } from './http.ts';
import { rateLimitDelayMs, readRateLimit } from './rate-limit.ts';

/** Longest Auth0 message kept: enough for any documented message, bounded for queue attributes. */
const MAX_MESSAGE_LENGTH = 500;

/**
 * The one place an unsuccessful Management API answer becomes a product error.
 * - 429: {@link RateLimitedError}, with when to try again;
 * - 408, 5xx: {@link RetryableError};
 * - 401: {@link RetryableError} `unauthorized` (a fresh token has already been tried; the fix is in the
 *   deployment, and the job should survive until it is made);
 * - any other 4xx (400, 403, 404, 409…): {@link PermanentError}, carrying Auth0's `errorCode` and message.
 */
export function classifyAnswer(answer: Auth0Answer, route: string, now: number): JobError {
  const { status } = answer;
  const { errorCode, message } = readErrorBody(answer.body);
  const details = { status, ...(errorCode === undefined ? {} : { auth0ErrorCode: errorCode }) };
  const said = message === undefined ? '' : `: ${message}`;
  if (status === 429) {
    const retryAt = now + rateLimitDelayMs(readRateLimit(answer.headers, now), now);
    return new RateLimitedError(retryAt, `${route} was rate limited by Auth0${said}`, details);
  }
  if (status === 401) {
    return new RetryableError(
      'unauthorized',
      `${route} refused the Management API token${said} (check AUTH0_AUDIENCE: it must be https://{tenant}.auth0.com/api/v2/, even with a custom domain)`,
      details,
    );
  }
  if (status === 408 || status >= 500) {
    return new RetryableError('auth0_unavailable', `${route} failed with HTTP ${status}${said}`, details);
  }
  const code = status === 403 && errorCode === 'insufficient_scope' ? 'insufficient_scope' : `http_${status}`;
  return new PermanentError(code, `${route} was refused with HTTP ${status}${said}`, details);
}

/** Reads Auth0's `{statusCode, error, message, errorCode}` error body, tolerating anything else. */
export function readErrorBody(body: unknown): { errorCode: string | undefined; message: string | undefined } {
  if (typeof body !== 'object' || body === null) return { errorCode: undefined, message: undefined };
  const record = body as Record<string, unknown>;
  const text = (value: unknown) =>
    typeof value === 'string' && value !== '' ? value.slice(0, MAX_MESSAGE_LENGTH) : undefined;
  return {
    // Management API bodies carry `errorCode`; /oauth/token bodies carry a snake_case `error` instead.
    errorCode: text(record['errorCode']) ?? text(record['error'])?.match(/^[a-z_]+$/)?.[0],
    message: text(record['message']) ?? text(record['error_description']),
  };
}
