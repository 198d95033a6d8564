import { describe, expect, it } from 'vitest';
import { CONFIG_DEFAULTS, loadConfig } from '../../shared/config.ts';
import { ConfigError } from '../../shared/errors.ts';

const base = {
  AUTH0_DOMAIN: 'acme.eu.auth0.com',
  AUTH0_SECRET_ID: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:auth0-m2m-AbCdEf',
  DLQ_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/jobs-dlq',
  LEDGER_TABLE: 'Auth0QueueWorker-Ledger',
};

const failure = (env: Record<string, string | undefined>) => {
  try {
    loadConfig(env);
  } catch (error) {
    return error as ConfigError;
  }
  throw new Error('loadConfig accepted the environment');
};

describe('Function: loadConfig()', () => {
  it('applies the documented defaults', () => {
    // Act
    const config = loadConfig(base);

    // Assess
    expect(config.auth0).toEqual({ origin: 'https://acme.eu.auth0.com', audience: 'https://acme.eu.auth0.com/api/v2/', secretId: base.AUTH0_SECRET_ID });
    expect(config.jobConcurrency).toBe(CONFIG_DEFAULTS.jobConcurrency);
    expect(config.rateLimit).toEqual({ reserve: 0.2, share: 1, containers: 2 });
    // Deny by default: no role, and none of the fields that can take an account over or grant access
    expect(config.policy.allowedRoles).toEqual(new Set());
    for (const field of ['password', 'connection', 'email', 'email_verified', 'phone_number', 'phone_verified', 'app_metadata', 'username']) {
      expect([...config.policy.allowedFields]).not.toContain(field);
    }
    expect([...config.policy.allowedFields]).toEqual(['blocked', 'user_metadata', 'given_name', 'family_name', 'name', 'nickname', 'picture']);
    expect(Object.isFrozen(config) && Object.isFrozen(config.auth0)).toBe(true);
  });

  it('orders jobs through the ledger table by default, and without one only when ORDERING=unordered says so', () => {
    // Act
    const ordered = loadConfig(base);
    const unordered = loadConfig({ ...base, LEDGER_TABLE: undefined, ORDERING: 'unordered' });
    const missing = failure({ ...base, LEDGER_TABLE: undefined });
    const misspelt = failure({ ...base, ORDERING: 'off' });

    // Assess
    expect(ordered.ledger).toEqual({ tableName: 'Auth0QueueWorker-Ledger', retentionMs: 90 * 86_400_000 });
    expect(ordered.issuedAtSkewMs).toBe(300_000);
    expect(unordered.ledger).toBeUndefined();
    expect([missing.variable, missing.message]).toEqual(['LEDGER_TABLE', expect.stringContaining('ORDERING=unordered')]);
    expect([misspelt.variable, misspelt.message]).toEqual(['ORDERING', expect.stringContaining('ledger (the default) or unordered')]);
  });

  it('allows http: pictures only when ALLOW_HTTP_PICTURES is true', () => {
    // Act
    const strict = loadConfig(base);
    const relaxed = loadConfig({ ...base, ALLOW_HTTP_PICTURES: 'true' });
    const wrong = failure({ ...base, ALLOW_HTTP_PICTURES: 'yes' });

    // Assess
    expect([strict.policy.allowHttpPictures, relaxed.policy.allowHttpPictures]).toEqual([false, true]);
    expect(wrong.variable).toBe('ALLOW_HTTP_PICTURES');
  });

  it('reads the ledger retention and the issuedAt clock skew', () => {
    // Act
    const config = loadConfig({ ...base, LEDGER_RETENTION_SECONDS: '1296000', ISSUED_AT_SKEW_SECONDS: '0' });
    const tooShort = failure({ ...base, LEDGER_RETENTION_SECONDS: '3600' });

    // Assess
    expect(config.ledger?.retentionMs).toBe(1_296_000_000);
    expect(config.issuedAtSkewMs).toBe(0);
    expect(tooShort.variable).toBe('LEDGER_RETENTION_SECONDS');
  });

  it("reads the worker role's unique id, and refuses a role name or ARN in its place", () => {
    // Act
    const config = loadConfig({ ...base, WORKER_ROLE_ID: 'AROAEXAMPLEWORKER0001' });
    const arn = failure({ ...base, WORKER_ROLE_ID: 'arn:aws:iam::123456789012:role/worker' });

    // Assess
    expect(config.retry.ownRoleId).toBe('AROAEXAMPLEWORKER0001');
    expect(loadConfig(base).retry.ownRoleId).toBeUndefined();
    expect(arn.message).toContain('WORKER_ROLE_ID must be the worker role');
  });

  it('reads the rate-limit reserve and share', () => {
    // Act
    const config = loadConfig({ ...base, RATE_LIMIT_RESERVE: '0.35', RATE_LIMIT_SHARE: '.5', MAX_CONCURRENCY: '6' });

    // Assess
    expect(config.rateLimit).toEqual({ reserve: 0.35, share: 0.5, containers: 6 });
  });

  it('reads the tenant\'s plan, which the pacer goes by, and leaves it unset to be learnt', () => {
    // Act
    const set = loadConfig({ ...base, AUTH0_PLAN: 'professional' });
    const unset = loadConfig(base);

    // Assess
    expect(set.rateLimit.plan).toBe('professional');
    expect(unset.rateLimit).not.toHaveProperty('plan');
  });

  it('accepts a loopback http origin for local use, and derives its audience', () => {
    // Act
    const config = loadConfig({ ...base, AUTH0_DOMAIN: 'http://127.0.0.1:4010' });

    // Assess
    expect(config.auth0.origin).toBe('http://127.0.0.1:4010');
    expect(config.auth0.audience).toBe('http://127.0.0.1:4010/api/v2/');
  });

  it('keeps an explicit audience (custom domains still use the canonical one)', () => {
    // Act
    const config = loadConfig({ ...base, AUTH0_DOMAIN: 'login.acme.com', AUTH0_AUDIENCE: 'https://acme.eu.auth0.com/api/v2/' });

    // Assess
    expect(config.auth0.audience).toBe('https://acme.eu.auth0.com/api/v2/');
  });

  it.each([
    [{ AUTH0_DOMAIN: undefined }, 'AUTH0_DOMAIN', 'AUTH0_DOMAIN is required'],
    [{ AUTH0_DOMAIN: 'http://acme.eu.auth0.com' }, 'AUTH0_DOMAIN', 'loopback'],
    [{ AUTH0_DOMAIN: 'acme.eu.auth0.com/api/v2' }, 'AUTH0_DOMAIN', 'without a path'],
    [{ AUTH0_SECRET_ID: '' }, 'AUTH0_SECRET_ID', 'AUTH0_SECRET_ID is required'],
    [{ DLQ_URL: undefined }, 'DLQ_URL', 'DLQ_URL is required'],
    [{ JOB_CONCURRENCY: 'four' }, 'JOB_CONCURRENCY', 'JOB_CONCURRENCY must be an integer'],
    [{ JOB_CONCURRENCY: '0' }, 'JOB_CONCURRENCY', 'from 1 to 64'],
    [{ ALLOWED_FIELDS: 'app_metadata,favourite_colour' }, 'ALLOWED_FIELDS', 'favourite_colour'],
    [{ ALLOWED_ROLES: ' , ' }, 'ALLOWED_ROLES', 'lists no role'],
    [{ ALLOWED_ROLES: '*,admin' }, 'ALLOWED_ROLES', 'either *'],
    [{ ALLOWED_ORGANIZATIONS: ' , ' }, 'ALLOWED_ORGANIZATIONS', 'lists no organization'],
    [{ ALLOWED_ORGANIZATIONS: '*,acme' }, 'ALLOWED_ORGANIZATIONS', 'either *'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL', 'LOG_LEVEL must be one of'],
    [{ RATE_LIMIT_RESERVE: '20%' }, 'RATE_LIMIT_RESERVE', 'RATE_LIMIT_RESERVE must be a number from 0 to 0.9'],
    [{ RATE_LIMIT_RESERVE: '0.95' }, 'RATE_LIMIT_RESERVE', 'from 0 to 0.9'],
    [{ RATE_LIMIT_SHARE: '0' }, 'RATE_LIMIT_SHARE', 'from 0.05 to 1'],
    [{ RATE_LIMIT_SHARE: '1.5' }, 'RATE_LIMIT_SHARE', 'from 0.05 to 1'],
    [{ AUTH0_PLAN: 'Pro' }, 'AUTH0_PLAN', 'AUTH0_PLAN must be one of free, essentials, professional, enterprise, enterprise-non-production'],
    [{ MAX_CONCURRENCY: '0' }, 'MAX_CONCURRENCY', 'MAX_CONCURRENCY must be an integer from 1 to 1000'],
    [{ JOB_MAX_AGE_SECONDS: '2000000' }, 'JOB_MAX_AGE_SECONDS', 'JOB_MAX_AGE_SECONDS must be an integer from 10 to 1209600'],
    [{ MAX_RECEIVE_COUNT: 'five' }, 'MAX_RECEIVE_COUNT', 'MAX_RECEIVE_COUNT must be an integer from 1 to 1000'],
  ])('refuses %o, naming %s', (override, variable, text) => {
    // Act
    const error = failure({ ...base, ...override });

    // Assess
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.variable).toBe(variable);
    expect(error.message).toContain(text);
  });

  it('reads the retry limits, 24 h and 5 receives by default', () => {
    // Act
    const defaults = loadConfig(base);
    const set = loadConfig({ ...base, JOB_MAX_AGE_SECONDS: '3600', MAX_RECEIVE_COUNT: '100' });

    // Assess
    expect(defaults.retry).toEqual({ maxAgeMs: 86_400_000, maxReceiveCount: 5 });
    expect(set.retry).toEqual({ maxAgeMs: 3_600_000, maxReceiveCount: 100 });
  });

  it.each([
    ['TRACE', 'debug'],
    ['DEBUG', 'debug'],
    ['INFO', 'info'],
    ['WARN', 'warn'],
    ['ERROR', 'error'],
    ['FATAL', 'error'],
  ])('accepts every level Lambda sets in AWS_LAMBDA_LOG_LEVEL: %s logs at %s', (lambdaLevel, level) => {
    // Act
    const config = loadConfig({ ...base, AWS_LAMBDA_LOG_LEVEL: lambdaLevel });

    // Assess
    expect(config.logLevel).toBe(level);
  });

  it('reports every problem at once', () => {
    // Act
    const error = failure({ JOB_CONCURRENCY: '-1' });

    // Assess
    expect(error.message).toContain('AUTH0_DOMAIN is required');
    expect(error.message).toContain('AUTH0_SECRET_ID is required');
    expect(error.message).toContain('DLQ_URL is required');
    expect(error.message).toContain('JOB_CONCURRENCY');
  });

  it('asks the sync for the jobs queue instead of the dead-letter queue', () => {
    // Act
    const config = loadConfig({ ...base, DLQ_URL: undefined, JOBS_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/jobs' }, 'sync');
    const missing = (() => {
      try {
        loadConfig(base, 'sync');
      } catch (error) {
        return error as ConfigError;
      }
      throw new Error('accepted');
    })();

    // Assess
    expect(config.jobsQueueUrl).toBe('https://sqs.eu-west-1.amazonaws.com/123456789012/jobs');
    expect(config.dlqUrl).toBe('');
    expect(missing.variable).toBe('JOBS_QUEUE_URL');
  });

  it('allows no organization without ALLOWED_ORGANIZATIONS, any with *, else the ids and names it lists', () => {
    // Act & Assess
    expect(loadConfig(base).policy.allowedOrganizations).toEqual(new Set());
    expect(loadConfig({ ...base, ALLOWED_ORGANIZATIONS: '*' }).policy.allowedOrganizations).toBe('*');
    expect(loadConfig({ ...base, ALLOWED_ORGANIZATIONS: 'acme-corp, org_W8mZ2nX4pQ1rT6vY' }).policy.allowedOrganizations).toEqual(new Set(['acme-corp', 'org_W8mZ2nX4pQ1rT6vY']));
  });

  it('allows any role only when ALLOWED_ROLES says *', () => {
    // Act & Assess
    expect(loadConfig({ ...base, ALLOWED_ROLES: '*' }).policy.allowedRoles).toBeUndefined();
  });

  it('parses policy lists', () => {
    // Act
    const config = loadConfig({ ...base, ALLOWED_FIELDS: 'app_metadata, blocked', ALLOWED_ROLES: 'rol_abc,support-agent' });

    // Assess
    expect([...config.policy.allowedFields]).toEqual(['app_metadata', 'blocked']);
    expect([...(config.policy.allowedRoles ?? [])]).toEqual(['rol_abc', 'support-agent']);
  });

  describe('PRODUCERS', () => {
    const { DLQ_URL: _dlq, ...withoutDlq } = base;
    const HR = { name: 'hr', queueArn: 'arn:aws:sqs:eu-west-1:123456789012:hr-jobs', dlqUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/hr-dlq', allowedRoles: ['admin'], allowedFields: ['blocked'] };
    const CRM = { name: 'crm', queueArn: 'arn:aws:sqs:eu-west-1:123456789012:crm-jobs.fifo', dlqUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/crm-dlq.fifo', allowedFields: ['app_metadata'], share: 2, maxReceiveCount: 100 };

    it("reads each producer's queue, dead-letter queue and policy, by the queue's ARN, deny by default", () => {
      // Act
      const config = loadConfig({ ...withoutDlq, PRODUCERS: JSON.stringify([HR, CRM]) });

      // Assess
      const hr = config.producers?.get(HR.queueArn);
      const crm = config.producers?.get(CRM.queueArn);
      expect(hr).toMatchObject({ name: 'hr', dlqUrl: HR.dlqUrl, share: 1, policy: { producer: 'hr', allowedRoles: new Set(['admin']), allowedFields: new Set(['blocked']), allowedOrganizations: new Set() } });
      expect(crm).toMatchObject({ name: 'crm', share: 2, maxReceiveCount: 100, policy: { producer: 'crm', allowedRoles: new Set(), allowedFields: new Set(['app_metadata']) } });
      expect(config.dlqUrl).toBe('');
    });

    it('refuses a malformed entry, a name used twice, a shared queue, and the deployment-wide policy beside it, naming each', () => {
      // Act & Assess
      expect(failure({ ...withoutDlq, PRODUCERS: '{not json' }).message).toMatch(/PRODUCERS must be a JSON array/);
      expect(failure({ ...withoutDlq, PRODUCERS: JSON.stringify([{ ...HR, name: 'HR team' }]) }).message).toMatch(/name must be 1 to 32 lower-case letters/);
      expect(failure({ ...withoutDlq, PRODUCERS: JSON.stringify([HR, { ...CRM, name: 'hr' }]) }).message).toMatch(/producer hr is declared twice/);
      expect(failure({ ...withoutDlq, PRODUCERS: JSON.stringify([HR, { ...CRM, queueArn: HR.queueArn }]) }).message).toMatch(/producer crm: its queue is another producer's too/);
      expect(failure({ ...withoutDlq, PRODUCERS: JSON.stringify([{ ...HR, allowedRoles: ['*', 'admin'] }]) }).message).toMatch(/producer hr: allowedRoles is either \* \(any role\) or a list/);
      expect(failure({ ...withoutDlq, PRODUCERS: JSON.stringify([{ ...HR, allowedFields: ['favourite_colour'] }]) }).message).toMatch(/producer hr: allowedFields names unknown field\(s\) favourite_colour/);
      expect(failure({ ...withoutDlq, PRODUCERS: JSON.stringify([{ ...HR, source: 'x' }]) }).message).toMatch(/PRODUCERS\[0\] has unknown key\(s\) source/);
      const beside = failure({ ...base, ALLOWED_ROLES: '*', PRODUCERS: JSON.stringify([HR]) });
      expect(beside.message).toMatch(/DLQ_URL does not apply when PRODUCERS is set/);
      expect(beside.message).toMatch(/ALLOWED_ROLES does not apply when PRODUCERS is set/);
    });
  });
});
