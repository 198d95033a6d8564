import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RetryableError } from '../../../shared/errors.ts';
import { createDynamoLedger } from '../../../shared/ledger/dynamodb-ledger.ts';
import type { Effect, Stamp } from '../../../shared/ledger/ledger.ts';
import { type LocalDynamoDb, startLocalDynamoDb } from '../../../local/dynamodb.ts';

const DAY_MS = 86_400_000;
const stamp = (at: number, key = `o:${at}`): Stamp => ({ order: `${String(at).padStart(15, '0')}:00`, key, jobId: key, source: 'hr' });
const blocked = (value: boolean): Effect => ({ attribute: 'blocked', kind: String(value) });

describe('Function: createDynamoLedger() on dynalite', () => {
  let dynamodb: LocalDynamoDb;
  let client: DynamoDBClient;
  let clock: number;
  let user: string;
  let users = 0;

  beforeAll(async () => {
    dynamodb = await startLocalDynamoDb({ region: 'us-east-1' });
    client = new DynamoDBClient({ region: 'us-east-1', endpoint: dynamodb.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
  });
  afterAll(async () => {
    client?.destroy();
    await dynamodb?.stop();
  });
  beforeEach(() => {
    clock = Date.UTC(2026, 11, 4, 12);
    user = `auth0|user-${++users}`;
  });

  const ledger = () => createDynamoLedger(client, { tableName: dynamodb.ledgerTable, retentionMs: 90 * DAY_MS, now: () => clock, callTimeoutMs: 1_000 });

  it('records an applied job per attribute, with its history line and the item\'s expiry', async () => {
    // Act
    const claim = await ledger().claim(user, { stamp: stamp(10), effects: [blocked(true), { attribute: 'role:rol_a', kind: 'assign' }] }, 30_000);
    await claim.finish('applied');
    const state = await ledger().read(user);
    const { Item } = await client.send(new GetItemCommand({ TableName: dynamodb.ledgerTable, Key: { pk: { S: user } } }));

    // Assess
    expect(claim.decision.write).toHaveLength(2);
    expect(state?.attributes['blocked']).toMatchObject({ o: stamp(10).order, k: 'o:10', j: 'o:10', s: 'hr', v: 'true', t: clock });
    expect(state?.attributes['role:rol_a']).toMatchObject({ v: 'assign' });
    expect(state?.recent).toEqual([expect.objectContaining({ k: 'o:10', r: 'applied', n: 0 })]);
    expect(state?.lease).toBeUndefined();
    expect(Number(Item?.['expiresAt']?.N)).toBe(Math.ceil((clock + 90 * DAY_MS) / 1000));
  });

  it('keeps a second job of the user out while the first holds it, and lets it in once the first is done', async () => {
    // Prepare
    const first = await ledger().claim(user, { stamp: stamp(20), effects: [blocked(false)] }, 30_000);

    // Act
    const busy = await ledger().claim(user, { stamp: stamp(10), effects: [blocked(true)] }, 30_000).catch((error: unknown) => error);
    await first.finish('applied');
    const second = await ledger().claim(user, { stamp: stamp(10), effects: [blocked(true)] }, 30_000);

    // Assess
    expect(busy).toBeInstanceOf(RetryableError);
    expect(busy).toMatchObject({ code: 'user_busy' });
    expect(second.decision).toMatchObject({ write: [], skipped: [blocked(true)] });
  });

  it('takes over a lapsed claim, keeping what its job may have written as pending', async () => {
    // Prepare: a job claims the user and its container stops before recording anything
    await ledger().claim(user, { stamp: stamp(20, 'j:stopped'), effects: [blocked(false)] }, 30_000);
    const { Item: claimedOnly } = await client.send(new GetItemCommand({ TableName: dynamodb.ledgerTable, Key: { pk: { S: user } } }));
    clock += 30_001;

    // Act
    const older = await ledger().claim(user, { stamp: stamp(10), effects: [blocked(true)] }, 30_000);
    await older.finish('superseded');
    const retried = await ledger().claim(user, { stamp: stamp(20, 'j:stopped'), effects: [blocked(false)] }, 30_000);

    // Assess
    expect(Number(claimedOnly?.['expiresAt']?.N)).toBe(Math.ceil((clock - 30_001 + 90 * DAY_MS) / 1000));
    expect(older.decision.write).toEqual([]);
    expect(retried.decision.write).toEqual([blocked(false)]);
    expect((await ledger().read(user))?.attributes['blocked']).toMatchObject({ k: 'j:stopped', p: true });
  });

  it('refuses to record for a claim that lapsed and was taken over', async () => {
    // Prepare
    const slow = await ledger().claim(user, { stamp: stamp(20), effects: [blocked(false)] }, 1_000);
    clock += 1_001;
    await ledger().claim(user, { stamp: stamp(30), effects: [blocked(true)] }, 30_000);

    // Act
    const error = await slow.finish('applied').catch((caught: unknown) => caught);

    // Assess
    expect(error).toMatchObject({ code: 'ledger_lease_lost', retryable: true });
  });

  it('fails with ledger_unavailable, within its call timeout, when DynamoDB does not answer', async () => {
    // Prepare
    await dynamodb.pause();

    // Act
    const started = Date.now();
    const error = await ledger().claim(user, { stamp: stamp(10), effects: [blocked(true)] }, 30_000).catch((caught: unknown) => caught);
    const elapsed = Date.now() - started;
    await dynamodb.resume();
    const after = await ledger().claim(user, { stamp: stamp(10), effects: [blocked(true)] }, 30_000);

    // Assess
    expect(error).toBeInstanceOf(RetryableError);
    expect(error).toMatchObject({ code: 'ledger_unavailable' });
    expect(elapsed).toBeLessThan(5_000);
    expect(after.decision.write).toEqual([blocked(true)]);
  });
});
