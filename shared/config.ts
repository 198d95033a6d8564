import { AUTH0_PLANS, type Auth0Plan } from './auth0/plans.ts';
import { ConfigError } from './errors.ts';
import type { JobPolicy } from './jobs/parse-job.ts';
import { DEFAULT_ALLOWED_FIELDS, USER_FIELDS, type UserField } from './jobs/schema.ts';
import type { LogLevel } from './logger.ts';

/** Everything the worker reads from its environment, parsed and validated once at init. */
export interface Config {
  readonly auth0: {
    /** `https://{domain}`, or an `http://127.0.0.1:PORT` origin for local use. */
    readonly origin: string;
    /** Audience of the client-credentials grant: `{origin}/api/v2/` unless set. */
    readonly audience: string;
    /** Secrets Manager id or ARN of `{"clientId":"…","clientSecret":"…"}`. */
    readonly secretId: string;
  };
  /** Queue that receives jobs that can never succeed (the worker's; empty for the sync). */
  readonly dlqUrl: string;
  /** The jobs queue the sync sends to (the sync's; empty for the worker). */
  readonly jobsQueueUrl: string;
  /** Management API calls in flight per container. */
  readonly jobConcurrency: number;
  /** Users per grouped call (GROUP_MAX_ITEMS): one role to many users, many members of one organization; 1 turns grouping off. */
  readonly groupMaxItems: number;
  /** Pacing of Management API calls to the tenant's rate limit. */
  readonly rateLimit: {
    /** Share of the tenant's bucket the worker never uses (0 to 0.9). */
    readonly reserve: number;
    /** Share of the bucket's refill the tenant's callers together may use before a container steps back (0.05 to 1). */
    readonly share: number;
    /** Containers that may call at once: the event source mapping's maximum concurrency (1 to 1,000). */
    readonly containers: number;
    /**
     * The tenant's Auth0 plan (AUTH0_PLAN), whose published buckets the pacer goes by. Unset, it learns the
     * plan from the first answers that tell it, one bucket for every call until then.
     */
    readonly plan?: Auth0Plan | undefined;
  };
  /** How long a job may be retried, and the jobs queue's redrive budget. */
  readonly retry: {
    /** A job not applied this long after it was first sent is dead-lettered as `expired`. */
    readonly maxAgeMs: number;
    /** The jobs queue's redrive `maxReceiveCount`. */
    readonly maxReceiveCount: number;
    /**
     * The unique id of the worker's own IAM role (WORKER_ROLE_ID, `AROA…`; the construct sets it): the retry
     * state is read only from messages whose SQS `SenderId` is that role's, so no producer can forge it.
     * Unset, the retry state is read from any message, as before.
     */
    readonly ownRoleId?: string | undefined;
  };
  /** The deployment's policy; with producers, none is allowed anything outside its own. */
  readonly policy: JobPolicy;
  /**
   * The producers of a deployment that declares them (PRODUCERS), by the ARN of each one's queue: a record is
   * checked against the policy of the queue it came from, never against anything its body says. Undefined
   * for a deployment of one queue, whose policy is {@link policy}.
   */
  readonly producers?: ReadonlyMap<string, ProducerConfig> | undefined;
  /**
   * The per-user ordering ledger (LEDGER_TABLE), or undefined when the deployment turned ordering off with
   * `ORDERING=unordered` (the worker's only way to run without one).
   */
  readonly ledger: { readonly tableName: string; readonly retentionMs: number } | undefined;
  /** How far a job's `issuedAt` may lie after SQS accepted it (ISSUED_AT_SKEW_SECONDS). */
  readonly issuedAtSkewMs: number;
  /** Upper bound for waiting on Auth0's answer headers, and again for its body. */
  readonly httpTimeoutMs: number;
  readonly logLevel: LogLevel;
  /** CloudWatch namespace of the embedded metrics. */
  readonly metricsNamespace: string;
}

