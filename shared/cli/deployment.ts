import { decodeJwt } from 'jose';
import { Agent } from 'undici';
import { type Auth0Answer, sendToAuth0 } from '../auth0/http.ts';
import { readRateLimit } from '../auth0/rate-limit.ts';
import { parseAuth0Origin } from '../config.ts';
import { type ClientCredentials, createSecretReader } from '../secrets.ts';
import { awsConfig } from './args.ts';
import type { CliIo } from './io.ts';

/** The flags every command that talks to Auth0 takes, with the worker's environment variables as defaults. */
export const AUTH0_OPTIONS = {
  domain: { type: 'string' },
  audience: { type: 'string' },
  'secret-id': { type: 'string' },
  region: { type: 'string' },
  'endpoint-url': { type: 'string' },
  'secrets-endpoint-url': { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} as const;

export const AUTH0_OPTIONS_HELP = `  --domain D                the tenant domain (default: AUTH0_DOMAIN); an http://127.0.0.1:PORT emulator works
  --audience URL            the grant's audience (default: AUTH0_AUDIENCE, else https://{domain}/api/v2/)
  --secret-id ID            the Secrets Manager secret (default: AUTH0_SECRET_ID)
  --region R                AWS region (default: the SDK's)
  --endpoint-url URL        an SQS endpoint other than AWS's (a local emulator)
  --secrets-endpoint-url U  a Secrets Manager endpoint other than AWS's
  --json                    print the result as JSON
  --help                    this text`;

/** Where the deployment's Auth0 side is. */
export interface Auth0Target {
  readonly origin: string;
  readonly audience: string;
  readonly secretId: string;
  /** The domain as given, to tell a custom domain from the canonical one. */
  readonly domain: string;
}

/** Resolves the Auth0 flags, or says what is missing. */
export function auth0Target(values: { domain?: string | undefined; audience?: string | undefined; 'secret-id'?: string | undefined }, env: CliIo['env']): Auth0Target | { error: string } {
  const domain = values.domain ?? env['AUTH0_DOMAIN'];
  const secretId = values['secret-id'] ?? env['AUTH0_SECRET_ID'];
  if (domain === undefined) return { error: 'give --stack NAME (the deployment finds the rest), or --domain (or set AUTH0_DOMAIN): the tenant domain, e.g. acme.eu.auth0.com' };
  if (secretId === undefined) return { error: 'give --secret-id (or set AUTH0_SECRET_ID): the Secrets Manager secret with clientId and clientSecret' };
  const parsed = parseAuth0Origin(domain);
  if ('error' in parsed) return { error: parsed.error.replaceAll('AUTH0_DOMAIN', '--domain') };
  return { origin: parsed.origin, audience: values.audience ?? env['AUTH0_AUDIENCE'] ?? `${parsed.origin}/api/v2/`, secretId, domain };
}

/** What the client-credentials grant answered, read for people: never the token itself. */
export interface GrantOutcome {
  readonly answer: Auth0Answer;
  readonly token?: string;
  readonly claims?: { aud: string[]; scopes: string[]; exp?: number; azp?: string; gty?: string; iss?: string };
}

/** Reads the secret, then asks `/oauth/token` for a Management API token. */
export async function requestToken(target: Auth0Target, credentials: ClientCredentials, dispatcher: Agent): Promise<GrantOutcome> {
  const answer = await sendToAuth0(
    dispatcher,
    target.origin,
    { method: 'POST', path: '/oauth/token', json: { grant_type: 'client_credentials', client_id: credentials.clientId, client_secret: credentials.clientSecret, audience: target.audience } },
    { headersTimeoutMs: 10_000, bodyTimeoutMs: 10_000 },
  );
  const token = (answer.body as { access_token?: unknown } | undefined)?.access_token;
  if (answer.status !== 200 || typeof token !== 'string') return { answer };
  try {
    const claims = decodeJwt(token);
    const aud = claims.aud === undefined ? [] : [claims.aud].flat();
    const scope = typeof claims['scope'] === 'string' ? claims['scope'] : '';
    return {
      answer,
      token,
      claims: {
        aud,
        scopes: scope.split(' ').filter(Boolean),
        ...(claims.exp === undefined ? {} : { exp: claims.exp }),
        ...(typeof claims['azp'] === 'string' ? { azp: claims['azp'] } : {}),
        ...(typeof claims['gty'] === 'string' ? { gty: claims['gty'] } : {}),
        ...(claims.iss === undefined ? {} : { iss: claims.iss }),
      },
    };
  } catch {
    return { answer, token };
  }
}

/** One Management API read, for its rate-limit headers. */
export async function probeRateLimit(target: Auth0Target, token: string, dispatcher: Agent, now: number, route: 'roles' | 'users-by-email' = 'roles') {
  // One cheap read of each kind: a page of one role, or an address no user has (example.invalid never resolves).
  const path = route === 'roles' ? '/api/v2/roles?per_page=1&page=0' : '/api/v2/users-by-email?email=doctor-probe%40example.invalid&fields=user_id';
  const answer = await sendToAuth0(dispatcher, target.origin, { method: 'GET', path, headers: { authorization: `Bearer ${token}` } }, { headersTimeoutMs: 10_000, bodyTimeoutMs: 10_000 });
  return { status: answer.status, rateLimit: readRateLimit(answer.headers, now) };
}

/** The command line's HTTP agent and secret reader, from the io's clients. */
export function auth0Clients(io: CliIo, values: { region?: string | undefined; 'secrets-endpoint-url'?: string | undefined }, target: Auth0Target) {
  const secrets = io.createSecretsClient(awsConfig(values.region, values['secrets-endpoint-url']));
  return { readCredentials: createSecretReader(secrets, target.secretId), dispatcher: new Agent({ connect: { timeout: 5_000 } }) };
}
