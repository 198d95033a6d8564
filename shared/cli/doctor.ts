import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { parseArgs } from 'node:util';
import { readErrorBody } from '../auth0/classify.ts';
import { ROUTES } from '../auth0/operations.ts';
import { type Auth0Plan, PLAN_LIMITS, describePlan, planFromAnswer } from '../auth0/plans.ts';
import { loadConfig } from '../config.ts';
import { isJobError } from '../errors.ts';
import type { JobPolicy } from '../jobs/parse-job.ts';
import type { JobType } from '../jobs/schema.ts';
import { AUTH0_OPTIONS, AUTH0_OPTIONS_HELP, type Auth0Target, auth0Clients, auth0Target, probeRateLimit, requestToken } from './deployment.ts';
import { awsConfig, readArgs } from './args.ts';
import { DISCOVERY_HELP } from './discover.ts';
import type { CliIo } from './io.ts';

export const DOCTOR_HELP = `Usage: auth0-queue-worker doctor --stack NAME [--producer NAME] [--json]
       auth0-queue-worker doctor --function NAME [--json]
       auth0-queue-worker doctor [--domain D] [--secret-id ID] [--queue-url URL] [--dlq-url URL] [--json]

Checks a deployment from end to end, one line per check (ok, warn, fail, or skip), each failure with its fix:
the secret, the client-credentials grant, the token, its scopes against the job types the policy allows, the
tenant's rate-limit bucket against the concurrency, the plan's buckets against what the tenant's headers say, the jobs queue against the function timeout, and the
dead-letter queue, and (with --stack or --function) the event source mapping. Secret values and tokens are
never printed. Exit status 1 when any check fails.

${DISCOVERY_HELP}
${AUTH0_OPTIONS_HELP}
  --queue-url URL           the jobs queue (default: JOBS_QUEUE_URL)
  --dlq-url URL             the dead-letter queue (default: DLQ_URL)
  --timeout-seconds N       the worker's timeout (default: the function's, else 60)
  --max-concurrency N       the event source's maximum concurrency (default: MAX_CONCURRENCY, else 2)
  --plan P                  the tenant's Auth0 plan, as AUTH0_PLAN (default: AUTH0_PLAN; unset, the
                            headers tell it)
  --allowed-roles LIST      as ALLOWED_ROLES (default: ALLOWED_ROLES; unset allows none)
  --allowed-fields LIST     as ALLOWED_FIELDS (default: ALLOWED_FIELDS, else the worker's default)
  --allowed-organizations L as ALLOWED_ORGANIZATIONS (default: ALLOWED_ORGANIZATIONS; unset allows none)
`;

/** One line of the checklist. */
export interface Check {
  readonly name: string;
  readonly status: 'ok' | 'warn' | 'fail' | 'skip';
  readonly detail: string;
}

