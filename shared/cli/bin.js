#!/usr/bin/env node
// `auth0-queue-worker`: the operator's command line. In a checkout it runs the TypeScript source (the
// repository's Node 24 strips the types); installed from the package, the compiled JavaScript (Node 20 and later).
import { existsSync } from 'node:fs';

const source = new URL('./main.ts', import.meta.url);
await import(existsSync(source) ? source.href : new URL('../../lib/shared/cli/main.js', import.meta.url).href);
