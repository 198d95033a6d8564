// undici has no exports map, so its Agent can be imported on its own: about half the import time of
// undici's main entry, which also loads fetch, WebSocket, caches and mocks the worker never uses.
declare module 'undici/lib/dispatcher/agent.js' {
  import type { Agent } from 'undici';

  const AgentClass: typeof Agent;
  export default AgentClass;
}
