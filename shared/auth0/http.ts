import type { Dispatcher } from 'undici';
import { RetryableError } from '../errors.ts';

/** An HTTP answer from Auth0, its body read and parsed when it is JSON. */
export interface Auth0Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Parsed JSON, or `undefined` for an empty or non-JSON body. */
  readonly body: unknown;
}

/** One request to Auth0. `path` must already be encoded. */
export interface Auth0Request {
  readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly json?: unknown;
  readonly signal?: AbortSignal | undefined;
}

/** Timeouts for every Auth0 call; each well inside the Lambda timeout. */
export interface HttpTimeouts {
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
}

/** Largest answer body read; anything larger from the endpoints we call means something is wrong. */
const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

/**
 * Sends one request over the shared dispatcher and reads the whole answer.
 * Network failures and timeouts become a {@link RetryableError}; HTTP statuses are left to the caller.
 */
export async function sendToAuth0(
  dispatcher: Dispatcher,
  origin: string,
  request: Auth0Request,
  timeouts: HttpTimeouts,
): Promise<Auth0Answer> {
  const headers: Record<string, string> = { accept: 'application/json', ...request.headers };
  let body: string | undefined;
  if (request.json !== undefined) {
    body = JSON.stringify(request.json);
    headers['content-type'] = 'application/json';
  }
  try {
    const answer = await dispatcher.request({
      origin,
      path: request.path,
      method: request.method,
      headers,
      body,
      headersTimeout: timeouts.headersTimeoutMs,
      bodyTimeout: timeouts.bodyTimeoutMs,
      signal: request.signal,
    });
    const text = await readText(answer.body);
    return { status: answer.statusCode, headers: answer.headers, body: parseJson(text, answer.headers['content-type']) };
  } catch (error) {
    throw translateNetworkError(error, request);
  }
}

async function readText(body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_ANSWER_BYTES) {
      body.destroy();
      throw new RetryableError('answer_too_large', `Auth0 answer exceeded ${MAX_ANSWER_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string, contentType: string | string[] | undefined): unknown {
  if (text === '') return undefined;
  const type = Array.isArray(contentType) ? contentType[0] : contentType;
  if (type !== undefined && !type.includes('json')) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

/** Turns an undici or socket error into a product error; the request's headers (the token) never enter it. */
function translateNetworkError(error: unknown, request: Auth0Request): Error {
  if (error instanceof RetryableError) return error;
  const code =
    typeof error === 'object' && error !== null && 'code' in error ? String(error.code)
    : error instanceof Error ? error.name
    : 'unknown';
  const route = `${request.method} ${request.path.split('?')[0]}`;
  if (request.signal?.aborted) {
    return new RetryableError('deadline', `${route} was cut short: the invocation is about to time out`, {}, { cause: error });
  }
  if (TIMEOUT_CODES.has(code)) {
    return new RetryableError('timeout', `${route} timed out (${code})`, {}, { cause: error });
  }
  return new RetryableError('network', `${route} failed on the network (${code})`, {}, { cause: error });
}
