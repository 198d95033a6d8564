/**
 * Property-based tests over hostile input: job bodies and message attributes through the whole record path
 * (parse, the real Management API client and job applier over an in-memory dispatcher, the fate decision, the
 * real SQS queue operations over a client that checks every request as SQS would), and the sync's input lines
 * and settings.
 */
import type { SQSRecord } from 'aws-lambda';
import fc from 'fast-check';
import type { Dispatcher } from 'undici';
import { describe, expect, it } from 'vitest';
import { createManagementClient } from '../../shared/auth0/client.ts';
import { isJobError } from '../../shared/errors.ts';
import { createJobPlanner } from '../../shared/jobs/apply-job.ts';
import { DEFAULT_ALLOWED_FIELDS, USER_FIELDS } from '../../shared/jobs/schema.ts';
import { createLogger } from '../../shared/logger.ts';
import { createMetrics } from '../../shared/metrics.ts';
import { RETRY_ATTRIBUTE } from '../../shared/queue/fate.ts';
import { processJobs } from '../../shared/queue/process-jobs.ts';
import { createSqsQueueOps } from '../../shared/queue/sqs.ts';
import { parseDesiredState } from '../../shared/sync/desired-state.ts';
import { validateSyncDefinition } from '../../shared/sync/run-sync.ts';
import { isSqsText } from '../../shared/text.ts';
import { createClock, createFakeTokens } from '../helpers/auth0.ts';
import { FIFO_QUEUE_ARN, QUEUE_ARN, SENT_AT } from '../helpers/sqs.ts';
import { suiteLog } from '../helpers/suite-logs.ts';

/** The lines these tests' loggers write, kept with the run's other logs. */
const unitLog = suiteLog('fuzz');

/** Longest log line any input may cause. */
const MAX_LOG_LINE = 4_096;
const SQS_ATTRIBUTE_NAME = /^(?!aws\.|amazon\.)(?!.*\.\.)(?!\.)[A-Za-z0-9_.-]{1,256}(?<!\.)$/i;

/**
 * Auth0 in memory, for speed: every lookup answers, every write succeeds, one user and one role exist; or, in an
 * outage, every call answers 429 or 503 with Auth0's bodies.
 */
function createAnsweringDispatcher(outage: 'none' | '429' | '503', now: () => number): Dispatcher {
  const answer = (statusCode: number, data: unknown) => ({
    statusCode,
    headers: { 'content-type': 'application/json', 'x-ratelimit-limit': '50', 'x-ratelimit-remaining': statusCode === 429 ? '0' : '49', 'x-ratelimit-reset': String(Math.ceil(now() / 1000) + 1) },
    body: (async function* () {
      if (data !== undefined) yield Buffer.from(JSON.stringify(data));
    })(),
  });
  return {
    async request(options: Dispatcher.RequestOptions) {
      const path = String(options.path);
      if (outage === '429') return answer(429, { statusCode: 429, error: 'Too Many Requests', message: 'Global limit has been reached', errorCode: 'too_many_requests' });
      if (outage === '503') return answer(503, { statusCode: 503, error: 'Service Unavailable', message: 'down' });
      if (path.startsWith('/api/v2/users-by-email')) return answer(200, path.includes('ada') ? [{ user_id: 'auth0|ada' }] : []);
      if (path.startsWith('/api/v2/roles?')) return answer(200, path.includes('name_filter=admin') ? [{ id: 'rol_admin', name: 'admin' }] : []);
      if (options.method === 'PATCH') {
        // Auth0 echoes the property at fault in a 400's message; repeated, so that a 500-character cut may fall inside it.
        const { user_metadata: userMetadata } = JSON.parse(String(options.body)) as { user_metadata?: Record<string, unknown> };
        const odd = Object.keys(userMetadata ?? {}).find((key) => !/^[a-z]+$/.test(key));
        if (odd !== undefined) return answer(400, { statusCode: 400, error: 'Bad Request', message: `Payload validation error on property user_metadata.${odd}; `.repeat(40), errorCode: 'invalid_body' });
        return answer(200, { user_id: 'x' });
      }
      return answer(204, undefined);
    },
  } as unknown as Dispatcher;
}

