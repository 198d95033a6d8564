/**
 * SQS's `SenderId`, on the local stack. fauxqs answers every message with one account id as its sender;
 * real SQS names the principal that sent it (`AROA…:{session}` for a role, the function's name as session for
 * Lambda). This relay sits in front of fauxqs, reads the access key of each `SendMessage`/`SendMessageBatch`
 * from its signature, and remembers which sender each resulting message id had, so the local event source
 * mapping hands the worker the `SenderId` AWS would: the worker trusts its retry state only on its own sends.
 */
import { type IncomingMessage, type Server, createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The relay, and who sent each message that went through it. */
export interface SqsSenders {
  /** The endpoint to give SQS clients instead of fauxqs' own. */
  readonly endpoint: string;
  /** The `SenderId` SQS would give the message, or `undefined` for one that did not go through the relay. */
  senderOf(messageId: string): string | undefined;
  stop(): Promise<void>;
}

/**
 * Starts the relay on a loopback port.
 *
 * @param principals Access key id → the `SenderId` of that principal (`AROA…:session` for a role); other
 *   keys are senders by their own key id, as an IAM user's access key would be.
 */
export async function startSqsSenders(upstream: string, principals: Readonly<Record<string, string>>): Promise<SqsSenders> {
  const target = new URL(upstream);
  const senders = new Map<string, string>();
  const server: Server = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const body = Buffer.concat(chunks);
      const action = String(incoming.headers['x-amz-target'] ?? '').replace(/^AmazonSQS\./, '');
      const sender = senderOfRequest(incoming, principals);
      const forward = httpRequest(
        { host: target.hostname, port: target.port, method: incoming.method, path: incoming.url, headers: incoming.headers },
        (answer) => {
          const parts: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => parts.push(chunk));
          answer.on('end', () => {
            const text = Buffer.concat(parts);
            if (sender !== undefined && (action === 'SendMessage' || action === 'SendMessageBatch')) for (const id of sentIds(text)) senders.set(id, sender);
            outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
            outgoing.end(text);
          });
        },
      );
      forward.on('error', () => {
        if (!outgoing.headersSent) outgoing.writeHead(502);
        outgoing.end();
      });
      forward.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    senderOf: (messageId) => senders.get(messageId),
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The sender of a signed request: `Credential={access key id}/…` in its SigV4 Authorization header. */
function senderOfRequest(incoming: IncomingMessage, principals: Readonly<Record<string, string>>): string | undefined {
  const key = /Credential=([^/,\s]+)\//.exec(String(incoming.headers['authorization'] ?? ''))?.[1];
  return key === undefined ? undefined : (principals[key] ?? key);
}

/** The message ids a `SendMessage` or `SendMessageBatch` answer (JSON protocol) gives. */
function sentIds(text: Buffer): string[] {
  try {
    const answer = JSON.parse(text.toString('utf8')) as { MessageId?: string; Successful?: Array<{ MessageId?: string }> };
    return [answer.MessageId, ...(answer.Successful ?? []).map((entry) => entry.MessageId)].filter((id): id is string => typeof id === 'string');
  } catch {
    return [];
  }
}
