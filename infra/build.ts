/**
 * Bundles every Lambda function into `dist/<name>/index.mjs` with the options the CDK stack uses.
 * Usage: `npm run build` (prints each bundle's size).
 */
import { build } from 'esbuild';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BUNDLE_OPTIONS, FUNCTION_ENTRIES } from './bundling.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Bundles one function; resolves with the bundle's path and size in bytes. */
export async function bundleFunction(name: keyof typeof FUNCTION_ENTRIES, outdir = `${root}dist/${name}`) {
  const outfile = `${outdir}/index.mjs`;
  await build({ ...BUNDLE_OPTIONS, entryPoints: [`${root}${FUNCTION_ENTRIES[name]}`], outfile, metafile: false });
  return { outfile, bytes: statSync(outfile).size };
}

if (import.meta.main) {
  // No flags: --help says what it does, anything else is a usage error, before anything is built.
  const { readScriptArgs } = await import('../local/script-args.ts');
  readScriptArgs({}, 'Usage: npm run build\n\nBundles each Lambda function with esbuild into dist/<name>/index.mjs (minified ESM for Node 24,\nsource map beside it), with the options the CDK stack deploys, and prints each bundle\'s size. No flags.\n');
  for (const name of Object.keys(FUNCTION_ENTRIES) as Array<keyof typeof FUNCTION_ENTRIES>) {
    const { outfile, bytes } = await bundleFunction(name);
    console.log(`${name}: ${outfile} ${(bytes / 1024).toFixed(1)} KiB`);
  }
}