/** One upstream system of a deployment that declares producers: its own queue, dead-letter queue and policy. */
export interface ProducerConfig {
  /** Its name in the deployment: the `source` of its jobs in logs, metrics, dead letters and the ledger. */
  readonly name: string;
  /** ARN of its jobs queue, as a record's `eventSourceARN` gives it. */
  readonly queueArn: string;
  /** URL of its dead-letter queue. */
  readonly dlqUrl: string;
  readonly policy: JobPolicy;
  /** Its weight in the split of the tenant's rate limit while other producers have work (default 1). */
  readonly share: number;
  /** Its queue's redrive `maxReceiveCount`, when not the deployment's MAX_RECEIVE_COUNT. */
  readonly maxReceiveCount?: number;
  /** Its event source mapping's maximum concurrency: how many containers its share is split between. */
  readonly maxConcurrency?: number;
}

/** A producer's name: lower-case letters, digits and `-`, starting with a letter, at most 32. */
export const PRODUCER_NAME = /^[a-z][a-z0-9-]{0,31}$/;

/**
 * The prefix of a producer's resource ids and stack outputs (`hr-system` → `ProducerHrSystem`): the construct
 * names them so, and the command line finds a producer's queues by it.
 */
export function producerIdPrefix(name: string): string {
  return `Producer${name.split('-').map((part) => part.charAt(0).toUpperCase() + part.slice(1)).join('')}`;
}

/** Defaults, stated in one place. */
export const CONFIG_DEFAULTS = {
  jobConcurrency: 4,
  groupMaxItems: 100,
  rateLimitReserve: 0.2,
  rateLimitShare: 1,
  maxConcurrency: 2,
  httpTimeoutMs: 10_000,
  jobMaxAgeSeconds: 86_400,
  maxReceiveCount: 5,
  logLevel: 'info',
  metricsNamespace: 'Auth0QueueWorker',
  ledgerRetentionSeconds: 90 * 86_400,
  issuedAtSkewSeconds: 300,
} as const;

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
/** Lambda's advanced logging levels, onto the logger's: TRACE and FATAL are valid there. */
const LAMBDA_LOG_LEVELS: Readonly<Record<string, LogLevel>> = { trace: 'debug', debug: 'debug', info: 'info', warn: 'warn', error: 'error', fatal: 'error' };
/** SQS keeps a message at most 14 days: a job cannot be retried for longer. */
const MAX_RETENTION_SECONDS = 1_209_600;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;

