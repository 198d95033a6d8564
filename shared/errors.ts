/**
 * The one error taxonomy of the product. Every failure that reaches the queue layer is one of these,
 * and the queue layer reads only `kind`, `code` and `retryable`: never the message prose.
 *
 * Classes carry a literal `name` because minification renames classes.
 */

/** What the queue layer does with a failed job. */
export type FailureKind = 'rate_limited' | 'retryable' | 'permanent';

/** Details kept for the dead-letter attributes and logs. Never holds a token, secret or metadata value. */
export interface FailureDetails {
  /** HTTP status of the answer that caused the failure, when there was one. */
  readonly status?: number;
  /** Auth0's `errorCode` from the error body, when it gave one. */
  readonly auth0ErrorCode?: string;
}

/** Base of every product error: a stable `code` and whether trying again later can succeed. */
export abstract class JobError extends Error {
  abstract readonly kind: FailureKind;
  readonly code: string;
  readonly status: number | undefined;
  readonly auth0ErrorCode: string | undefined;

  constructor(code: string, message: string, details: FailureDetails = {}, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.status = details.status;
    this.auth0ErrorCode = details.auth0ErrorCode;
  }

  /** True when the same job can succeed later. */
  get retryable(): boolean {
    return this.kind !== 'permanent';
  }
}

/** Auth0 answered 429 (`rate_limited`), or the tenant's bucket has no room for the call in time (`throttled`). */
export class RateLimitedError extends JobError {
  override readonly name = 'RateLimitedError';
  readonly kind = 'rate_limited' as const;
  /** Epoch milliseconds before which no call should be made. */
  readonly retryAt: number;

  /**
   * @param options.code `rate_limited` (the default) when Auth0 answered 429; `throttled` when the container's
   *   pacer found no room in the tenant's bucket in time and made no request.
   */
  constructor(retryAt: number, message: string, details: FailureDetails = {}, options: ErrorOptions & { code?: 'rate_limited' | 'throttled' } = {}) {
    super(options.code ?? 'rate_limited', message, details, options);
    this.retryAt = retryAt;
  }
}

/** A failure that may pass on a later try: 5xx, network, timeout, the function's own deadline. */
export class RetryableError extends JobError {
  override readonly name = 'RetryableError';
  readonly kind = 'retryable' as const;
}

/** A job that can never succeed as written: invalid input, outside the policy, or refused by Auth0. */
export class PermanentError extends JobError {
  override readonly name = 'PermanentError';
  readonly kind = 'permanent' as const;
}

/** A deployment setting that is missing or invalid; thrown at init, naming the variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'invalid_config';
  /** The environment variable at fault. */
  readonly variable: string;

  constructor(variable: string, message: string) {
    super(message);
    this.variable = variable;
  }
}

/** Narrowing helper for `catch (error: unknown)`. */
export function isJobError(error: unknown): error is JobError {
  return error instanceof JobError;
}