/** An SQS client that checks every request as SQS would and records what was sent; answers success. */
function createCheckingSqs() {
  const problems: string[] = [];
  const checkAttributes = (attributes: Record<string, { DataType?: string; StringValue?: string; BinaryValue?: Uint8Array }> | undefined, where: string) => {
    const entries = Object.entries(attributes ?? {});
    if (entries.length > 10) problems.push(`${where}: ${entries.length} attributes`);
    for (const [name, value] of entries) {
      if (!SQS_ATTRIBUTE_NAME.test(name)) problems.push(`${where}: attribute name ${JSON.stringify(name)}`);
      if (value.StringValue !== undefined && (!isSqsText(value.StringValue) || value.StringValue === '')) problems.push(`${where}: attribute ${name} value`);
      if (value.StringValue === undefined && value.BinaryValue === undefined) problems.push(`${where}: attribute ${name} has no value`);
    }
  };
  const bytes = (body: string | undefined) => Buffer.byteLength(body ?? '', 'utf8');
  const client = {
    async send(command: { constructor: { name: string }; input: Record<string, unknown> }) {
      const name = command.constructor.name;
      const input = command.input;
      if (name === 'SendMessageCommand') {
        const body = String(input['MessageBody']);
        if (!isSqsText(body) || bytes(body) > 1_048_576) problems.push('SendMessage: body');
        checkAttributes(input['MessageAttributes'] as never, 'SendMessage');
        return { MessageId: 'm' };
      }
      if (name === 'SendMessageBatchCommand') {
        const entries = input['Entries'] as unknown as Array<{ MessageBody: string; DelaySeconds?: number; MessageAttributes?: never }>;
        if (entries.length > 10) problems.push('SendMessageBatch: over 10 entries');
        if (entries.reduce((sum, entry) => sum + bytes(entry.MessageBody), 0) > 1_048_576) problems.push('SendMessageBatch: over 1 MiB');
        for (const entry of entries) {
          if (!isSqsText(entry.MessageBody)) problems.push('SendMessageBatch: body');
          if (!(Number.isInteger(entry.DelaySeconds) && (entry.DelaySeconds ?? -1) >= 0 && (entry.DelaySeconds ?? 901) <= 900)) problems.push(`SendMessageBatch: DelaySeconds ${entry.DelaySeconds}`);
          checkAttributes(entry.MessageAttributes, 'SendMessageBatch');
        }
        return { Successful: entries.map((_, index) => ({ Id: String(index) })), Failed: [] };
      }
      if (name === 'ChangeMessageVisibilityBatchCommand') {
        const entries = input['Entries'] as unknown as Array<{ VisibilityTimeout: number }>;
        if (entries.length > 10) problems.push('ChangeMessageVisibilityBatch: over 10 entries');
        for (const entry of entries) if (!(Number.isInteger(entry.VisibilityTimeout) && entry.VisibilityTimeout >= 0 && entry.VisibilityTimeout <= 43_200)) problems.push(`VisibilityTimeout ${entry.VisibilityTimeout}`);
        return { Successful: [], Failed: [] };
      }
      if (name === 'GetQueueUrlCommand') return { QueueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/jobs' };
      problems.push(`unexpected ${name}`);
      return {};
    },
  };
  return { client, problems };
}

// Hostile text: control characters, lone surrogates, path and regex characters, huge strings.
const hostileText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', '.', '..', '../admin', 'a/b', '%2F', 'a?b#c', '\u0000', '\uD800', '\uDFFF', 'x\uD83D', '😀', '.*', '(a+)+$', '[', '\\', 'auth0|1', 'rol_admin', 'admin', 'Ada@Example.com', 'ada@example.com'),
  fc.string({ unit: 'grapheme', maxLength: 12 }).map((text) => text.repeat(500)),
);
const hostileKey = fc.oneof(hostileText, fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty'));
const metadata = fc.dictionary(hostileKey, fc.oneof(fc.jsonValue({ maxDepth: 3 }), hostileText), { maxKeys: 4 });
const deep = fc.integer({ min: 30, max: 200 }).map((depth) => {
  let value: unknown = 1;
  for (let n = 0; n < depth; n++) value = { nested: value };
  return value;
});
// Mostly well-formed values, hostile ones often enough to reach every check.
const sometimes = <T, U>(usual: fc.Arbitrary<T>, hostile: fc.Arbitrary<U>) => fc.oneof({ weight: 4, arbitrary: usual }, { weight: 1, arbitrary: hostile });
const userId = sometimes(fc.stringMatching(/^(auth0|google-oauth2|samlp\|acme)\|[A-Za-z0-9._-]{1,24}$/), hostileText);
const email = sometimes(fc.constantFrom('ada@example.com', 'Ada@Example.com', 'bob@example.org'), hostileText);
const roleRef = sometimes(fc.constantFrom('admin', 'rol_admin', 'support', 'rol_Other123'), hostileText);
const target = fc.oneof(
  { weight: 4, arbitrary: fc.record({ userId }) },
  { weight: 2, arbitrary: fc.record({ email }) },
  { weight: 1, arbitrary: fc.record({ email, connection: sometimes(fc.constant('Username-Password-Authentication'), hostileText) }) },
  { weight: 1, arbitrary: fc.oneof(fc.record({ userId, email }), fc.constant({})) },
);
// Keys a schema accepts but SQS or a log reader would choke on if quoted: control characters, U+FFFE, emoji at a cut.
const oddKey = fc.oneof(fc.constantFrom('\u0000k', 'k\u0001', '😀key', `${'a'.repeat(20)}😀😀😀`, '\uFFFE', 'x\u001b[31m'), fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }).filter((key) => key.isWellFormed()));
const usualChanges = fc.oneof(
  fc.record({ blocked: fc.boolean() }),
  fc.record({ user_metadata: fc.dictionary(sometimes(fc.stringMatching(/^[a-z]{1,8}$/), oddKey), fc.jsonValue({ maxDepth: 2 }), { minKeys: 1, maxKeys: 3 }) }),
  fc.record({ given_name: fc.string({ minLength: 1, maxLength: 20 }).filter((text) => text.isWellFormed()), nickname: fc.constant('n') }),
);
const hostileChanges = fc.oneof(
  fc.record({ user_metadata: metadata }, { requiredKeys: [] }),
  fc.record({ app_metadata: fc.oneof(metadata, deep) }),
  fc.dictionary(fc.constantFrom(...USER_FIELDS, 'favourite'), fc.jsonValue({ maxDepth: 2 })),
);
const job = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(target, fc.record({ type: fc.constant('user.update'), changes: sometimes(usualChanges, hostileChanges) })) },
  { weight: 3, arbitrary: fc.tuple(target, fc.record({ type: fc.constantFrom('roles.assign', 'roles.remove'), roles: sometimes(fc.array(roleRef, { minLength: 1, maxLength: 3 }), fc.array(hostileText, { maxLength: 60 })) })) },
  { weight: 1, arbitrary: fc.tuple(target, fc.record({ type: hostileText })) },
).chain(([who, what]) =>
  fc
    .record({ jobId: fc.oneof(fc.stringMatching(/^[\x21-\x7e]{1,64}$/), hostileText, fc.constant(undefined)), extra: fc.oneof({ weight: 6, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) }) })
    .map(({ jobId, extra }) => ({ ...who, ...what, ...(jobId === undefined ? {} : { jobId }), ...(extra === undefined ? {} : { extra }) })),
);
/**
 * JSON as a producer can send it through SQS: JSON.stringify escapes control characters and lone surrogates;
 * U+FFFE and U+FFFF, which SQS refuses, are escaped too (the same JSON value).
 */
