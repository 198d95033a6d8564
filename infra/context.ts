import { Duration } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AUTH0_PLANS, type Auth0Plan } from '../shared/auth0/plans.ts';
import { type Auth0QueueWorkerProps, type ProducerProps, ROLE_ARN, type ScheduledJob, type ScheduledSync } from './queue-worker.ts';

/** Reads one context value (`cdk.json` or `-c key=value`). */
export type ContextReader = (key: string) => unknown;

/**
 * Parses and validates the deployment's context into construct props; every problem is named with its key
 * and how to set it. The only place the app reads context.
 */
export function readDeploymentContext(read: ContextReader): Auth0QueueWorkerProps {
  const problems: string[] = [];
  const text = (key: string): string | undefined => {
    const value = read(key);
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      problems.push(`${key} must be a string`);
      return undefined;
    }
    return String(value).trim();
  };
  const number = (key: string, min: number, max: number, kind: 'an integer' | 'a number'): number | undefined => {
    const value = text(key);
    if (value === undefined) return undefined;
    const parsed = Number(value);
    if (!(kind === 'an integer' ? Number.isInteger(parsed) : Number.isFinite(parsed)) || parsed < min || parsed > max) problems.push(`${key} must be ${kind} from ${min} to ${max} (got ${value})`);
    return parsed;
  };
  const integer = (key: string, min: number, max: number) => number(key, min, max, 'an integer');
  const share = (key: string, min: number, max: number) => number(key, min, max, 'a number');
  const list = (key: string) => text(key)?.split(',').map((item) => item.trim()).filter(Boolean);
  const logLevel = (key: string) => {
    const value = text(key)?.toUpperCase();
    if (value === undefined) return undefined;
    const level = LOG_LEVELS[value];
    if (level === undefined) problems.push(`${key} must be one of ${Object.keys(LOG_LEVELS).join(', ')} (got ${value})`);
    return level;
  };
  const ordering = (key: string) => {
    const value = text(key);
    if (value !== undefined && value !== 'ledger' && value !== 'unordered') problems.push(`${key} must be ledger (the default) or unordered (got ${value})`);
    return value as Auth0QueueWorkerProps['ordering'];
  };

  const plan = (key: string) => {
    const value = text(key);
    if (value !== undefined && !(AUTH0_PLANS as readonly string[]).includes(value)) problems.push(`${key} must be one of ${AUTH0_PLANS.join(', ')} (got ${value})`);
    return value as Auth0Plan | undefined;
  };

  const auth0Domain = text('auth0Domain');
  if (auth0Domain === undefined) problems.push('auth0Domain is required: npx cdk deploy -c auth0Domain=acme.eu.auth0.com');
  else if (!/^([a-z0-9-]+\.)+[a-z]{2,}$/i.test(auth0Domain)) problems.push(`auth0Domain must be a domain such as acme.eu.auth0.com (got ${auth0Domain})`);
  const secretArn = text('secretArn');
  if (secretArn !== undefined && !/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+-[A-Za-z0-9]{6}$/.test(secretArn)) {
    problems.push('secretArn must be the complete ARN of a secret, ending in its 6-character suffix (aws secretsmanager describe-secret --secret-id NAME)');
  }
  const fifoText = text('fifo');
  if (fifoText !== undefined && fifoText !== 'true' && fifoText !== 'false') problems.push('fifo must be true or false');
  const httpPictures = text('allowHttpPictures');
  if (httpPictures !== undefined && httpPictures !== 'true' && httpPictures !== 'false') problems.push('allowHttpPictures must be true or false');
  const producerRoleArns = list('producerRoleArns');
  for (const arn of producerRoleArns ?? []) if (!ROLE_ARN.test(arn)) problems.push(`producerRoleArns: ${arn} is not an IAM role ARN`);
  let schedules: ScheduledJob[] | undefined;
  const schedulesValue = read('schedules');
  if (schedulesValue !== undefined) {
    try {
      const parsed: unknown = typeof schedulesValue === 'string' ? JSON.parse(schedulesValue) : schedulesValue;
      if (!Array.isArray(parsed) || !parsed.every((item) => typeof item?.name === 'string' && typeof item?.expression === 'string' && typeof item?.job === 'object')) {
        throw new Error('shape');
      }
      schedules = parsed as ScheduledJob[];
    } catch {
      problems.push('schedules must be a JSON array of {"name","expression","job"} objects');
    }
  }

  let syncs: ScheduledSync[] | undefined;
  const syncsValue = read('syncs');
  if (syncsValue !== undefined) {
    try {
      const parsed: unknown = typeof syncsValue === 'string' ? JSON.parse(syncsValue) : syncsValue;
      const ok = Array.isArray(parsed) && parsed.every((item) => typeof item?.name === 'string' && typeof item?.expression === 'string' && typeof item?.bucket === 'string' && typeof item?.key === 'string' && Array.isArray(item?.managedRoles) && (item?.producer === undefined || typeof item.producer === 'string'));
      if (!ok) throw new Error('shape');
      syncs = parsed as ScheduledSync[];
    } catch {
      problems.push('syncs must be a JSON array of {"name","expression","bucket","key","managedRoles"} objects');
    }
  }

  // Producers as JSON: the construct's ProducerProps, senders by role ARN (a principal cannot be written in context).
  let producers: ProducerProps[] | undefined;
  const producersValue = read('producers');
  if (producersValue !== undefined) {
    const KEYS = new Set(['name', 'senderRoleArns', 'allowedFields', 'allowedRoles', 'allowedOrganizations', 'allowHttpPictures', 'share', 'fifo', 'maxConcurrency']);
    try {
      const parsed: unknown = typeof producersValue === 'string' ? JSON.parse(producersValue) : producersValue;
      const strings = (value: unknown) => value === undefined || (Array.isArray(value) && value.every((item) => typeof item === 'string'));
      const ok =
        Array.isArray(parsed) &&
        parsed.every(
          (item) =>
            typeof item === 'object' &&
            item !== null &&
            typeof item.name === 'string' &&
            Object.keys(item).every((key) => KEYS.has(key)) &&
            ['senderRoleArns', 'allowedFields', 'allowedRoles', 'allowedOrganizations'].every((key) => strings(item[key])) &&
            ['allowHttpPictures', 'fifo'].every((key) => item[key] === undefined || typeof item[key] === 'boolean') &&
            ['share', 'maxConcurrency'].every((key) => item[key] === undefined || typeof item[key] === 'number'),
        );
      if (!ok) throw new Error('shape');
      producers = parsed as ProducerProps[];
    } catch {
      problems.push(`producers must be a JSON array of {"name", and optionally ${[...KEYS].filter((key) => key !== 'name').map((key) => `"${key}"`).join(', ')}} objects`);
    }
  }

  const props = {
    auth0Domain: auth0Domain ?? '',
    auth0Audience: text('auth0Audience'),
    secretArn,
    secretKeyArn: text('secretKeyArn'),
    fifo: fifoText === 'true',
    maxReceiveCount: integer('maxReceiveCount', 5, 1000),
    timeout: optional(integer('timeoutSeconds', 10, 900), Duration.seconds),
    batchSize: integer('batchSize', 1, 10_000),
    maxBatchingWindow: optional(integer('batchingWindowSeconds', 0, 300), Duration.seconds),
    maxConcurrency: integer('maxConcurrency', 2, 1000),
    jobConcurrency: integer('jobConcurrency', 1, 64),
    rateLimitReserve: share('rateLimitReserve', 0, 0.9),
    rateLimitShare: share('rateLimitShare', 0.05, 1),
    auth0Plan: plan('auth0Plan'),
    allowedFields: list('allowedFields'),
    allowedRoles: list('allowedRoles'),
    allowedOrganizations: list('allowedOrganizations'),
    allowHttpPictures: httpPictures === undefined ? undefined : httpPictures === 'true',
    alarmEmail: text('alarmEmail'),
    metricsNamespace: text('metricsNamespace'),
    logLevel: logLevel('logLevel'),
    oldestJobAlarmAge: optional(integer('oldestJobAlarmMinutes', 1, 1440), Duration.minutes),
    maxJobAge: optional(integer('maxJobAgeHours', 1, 312), Duration.hours),
    deadLetterRetention: optional(integer('deadLetterRetentionDays', 1, 14), Duration.days),
    ordering: ordering('ordering'),
    ledgerRetention: optional(integer('ledgerRetentionDays', 15, 3650), Duration.days),
    issuedAtSkew: optional(integer('issuedAtSkewSeconds', 0, 3600), Duration.seconds),
    producerRoleArns,
    producers,
    schedules,
    syncs,
  };
  if (problems.length > 0) throw new Error(`Invalid deployment context:\n  - ${problems.join('\n  - ')}`);
  // Drop unset keys so the construct's defaults apply.
  return Object.fromEntries(Object.entries(props).filter(([, value]) => value !== undefined)) as unknown as Auth0QueueWorkerProps;
}

const LOG_LEVELS: Readonly<Record<string, lambda.ApplicationLogLevel>> = {
  TRACE: lambda.ApplicationLogLevel.TRACE,
  DEBUG: lambda.ApplicationLogLevel.DEBUG,
  INFO: lambda.ApplicationLogLevel.INFO,
  WARN: lambda.ApplicationLogLevel.WARN,
  ERROR: lambda.ApplicationLogLevel.ERROR,
  FATAL: lambda.ApplicationLogLevel.FATAL,
};

function optional<T>(value: number | undefined, make: (value: number) => T): T | undefined {
  return value === undefined ? undefined : make(value);
}
