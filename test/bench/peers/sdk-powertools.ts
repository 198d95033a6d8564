/**
 * Benchmark peer: what a careful user would build instead of the worker. The official `auth0` SDK's
 * `ManagementClient` (its own token cache; on 408, 429 and 5xx it retries twice, sleeping for
 * `Retry-After`, else until `x-ratelimit-reset`, up to 60 s) inside AWS Lambda Powertools' batch processor
 * with partial batch responses: a record whose handler throws becomes a batch item failure and comes back
 * after the queue's visibility timeout. The client secret is read from Secrets Manager once per container,
 * and the client created once. Role names are resolved once per container, as the worker does, so that
 * both make the same calls per job. SDK defaults everywhere (retries, timeouts, parallel records).
 *
 * Bundled by `npm run bench` (test/bench/pacing.ts) with the worker's esbuild options.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SQSBatchResponse, SQSHandler, SQSRecord } from 'aws-lambda';
import { ManagementClient } from 'auth0';

/** The jobs of the workload, as their producers write them (the benchmark only sends valid ones). */
type Job = { jobId?: string } & ({ userId: string } | { email: string; connection?: string }) &
  ({ type: 'user.update'; changes: Record<string, unknown> } | { type: 'roles.assign' | 'roles.remove'; roles: string[] });

const domainSetting = process.env['AUTH0_DOMAIN'] ?? '';
const secretId = process.env['AUTH0_SECRET_ID'] ?? '';
// AUTH0_DOMAIN is a bare domain on Auth0, or the emulator's http://127.0.0.1:PORT origin locally.
const origin = /^https?:\/\//.test(domainSetting) ? new URL(domainSetting).origin : `https://${domainSetting}`;
const domain = new URL(origin).host;

const secret = await new SecretsManagerClient({}).send(new GetSecretValueCommand({ SecretId: secretId }));
const { clientId, clientSecret } = JSON.parse(secret.SecretString ?? '{}') as { clientId: string; clientSecret: string };

const management = new ManagementClient({
  domain,
  clientId,
  clientSecret,
  // The SDK's default audience is https://{domain}/api/v2/; the emulator's is its own origin.
  audience: `${origin}/api/v2/`,
  // Transport only: the SDK always builds https:// URLs; the emulator listens on plain http on loopback.
  fetch: (input, init) => fetch(typeof input === 'string' && origin.startsWith('http:') ? input.replace(`https://${domain}`, origin) : input, init),
});

const processor = new BatchProcessor(EventType.SQS);
const roleIds = new Map<string, Promise<string>>();

const resolveRole = (ref: string): Promise<string> => {
  if (/^rol_[A-Za-z0-9]+$/.test(ref)) return Promise.resolve(ref);
  let pending = roleIds.get(ref);
  if (pending === undefined) {
    pending = management.roles.list({ name_filter: ref, per_page: 100 }).then((page) => {
      const role = page.data.find((candidate) => candidate.name === ref);
      if (role?.id === undefined) throw new Error(`no role is named ${JSON.stringify(ref)}`);
      return role.id;
    });
    roleIds.set(ref, pending);
    pending.catch(() => roleIds.delete(ref));
  }
  return pending;
};

const resolveUser = async (job: Job): Promise<string> => {
  if ('userId' in job) return job.userId;
  const users = await management.users.listUsersByEmail({ email: job.email, fields: 'user_id,identities', include_fields: true });
  const matches = users.filter((user) => job.connection === undefined || user.identities?.some((identity) => identity.connection === job.connection));
  if (matches.length !== 1 || matches[0]?.user_id === undefined) throw new Error(`${matches.length} users match the email`);
  return matches[0].user_id;
};

const recordHandler = async (record: SQSRecord): Promise<void> => {
  const job = JSON.parse(record.body) as Job;
  if (job.type === 'user.update') {
    await management.users.update(await resolveUser(job), job.changes);
    return;
  }
  const roles = await Promise.all(job.roles.map(resolveRole));
  const userId = await resolveUser(job);
  if (job.type === 'roles.assign') await management.users.roles.assign(userId, { roles });
  else await management.users.roles.delete(userId, { roles });
};

/** Applies a batch of jobs; failed records are reported as batch item failures. */
export const handler = (async (event, context): Promise<SQSBatchResponse> =>
  processPartialResponse(event, recordHandler, processor, { context })) satisfies SQSHandler;