/**
 * Parses the worker's environment. The only reader of `process.env` at run time.
 *
 * @throws {ConfigError} naming the first variable at fault, with every problem found in its message.
 * @example
 * const config = loadConfig(process.env); // at module scope, once per container
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>, role: 'worker' | 'sync' = 'worker'): Config {
  const problems: Array<{ variable: string; message: string }> = [];
  const fail = (variable: string, message: string) => {
    problems.push({ variable, message });
    return undefined;
  };
  const read = (name: string) => {
    const value = env[name]?.trim();
    return value === '' ? undefined : value;
  };
  const required = (name: string, hint: string) => read(name) ?? fail(name, `${name} is required: ${hint}`);

  const origin = parseOrigin(required('AUTH0_DOMAIN', 'the tenant domain, e.g. acme.eu.auth0.com'), fail);
  const audienceRaw = read('AUTH0_AUDIENCE');
  if (audienceRaw !== undefined && !URL.canParse(audienceRaw)) {
    fail('AUTH0_AUDIENCE', 'AUTH0_AUDIENCE must be a URL such as https://acme.eu.auth0.com/api/v2/');
  }
  const secretId = required('AUTH0_SECRET_ID', 'the Secrets Manager id or ARN of {"clientId","clientSecret"}');
  const queue = (name: string, hint: string) => {
    const url = required(name, hint);
    if (url !== undefined && !/^https?:\/\//.test(url)) fail(name, `${name} must be a queue URL (https://sqs.…)`);
    return url;
  };
  const producersRaw = role === 'worker' ? read('PRODUCERS') : undefined;
  const dlqUrl = role === 'worker' && producersRaw === undefined ? queue('DLQ_URL', 'the URL of the dead-letter queue for jobs that can never succeed') : '';
  const jobsQueueUrl = role === 'sync' ? queue('JOBS_QUEUE_URL', 'the URL of the jobs queue the sync sends to') : '';

  const jobConcurrency = integer(read('JOB_CONCURRENCY'), 'JOB_CONCURRENCY', CONFIG_DEFAULTS.jobConcurrency, 1, 64, fail);
  const groupMaxItems = integer(read('GROUP_MAX_ITEMS'), 'GROUP_MAX_ITEMS', CONFIG_DEFAULTS.groupMaxItems, 1, 1_000, fail);
  const rateLimitReserve = decimal(read('RATE_LIMIT_RESERVE'), 'RATE_LIMIT_RESERVE', CONFIG_DEFAULTS.rateLimitReserve, 0, 0.9, fail);
  const maxConcurrency = integer(read('MAX_CONCURRENCY'), 'MAX_CONCURRENCY', CONFIG_DEFAULTS.maxConcurrency, 1, 1000, fail);
  const planName = read('AUTH0_PLAN');
  const plan = planName === undefined ? undefined : (AUTH0_PLANS as readonly string[]).includes(planName) ? (planName as Auth0Plan) : fail('AUTH0_PLAN', `AUTH0_PLAN must be one of ${AUTH0_PLANS.join(', ')} (the tenant's plan, as the Dashboard's Settings > Subscription shows it), not ${JSON.stringify(planName)}`);
  const rateLimitShare = decimal(read('RATE_LIMIT_SHARE'), 'RATE_LIMIT_SHARE', CONFIG_DEFAULTS.rateLimitShare, 0.05, 1, fail);
  const jobMaxAgeSeconds = integer(read('JOB_MAX_AGE_SECONDS'), 'JOB_MAX_AGE_SECONDS', CONFIG_DEFAULTS.jobMaxAgeSeconds, 10, MAX_RETENTION_SECONDS, fail);
  const maxReceiveCount = integer(read('MAX_RECEIVE_COUNT'), 'MAX_RECEIVE_COUNT', CONFIG_DEFAULTS.maxReceiveCount, 1, 1000, fail);
  const ownRoleId = read('WORKER_ROLE_ID');
  if (ownRoleId !== undefined && !/^[A-Z0-9]{16,128}$/.test(ownRoleId)) fail('WORKER_ROLE_ID', "WORKER_ROLE_ID must be the worker role's unique id (AROA…, as `aws iam get-role` gives RoleId), not its name or ARN");
  const httpTimeoutMs = integer(read('HTTP_TIMEOUT_MS'), 'HTTP_TIMEOUT_MS', CONFIG_DEFAULTS.httpTimeoutMs, 100, 60_000, fail);

  // Ordering is on unless turned off by name: a worker without its ledger table fails at init.
  const ordering = read('ORDERING');
  if (ordering !== undefined && ordering !== 'ledger' && ordering !== 'unordered') fail('ORDERING', 'ORDERING must be ledger (the default) or unordered');
  const ledgerTable = read('LEDGER_TABLE');
  if (role === 'worker' && ordering !== 'unordered' && ledgerTable === undefined) {
    fail('LEDGER_TABLE', 'LEDGER_TABLE is required: the DynamoDB table of the ordering ledger (the construct sets it), or set ORDERING=unordered to apply jobs in any order');
  }
  const ledgerRetentionSeconds = integer(read('LEDGER_RETENTION_SECONDS'), 'LEDGER_RETENTION_SECONDS', CONFIG_DEFAULTS.ledgerRetentionSeconds, 86_400, 3650 * 86_400, fail);
  const issuedAtSkewSeconds = integer(read('ISSUED_AT_SKEW_SECONDS'), 'ISSUED_AT_SKEW_SECONDS', CONFIG_DEFAULTS.issuedAtSkewSeconds, 0, 3600, fail);

  const policy = parsePolicy(
    { fields: splitList(read('ALLOWED_FIELDS')), roles: splitList(read('ALLOWED_ROLES')), organizations: splitList(read('ALLOWED_ORGANIZATIONS')), httpPictures: read('ALLOW_HTTP_PICTURES') },
    { fields: 'ALLOWED_FIELDS', roles: 'ALLOWED_ROLES', organizations: 'ALLOWED_ORGANIZATIONS', httpPictures: 'ALLOW_HTTP_PICTURES' },
    fail,
  );
  let producers: ReadonlyMap<string, ProducerConfig> | undefined;
  if (producersRaw !== undefined) {
    for (const name of ['DLQ_URL', 'ALLOWED_FIELDS', 'ALLOWED_ROLES', 'ALLOWED_ORGANIZATIONS', 'ALLOW_HTTP_PICTURES']) {
      if (read(name) !== undefined) fail(name, `${name} does not apply when PRODUCERS is set: each producer's queue, dead-letter queue and policy are in PRODUCERS`);
    }
    producers = parseProducers(producersRaw, fail);
  }

  // LOG_LEVEL is this product's; AWS_LAMBDA_LOG_LEVEL is Lambda's, set by the function's logging config.
  const ownLevel = read('LOG_LEVEL')?.toLowerCase();
  const lambdaLevel = read('AWS_LAMBDA_LOG_LEVEL')?.toLowerCase();
  let logLevel: LogLevel | undefined = CONFIG_DEFAULTS.logLevel;
  if (ownLevel !== undefined) {
    logLevel = LOG_LEVELS.find((level) => level === ownLevel);
    if (logLevel === undefined) fail('LOG_LEVEL', `LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);
  } else if (lambdaLevel !== undefined) {
    // Lambda validates its own setting: an unknown value here is a newer level, not a mistake to fail on.
    logLevel = LAMBDA_LOG_LEVELS[lambdaLevel] ?? CONFIG_DEFAULTS.logLevel;
  }

  const [first] = problems;
  if (first !== undefined || origin === undefined || secretId === undefined || dlqUrl === undefined || jobsQueueUrl === undefined) {
    const message = problems.map((problem) => problem.message).join('; ');
    throw new ConfigError(first?.variable ?? 'AUTH0_DOMAIN', `Invalid configuration: ${message}`);
  }

  return deepFreeze({
    auth0: { origin, audience: audienceRaw ?? `${origin}/api/v2/`, secretId },
    dlqUrl,
    jobsQueueUrl,
    jobConcurrency,
    groupMaxItems,
    rateLimit: { reserve: rateLimitReserve, share: rateLimitShare, containers: maxConcurrency, ...(plan === undefined ? {} : { plan }) },
    retry: { maxAgeMs: jobMaxAgeSeconds * 1000, maxReceiveCount, ...(ownRoleId === undefined ? {} : { ownRoleId }) },
    policy,
    ...(producers === undefined ? {} : { producers }),
    ledger: ordering === 'unordered' || ledgerTable === undefined ? undefined : { tableName: ledgerTable, retentionMs: ledgerRetentionSeconds * 1000 },
    issuedAtSkewMs: issuedAtSkewSeconds * 1000,
    httpTimeoutMs,
    logLevel: logLevel ?? CONFIG_DEFAULTS.logLevel,
    metricsNamespace: read('METRICS_NAMESPACE') ?? CONFIG_DEFAULTS.metricsNamespace,
  });
}

type Fail = (variable: string, message: string) => undefined;

/**
 * The origin of an `AUTH0_DOMAIN` value (`acme.eu.auth0.com` → `https://acme.eu.auth0.com`; an
 * `http://127.0.0.1:PORT` origin is kept for a local emulator), or the reason it is not one.
 */
