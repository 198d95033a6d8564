import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { RetryableError } from './errors.ts';

/** The Auth0 application credentials kept in Secrets Manager. */
export interface ClientCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
}

/** Reads the client credentials; each call reads Secrets Manager anew (the token source caches). */
export type ReadCredentials = () => Promise<ClientCredentials>;

/** Longest a secret read (the SDK's retries included) may take. */
const DEFAULT_READ_TIMEOUT_MS = 10_000;

/**
 * Creates a reader of the JSON secret `{"clientId":"…","clientSecret":"…"}` named by `AUTH0_SECRET_ID`.
 * Failures become a {@link RetryableError} that names the secret id and the fix, never its content.
 *
 * @example
 * const readCredentials = createSecretReader(new SecretsManagerClient({}), config.auth0.secretId);
 */
export function createSecretReader(client: Pick<SecretsManagerClient, 'send'>, secretId: string, timeoutMs = DEFAULT_READ_TIMEOUT_MS): ReadCredentials {
  return async () => {
    let text: string | undefined;
    try {
      // Bounded: a stalled read would otherwise hold every caller waiting for a token.
      const answer = await client.send(new GetSecretValueCommand({ SecretId: secretId }), { abortSignal: AbortSignal.timeout(timeoutMs) });
      text = answer.SecretString;
    } catch (error) {
      const name = error instanceof Error ? error.name : 'Error';
      throw new RetryableError(
        'secret_unavailable',
        `could not read secret ${secretId} (${name}): check AUTH0_SECRET_ID and that the function may call secretsmanager:GetSecretValue on it`,
        {},
        { cause: error },
      );
    }
    return parseCredentials(text, secretId);
  };
}

/** Parses the secret's JSON; its content never appears in an error. */
export function parseCredentials(text: string | undefined, secretId: string): ClientCredentials {
  const fix = `secret ${secretId} must hold JSON {"clientId":"…","clientSecret":"…"} (a string secret, not binary)`;
  let value: unknown;
  try {
    value = text === undefined ? undefined : JSON.parse(text);
  } catch {
    throw new RetryableError('secret_invalid', `${fix}; it is not valid JSON`);
  }
  const record = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const { clientId, clientSecret } = record;
  if (typeof clientId !== 'string' || clientId === '' || typeof clientSecret !== 'string' || clientSecret === '') {
    throw new RetryableError('secret_invalid', `${fix}; clientId or clientSecret is missing or empty`);
  }
  return { clientId, clientSecret };
}
