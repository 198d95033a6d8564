/**
 * DynamoDB for the local stack: dynalite, an implementation of DynamoDB's API on Node alone (in memory),
 * listening on loopback, with the ordering ledger's table created as the construct creates it. The real
 * `@aws-sdk/client-dynamodb` talks to it over HTTP.
 */
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import type { IncomingMessage, Server } from 'node:http';
import { type AddressInfo, type Server as NetServer, type Socket, connect, createServer } from 'node:net';

/** A running local DynamoDB. */
export interface LocalDynamoDb {
  /** `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_DYNAMODB` or a client's `endpoint`. */
  readonly endpoint: string;
  /** The ordering ledger's table. */
  readonly ledgerTable: string;
  /** A client for the local endpoint. */
  readonly client: DynamoDBClient;
  /** Requests answered so far, by operation (`UpdateItem`, `GetItem`, …). */
  readonly requests: ReadonlyMap<string, number>;
  /** Stops answering (every connection refused) until {@link resume}, keeping the data: an outage. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  stop(): Promise<void>;
}

const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/**
 * Starts dynalite on a port the OS picks and creates the ledger table (partition key `pk`, on demand).
 *
 * @example
 * const dynamodb = await startLocalDynamoDb({ region: 'us-east-1' });
 * env.AWS_ENDPOINT_URL_DYNAMODB = dynamodb.endpoint;
 */
export async function startLocalDynamoDb(options: { region: string; ledgerTable?: string }): Promise<LocalDynamoDb> {
  // In memory, tables active at once (DynamoDB's own CREATING state lasts seconds).
  const server: Server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const requests = new Map<string, number>();
  server.on('request', (request: IncomingMessage) => {
    const operation = String(request.headers['x-amz-target'] ?? '').split('.').at(-1) ?? '';
    requests.set(operation, (requests.get(operation) ?? 0) + 1);
  });
  await listen(server, 0);
  const backend = (server.address() as AddressInfo).port;
  // Clients reach dynalite through a TCP relay, so that an outage can be staged without closing dynalite
  // (which would drop its tables).
  const sockets = new Set<Socket>();
  const relay = createServer((socket) => {
    const upstream = connect(backend, '127.0.0.1');
    for (const end of [socket, upstream]) {
      sockets.add(end);
      end.on('close', () => sockets.delete(end));
      end.on('error', () => {
        socket.destroy();
        upstream.destroy();
      });
    }
    socket.pipe(upstream).pipe(socket);
  });
  await listen(relay, 0);
  const { port } = relay.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({ region: options.region, endpoint, credentials: CREDENTIALS });
  const ledgerTable = options.ledgerTable ?? 'auth0-queue-worker-ledger';
  await client.send(
    new CreateTableCommand({
      TableName: ledgerTable,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    }),
  );
  requests.clear();
  let paused = false;
  const closeRelay = async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => relay.close(() => resolve()));
  };
  return {
    endpoint,
    ledgerTable,
    client,
    requests,
    async pause() {
      if (paused) return;
      paused = true;
      await closeRelay();
    },
    async resume() {
      if (!paused) return;
      await listen(relay, port);
      paused = false;
    },
    async stop() {
      client.destroy();
      if (!paused) await closeRelay();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function listen(server: NetServer, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}
