import type { Agent as AgentType, Dispatcher } from 'undici';
import Agent from 'undici/lib/dispatcher/agent.js';
import request from 'undici/lib/api/api-request.js';

/**
 * Creates the container's keep-alive HTTP agent for Auth0. Only undici's Agent and its `request` API are
 * loaded, not its main entry, which roughly halves undici's share of a cold start (see docs/benchmarks.md, Cold start).
 *
 * @example
 * const dispatcher = createHttpAgent({ connect: { timeout: 3_000 }, keepAliveTimeout: 30_000 });
 */
export function createHttpAgent(options: AgentType.Options): Dispatcher {
  const agent = new Agent(options);
  // undici's main entry adds request() to every dispatcher's prototype; an Agent loaded alone lacks it.
  agent.request = request;
  return agent;
}
