/**
 * Builds what the package ships (`npm run build:package`, run by `npm pack`): the public entry points compiled
 * to ESM JavaScript with declarations and source maps in `lib/` (Node 20 and later), and the functions'
 * bundles in `lib/functions/{name}/`, which the construct deploys when it runs from the package.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bundleFunction } from './build.ts';
import { FUNCTION_ENTRIES } from './bundling.ts';
import { readScriptArgs } from '../local/script-args.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
// No flags: --help says what it does, anything else is a usage error, before lib/ is removed.
readScriptArgs(
  {},
  'Usage: npm run build:package\n\nCompiles the entry points (cdk, contract, producer, the command line) to lib/ (ESM, declarations,\nsource maps, Node 20+) and bundles the functions into lib/functions/; npm pack runs it. No flags.\n',
);
rmSync(`${root}lib`, { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', `${root}infra/tsconfig.package.json`], { stdio: 'inherit' });
if (tsc.status !== 0) {
  process.stderr.write('build:package: tsc failed (above)\n');
  process.exit(1);
}
for (const name of Object.keys(FUNCTION_ENTRIES) as Array<keyof typeof FUNCTION_ENTRIES>) {
  const { outfile, bytes } = await bundleFunction(name, `${root}lib/functions/${name}`);
  console.log(`${name}: ${outfile.slice(root.length)} ${(bytes / 1024).toFixed(1)} KiB`);
}
console.log('lib/: the compiled entry points (cdk, contract, producer, the command line) and the function bundles');