const sendable = (value: unknown) => JSON.stringify(value).replace(/[\uFFFE\uFFFF]/g, (char) => `\\u${char.charCodeAt(0).toString(16)}`);
// What SQS can deliver: any JSON, or raw text SQS accepts.
const body = fc.oneof(
  { weight: 6, arbitrary: job.map(sendable) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map(sendable) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 200 }).filter(isSqsText) },
);
const attributeValue = fc.oneof(
  fc.record({ dataType: fc.constantFrom('String', 'Number', 'String.custom'), stringValue: fc.oneof(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }).filter((text) => isSqsText(text) && text !== ''), fc.constantFrom('1', '0:0', '99999999999999:5', `${SENT_AT}:3`, `${SENT_AT + 1e9}:1`, 'x:y', '-1')) }),
  fc.record({ dataType: fc.constant('Binary'), binaryValue: fc.base64String({ minLength: 4, maxLength: 40 }) }),
);
const attributeName = fc.oneof(fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/), fc.constantFrom(RETRY_ATTRIBUTE, 'requeues', 'tenant', 'trace'));
const attributes = fc.dictionary(attributeName, attributeValue, { maxKeys: 10 });
const record = fc.record({
  body,
  attributes,
  receiveCount: fc.integer({ min: 1, max: 120 }),
  ageMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 * 86_400_000 })),
  group: fc.constantFrom('g1', 'g2', 'g3'),
});

