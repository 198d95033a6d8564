/**
 * Cold-start benchmark of the worker bundle: bundle size, and the median time to import it in a fresh
 * Node process (what Lambda pays at every cold start before the handler runs).
 *
 * For scale it also builds a naive bundle, the two SDK clients plus undici's main entry imported as they
 * come, and reports the ratio of the two medians measured in the same run, interleaved, so that a busy
 * machine slows both alike.
 *
 * `--baseline FILE` adds another build of the worker (an earlier commit's `dist/worker/index.mjs`, say) to the
 * same interleaved runs, to measure what a change costs.
 *
 * Usage: npm run bench:cold-start -- [--runs 21] [--baseline ../before/dist/worker/index.mjs]
 */
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bundleFunction } from '../../infra/build.ts';
import { BUNDLE_OPTIONS } from '../../infra/bundling.ts';
import { readScriptArgs, usageError, wholeNumber } from '../../local/script-args.ts';

const HELP = `Usage: npm run bench:cold-start -- [flags]

Builds the worker bundle and a naive one, imports each in fresh Node processes, interleaved, and prints
their sizes and import times.

  --runs N         fresh processes per bundle, 1 to 1000 (default 21)
  --baseline FILE  another build of the worker to measure in the same runs (default: none)
  --help           this text
`;
const values = readScriptArgs({ runs: { type: 'string', default: '21' }, baseline: { type: 'string' } }, HELP);
const runs = wholeNumber('runs', values.runs, 1, 1000);
const { baseline } = values;
if (baseline !== undefined && !existsSync(baseline)) usageError(`--baseline ${baseline}: no such file`);
const root = fileURLToPath(new URL('../..', import.meta.url));
const work = `${root}dist/bench`;
mkdirSync(work, { recursive: true });

const env = {
  PATH: process.env['PATH'] ?? '',
  AWS_REGION: 'eu-west-1',
  AUTH0_DOMAIN: 'acme.eu.auth0.com',
  AUTH0_SECRET_ID: 'auth0-m2m',
  DLQ_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/jobs-dlq',
  // As the construct deploys it: the worker's ordering ledger (only named: nothing is called at import).
  LEDGER_TABLE: 'auth0-queue-worker-ledger',
};

async function naiveBundle(): Promise<string> {
  const entry = `${work}/naive-entry.mjs`;
  writeFileSync(
    entry,
    [
      "import { SQSClient } from '@aws-sdk/client-sqs';",
      "import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';",
      "import { Agent } from 'undici';",
      'export const clients = [new SQSClient({}), new SecretsManagerClient({}), new Agent()];',
    ].join('\n'),
  );
  const outfile = `${work}/naive/index.mjs`;
  await build({ ...BUNDLE_OPTIONS, sourcemap: false, entryPoints: [entry], outfile, nodePaths: [`${root}node_modules`] });
  return outfile;
}

function importMs(file: string): number {
  const script = `const t0 = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); process.stdout.write(String(performance.now() - t0));`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`importing ${file} failed:\n${result.stderr}`);
  return Number(result.stdout);
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

const worker = await bundleFunction('worker', `${work}/worker`);
const naive = await naiveBundle();
const bundles = [
  { name: 'worker', file: worker.outfile },
  ...(baseline === undefined ? [] : [{ name: 'baseline (--baseline)', file: baseline }]),
  { name: 'naive SDK clients + undici', file: naive },
];
const samples = bundles.map(() => [] as number[]);
for (const bundle of bundles) importMs(bundle.file); // warm the file cache for all before measuring
for (let run = 0; run < runs; run++) bundles.forEach((bundle, index) => samples[index]?.push(importMs(bundle.file)));
const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
const ms = (value: number) => `${value.toFixed(1)} ms`;
const rows = [
  ['bundle', 'size', 'median import', 'min', 'max'],
  ...bundles.map((bundle, index) => {
    const values = samples[index] ?? [];
    return [bundle.name, kib(statSync(bundle.file).size), ms(median(values)), ms(Math.min(...values)), ms(Math.max(...values))];
  }),
];
const medianOf = (index: number) => median(samples[index] ?? []);
console.log(`Node ${process.version}, ${runs} fresh processes each, interleaved`);
for (const row of rows) console.log(row.map((cell, index) => cell.padEnd(index === 0 ? 28 : 14)).join(''));
console.log(`worker / naive median import time: ${(medianOf(0) / medianOf(bundles.length - 1)).toFixed(2)}`);
if (baseline !== undefined) {
  console.log(`worker / baseline median import time: ${(medianOf(0) / medianOf(1)).toFixed(2)} (${(medianOf(0) - medianOf(1)).toFixed(1)} ms)`);
  console.log(`baseline / naive median import time: ${(medianOf(1) / medianOf(2)).toFixed(2)}`);
}
