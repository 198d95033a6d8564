// undici has no exports map, so its Agent and request API can be imported on their own: about half the
// import time of undici's main entry, which also loads fetch, WebSocket, caches and mocks.
declare module 'undici/lib/dispatcher/agent.js' {
  import type { Agent } from 'undici';

  const AgentClass: typeof Agent;
  export default AgentClass;
}

declare module 'undici/lib/api/api-request.js' {
  import type { Dispatcher } from 'undici';

  const request: Dispatcher['request'];
  export default request;
}