describe('Fuzz: any SQS record', () => {
  it('is applied or routed with a reason, never crashes the batch, never makes a request SQS refuses, never logs an unbounded line', async () => {
    const clock = createClock();
    let bodies = 0;
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.array(record, { minLength: 1, maxLength: 10 }), fc.boolean(), fc.constantFrom('none', 'none', '429', '503'), async (inputs, fifo, outage) => {
        // Prepare
        const lines: string[] = [];
        const sqs = createCheckingSqs();
        const arn = fifo ? FIFO_QUEUE_ARN : QUEUE_ARN;
        const records: SQSRecord[] = inputs.map((input, index) => ({
          messageId: `m-${index}`,
          receiptHandle: `r-${index}`,
          body: input.body,
          attributes: {
            ApproximateReceiveCount: String(input.receiveCount),
            SentTimestamp: String(clock.now() - input.ageMs),
            SenderId: 'A',
            ApproximateFirstReceiveTimestamp: String(clock.now() - input.ageMs),
            ...(fifo ? { MessageGroupId: input.group, MessageDeduplicationId: `d-${index}`, SequenceNumber: String(index) } : {}),
          },
          messageAttributes: input.attributes as SQSRecord['messageAttributes'],
          md5OfBody: '',
          eventSource: 'aws:sqs',
          eventSourceARN: arn,
          awsRegion: 'eu-west-1',
        }));
        bodies += records.length;
        const logger = createLogger({ service: 'worker', level: 'debug', write: (line) => (lines.push(line), unitLog(line)) });
        const client = createManagementClient({ origin: 'https://acme.eu.auth0.com', dispatcher: createAnsweringDispatcher(outage, clock.now), tokens: createFakeTokens().tokens, timeouts: { headersTimeoutMs: 1_000, bodyTimeoutMs: 1_000 }, now: clock.now, logger });
        const planner = createJobPlanner({ client, allowedRoles: new Set(['admin', 'rol_admin']), logger, now: clock.now });
        const real = createSqsQueueOps(sqs.client as never, fifo ? 'https://sqs.eu-west-1.amazonaws.com/123456789012/dlq.fifo' : 'https://sqs.eu-west-1.amazonaws.com/123456789012/dlq');
        const routed = new Map<string, string>();
        const queue: typeof real = {
          async resend(queueArn, entries, signal) {
            for (const entry of entries) routed.set(entry.record.messageId, `${routed.get(entry.record.messageId) ?? ''}resent`);
            return real.resend(queueArn, entries, signal);
          },
          async changeVisibility(queueArn, changes, signal) {
            for (const change of changes) routed.set(change.messageId, `${routed.get(change.messageId) ?? ''}visibility`);
            return real.changeVisibility(queueArn, changes, signal);
          },
          async sendToDeadLetter(letter, signal) {
            const reason = letter.attributes['reason'];
            routed.set(String(letter.attributes['originalMessageId']), `dead:${typeof reason === 'string' && reason !== '' ? 'reason' : 'none'}`);
            return real.sendToDeadLetter(letter, signal);
          },
        };

        // Act
        const response = await processJobs(
          { Records: records },
          { getRemainingTimeInMillis: () => 30_000 },
          {
            policy: { allowedFields: new Set(DEFAULT_ALLOWED_FIELDS), allowedRoles: new Set(['admin', 'rol_admin']) },
            concurrency: 1,
            planJob: planner,
            ledger: undefined,
            issuedAtSkewMs: 300_000,
            queue,
            logger,
            metrics: createMetrics({ namespace: 'Fuzz', service: 'worker', write: (line) => (lines.push(line), unitLog(line)) }),
            now: clock.now,
            random: Math.random,
            rules: { maxAgeMs: 86_400_000, maxReceiveCount: fifo ? 100 : 5 },
          },
        );

        // Assess
        expect(sqs.problems).toEqual([]);
        expect(Math.max(...lines.map((line) => line.length))).toBeLessThanOrEqual(MAX_LOG_LINE);
        const failed = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
        for (const each of records) {
          const route = routed.get(each.messageId);
          seen.set(route ?? 'applied', (seen.get(route ?? 'applied') ?? 0) + 1);
          // Exactly one way out: dead-lettered with a reason, resent, kept in place (and reported), or applied.
          if (route === undefined) expect(failed.has(each.messageId)).toBe(false);
          else if (route === 'visibility' || route === 'resentvisibility') expect(failed.has(each.messageId)).toBe(true);
          else expect([route, failed.has(each.messageId)]).toEqual([expect.stringMatching(/^(dead:reason|resent)$/), false]);
        }
        const done = JSON.parse(lines.find((line) => line.includes('"batch done"')) ?? '{}') as { applied?: number; dead_lettered?: number; requeued?: number };
        expect((done.applied ?? 0) + (done.dead_lettered ?? 0) + (done.requeued ?? 0)).toBe(records.length);
      }),
      { numRuns: 2_200 },
    );
    // Assess: at least 10,000 bodies went through, and every way out was taken many times
    expect(bodies).toBeGreaterThanOrEqual(10_000);
    for (const route of ['applied', 'dead:reason', 'resent', 'visibility']) expect(seen.get(route) ?? 0).toBeGreaterThan(100);
  }, 240_000);
});

