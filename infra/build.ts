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
  for (const name of Object.keys(FUNCTION_ENTRIES) as Array<keyof typeof FUNCTION_ENTRIES>) {
    const { outfile, bytes } = await bundleFunction(name);
    console.log(`${name}: ${outfile} ${(bytes / 1024).toFixed(1)} KiB`);
  }
}
