/**
 * `npm run tenant -- [--port 4010] [--rate free|enterprise|BURST:PER_SECOND] [--client-id ID] [--client-secret S] [--users N] [--roles N]`
 * Starts the Auth0 tenant emulator on loopback until interrupted, for trying the worker or any Auth0 client.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createRandom, seedTenant } from '../workload.ts';
import { parseRateLimit } from './rate-limit.ts';
import { ALL_SCOPES, startTenant } from './tenant.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '4010' },
    rate: { type: 'string', default: 'free' },
    'client-id': { type: 'string', default: 'local-client' },
    'client-secret': { type: 'string' },
    users: { type: 'string', default: '0' },
    roles: { type: 'string', default: '0' },
  },
  strict: true,
});

const clientSecret = values['client-secret'] ?? randomBytes(24).toString('base64url');
const tenant = await startTenant({
  port: Number(values.port),
  rateLimit: parseRateLimit(values.rate),
  clients: [{ clientId: values['client-id'], clientSecret, scopes: [...ALL_SCOPES] }],
});
if (Number(values.users) > 0 || Number(values.roles) > 0) {
  seedTenant(tenant.state, { users: Number(values.users), roles: Number(values.roles), random: createRandom(1) });
}
process.stdout.write(
  [
    `Auth0 tenant emulator listening on ${tenant.origin}`,
    `  AUTH0_DOMAIN=${tenant.origin}`,
    `  client id:     ${values['client-id']}`,
    `  client secret: ${clientSecret}`,
    `  audience:      ${tenant.audience}`,
    `  JWKS:          ${tenant.origin}/.well-known/jwks.json`,
    'Press Ctrl+C to stop.',
    '',
  ].join('\n'),
);
process.once('SIGINT', () => void tenant.stop().then(() => process.exit(0)));
process.once('SIGTERM', () => void tenant.stop().then(() => process.exit(0)));