/** Scopes a job type's calls need, each entry "any one of". */
function requirements(policy: JobPolicy): Array<{ scopes: readonly string[]; jobTypes: JobType[]; call: string }> {
  const needs: Array<{ scopes: readonly string[]; jobType: JobType; call: string }> = [];
  const metadataOnly = [...policy.allowedFields].every((field) => field === 'user_metadata' || field === 'app_metadata');
  const update = metadataOnly ? ROUTES.updateUserMetadata : ROUTES.updateUser;
  const route = (call: { method: string; route: string }) => `${call.method} ${call.route}`;
  needs.push({ scopes: update.scopes, jobType: 'user.update', call: route(update) });
  const roleJobs = policy.allowedRoles === undefined || policy.allowedRoles.size > 0;
  if (roleJobs) {
    needs.push({ scopes: ROUTES.assignRoles.scopes, jobType: 'roles.assign', call: route(ROUTES.assignRoles) });
    needs.push({ scopes: ROUTES.removeRoles.scopes, jobType: 'roles.remove', call: route(ROUTES.removeRoles) });
    for (const jobType of ['roles.assign', 'roles.remove'] as const) needs.push({ scopes: ROUTES.findRolesByName.scopes, jobType, call: `${route(ROUTES.findRolesByName)} (role names)` });
  }
  const organizationJobs = policy.allowedOrganizations === '*' || (policy.allowedOrganizations?.size ?? 0) > 0;
  const orgTypes = ['org.members.add', 'org.members.remove', 'org.roles.assign', 'org.roles.remove'] as const;
  if (organizationJobs) {
    for (const jobType of orgTypes) {
      needs.push({ scopes: ROUTES.getOrganizationByName.scopes, jobType, call: `${route(ROUTES.getOrganizationByName)} (organizations)` });
      needs.push({ scopes: ROUTES.listUserOrganizations.scopes, jobType, call: `${route(ROUTES.listUserOrganizations)} (membership)` });
    }
    needs.push({ scopes: ROUTES.addOrganizationMembers.scopes, jobType: 'org.members.add', call: route(ROUTES.addOrganizationMembers) });
    needs.push({ scopes: ROUTES.removeOrganizationMembers.scopes, jobType: 'org.members.remove', call: route(ROUTES.removeOrganizationMembers) });
    for (const jobType of ['org.members.add', 'org.roles.assign'] as const) needs.push({ scopes: ROUTES.assignOrganizationMemberRoles.scopes, jobType, call: route(ROUTES.assignOrganizationMemberRoles) });
    needs.push({ scopes: ROUTES.removeOrganizationMemberRoles.scopes, jobType: 'org.roles.remove', call: route(ROUTES.removeOrganizationMemberRoles) });
    if (roleJobs) for (const jobType of ['org.members.add', 'org.roles.assign', 'org.roles.remove'] as const) needs.push({ scopes: ROUTES.findRolesByName.scopes, jobType, call: `${route(ROUTES.findRolesByName)} (role names)` });
  }
  for (const jobType of ['user.update', ...(roleJobs ? (['roles.assign', 'roles.remove'] as const) : []), ...(organizationJobs ? orgTypes : [])] as JobType[]) {
    needs.push({ scopes: ROUTES.findUsersByEmail.scopes, jobType, call: `${route(ROUTES.findUsersByEmail)} (jobs by email)` });
  }
  const grouped = new Map<string, { scopes: readonly string[]; jobTypes: JobType[]; call: string }>();
  for (const need of needs) {
    const key = need.scopes.join(' ');
    const entry = grouped.get(key) ?? { scopes: need.scopes, jobTypes: [], call: need.call };
    if (!entry.jobTypes.includes(need.jobType)) entry.jobTypes.push(need.jobType);
    grouped.set(key, entry);
  }
  return [...grouped.values()];
}

/** `auth0-queue-worker doctor`. Resolves with the exit status. */
export async function runDoctor(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = readArgs(() => parse(argv), DOCTOR_HELP, io);
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  const target = auth0Target(values, io.env);
  if ('error' in target) {
    io.stderr.write(`${target.error} (see --help)\n`);
    return 2;
  }
  let policy: JobPolicy;
  let maxConcurrency: number;
  let reserve: number;
  let plan: Auth0Plan | undefined;
  try {
    const config = loadConfig({
      AUTH0_DOMAIN: target.origin,
      AUTH0_SECRET_ID: target.secretId,
      DLQ_URL: 'https://sqs.invalid/dlq',
      // Only the policy and the pacing are read from this configuration.
      ORDERING: 'unordered',
      ALLOWED_ROLES: values['allowed-roles'] ?? io.env['ALLOWED_ROLES'],
      ALLOWED_FIELDS: values['allowed-fields'] ?? io.env['ALLOWED_FIELDS'],
      ALLOWED_ORGANIZATIONS: values['allowed-organizations'] ?? io.env['ALLOWED_ORGANIZATIONS'],
      MAX_CONCURRENCY: values['max-concurrency'] ?? io.env['MAX_CONCURRENCY'],
      RATE_LIMIT_RESERVE: io.env['RATE_LIMIT_RESERVE'],
      AUTH0_PLAN: values.plan ?? io.env['AUTH0_PLAN'],
    });
    plan = config.rateLimit.plan;
    ({ policy } = config);
    maxConcurrency = config.rateLimit.containers;
    reserve = config.rateLimit.reserve;
  } catch (error) {
    io.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  const timeoutSeconds = Number(values['timeout-seconds'] ?? io.deployment?.timeoutSeconds ?? 60);
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > 900) {
    io.stderr.write(`--timeout-seconds takes a whole number of seconds from 1 to 900 (got ${values['timeout-seconds']})\n`);
    return 2;
  }

  const checks: Check[] = [];
  const add = (name: string, status: Check['status'], detail: string) => checks.push({ name, status, detail });
  const { readCredentials, dispatcher } = auth0Clients(io, values, target);
  try {
    await checkAuth0(target, policy, { maxConcurrency, reserve, plan }, readCredentials, dispatcher, add);
  } finally {
    await dispatcher.close();
  }
  const sqs = io.createSqsClient(awsConfig(values.region, values['endpoint-url']));
  await checkQueues(sqs, values['queue-url'] ?? io.env['JOBS_QUEUE_URL'], values['dlq-url'] ?? io.env['DLQ_URL'], timeoutSeconds, add);
  checkEventSource(io.deployment, maxConcurrency, add);

  if (values.json) {
    io.stdout.write(`${JSON.stringify({ ok: !checks.some((check) => check.status === 'fail'), checks }, null, 2)}\n`);
  } else {
    io.stdout.write(`${checks.map((check) => `${check.status.padEnd(4)}  ${check.name.padEnd(14)} ${check.detail}`).join('\n')}\n`);
  }
  return checks.some((check) => check.status === 'fail') ? 1 : 0;
}

