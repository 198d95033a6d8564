/**
 * Cold-start benchmark of the worker bundle: bundle size, and the median time to import it in a fresh
 * Node process (what Lambda pays at every cold start before the handler runs).
 *
 * For scale it also builds a naive bundle, the two SDK clients plus undici's main entry imported as they
 * come, and reports the ratio of the two medians measured in the same run, interleaved, so that a busy
 * machine slows both alike.
 *
 * Usage: npm run bench:cold-start [-- --runs 21]
 */
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bundleFunction } from '../../infra/build.ts';
import { BUNDLE_OPTIONS } from '../../infra/bundling.ts';

const runsFlag = process.argv.indexOf('--runs');
const runs = runsFlag > 0 ? Number(process.argv[runsFlag + 1]) : 21;
const root = fileURLToPath(new URL('../..', import.meta.url));
const work = `${root}dist/bench`;
mkdirSync(work, { recursive: true });

const env = {
  PATH: process.env['PATH'] ?? '',
  AWS_REGION: 'eu-west-1',
  AUTH0_DOMAIN: 'acme.eu.auth0.com',
  AUTH0_SECRET_ID: 'auth0-m2m',
  DLQ_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/jobs-dlq',
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
const samples = { worker: [] as number[], naive: [] as number[] };
importMs(worker.outfile); // warm the file cache for both before measuring
importMs(naive);
for (let run = 0; run < runs; run++) {
  samples.worker.push(importMs(worker.outfile));
  samples.naive.push(importMs(naive));
}
const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
const rows = [
  ['bundle', 'size', 'median import', 'min', 'max'],
  ['worker', kib(worker.bytes), `${median(samples.worker).toFixed(1)} ms`, `${Math.min(...samples.worker).toFixed(1)} ms`, `${Math.max(...samples.worker).toFixed(1)} ms`],
  ['naive SDK clients + undici', kib(statSync(naive).size), `${median(samples.naive).toFixed(1)} ms`, `${Math.min(...samples.naive).toFixed(1)} ms`, `${Math.max(...samples.naive).toFixed(1)} ms`],
];
console.log(`Node ${process.version}, ${runs} fresh processes each, interleaved`);
for (const row of rows) console.log(row.map((cell, index) => cell.padEnd(index === 0 ? 28 : 14)).join(''));
console.log(`worker / naive median import time: ${(median(samples.worker) / median(samples.naive)).toFixed(2)}`);