export function parseAuth0Origin(value: string): { origin: string } | { error: string } {
  let problem: string | undefined;
  const origin = parseOrigin(value.trim(), (_variable, message) => {
    problem = message;
    return undefined;
  });
  return origin === undefined ? { error: problem ?? 'AUTH0_DOMAIN is not a domain' } : { origin };
}

function parseOrigin(value: string | undefined, fail: Fail): string | undefined {
  if (value === undefined) return undefined;
  if (/^https?:\/\//i.test(value)) {
    const url = URL.canParse(value) ? new URL(value) : undefined;
    if (url === undefined || (url.pathname !== '/' && url.pathname !== '') || url.search || url.username) {
      return fail('AUTH0_DOMAIN', 'AUTH0_DOMAIN must be a bare domain (acme.eu.auth0.com) or an origin without a path');
    }
    if (url.protocol === 'http:' && !LOOPBACK_HOSTS.has(url.hostname)) {
      return fail('AUTH0_DOMAIN', 'AUTH0_DOMAIN may use http:// only for a loopback emulator (http://127.0.0.1:PORT)');
    }
    return url.origin;
  }
  if (!HOSTNAME.test(value)) {
    return fail('AUTH0_DOMAIN', 'AUTH0_DOMAIN must be a domain such as acme.eu.auth0.com, without a path');
  }
  return `https://${value.toLowerCase()}`;
}