async function checkAuth0(
  target: Auth0Target,
  policy: JobPolicy,
  pacing: { maxConcurrency: number; reserve: number; plan: Auth0Plan | undefined },
  readCredentials: ReturnType<typeof auth0Clients>['readCredentials'],
  dispatcher: ReturnType<typeof auth0Clients>['dispatcher'],
  add: (name: string, status: Check['status'], detail: string) => void,
): Promise<void> {
  let credentials;
  try {
    credentials = await readCredentials();
    add('secret', 'ok', `${target.secretId} holds a clientId and a clientSecret (values not shown)`);
  } catch (error) {
    add('secret', 'fail', isJobError(error) ? error.message : String(error));
    return;
  }

  let outcome: Awaited<ReturnType<typeof requestToken>>;
  try {
    outcome = await requestToken(target, credentials, dispatcher);
  } catch (error) {
    add('grant', 'fail', `could not reach ${target.origin}/oauth/token (${error instanceof Error ? error.message : 'unknown error'}): check the domain`);
    return;
  }
  const { answer, claims, token } = outcome;
  if (answer.status !== 200 || token === undefined) {
    const { errorCode, message = '' } = readErrorBody(answer.body);
    const said = `Auth0 answered ${answer.status} ${errorCode ?? ''}${message === '' ? '' : `: ${message}`}`.trim();
    const custom = !/\.auth0(app)?\.com$/i.test(new URL(target.audience).hostname) && !/^(127\.0\.0\.1|localhost)$/.test(new URL(target.audience).hostname);
    let fix: string;
    if (answer.status === 401) {
      fix = `the client id or secret in ${target.secretId} is not the application's current one: copy both from the Auth0 Dashboard (Applications > your M2M application > Settings) into the secret`;
    } else if (/not authorized|client-grant/i.test(message)) {
      fix = 'the application is not authorized for the Management API: Auth0 Dashboard > Applications > APIs > Auth0 Management API > Machine to Machine Applications, authorize it and pick the scopes';
    } else if (/service not enabled|audience/i.test(message) || custom) {
      fix = `${target.audience} is not this tenant's Management API audience${custom ? ': it looks like a custom domain, which cannot be the audience' : ''}; set AUTH0_AUDIENCE (or --audience) to https://{tenant}.{region}.auth0.com/api/v2/, even when AUTH0_DOMAIN is a custom domain`;
    } else if (answer.status === 429) {
      fix = '/oauth/token is rate limited: try again in a minute';
    } else {
      fix = 'see the answer above';
    }
    add('grant', 'fail', `${said}. ${fix}`);
    return;
  }
  add('grant', 'ok', `client-credentials grant for ${target.audience} works`);

  if (claims === undefined) {
    add('token', 'fail', 'the access token is not a JWT: this is not a Management API access token (an opaque token or an id token will not do)');
    return;
  }
  const hours = claims.exp === undefined ? 'no expiry' : `expires in ${Math.round((claims.exp * 1000 - Date.now()) / 3_600_000)} h`;
  if (!claims.aud.includes(target.audience)) {
    add('token', 'fail', `a JWT for ${claims.aud.join(', ') || 'no audience'}, not ${target.audience}: the Management API will refuse it with 401`);
  } else {
    add('token', 'ok', `a JWT for ${target.audience}, client ${claims.azp ?? 'not said'}, ${hours}`);
  }

  const granted = new Set(claims.scopes);
  const needs = requirements(policy);
  const missing = needs.filter((need) => !need.scopes.some((scope) => granted.has(scope)));
  if (missing.length === 0) {
    // The scopes these jobs use, and apart the ones granted beyond them (the sync's, or ones the grant can drop).
    const used = new Set(needs.flatMap((need) => need.scopes.filter((scope) => granted.has(scope))));
    const unused = claims.scopes.filter((scope) => !used.has(scope));
    add('scopes', 'ok', `the grant covers every job type this policy allows (it uses ${[...used].join(' ')})${unused.length === 0 ? '' : `; also granted, unused by these jobs: ${unused.join(' ')}`}`);
  } else {
    for (const need of missing) {
      add('scopes', 'fail', `missing ${need.scopes.length === 1 ? need.scopes[0] : `one of ${need.scopes.join(', ')}`}: needed by ${need.jobTypes.join(', ')} (${need.call}); add it to the application's grant for the Auth0 Management API`);
    }
  }

  const probe = await probeRateLimit(target, token, dispatcher, Date.now()).catch(() => undefined);
  const limit = probe?.rateLimit.limit;
  if (probe === undefined || limit === undefined) {
    add('rate limit', 'warn', 'the Management API did not say its rate limit (no x-ratelimit-* headers)');
    return;
  }
  const usable = Math.floor(limit * (1 - pacing.reserve));
  const bucket = `bucket of ${limit}, ${probe.rateLimit.remaining ?? '?'} left now; RATE_LIMIT_RESERVE ${pacing.reserve} keeps ${limit - usable} for other applications`;
  if (usable < pacing.maxConcurrency) {
    add('rate limit', 'warn', `${bucket}: ${usable} usable calls for ${pacing.maxConcurrency} containers, so they take turns; keep maxConcurrency at ${Math.max(1, Math.min(2, usable))}${limit <= 2 ? ' (the free plan sustains 2/s)' : ''}`);
  } else {
    add('rate limit', 'ok', `${bucket}; ${pacing.maxConcurrency} containers`);
  }

  // The plan: what the setting says against what a user read's bucket shows (a role read alone cannot tell
  // Professional from Enterprise non-production).
  const userRead = await probeRateLimit(target, token, dispatcher, Date.now(), 'users-by-email').catch(() => undefined);
  const shown = { roles: limit, users: userRead?.rateLimit.limit };
  const told = planFromAnswer('GET', '/api/v2/users-by-email', shown.users) ?? planFromAnswer('GET', '/api/v2/roles', shown.roles);
  const headers = `the tenant's headers: roles bucket ${shown.roles}, user reads bucket ${shown.users ?? 'not said'}`;
  const sameBuckets = (a: Auth0Plan, b: Auth0Plan) => JSON.stringify(PLAN_LIMITS[a]) === JSON.stringify(PLAN_LIMITS[b]);
  if (pacing.plan === undefined) {
    add('plan', told === undefined ? 'warn' : 'ok', `AUTH0_PLAN unset; ${headers}${told === undefined ? ': no plan fits them, so the worker paces every call as one bucket' : `, which are the ${told} plan's (${describePlan(told)}); the worker learns it from its first user read or write, or set AUTH0_PLAN=${told}${told === 'free' ? " (auth0Plan: 'free' in the deployment also keeps batches to 10 records, which a container can finish at the free plan's pace)" : ''}`}`);
  } else if (told !== undefined && !sameBuckets(told, pacing.plan)) {
    add('plan', 'warn', `AUTH0_PLAN=${pacing.plan}, but ${headers}, which are the ${told} plan's: set AUTH0_PLAN=${told} (auth0Plan in the deployment), or the worker paces by buckets the tenant does not have`);
  } else {
    add('plan', 'ok', `AUTH0_PLAN=${pacing.plan}: ${describePlan(pacing.plan)}; ${headers}`);
  }
}

