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

const root = fileURLToPath(new URL('..', import.meta.url));
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
