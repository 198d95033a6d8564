/**
 * The API reference of the package's three entry points (`npm run docs:api`): API Extractor reads the
 * declarations `npm run build:package` compiles into `lib/`, fails on any undocumented export or malformed
 * TSDoc comment (every message is an error, see infra/api-extractor/), and API Documenter writes one
 * Markdown page per item to docs/api/.
 */
import { Extractor, ExtractorConfig } from '@microsoft/api-extractor';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readScriptArgs } from '../local/script-args.ts';

const HELP = `Usage: npm run docs:api -- [--out DIR] [--no-build]

Builds lib/ (npm run build:package), checks the declarations of the entry points cdk, contract and
producer with API Extractor (an undocumented export or a malformed TSDoc comment fails the build), and
writes the API reference, one Markdown page per item, to docs/api/{cdk,contract,producer}/.

  --out DIR    where the pages go (default docs/api)
  --no-build   use lib/ as it is, without building it first
  --help       this text
`;

/** The entry points the reference covers, each with its API Extractor configuration. */
export const API_ENTRY_POINTS = ['cdk', 'contract', 'producer'] as const;

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * Checks the entry points and writes the reference to `out`; resolves with the problems found (none when
 * the reference was written).
 *
 * @example
 * const problems = buildApiReference(`${root}docs/api`);
 */
export function buildApiReference(out: string): string[] {
  const problems: string[] = [];
  for (const name of API_ENTRY_POINTS) {
    const config = ExtractorConfig.loadFileAndPrepare(`${root}infra/api-extractor/${name}.json`);
    // A local build writes the API report to dist/api without comparing it to a committed one.
    const result = Extractor.invoke(config, {
      localBuild: true,
      messageCallback: (message) => {
        // Console messages report on the run (an API report written for the first time), not on the API.
        if (message.category !== 'console' && (message.logLevel === 'error' || message.logLevel === 'warning')) {
          problems.push(`${name}: ${message.sourceFilePath === undefined ? '' : `${message.sourceFilePath.slice(root.length)}:${message.sourceFileLine}: `}${message.text} (${message.messageId})`);
          message.handled = true;
        }
      },
    });
    if (!result.succeeded && problems.length === 0) problems.push(`${name}: API Extractor failed`);
  }
  if (problems.length > 0) return problems;
  rmSync(out, { recursive: true, force: true });
  // One model per entry point, all of one package: each is documented in a folder of its own.
  for (const name of API_ENTRY_POINTS) {
    const documenter = spawnSync(process.execPath, [`${root}node_modules/@microsoft/api-documenter/bin/api-documenter`, 'markdown', '--input-folder', `${root}dist/api/${name}`, '--output-folder', `${out}/${name}`], { encoding: 'utf8' });
    if (documenter.status !== 0) return [`API Documenter failed on ${name}: ${documenter.stderr.trim() || documenter.stdout.trim()}`];
  }
  return [];
}

if (import.meta.main) {
  const values = readScriptArgs({ out: { type: 'string', default: 'docs/api' }, 'no-build': { type: 'boolean', default: false } }, HELP);
  if (!values['no-build']) {
    const build = spawnSync(process.execPath, [`${root}infra/build-package.ts`], { stdio: 'inherit' });
    if (build.status !== 0) process.exit(1);
  }
  const problems = buildApiReference(values.out.startsWith('/') ? values.out : `${root}${values.out}`);
  for (const problem of problems) process.stderr.write(`${problem}\n`);
  if (problems.length > 0) {
    process.stderr.write(`docs:api: ${problems.length} problem(s): document every export of the entry points (TSDoc), then run again\n`);
    process.exit(1);
  }
  console.log(`docs:api: the API reference of ${API_ENTRY_POINTS.join(', ')} is in ${values.out}/`);
}
