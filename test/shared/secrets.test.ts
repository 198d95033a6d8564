import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalSecretsManager, startSecretsManager } from '../../local/secrets-manager.ts';
import { RetryableError } from '../../shared/errors.ts';
import { createSecretReader } from '../../shared/secrets.ts';

describe('Function: createSecretReader() against the local Secrets Manager endpoint', () => {
  let local: LocalSecretsManager;
  let client: SecretsManagerClient;

  beforeAll(async () => {
    local = await startSecretsManager({ port: 0, region: 'eu-west-1' });
    client = new SecretsManagerClient({ region: 'eu-west-1', endpoint: local.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  });

  afterAll(async () => {
    client.destroy();
    await local.stop();
  });

  it('reads the credentials by name or ARN, and reads the current version each time', async () => {
    // Prepare
    const arn = local.putSecret('auth0-m2m', JSON.stringify({ clientId: 'client-1', clientSecret: 'first' }));
    const byName = createSecretReader(client, 'auth0-m2m');
    const byArn = createSecretReader(client, arn);

    // Act
    const first = await byName();
    local.putSecret('auth0-m2m', JSON.stringify({ clientId: 'client-1', clientSecret: 'second' }));
    const second = await byArn();

    // Assess
    expect(first).toEqual({ clientId: 'client-1', clientSecret: 'first' });
    expect(second).toEqual({ clientId: 'client-1', clientSecret: 'second' });
    expect(local.reads.get('auth0-m2m')).toBe(2);
  });

  it('names the secret id and the fix when the secret does not exist', async () => {
    // Act
    const error = await createSecretReader(client, 'missing-secret')().catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(RetryableError);
    expect(error).toMatchObject({ code: 'secret_unavailable' });
    expect((error as Error).message).toContain('missing-secret');
    expect((error as Error).message).toContain('ResourceNotFoundException');
    expect((error as Error).message).toContain('AUTH0_SECRET_ID');
  });

  it.each([
    ['not JSON', 'clientId=abc'],
    ['without a secret', JSON.stringify({ clientId: 'client-1' })],
    ['with an empty secret', JSON.stringify({ clientId: 'client-1', clientSecret: '' })],
  ])('refuses a secret %s without quoting it', async (_, value) => {
    // Prepare
    local.putSecret('broken', value);

    // Act
    const error = await createSecretReader(client, 'broken')().catch((caught: unknown) => caught);

    // Assess
    expect(error).toMatchObject({ code: 'secret_invalid' });
    expect((error as Error).message).toContain('{"clientId":"…","clientSecret":"…"}');
    expect((error as Error).message).not.toContain(value);
  });

  it('gives up on a read that stalls, as a retryable error, instead of holding every token caller', async () => {
    // Prepare: an endpoint that accepts connections and never answers
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    const stalled = new SecretsManagerClient({ region: 'eu-west-1', endpoint: `http://127.0.0.1:${port}`, credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });

    // Act
    const started = Date.now();
    const error = await createSecretReader(stalled, 'auth0-m2m', 300)().catch((caught: unknown) => caught);
    const elapsed = Date.now() - started;
    stalled.destroy();
    silent.closeAllConnections();
    await new Promise((resolve) => silent.close(resolve));

    // Assess
    expect(error).toBeInstanceOf(RetryableError);
    expect(error).toMatchObject({ code: 'secret_unavailable' });
    expect(elapsed).toBeLessThan(5_000);
  });
});
