/**
 * Benchmark peer: the handler Auth0's articles lead to. Every invocation asks `/oauth/token` for a new
 * token with the client id and secret from its environment, then applies the records one after another
 * with plain `fetch` calls (role names looked up per job); any error, a 429 included, throws, so the whole
 * batch stays on the queue and comes back after the visibility timeout.
 *
 * Bundled by `npm run bench` (test/bench/pacing.ts) with the worker's esbuild options.
 */
import type { SQSEvent } from 'aws-lambda';

type Job = { userId?: string; email?: string; connection?: string } & (
  | { type: 'user.update'; changes: Record<string, unknown> }
  | { type: 'roles.assign' | 'roles.remove'; roles: string[] }
);

const domainSetting = process.env['AUTH0_DOMAIN'] ?? '';
// AUTH0_DOMAIN is a bare domain on Auth0, or the emulator's http://127.0.0.1:PORT origin locally.
const origin = /^https?:\/\//.test(domainSetting) ? new URL(domainSetting).origin : `https://${domainSetting}`;

async function getToken(): Promise<string> {
  const response = await fetch(`${origin}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      grant_type: 'client_credentials',
      client_id: process.env['AUTH0_CLIENT_ID'],
      client_secret: process.env['AUTH0_CLIENT_SECRET'],
      audience: `${origin}/api/v2/`,
    }),
  });
  if (!response.ok) throw new Error(`token request failed: ${response.status}`);
  return ((await response.json()) as { access_token: string }).access_token;
}

async function api(token: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${origin}/api/v2${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!response.ok) throw new Error(`${method} ${path} failed: ${response.status}`);
  return response.status === 204 ? undefined : response.json();
}

async function userIdOf(token: string, job: Job): Promise<string> {
  if (job.userId !== undefined) return job.userId;
  const users = (await api(token, 'GET', `/users-by-email?email=${encodeURIComponent(job.email ?? '')}`)) as Array<{ user_id: string; identities?: Array<{ connection: string }> }>;
  const user = users.find((candidate) => job.connection === undefined || candidate.identities?.some((identity) => identity.connection === job.connection));
  if (user === undefined) throw new Error('user not found');
  return user.user_id;
}

async function roleIdOf(token: string, ref: string): Promise<string> {
  if (ref.startsWith('rol_')) return ref;
  const roles = (await api(token, 'GET', `/roles?name_filter=${encodeURIComponent(ref)}`)) as Array<{ id: string; name: string }>;
  const role = roles.find((candidate) => candidate.name === ref);
  if (role === undefined) throw new Error(`role ${ref} not found`);
  return role.id;
}

/** Applies every record of the batch, in order; throws at the first error. */
export const handler = async (event: SQSEvent): Promise<void> => {
  const token = await getToken();
  for (const record of event.Records) {
    const job = JSON.parse(record.body) as Job;
    if (job.type === 'user.update') {
      const userId = await userIdOf(token, job);
      await api(token, 'PATCH', `/users/${encodeURIComponent(userId)}`, job.changes);
    } else {
      const roles: string[] = [];
      for (const ref of job.roles) roles.push(await roleIdOf(token, ref));
      const userId = await userIdOf(token, job);
      await api(token, job.type === 'roles.assign' ? 'POST' : 'DELETE', `/users/${encodeURIComponent(userId)}/roles`, { roles });
    }
  }
};
