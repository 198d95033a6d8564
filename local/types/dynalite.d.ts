// dynalite ships no types: the one call the local stack makes.
declare module 'dynalite' {
  import type { Server } from 'node:http';

  /** Creates an HTTP server speaking DynamoDB's API, in memory unless `path` names a folder. */
  function dynalite(options?: { path?: string; createTableMs?: number; deleteTableMs?: number; updateTableMs?: number; ssl?: boolean }): Server;
  export default dynalite;
}