function integer(value: string | undefined, name: string, fallback: number, min: number, max: number, fail: Fail): number {
  if (value === undefined) return fallback;
  const parsed = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!(parsed >= min && parsed <= max)) {
    fail(name, `${name} must be an integer from ${min} to ${max}`);
    return fallback;
  }
  return parsed;
}

function decimal(value: string | undefined, name: string, fallback: number, min: number, max: number, fail: Fail): number {
  if (value === undefined) return fallback;
  const parsed = /^\d+(\.\d+)?$|^\.\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!(parsed >= min && parsed <= max)) {
    fail(name, `${name} must be a number from ${min} to ${max} (a share: 0.2 is 20%)`);
    return fallback;
  }
  return parsed;
}

/** A policy's lists as given (an environment variable's items, or a producer's JSON), and what to call each in a message. */
interface PolicySource {
  readonly fields: readonly string[] | undefined;
  readonly roles: readonly string[] | undefined;
  readonly organizations: readonly string[] | undefined;
  readonly httpPictures: string | boolean | undefined;
}

/** Deny by default: no role and no organization unless listed, `*` (alone) allows any; the default fields. */
function parsePolicy(source: PolicySource, names: Readonly<Record<keyof PolicySource, string>>, fail: Fail, producer?: string): JobPolicy {
  const allowedFields = parseAllowedFields(source.fields, names.fields, fail);
  const { httpPictures } = source;
  if (httpPictures !== undefined && httpPictures !== 'true' && httpPictures !== 'false' && typeof httpPictures !== 'boolean') fail(names.httpPictures, `${names.httpPictures} must be true or false`);
  const anyRole = source.roles?.includes('*') ?? false;
  if (anyRole && source.roles?.length !== 1) fail(names.roles, `${names.roles} is either * (any role) or a list of role names and ids, not both`);
  if (source.roles?.length === 0) fail(names.roles, `${names.roles} lists no role; leave it out to allow none, or give * to allow any`);
  const anyOrganization = source.organizations?.includes('*') ?? false;
  if (anyOrganization && source.organizations?.length !== 1) fail(names.organizations, `${names.organizations} is either * (any organization) or a list of organization ids and names, not both`);
  if (source.organizations?.length === 0) fail(names.organizations, `${names.organizations} lists no organization; leave it out to allow none, or give * to allow any`);
  return {
    allowedFields,
    allowedRoles: anyRole ? undefined : new Set(source.roles ?? []),
    allowedOrganizations: anyOrganization ? '*' : new Set(source.organizations ?? []),
    allowHttpPictures: httpPictures === true || httpPictures === 'true',
    ...(producer === undefined ? {} : { producer }),
  };
}

/**
 * PRODUCERS, as the construct writes it: a JSON array of `{ name, queueArn, dlqUrl, allowedFields?,
 * allowedRoles?, allowedOrganizations?, allowHttpPictures?, share?, maxReceiveCount?, maxConcurrency? }`, one per producer.
 */
