/**
 * `npm run tenant -- [flags]`: starts the Auth0 tenant emulator on loopback until interrupted, for trying the
 * worker or any Auth0 client. `npm run tenant -- --help` lists the flags.
 */
import { randomBytes } from 'node:crypto';
import { parsedFlag, readScriptArgs, usageError, wholeNumber } from '../script-args.ts';
import { createRandom, seedTenant } from '../workload.ts';
import { parsePlan } from '../../shared/auth0/plans.ts';
import { describePlan, parseJitter, parseRateLimit } from './rate-limit.ts';
import { ALL_SCOPES, startTenant } from './tenant.ts';

const HELP = `Usage: npm run tenant -- [flags]

Starts the Auth0 tenant emulator on 127.0.0.1 until Ctrl+C: /oauth/token, the Management API routes the
worker uses, Auth0's error bodies and rate-limit headers.

  --port N             port to listen on, 0 for any free one (default 4010)
  --plan P             Auth0's buckets of a plan: free, essentials, professional, enterprise,
                       enterprise-non-production (the API-wide bucket, then each endpoint group's)
  --rate R             one bucket for every call instead: free, enterprise,
                       enterprise-non-production, or BURST:PER_SECOND such as 10:5 (default free)
  --jitter MIN:MAX     network time added to every answer, MIN to MAX ms, seeded (default none)
  --client-id ID       the machine-to-machine client's id (default local-client)
  --client-secret S    its secret (default: a random one, printed)
  --users N            users to seed, 0 to 100000 (default 0)
  --roles N            roles to seed, 0 to 1000 (default 0)
  --organizations N    organizations to seed (org-001, …), 0 to 1000 (default 0)
  --help               this text
`;

const values = readScriptArgs(
  {
    port: { type: 'string', default: '4010' },
    plan: { type: 'string' },
    rate: { type: 'string' },
    jitter: { type: 'string' },
    'client-id': { type: 'string', default: 'local-client' },
    'client-secret': { type: 'string' },
    users: { type: 'string', default: '0' },
    roles: { type: 'string', default: '0' },
    organizations: { type: 'string', default: '0' },
  },
  HELP,
);

const port = wholeNumber('port', values.port, 0, 65_535);
const users = wholeNumber('users', values.users, 0, 100_000);
const roles = wholeNumber('roles', values.roles, 0, 1_000);
const organizations = wholeNumber('organizations', values.organizations, 0, 1_000);
if (values.plan !== undefined && values.rate !== undefined) usageError('--plan and --rate both set the rate limits: give one');
const rateLimit = parsedFlag('rate', () => parseRateLimit(values.rate ?? 'free'));
const plan = values.plan === undefined ? undefined : parsedFlag('plan', () => parsePlan(values.plan ?? ''));
const jitter = values.jitter === undefined ? undefined : parsedFlag('jitter', () => parseJitter(values.jitter ?? ''));
if (values['client-id'].trim() === '') usageError('--client-id must not be empty');
const clientSecret = values['client-secret'] ?? randomBytes(24).toString('base64url');
if (clientSecret === '') usageError('--client-secret must not be empty');

let tenant;
try {
  tenant = await startTenant({ port, rateLimit, ...(plan === undefined ? {} : { plan }), ...(jitter === undefined ? {} : { jitter }), clients: [{ clientId: values['client-id'], clientSecret, scopes: [...ALL_SCOPES] }] });
} catch (error) {
  if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') usageError(`port ${port} is in use: pick another with --port, or --port 0 for any free one`);
  throw error;
}
if (users > 0 || roles > 0 || organizations > 0) seedTenant(tenant.state, { users, roles, organizations, random: createRandom(1) });
process.stdout.write(
  [
    `Auth0 tenant emulator listening on ${tenant.origin}`,
    `  AUTH0_DOMAIN=${tenant.origin}`,
    `  client id:     ${values['client-id']}`,
    `  client secret: ${clientSecret}`,
    `  audience:      ${tenant.audience}`,
    `  JWKS:          ${tenant.origin}/.well-known/jwks.json`,
    `  rate limits:   ${plan === undefined ? `one bucket of ${rateLimit.burst}, ${rateLimit.perSecond}/s` : `${plan}: ${describePlan(plan)}`}`,
    jitter === undefined ? '' : `  jitter:        ${jitter.minMs} to ${jitter.maxMs} ms per answer`,
    users > 0 || roles > 0 || organizations > 0 ? `  seeded:        ${users} users, ${roles} roles, ${organizations} organizations` : '',
    'Press Ctrl+C to stop.',
    '',
  ]
    .filter((line, index, lines) => line !== '' || index === lines.length - 1)
    .join('\n'),
);
const stop = () => void tenant.stop().then(() => process.exit(0));
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
