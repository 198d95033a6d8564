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
import { type JobPolicy, parseJob } from '../../shared/jobs/parse-job.ts';
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

describe("Fuzz: the contract's text, email and URL fields", () => {
  /**
   * The rules as docs/contract.md states them, written here without the contract's own patterns, so that the property
   * checks the parser against the documentation rather than against itself.
   */
  const points = (value: string) => Array.from(value, (char) => char.codePointAt(0) ?? 0);
  const isControl = (point: number) => point <= 0x1f || (point >= 0x7f && point <= 0x9f);
  const INVISIBLE: Array<[number, number]> = [
    [0xad, 0xad], [0x34f, 0x34f], [0x61c, 0x61c], [0x115f, 0x1160], [0x17b4, 0x17b5], [0x200b, 0x200b], [0x200e, 0x200f], [0x2028, 0x2029],
    [0x202a, 0x202e], [0x2060, 0x206f], [0x3164, 0x3164], [0xfeff, 0xfeff], [0xffa0, 0xffa0], [0xfff0, 0xfffb], [0xfffe, 0xffff],
    [0x1bca0, 0x1bca3], [0x1d173, 0x1d17a], [0xe0000, 0xe00ff], [0xe01f0, 0xe0fff],
  ];
  const isInvisible = (point: number) => INVISIBLE.some(([low, high]) => point >= low && point <= high);
  const isJoiner = (point: number) => point === 0x200c || point === 0x200d;
  const isTagLetterOrDigit = (point: number) => (point >= 0xe0030 && point <= 0xe0039) || (point >= 0xe0061 && point <= 0xe007a);
  /** No control or invisible character; a joiner only between two non-ASCII characters; tag characters only in a flag emoji. */
  const hasOnlySafeCharacters = (value: string) => {
    if (!value.isWellFormed()) return false;
    const all = points(value);
    for (let index = 0; index < all.length; index++) {
      const point = all[index] ?? 0;
      if (point === 0x1f3f4) {
        // A flag emoji: the black flag, 2 to 6 tag letters or digits, the cancel tag
        let end = index + 1;
        while (end < all.length && isTagLetterOrDigit(all[end] ?? 0)) end++;
        if (end - index - 1 >= 2 && end - index - 1 <= 6 && all[end] === 0xe007f) index = end;
        continue;
      }
      if (isControl(point) || isInvisible(point)) return false;
      if (isJoiner(point)) {
        const fine = (other: number | undefined) => other !== undefined && other > 0x7f && !isJoiner(other) && !isControl(other) && !(isInvisible(other) && other <= 0xffff);
        if (!fine(all[index - 1]) || !fine(all[index + 1])) return false;
      }
    }
    return true;
  };
  const lengthWithin = (value: string, min: number, max: number) => points(value).length >= min && points(value).length <= max;
  const readable = (min: number, max: number) => (value: string) => lengthWithin(value, min, max) && hasOnlySafeCharacters(value) && /\S/.test(value);
  const URI_TEXT = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]*$/;
  const rules = {
    'changes.given_name': readable(1, 150),
    'changes.family_name': readable(1, 150),
    'changes.name': readable(1, 300),
    'changes.nickname': readable(1, 300),
    'changes.username': (value: string) => readable(1, 128)(value) && !/\s/.test(value),
    'changes.email': (value: string) => email(value),
    email: (value: string) => email(value),
    'changes.picture': (value: string, http: boolean) =>
      value.length <= 2_048 &&
      URI_TEXT.test(value) &&
      !/%(?![0-9A-Fa-f]{2})/.test(value) &&
      URL.canParse(value) &&
      ((url) => (url.protocol === 'https:' || (http && url.protocol === 'http:')) && url.username === '' && url.password === '' && url.hostname !== '' && /^https?:\/\/[^/@]/i.test(value))(new URL(value)),
    'changes.connection': (value: string) => connection(value),
    connection: (value: string) => connection(value),
    'changes.client_id': (value: string) => /^[\x21-\x7e]{1,128}$/.test(value),
    'changes.user_metadata': (value: string) => lengthWithin(value, 1, 255) && !/[.$]/.test(value) && hasOnlySafeCharacters(value) && !['__proto__', 'constructor', 'prototype'].includes(value),
    'changes.app_metadata.nested': (value: string) => hasOnlySafeCharacters(value) && !['__proto__', 'constructor', 'prototype'].includes(value),
    userId: (value: string) => lengthWithin(value, 1, 256) && hasOnlySafeCharacters(value) && !/[/?#%\s\u200c\u200d]|\.\./.test(value),
    roles: readable(1, 255),
    source: readable(1, 128),
    jobId: (value: string) => /^[\x21-\x7e]{1,64}$/.test(value),
    organization: (value: string) => /^org_[A-Za-z0-9]{1,46}$/.test(value) || /^[a-z0-9_-]{1,50}$/.test(value),
    issuedAt: (value: string) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/.test(value) && Number.isFinite(Date.parse(value.replace(/\.(\d+)/, (_, digits: string) => `.${digits.slice(0, 3).padEnd(3, '0')}`))),
  } satisfies Record<string, (value: string, http: boolean) => boolean>;
  function email(value: string): boolean {
    const [local, domain, ...more] = value.split('@');
    return value.length <= 254 && /^[\x21-\x7e]+$/.test(value) && !/[<>]/.test(value) && more.length === 0 && local !== '' && domain !== undefined && domain.includes('.');
  }
  function connection(value: string): boolean {
    return value.length <= 128 && /^[A-Za-z0-9-]+$/.test(value) && !value.startsWith('-') && !value.endsWith('-') && !value.includes('--');
  }
  type Field = keyof typeof rules;
  /** A job whose only questionable value is `value`, in `field`; where the parser's message must start. */
  const placed = (field: Field, value: string): { job: Record<string, unknown>; path: string } => {
    const update = (changes: Record<string, unknown>, target: Record<string, unknown> = { userId: 'auth0|1' }) => ({ type: 'user.update', ...target, changes });
    const roles = (fields: Record<string, unknown>) => ({ type: 'roles.assign', userId: 'auth0|1', roles: ['support-agent'], ...fields });
    switch (field) {
      case 'changes.user_metadata':
        return { job: update({ user_metadata: { [value]: 1 } }), path: field };
      case 'changes.app_metadata.nested':
        return { job: update({ app_metadata: { prefs: [{ [value]: 1 }] } }), path: 'changes.app_metadata.prefs.0' };
      case 'email':
        return { job: update({ blocked: true }, { email: value }), path: field };
      case 'connection':
        return { job: update({ blocked: true }, { email: 'ada@example.com', connection: value }), path: field };
      case 'userId':
        return { job: update({ blocked: true }, { userId: value }), path: field };
      case 'roles':
        return { job: roles({ roles: [value] }), path: 'roles.0' };
      case 'source':
      case 'jobId':
      case 'issuedAt':
        return { job: roles({ [field]: value }), path: field };
      case 'organization':
        return { job: { type: 'org.members.remove', userId: 'auth0|1', organization: value }, path: field };
      default:
        return { job: update({ [field.slice('changes.'.length)]: value }), path: field };
    }
  };

  // The characters the rules are about, and the pieces of URLs and addresses around them.
  const piece = fc.constantFrom(
    '\u0000', '\t', '\n', '\r', '\u001b', '\u007f', '\u0085', '\u009b', '\u00a0', '\u00ad', '\u034f', '\u061c', '\u115f', '\u180e', '\u200b', '\u200c', '\u200d',
    '\u200e', '\u200f', '\u2028', '\u2029', '\u202a', '\u202e', '\u2060', '\u2066', '\u2069', '\u3000', '\u3164', '\ufe0f', '\ufeff', '\ufff9', '\ufffe', '\uffff',
    '\ud800', '\udfff', '\u{e0041}', '\u{e0067}', '\u{e007f}', '\u{1f3f4}', '\u{1d173}', '\u{e0100}', ' ', '.', '..', '$', '@', ':', '/', '?', '#', '%', '%2F', '%zz', '"', "'",
    '<', '>', '\\', '(', ')', 'a', 'Z', '9', '-', '_', '+', 'é', 'Ω', '李', '\u0645', '😀', '\u0430', 'org_', 'https://', 'http://', 'javascript:', 'data:text/html,',
    'user:pass@', 'cdn.example.com', '[::1]', ':8443', '.com', 'T', 'Z', '+01:00', '2026-12-04', '16:27:58',
  );
  const seed = fc.constantFrom(
    '', 'Zoë Ωmega', '李小龍', "O'Brien", 'ada', 'ada@example.com', 'ada+news@example.com', 'https://cdn.example.com/', 'HTTPS://CDN.EXAMPLE.COM/a.png?x=1#y',
    'http://cdn.example.com/a.png', 'https://[2001:db8::1]:8443/', 'Username-Password-Authentication', 'auth0|65a1b2c3', 'support-agent', 'acme-corp', 'org_W8mZ2nX4pQ1rT6vY',
    'crm-2026-11-23-0001', '2026-12-04T16:27:58.123Z', '\u{1f3f4}\u{e0067}\u{e0062}\u{e0077}\u{e006c}\u{e0073}\u{e007f}', '\u{1f468}\u200d\u{1f469}', 'a'.repeat(150), 'b'.repeat(254),
  );
  // URLs and addresses put together from parts, each part usually fine and sometimes hostile, so that many are near the line.
  const part = (fine: string[], hostile: string[]) => fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...fine) }, { weight: 1, arbitrary: fc.constantFrom(...hostile) });
  const url = fc
    .tuple(
      part(['https://', 'HTTPS://', 'http://'], ['https:/', 'https:///', 'javascript:', 'data:text/html,', ' https://', 'ftp://', 'https:\\\\']),
      part([''], ['user:pass@', 'user@', '@', 'cdn.example.com@']),
      part(['cdn.example.com', 'a.b', '[2001:db8::1]', 'xn--r8jz45g.jp', '127.0.0.1'], ['\u0430pple.com', '例え.jp', 'exa\tmple.com', '', 'a b.com', 'a\u200b.com']),
      part(['', ':8443'], [':', ':99999', ':x']),
      fc.oneof(
        fc.constantFrom('', '/', '/a.png', '/@ada/Example_(1).jpg?size=96#top', '/avatar?d=https%3A%2F%2Fx.example%2Fa.png'),
        fc.string({ unit: fc.constantFrom('/', 'a', 'Z', '0', '.', '~', '-', '%2F', '%zz', '%', '(', ')', '@', ':', '?', '#', '&', '=', '"', '<', ' ', '\t', '\u202e', '\u200b', 'é'), maxLength: 10 }),
      ),
    )
    .map((parts) => parts.join(''));
  const address = fc
    .tuple(
      fc.string({ unit: part(['a', 'Z', '0', '.', '+', '_', '-'], ["'", ' ', '<', '>', '"', '\u0000', 'é', '@']), minLength: 1, maxLength: 8 }),
      part(['@'], [' @', '@@', '']),
      part(['example.com', 'Example.co.uk', `${'b'.repeat(240)}.com`], [`${'b'.repeat(250)}.com`, 'localhost', 'example.com>', 'exämple.com', 'example.com ']),
    )
    .map((parts) => parts.join(''));
  const value = fc.oneof(
    { weight: 1, arbitrary: url },
    { weight: 1, arbitrary: address },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 24 }) },
    { weight: 2, arbitrary: fc.string({ unit: piece, maxLength: 8 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 16 }) },
    { weight: 4, arbitrary: fc.tuple(seed, fc.string({ unit: piece, maxLength: 3 }), fc.nat(40)).map(([text, insert, at]) => text.slice(0, at) + insert + text.slice(at)) },
    { weight: 2, arbitrary: seed },
    { weight: 1, arbitrary: fc.tuple(seed, fc.integer({ min: 1, max: 2_100 })).map(([text, times]) => (text === '' ? 'x' : text).repeat(Math.ceil(times / Math.max(text.length, 1))).slice(0, times)) },
    { weight: 1, arbitrary: fc.date({ noInvalidDate: true }).map((date) => date.toISOString()) },
  );

  /** Values for one field: URLs for the picture and addresses for the emails more often, any text for every field. */
  const forField = (field: Field) => (field === 'changes.picture' ? fc.oneof(url, url, value) : field.endsWith('email') ? fc.oneof(address, address, value) : value);

  it('rejects each value with a job error that names its field, or accepts it, unchanged, only when it keeps the documented rules', () => {
    const outcomes = new Map<string, { accepted: number; refused: number }>();
    fc.assert(
      fc.property(fc.constantFrom(...(Object.keys(rules) as Field[])).chain((field) => fc.tuple(fc.constant(field), forField(field))), fc.boolean(), ([field, text], http) => {
        // Prepare
        const policy: JobPolicy = { allowedFields: new Set(USER_FIELDS), allowHttpPictures: http, allowedRoles: undefined, allowedOrganizations: '*' };
        const { job, path } = placed(field, text);

        // Act
        let parsed: unknown;
        let refused: unknown;
        try {
          parsed = parseJob(JSON.stringify(job), policy);
        } catch (error) {
          refused = error;
        }

        // Assess
        const tally = outcomes.get(field) ?? { accepted: 0, refused: 0 };
        outcomes.set(field, tally);
        if (refused === undefined) {
          tally.accepted += 1;
          expect({ field, text, keeps: rules[field](text, http) }).toEqual({ field, text, keeps: true });
          // Accepted as written: nothing trimmed or rewritten on the way
          expect(parsed).toEqual(field === 'roles' ? job : expect.objectContaining(job));
        } else {
          tally.refused += 1;
          expect(isJobError(refused)).toBe(true);
          expect({ field, text, message: (refused as Error).message.startsWith(`${path}`) }).toEqual({ field, text, message: true });
        }
      }),
      { numRuns: 20_000 },
    );
    // Assess: every field was both accepted and refused, so neither side of the property went untested
    for (const field of Object.keys(rules)) expect({ field, ...outcomes.get(field) }).toEqual({ field, accepted: expect.any(Number), refused: expect.any(Number) });
    for (const [field, tally] of outcomes) expect({ field, both: tally.accepted > 0 && tally.refused > 0 }).toEqual({ field, both: true });
  });
});
