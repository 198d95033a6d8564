import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendToAuth0 } from '../../shared/auth0/http.ts';
import { RetryableError } from '../../shared/errors.ts';
import { createHttpAgent } from '../../shared/http-agent.ts';

describe('Function: createHttpAgent() over real HTTP on loopback', () => {
  const server = createServer((request, response) => {
    if (request.url === '/slow') return void setTimeout(() => response.end('{}'), 2_000);
    response.writeHead(200, { 'content-type': 'application/json', connection: 'keep-alive' });
    response.end(JSON.stringify({ method: request.method, port: request.socket.remotePort }));
  });
  let origin: string;

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('sends requests and keeps the connection alive between them', async () => {
    // Prepare
    const agent = createHttpAgent({ keepAliveTimeout: 10_000 });
    const timeouts = { headersTimeoutMs: 1_000, bodyTimeoutMs: 1_000 };

    // Act
    const answers = [];
    for (let n = 0; n < 4; n++) answers.push(await sendToAuth0(agent, origin, { method: 'POST', path: `/${n}`, json: { n } }, timeouts));
    await agent.close();

    // Assess: a client port seen twice means a reused socket
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200]);
    expect(answers[0]?.body).toMatchObject({ method: 'POST' });
    const ports = answers.map((answer) => (answer.body as { port: number }).port);
    expect(new Set(ports).size).toBeLessThan(ports.length);
  });

  it('turns a headers timeout into a retryable timeout error', async () => {
    // Prepare
    const agent = createHttpAgent({});

    // Act
    const error = await sendToAuth0(agent, origin, { method: 'GET', path: '/slow' }, { headersTimeoutMs: 100, bodyTimeoutMs: 100 }).catch((caught: unknown) => caught);
    await agent.destroy();

    // Assess
    expect(error).toBeInstanceOf(RetryableError);
    expect(error).toMatchObject({ code: 'timeout' });
  });
});
