/**
 * A local Secrets Manager endpoint speaking the AWS JSON 1.1 protocol, so that the real
 * `@aws-sdk/client-secrets-manager` works unmodified through `AWS_ENDPOINT_URL_SECRETS_MANAGER`.
 * Supports GetSecretValue, PutSecretValue, CreateSecret and DescribeSecret; signatures are not checked.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

interface SecretVersion {
  readonly id: string;
  readonly value: string;
  readonly created: number;
  stages: string[];
}

interface Secret {
  readonly arn: string;
  readonly name: string;
  readonly description: string | undefined;
  readonly created: number;
  changed: number;
  readonly versions: SecretVersion[];
}

/** A running local Secrets Manager. */
export interface LocalSecretsManager {
  /** `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_SECRETS_MANAGER`. */
  readonly endpoint: string;
  /** Creates or replaces a secret's current value without going through the API; returns its ARN. */
  putSecret(name: string, value: string): string;
  /** How many GetSecretValue calls each secret name has answered. */
  readonly reads: ReadonlyMap<string, number>;
  stop(): Promise<void>;
}

class ApiError extends Error {
  readonly type: string;
  readonly status: number;
  constructor(type: string, message: string, status = 400) {
    super(message);
    this.type = type;
    this.status = status;
  }
}

/**
 * Starts the endpoint on loopback.
 *
 * @example
 * const secrets = await startSecretsManager({ port: 0 });
 * secrets.putSecret('auth0-m2m', JSON.stringify({ clientId, clientSecret }));
 * process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = secrets.endpoint;
 */
export async function startSecretsManager(options: { port?: number; region?: string; account?: string } = {}): Promise<LocalSecretsManager> {
  const region = options.region ?? 'us-east-1';
  const account = options.account ?? '000000000000';
  const secrets = new Map<string, Secret>();
  const reads = new Map<string, number>();

  const find = (id: unknown): Secret => {
    const secret = typeof id === 'string' ? (secrets.get(id) ?? [...secrets.values()].find((candidate) => candidate.arn === id)) : undefined;
    if (secret === undefined) throw new ApiError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    return secret;
  };

  const addVersion = (secret: Secret, value: string, versionId: string = randomUUID()): SecretVersion => {
    for (const version of secret.versions) {
      version.stages = version.stages.includes('AWSCURRENT') ? ['AWSPREVIOUS'] : version.stages.filter((stage) => stage !== 'AWSPREVIOUS');
    }
    const version = { id: versionId, value, created: Date.now(), stages: ['AWSCURRENT'] };
    secret.versions.push(version);
    secret.changed = version.created;
    return version;
  };

  const create = (name: string, description?: string): Secret => {
    if (secrets.has(name)) throw new ApiError('ResourceExistsException', `The operation failed because the secret ${name} already exists.`);
    const suffix = randomBytes(6).toString('base64url').slice(0, 6);
    const secret: Secret = {
      arn: `arn:aws:secretsmanager:${region}:${account}:secret:${name}-${suffix}`,
      name,
      description,
      created: Date.now(),
      changed: Date.now(),
      versions: [],
    };
    secrets.set(name, secret);
    return secret;
  };

  const actions: Record<string, (input: Record<string, unknown>) => unknown> = {
    GetSecretValue(input) {
      const secret = find(input['SecretId']);
      const stage = typeof input['VersionStage'] === 'string' ? input['VersionStage'] : 'AWSCURRENT';
      const version =
        typeof input['VersionId'] === 'string'
          ? secret.versions.find((candidate) => candidate.id === input['VersionId'])
          : secret.versions.find((candidate) => candidate.stages.includes(stage));
      if (version === undefined) {
        throw new ApiError('ResourceNotFoundException', "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT");
      }
      reads.set(secret.name, (reads.get(secret.name) ?? 0) + 1);
      return {
        ARN: secret.arn,
        Name: secret.name,
        SecretString: version.value,
        VersionId: version.id,
        VersionStages: version.stages,
        CreatedDate: version.created / 1000,
      };
    },
    PutSecretValue(input) {
      const secret = find(input['SecretId']);
      if (typeof input['SecretString'] !== 'string') throw new ApiError('InvalidParameterException', 'You must provide either SecretString or SecretBinary.');
      const version = addVersion(secret, input['SecretString'], typeof input['ClientRequestToken'] === 'string' ? input['ClientRequestToken'] : undefined);
      return { ARN: secret.arn, Name: secret.name, VersionId: version.id, VersionStages: version.stages };
    },
    CreateSecret(input) {
      if (typeof input['Name'] !== 'string' || input['Name'] === '') throw new ApiError('InvalidParameterException', 'Name is required.');
      const secret = create(input['Name'], typeof input['Description'] === 'string' ? input['Description'] : undefined);
      const version = typeof input['SecretString'] === 'string' ? addVersion(secret, input['SecretString']) : undefined;
      return { ARN: secret.arn, Name: secret.name, ...(version ? { VersionId: version.id } : {}) };
    },
    DescribeSecret(input) {
      const secret = find(input['SecretId']);
      return {
        ARN: secret.arn,
        Name: secret.name,
        ...(secret.description === undefined ? {} : { Description: secret.description }),
        CreatedDate: secret.created / 1000,
        LastChangedDate: secret.changed / 1000,
        VersionIdsToStages: Object.fromEntries(secret.versions.filter((version) => version.stages.length > 0).map((version) => [version.id, version.stages])),
      };
    },
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const reply = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() });
      response.end(JSON.stringify(body));
    };
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      const target = String(request.headers['x-amz-target'] ?? '');
      const [service, action] = target.split('.');
      const run = service === 'secretsmanager' && action !== undefined ? actions[action] : undefined;
      if (request.method !== 'POST' || run === undefined) {
        throw new ApiError('UnknownOperationException', `Unsupported operation ${JSON.stringify(target)}`);
      }
      let input: unknown;
      try {
        input = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      } catch {
        throw new ApiError('SerializationException', 'Request body is not valid JSON');
      }
      if (typeof input !== 'object' || input === null) throw new ApiError('SerializationException', 'Request body must be a JSON object');
      reply(200, run(input as Record<string, unknown>));
    } catch (error) {
      if (error instanceof ApiError) reply(error.status, { __type: error.type, message: error.message });
      else reply(500, { __type: 'InternalServiceError', message: 'internal error' });
    }
  };

  const server = createServer((request, response) => void handle(request, response));
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    putSecret(name, value) {
      const secret = secrets.get(name) ?? create(name);
      addVersion(secret, value);
      return secret.arn;
    },
    reads,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
