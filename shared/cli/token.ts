import { parseArgs } from 'node:util';
import { readErrorBody } from '../auth0/classify.ts';
import { isJobError } from '../errors.ts';
import { AUTH0_OPTIONS, AUTH0_OPTIONS_HELP, auth0Clients, auth0Target, requestToken } from './deployment.ts';
import { readArgs } from './args.ts';
import { DISCOVERY_HELP } from './discover.ts';
import type { CliIo } from './io.ts';

export const TOKEN_HELP = `Usage: auth0-queue-worker token [--stack NAME | --domain D --secret-id ID] [--json]

Fetches a Management API token with the deployment's secret, as the worker does, and prints what it says:
audience, scopes, client, expiry. Never the token itself, nor the secret.

${DISCOVERY_HELP}
${AUTH0_OPTIONS_HELP}
`;

/** `auth0-queue-worker token`. Resolves with the exit status. */
export async function runToken(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = readArgs(() => parse(argv), TOKEN_HELP, io);
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  const target = auth0Target(values, io.env);
  if ('error' in target) {
    io.stderr.write(`${target.error} (see --help)\n`);
    return 2;
  }
  const { readCredentials, dispatcher } = auth0Clients(io, values, target);
  try {
    const credentials = await readCredentials();
    const outcome = await requestToken(target, credentials, dispatcher);
    if (outcome.claims === undefined) {
      const { errorCode, message } = readErrorBody(outcome.answer.body);
      io.stderr.write(`POST ${target.origin}/oauth/token answered ${outcome.answer.status}${errorCode === undefined ? '' : ` ${errorCode}`}${message === undefined ? '' : `: ${message}`}. Run auth0-queue-worker doctor for the cause.\n`);
      return 1;
    }
    const { claims } = outcome;
    const summary = {
      audience: claims.aud,
      scopes: claims.scopes,
      client: claims.azp,
      grantType: claims.gty,
      issuer: claims.iss,
      expiresAt: claims.exp === undefined ? undefined : new Date(claims.exp * 1000).toISOString(),
    };
    if (values.json) {
      io.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    } else {
      io.stdout.write(
        [
          `audience    ${summary.audience.join(', ')}`,
          `client      ${summary.client ?? 'not said'} (${summary.grantType ?? 'grant type not said'})`,
          `issuer      ${summary.issuer ?? 'not said'}`,
          `expires     ${summary.expiresAt ?? 'not said'}`,
          `scopes      ${summary.scopes.length === 0 ? 'none' : summary.scopes.join(' ')}`,
          '',
        ].join('\n'),
      );
    }
    return 0;
  } catch (error) {
    io.stderr.write(`${isJobError(error) ? error.message : error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\n`);
    return 1;
  } finally {
    await dispatcher.close();
  }
}

function parse(argv: readonly string[]) {
  return parseArgs({ args: [...argv], allowPositionals: false, strict: true, options: AUTH0_OPTIONS });
}