describe('Fuzz: the sync\'s input', () => {
  const line = fc.oneof(
    fc.record({ userId: fc.oneof(hostileText, fc.constant(undefined)), email: fc.oneof(hostileText, fc.constant(undefined)), roles: fc.oneof(fc.array(hostileText, { maxLength: 5 }), hostileText), app_metadata: fc.oneof(metadata, deep, fc.constant(undefined)) }, { requiredKeys: [] }).map((value) => JSON.stringify(value)),
    fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
    fc.string({ unit: 'binary', maxLength: 80 }),
  );

  it('parses any file without throwing, reporting each skipped line with a bounded, sendable reason', () => {
    fc.assert(
      fc.property(fc.array(line, { maxLength: 30 }), (lines) => {
        // Act
        const parsed = parseDesiredState(lines.join('\n'));

        // Assess
        expect(parsed.users.length + parsed.invalid.length).toBeLessThanOrEqual(parsed.lines);
        for (const entry of parsed.invalid) {
          expect(entry.reason.length).toBeLessThanOrEqual(600);
          expect(isSqsText(entry.reason)).toBe(true);
        }
        for (const user of parsed.users) expect(JSON.stringify(user.userId ?? user.email ?? '').length).toBeGreaterThan(2);
      }),
      { numRuns: 2_000 },
    );
  });

  it('accepts a sync definition only when every setting has its type and range, and refuses it with a reason otherwise', () => {
    const anything = fc.oneof(fc.jsonValue({ maxDepth: 1 }), fc.constant(Number.NaN), fc.constant(undefined));
    fc.assert(
      fc.property(
        fc.record({ allowRemovals: anything, dryRun: anything, maxRemovals: anything, maxRemovalShare: anything, maxInvalidShare: anything, readShare: anything, maxSourceBytes: anything }, { requiredKeys: [] }),
        (settings) => {
          // Act
          let refused: unknown;
          try {
            validateSyncDefinition({ name: 'hr', source: { bucket: 'b', key: 'k' }, managedRoles: ['r'], ...(settings as object) });
          } catch (error) {
            refused = error;
          }

          // Assess
          const well =
            (settings.allowRemovals === undefined || typeof settings.allowRemovals === 'boolean') &&
            (settings.dryRun === undefined || typeof settings.dryRun === 'boolean') &&
            [settings.maxRemovals, settings.maxSourceBytes].every((value) => value === undefined || (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0)) &&
            [settings.maxRemovalShare, settings.maxInvalidShare, settings.readShare].every((value) => value === undefined || (typeof value === 'number' && value >= 0 && value <= 1));
          if (well) expect(refused).toBeUndefined();
          else expect(isJobError(refused) && refused.code === 'invalid_sync_definition').toBe(true);
        },
      ),
      { numRuns: 2_000 },
    );
  });
});