async function checkQueues(
  sqs: ReturnType<CliIo['createSqsClient']>,
  queueUrl: string | undefined,
  dlqUrl: string | undefined,
  timeoutSeconds: number,
  add: (name: string, status: Check['status'], detail: string) => void,
): Promise<void> {
  const attributesOf = async (url: string, names: string[]) =>
    (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: names as never }))).Attributes ?? {};
  if (queueUrl === undefined) {
    add('jobs queue', 'skip', 'give --queue-url (or set JOBS_QUEUE_URL) to check it');
  } else {
    try {
      const attributes = await attributesOf(queueUrl, ['VisibilityTimeout', 'RedrivePolicy']);
      const visibility = Number(attributes['VisibilityTimeout']);
      const redrive = attributes['RedrivePolicy'] === undefined ? undefined : (JSON.parse(attributes['RedrivePolicy']) as { maxReceiveCount?: number });
      if (visibility < 6 * timeoutSeconds) {
        add('jobs queue', 'fail', `visibility timeout ${visibility} s is less than 6 × the function timeout (${timeoutSeconds} s): AWS advises at least ${6 * timeoutSeconds} s, or records come back while still being worked on`);
      } else if (redrive === undefined) {
        add('jobs queue', 'fail', 'no redrive policy: a job the function keeps failing on would be received forever; give the queue a dead-letter queue');
      } else if ((redrive.maxReceiveCount ?? 0) < 5) {
        add('jobs queue', 'warn', `maxReceiveCount ${redrive.maxReceiveCount} is below AWS's advice of 5`);
      } else {
        add('jobs queue', 'ok', `visibility timeout ${visibility} s (≥ 6 × ${timeoutSeconds} s), redrive after ${redrive.maxReceiveCount} receives`);
      }
    } catch (error) {
      add('jobs queue', 'fail', `cannot read ${queueUrl}: ${error instanceof Error ? error.name : 'error'}; check the URL and sqs:GetQueueAttributes`);
    }
  }
  if (dlqUrl === undefined) {
    add('dead letters', 'skip', 'give --dlq-url (or set DLQ_URL) to check it');
    return;
  }
  try {
    const attributes = await attributesOf(dlqUrl, ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible']);
    const depth = Number(attributes['ApproximateNumberOfMessages'] ?? 0) + Number(attributes['ApproximateNumberOfMessagesNotVisible'] ?? 0);
    if (depth > 0) add('dead letters', 'fail', `${depth} job(s) in the dead-letter queue: run auth0-queue-worker dlq to see their reasons, fix them, then dlq redrive`);
    else add('dead letters', 'ok', 'the dead-letter queue is empty');
  } catch (error) {
    add('dead letters', 'fail', `cannot read ${dlqUrl}: ${error instanceof Error ? error.name : 'error'}; check the URL and sqs:GetQueueAttributes`);
  }
}