function parseProducers(raw: string, fail: Fail): ReadonlyMap<string, ProducerConfig> | undefined {
  let entries: unknown;
  try {
    entries = JSON.parse(raw);
  } catch {
    return fail('PRODUCERS', 'PRODUCERS must be a JSON array of producers (the construct writes it from its producers prop)');
  }
  if (!Array.isArray(entries) || entries.length === 0) return fail('PRODUCERS', 'PRODUCERS must be a JSON array of at least one producer');
  const producers = new Map<string, ProducerConfig>();
  const names = new Set<string>();
  const strings = (value: unknown): string[] | undefined => (Array.isArray(value) && value.every((item) => typeof item === 'string') ? value.map((item: string) => item.trim()).filter((item) => item !== '') : undefined);
  for (const [index, entry] of (entries as unknown[]).entries()) {
    const where = `PRODUCERS[${index}]`;
    if (typeof entry !== 'object' || entry === null) {
      fail('PRODUCERS', `${where} must be an object`);
      continue;
    }
    const { name, queueArn, dlqUrl, allowedFields, allowedRoles, allowedOrganizations, allowHttpPictures, share, maxReceiveCount, maxConcurrency, ...unknown } = entry as Record<string, unknown>;
    const extra = Object.keys(unknown);
    if (extra.length > 0) fail('PRODUCERS', `${where} has unknown key(s) ${extra.join(', ')}`);
    if (typeof name !== 'string' || !PRODUCER_NAME.test(name)) {
      fail('PRODUCERS', `${where}.name must be 1 to 32 lower-case letters, digits or -, starting with a letter`);
      continue;
    }
    if (names.has(name)) fail('PRODUCERS', `producer ${name} is declared twice`);
    names.add(name);
    if (typeof queueArn !== 'string' || !/^arn:[\w-]+:sqs:[\w-]+:\d{12}:[\w-]{1,80}(\.fifo)?$/.test(queueArn)) {
      fail('PRODUCERS', `producer ${name}: queueArn must be an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME)`);
      continue;
    }
    if (producers.has(queueArn)) fail('PRODUCERS', `producer ${name}: its queue is another producer's too; each producer needs its own queue`);
    if (typeof dlqUrl !== 'string' || !/^https?:\/\//.test(dlqUrl)) {
      fail('PRODUCERS', `producer ${name}: dlqUrl must be a queue URL (https://sqs.…)`);
      continue;
    }
    const list = (value: unknown, key: string): string[] | undefined => {
      if (value === undefined) return undefined;
      const items = strings(value);
      if (items === undefined) fail('PRODUCERS', `producer ${name}: ${key} must be an array of strings`);
      return items;
    };
    if (share !== undefined && !(typeof share === 'number' && share > 0 && share <= 100)) fail('PRODUCERS', `producer ${name}: share must be a number above 0 and at most 100 (a weight: 2 gets twice a producer of 1)`);
    const policy = parsePolicy(
      { fields: list(allowedFields, 'allowedFields'), roles: list(allowedRoles, 'allowedRoles'), organizations: list(allowedOrganizations, 'allowedOrganizations'), httpPictures: typeof allowHttpPictures === 'boolean' ? allowHttpPictures : allowHttpPictures === undefined ? undefined : String(allowHttpPictures) },
      { fields: `producer ${name}: allowedFields`, roles: `producer ${name}: allowedRoles`, organizations: `producer ${name}: allowedOrganizations`, httpPictures: `producer ${name}: allowHttpPictures` },
      (_variable, message) => fail('PRODUCERS', message),
      name,
    );
    if (maxReceiveCount !== undefined && !(Number.isInteger(maxReceiveCount) && Number(maxReceiveCount) >= 1 && Number(maxReceiveCount) <= 1000)) fail('PRODUCERS', `producer ${name}: maxReceiveCount must be an integer from 1 to 1000`);
    if (maxConcurrency !== undefined && !(Number.isInteger(maxConcurrency) && Number(maxConcurrency) >= 1 && Number(maxConcurrency) <= 1000)) fail('PRODUCERS', `producer ${name}: maxConcurrency must be an integer from 1 to 1000`);
    producers.set(queueArn, {
      name,
      queueArn,
      dlqUrl,
      policy,
      share: typeof share === 'number' && share > 0 ? share : 1,
      ...(typeof maxReceiveCount === 'number' ? { maxReceiveCount } : {}),
      ...(typeof maxConcurrency === 'number' ? { maxConcurrency } : {}),
    });
  }
  return producers;
}

function parseAllowedFields(fields: readonly string[] | undefined, name: string, fail: Fail): ReadonlySet<UserField> {
  if (fields === undefined) return new Set(DEFAULT_ALLOWED_FIELDS);
  const unknown = fields.filter((field) => !(USER_FIELDS as readonly string[]).includes(field));
  if (unknown.length > 0) {
    fail(name, `${name} names unknown field(s) ${unknown.join(', ')}; known: ${USER_FIELDS.join(', ')}`);
  } else if (fields.length === 0) {
    fail(name, `${name} lists no field; leave it out for the default (${DEFAULT_ALLOWED_FIELDS.join(', ')})`);
  }
  return new Set(fields.filter((field): field is UserField => (USER_FIELDS as readonly string[]).includes(field)));
}

function splitList(value: string | undefined): string[] | undefined {
  return value?.split(',').map((item) => item.trim()).filter((item) => item !== '');
}

function deepFreeze<T extends object>(value: T): Readonly<T> {
  for (const child of Object.values(value)) {
    if (typeof child === 'object' && child !== null && !Object.isFrozen(child) && !(child instanceof Set)) deepFreeze(child);
  }
  return Object.freeze(value);
}
