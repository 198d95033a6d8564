/**
 * The ordering ledger in DynamoDB: one item per user (partition key `pk`, the Auth0 user id), holding the
 * attribute entries and recent jobs as JSON text, a lease while a job writes for the user, and `expiresAt`
 * for the table's TTL. Two calls per job: a conditional `UpdateItem` that takes the lease and returns the item
 * as it was, and one that records the outcome and drops the lease, on condition that the lease is still ours.
 */
import { ConditionalCheckFailedException, type DynamoDBClient, GetItemCommand, UpdateItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { randomUUID } from 'node:crypto';
import { RetryableError } from '../errors.ts';
import { type Claim, type Entry, type Intent, type Ledger, type LedgerState, type RecentJob, decide, foldLapsedIntent, record } from './ledger.ts';

/** Options of {@link createDynamoLedger}. */
export interface DynamoLedgerOptions {
  readonly tableName: string;
  /** A user's item is deleted by the table's TTL this long after its last job. */
  readonly retentionMs: number;
  readonly now?: () => number;
  /** Longest wait for one DynamoDB call; the job is retried after it. Default 3 s. */
  readonly callTimeoutMs?: number;
}

const DEFAULT_CALL_TIMEOUT_MS = 3_000;
const EMPTY: LedgerState = { attributes: {}, recent: [] };

/**
 * Creates the DynamoDB-backed ledger.
 *
 * @example
 * const ledger = createDynamoLedger(new DynamoDBClient({}), { tableName: config.ledger.tableName, retentionMs: config.ledger.retentionMs });
 * const claim = await ledger.claim(userId, { stamp, effects }, 30_000);
 */
export function createDynamoLedger(client: Pick<DynamoDBClient, 'send'>, options: DynamoLedgerOptions): Ledger {
  const { tableName, retentionMs } = options;
  const now = options.now ?? Date.now;
  const callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  // DynamoDB's TTL reads epoch seconds.
  const expiresAt = (at: number) => Math.ceil((at + retentionMs) / 1000);
  const bound = (signal: AbortSignal | undefined) => AbortSignal.any([AbortSignal.timeout(callTimeoutMs), ...(signal === undefined ? [] : [signal])]);

  return {
    async claim(userId, intent, leaseMs, signal) {
      const owner = randomUUID();
      const claimedAt = now();
      const until = claimedAt + leaseMs;
      let old: Record<string, AttributeValue> | undefined;
      try {
        ({ Attributes: old } = await client.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: { pk: { S: userId } },
            // The expiry too, so that an item whose first job never finished is still deleted in time.
            UpdateExpression: 'SET #lease = :lease, #expiresAt = :expiresAt',
            ConditionExpression: 'attribute_not_exists(#lease) OR #lease.#until < :now',
            ExpressionAttributeNames: { '#lease': 'lease', '#until': 'until', '#expiresAt': 'expiresAt' },
            ExpressionAttributeValues: {
              ':lease': { M: { owner: { S: owner }, until: { N: String(until) }, intent: { S: JSON.stringify(intent) } } },
              ':now': { N: String(claimedAt) },
              ':expiresAt': { N: String(expiresAt(claimedAt)) },
            },
            ReturnValues: 'ALL_OLD',
          }),
          { abortSignal: bound(signal) },
        ));
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) throw new RetryableError('user_busy', 'another job of this user is being applied; it is tried again shortly');
        throw unavailable('could not claim the user in the ordering ledger', error);
      }

      let state = readState(old);
      const lapsed = readLease(old);
      // The condition passed, so a lease still there has lapsed: its job may have written before it stopped.
      if (lapsed !== undefined) state = foldLapsedIntent(state, lapsed.intent, claimedAt);
      const decision = decide(state, intent.stamp, intent.effects);

      const claim: Claim = {
        decision,
        until,
        async finish(outcome, finishSignal) {
          const at = now();
          const next = record(state, intent, decision, outcome, at);
          try {
            await client.send(
              new UpdateItemCommand({
                TableName: tableName,
                Key: { pk: { S: userId } },
                UpdateExpression: 'SET #attributes = :attributes, #recent = :recent, #expiresAt = :expiresAt REMOVE #lease',
                ConditionExpression: '#lease.#owner = :owner',
                ExpressionAttributeNames: { '#attributes': 'attributes', '#recent': 'recent', '#expiresAt': 'expiresAt', '#lease': 'lease', '#owner': 'owner' },
                ExpressionAttributeValues: {
                  ':attributes': { S: JSON.stringify(next.attributes) },
                  ':recent': { S: JSON.stringify(next.recent) },
                  ':expiresAt': { N: String(expiresAt(at)) },
                  ':owner': { S: owner },
                },
              }),
              { abortSignal: bound(finishSignal) },
            );
          } catch (error) {
            if (error instanceof ConditionalCheckFailedException) {
              // The lease lapsed and another job took it: that job folded this one's intent in as pending.
              throw new RetryableError('ledger_lease_lost', 'the claim on the user lapsed before the job was recorded; the next job of the user records it as pending', {}, { cause: error });
            }
            throw unavailable('could not record the job in the ordering ledger', error);
          }
        },
      };
      return claim;
    },

    async read(userId, signal) {
      let item: Record<string, AttributeValue> | undefined;
      try {
        ({ Item: item } = await client.send(new GetItemCommand({ TableName: tableName, Key: { pk: { S: userId } }, ConsistentRead: true }), { abortSignal: bound(signal) }));
      } catch (error) {
        throw unavailable('could not read the ordering ledger', error);
      }
      if (item === undefined) return undefined;
      const lease = readLease(item);
      return { ...readState(item), ...(lease === undefined ? {} : { lease }) };
    },
  };
}

function readState(item: Record<string, AttributeValue> | undefined): LedgerState {
  if (item === undefined) return EMPTY;
  return {
    attributes: parseJson<Record<string, Entry>>(item['attributes']?.S) ?? {},
    recent: parseJson<RecentJob[]>(item['recent']?.S) ?? [],
  };
}

function readLease(item: Record<string, AttributeValue> | undefined): { until: number; intent: Intent } | undefined {
  const lease = item?.['lease']?.M;
  const intent = parseJson<Intent>(lease?.['intent']?.S);
  if (lease === undefined || intent === undefined) return undefined;
  return { until: Number(lease['until']?.N ?? 0), intent };
}

function parseJson<T>(text: string | undefined): T | undefined {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

/** A ledger failure: the job waits and is retried like an outage, never applied unordered. */
function unavailable(what: string, error: unknown): RetryableError {
  const name = error instanceof Error ? error.name : 'Error';
  return new RetryableError('ledger_unavailable', `${what} (${name}); the job is retried`, {}, { cause: error });
}