function checkEventSource(deployment: CliIo['deployment'], maxConcurrency: number, add: (name: string, status: Check['status'], detail: string) => void): void {
  if (deployment === undefined) {
    add('event source', 'skip', 'give --stack or --function to check the event source mapping (it needs the Lambda API)');
    return;
  }
  const mapping = deployment.eventSource;
  if (mapping === undefined) {
    add('event source', 'fail', `${deployment.functionName} has no event source mapping: nothing delivers the jobs queue to it; deploy the stack again, which creates it`);
    return;
  }
  if (!mapping.reportBatchItemFailures) {
    add('event source', 'fail', `the mapping from ${mapping.eventSourceArn} lacks ReportBatchItemFailures: Lambda then deletes every record of a batch the function returns from, so requeued jobs are lost; set FunctionResponseTypes to ReportBatchItemFailures (the construct does)`);
    return;
  }
  if (mapping.state !== 'Enabled') {
    add('event source', 'warn', `the mapping from ${mapping.eventSourceArn} is ${mapping.state}: no job is delivered until it is enabled`);
    return;
  }
  if (mapping.maximumConcurrency === undefined) {
    add('event source', 'warn', `the mapping from ${mapping.eventSourceArn} sets no maximum concurrency, so Lambda may run far more than the ${maxConcurrency} invocations the worker paces for (more 429s); set it to MAX_CONCURRENCY (the construct's maxConcurrency does)`);
    return;
  }
  // With producers the function has a mapping per producer's queue, and the worker paces for all of them together.
  const together = mapping.mappings !== undefined && mapping.mappings.count > 1 ? mapping.mappings : undefined;
  if (together !== undefined && together.maximumConcurrency !== maxConcurrency) {
    add('event source', 'warn', `the function's ${together.count} event source mappings allow ${together.maximumConcurrency ?? 'unbounded'} concurrent invocations together but the worker paces for MAX_CONCURRENCY ${maxConcurrency}: set it to their sum (the construct does)`);
    return;
  }
  if (together === undefined && mapping.maximumConcurrency !== maxConcurrency) {
    add('event source', 'warn', `the mapping allows ${mapping.maximumConcurrency} concurrent invocations but the worker paces for MAX_CONCURRENCY ${maxConcurrency}: set both to the same number (the construct's maxConcurrency does)`);
    return;
  }
  add('event source', 'ok', `ReportBatchItemFailures on, ${mapping.state}, at most ${mapping.maximumConcurrency} concurrent invocations`);
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: false,
    strict: true,
    options: {
      ...AUTH0_OPTIONS,
      'queue-url': { type: 'string' },
      'dlq-url': { type: 'string' },
      'timeout-seconds': { type: 'string' },
      'max-concurrency': { type: 'string' },
      plan: { type: 'string' },
      'allowed-roles': { type: 'string' },
      'allowed-fields': { type: 'string' },
      'allowed-organizations': { type: 'string' },
    },
  });
}
