/**
 * The package as its users get it: `npm pack`, then each example (examples/cdk-app, examples/producer)
 * installs the tarball into a directory of its own, type-checks with its own default tsconfig, and runs under
 * the system's Node (20 on a fresh machine), not this repository's.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { rolesOf } from '../../local/tenant/state.ts';
import { createRandom, seedTenant } from '../../local/workload.ts';
import { type ProcessRun, runProcess } from '../helpers/process.ts';
import { startTestStack } from '../helpers/suite-logs.ts';
import { drained } from '../helpers/drained.ts';
import { buildApiReference } from '../../infra/api-reference.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
/** PATH without this repository's node_modules/.bin, so `node` is the system's, as for a consumer. */
const systemPath = (process.env['PATH'] ?? '').split(':').filter((entry) => !entry.includes('node_modules')).join(':');

type Run = ProcessRun;

/** Runs a command to its end; `env` adds to a consumer's environment (the system PATH, HOME for npm's cache). */
const run = (command: string, args: readonly string[], cwd: string, env: Record<string, string> = {}) =>
  runProcess(command, args, { cwd, env: { PATH: systemPath, HOME: process.env['HOME'] ?? '', ...env } });

const ok = (what: string, result: Run) => {
  if (result.status !== 0) throw new Error(`${what} exited with ${result.status}:\n${result.stdout}\n${result.stderr}`);
  return result;
};

/** The versions this repository installed, so that the examples install from npm's cache. */
const installed = (name: string) => (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;

describe('Examples, installed from the packed tarball', () => {
  let work: string;
  let tarball: string;
  let nodeVersion: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'examples-'));
    // npm pack runs prepack (npm run build:package): lib/ with the compiled entry points and the function bundles.
    const packed = ok('npm pack', await run('npm', ['pack', '--pack-destination', work, '--json'], root, { PATH: process.env['PATH'] ?? '' }));
    const [pack] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as Array<{ filename: string }>;
    tarball = join(work, pack?.filename ?? 'auth0-queue-worker.tgz');
    nodeVersion = ok('node --version', await run('node', ['--version'], work)).stdout.trim();
  }, 240_000);

  // The examples' installed dependencies are many small files: removing them can take longer than the default
  // hook timeout on a busy machine.
  afterAll(() => {
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  }, 60_000);

  /** Copies an example, installs the tarball and its dependencies, and compiles it. */
  const prepare = async (name: string, dependencies: string[]) => {
    const dir = join(work, name);
    cpSync(join(root, 'examples', name), dir, { recursive: true });
    ok(`npm install (${name})`, await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, ...dependencies.map((dependency) => `${dependency}@${installed(dependency)}`)], dir));
    ok(`tsc (${name})`, await run('npx', ['tsc', '-p', '.'], dir));
    return dir;
  };

  it('can be published: npm publish --dry-run passes, public, with its changelog and docs', async () => {
    // Act: lib/ is the one npm pack just built, so no script runs again
    const published = ok('npm publish --dry-run', await run('npm', ['publish', '--dry-run', '--ignore-scripts', '--json'], root, { PATH: process.env['PATH'] ?? '' }));

    // Assess
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { private?: boolean; publishConfig?: { access?: string } };
    expect(manifest.private).toBeUndefined();
    expect(manifest.publishConfig?.access).toBe('public');
    // npm 10 prints the package's report; npm 11 the same under the package's name.
    type Report = { name: string; files: Array<{ path: string }> };
    const parsed = JSON.parse(published.stdout.slice(published.stdout.indexOf('{'))) as Report | Record<string, Report>;
    const report = ('files' in parsed ? parsed : parsed['auth0-queue-worker']) as Report;
    expect(report.name).toBe('auth0-queue-worker');
    expect(report.files.map((file) => file.path)).toEqual(expect.arrayContaining(['CHANGELOG.md', 'README.md', 'docs/operations.md', 'lib/infra/index.js']));
  }, 120_000);

  it('documents every export of the entry points, and docs/api is the reference npm run docs:api writes from them', async () => {
    // Act: lib/ is the one npm pack just built
    const out = join(work, 'api');
    const problems = buildApiReference(out);

    // Assess
    expect(problems).toEqual([]);
    const pages = (dir: string) =>
      new Map(
        (readdirSync(dir, { recursive: true }) as string[])
          .filter((path) => path.endsWith('.md'))
          .map((path) => [path, readFileSync(join(dir, path), 'utf8')]),
      );
    const written = pages(out);
    expect(written.size).toBeGreaterThan(50);
    expect(pages(join(root, 'docs', 'api'))).toEqual(written);
  }, 180_000);

  it('holds the compiled entry points, declarations and function bundles, and no sources, tests or local stack', async () => {
    // Act
    const listing = ok('tar', await run('tar', ['tzf', tarball], work)).stdout.split('\n').filter(Boolean).map((path) => path.replace(/^package\//, ''));

    // Assess
    expect(listing).toEqual(expect.arrayContaining(['package.json', 'README.md', 'lib/infra/index.js', 'lib/infra/index.d.ts', 'lib/shared/jobs/contract.js', 'lib/shared/producer/index.d.ts', 'lib/functions/worker/index.mjs', 'lib/functions/sync/index.mjs', 'shared/jobs/job.schema.json', 'shared/cli/bin.js']));
    expect(listing.filter((path) => path.endsWith('.ts') && !path.endsWith('.d.ts'))).toEqual([]);
    expect(listing.filter((path) => /^(test|local|examples|functions|infra)\//.test(path))).toEqual([]);
  });

  it('installed alone, imports each entry point and runs its command line on the system Node: no undeclared dependency', async () => {
    // Prepare: nothing but the tarball (aws-cdk-lib and constructs are peers, for the cdk entry point only)
    const dir = join(work, 'alone');
    mkdirSync(dir);
    ok('npm init', await run('npm', ['init', '-y'], dir));
    ok('npm install', await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], dir));

    // Act
    const script = "for (const entry of ['contract', 'producer']) { const m = await import(`auth0-queue-worker/${entry}`); console.log(entry, Object.keys(m).sort().join(' ')); }";
    const imported = await run('node', ['--input-type=module', '-e', script], dir);
    const help = await run('npx', ['auth0-queue-worker', 'doctor', '--help'], dir);
    const cdk = await run('node', ['--input-type=module', '-e', "await import('auth0-queue-worker/cdk')"], dir);

    // Assess
    expect(imported.stderr).toBe('');
    expect(imported.stdout).toBe('contract DEFAULT_ALLOWED_FIELDS JOB_TYPES MAX_JOB_BYTES MAX_ROLES_PER_JOB USER_FIELDS createJobJsonSchema parseIssuedAt validateJob\nproducer deduplicationIdFor messageGroupFor sendJobs\n');
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: auth0-queue-worker doctor --stack NAME');
    // Without its peers the construct says which package is missing, and nothing else is
    expect(cdk.status).not.toBe(0);
    expect(cdk.stderr).toContain("Cannot find package 'aws-cdk-lib'");
  }, 240_000);

  it('the CDK app synthesizes both deployments with its own settings, offline, on the system Node', async () => {
    // Prepare
    const dir = await prepare('cdk-app', ['aws-cdk-lib', 'constructs', 'typescript', '@types/node']);

    // Act
    const synth = ok('node dist/app.js', await run('node', ['dist/app.js'], dir, { CDK_OUTDIR: join(dir, 'cdk.out') }));

    // Assess
    expect(Number(/^v(\d+)\./.exec(nodeVersion)?.[1])).toBeGreaterThanOrEqual(20);
    const template = JSON.parse(readFileSync(join(dir, 'cdk.out', 'AcmeAuth0Jobs.template.json'), 'utf8')) as { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
    const resources = Object.values(template.Resources);
    const functions = resources.filter((resource) => resource.Type === 'AWS::Lambda::Function').map((resource) => resource.Properties as { Environment: { Variables: Record<string, string> }; Runtime: string });
    expect(functions.map((fn) => fn.Environment.Variables['AUTH0_DOMAIN']).sort()).toEqual(['acme.eu.auth0.com', 'acme.us.auth0.com']);
    expect(functions.find((fn) => fn.Environment.Variables['AUTH0_DOMAIN'] === 'acme.eu.auth0.com')?.Environment.Variables).toMatchObject({ ALLOWED_ROLES: 'support-agent,billing-admin', ALLOWED_FIELDS: 'blocked,user_metadata,app_metadata', MAX_CONCURRENCY: '4' });
    const namespaces = functions.map((fn) => fn.Environment.Variables['METRICS_NAMESPACE']);
    expect(new Set(namespaces).size).toBe(2);
    expect(synth.stdout).toContain(`metrics: ${namespaces[0]}, ${namespaces[1]}`);
    // Europe's queue pair, and one pair for each of the American producers, whose policies the worker gets by queue
    expect(resources.filter((resource) => resource.Type === 'AWS::SQS::Queue')).toHaveLength(6);
    expect(resources.filter((resource) => resource.Type === 'AWS::Lambda::EventSourceMapping')).toHaveLength(3);
    const producers = JSON.stringify(functions.find((fn) => fn.Environment.Variables['AUTH0_DOMAIN'] === 'acme.us.auth0.com')?.Environment.Variables['PRODUCERS']);
    expect(producers).toContain('\\"name\\":\\"hr\\"');
    expect(producers).toContain('\\"allowedFields\\":[\\"app_metadata\\",\\"given_name\\",\\"family_name\\"]');
    expect(resources.filter((resource) => resource.Type === 'AWS::SNS::Subscription').map((resource) => resource.Properties['Endpoint'])).toEqual(['identity-oncall@acme.example', 'identity-oncall@acme.example']);
    expect(resources.filter((resource) => resource.Type === 'AWS::Scheduler::Schedule').map((resource) => resource.Properties['ScheduleExpression'])).toEqual(['cron(30 2 * * ? *)']);
    // The worker deployed is the bundle built into the package, staged as the asset
    const asset = readdirSync(join(dir, 'cdk.out')).find((name) => name.startsWith('asset.'));
    expect(readdirSync(join(dir, 'cdk.out', asset ?? ''))).toContain('index.mjs');
  }, 300_000);

  it("a CommonJS CDK app as cdk init makes one, with the tsconfig the README names, type-checks, compiles its import to require(), and synthesizes through cdk.json's ts-node on the system Node", async () => {
    // Prepare: its own TypeScript 5.9 and ts-node, as cdk init installs them; the tarball and this repository's peers
    const dir = join(work, 'cdk-app-commonjs');
    cpSync(join(root, 'examples', 'cdk-app-commonjs'), dir, { recursive: true });
    ok('npm install (cdk-app-commonjs)', await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, `aws-cdk-lib@${installed('aws-cdk-lib')}`, `constructs@${installed('constructs')}`], dir));
    const app = (JSON.parse(readFileSync(join(dir, 'cdk.json'), 'utf8')) as { app: string }).app.split(' ');

    // Act
    const compiled = await run('npx', ['tsc', '-p', '.'], dir);
    const synth = await run(app[0] ?? 'npx', app.slice(1), dir, { CDK_OUTDIR: join(dir, 'cdk.out') });

    // Assess: CommonJS indeed, loading the ES module package with require()
    expect([compiled.status, compiled.stdout]).toEqual([0, '']);
    const output = readFileSync(join(dir, 'dist', 'app.js'), 'utf8');
    expect(output).toContain('require("auth0-queue-worker/cdk")');
    expect(output).not.toMatch(/^import /m);
    expect(synth.status, synth.stderr).toBe(0);
    const template = JSON.parse(readFileSync(join(dir, 'cdk.out', 'Auth0Jobs.template.json'), 'utf8')) as { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
    const worker = Object.values(template.Resources).find((resource) => resource.Type === 'AWS::Lambda::Function')?.Properties as { Environment: { Variables: Record<string, string> } };
    expect(worker.Environment.Variables).toMatchObject({ AUTH0_DOMAIN: 'acme.eu.auth0.com', AUTH0_PLAN: 'professional', ALLOWED_ROLES: 'support-agent' });
    // What the README tells a CommonJS app to set is what this app sets
    const tsconfig = JSON.parse(readFileSync(join(root, 'examples', 'cdk-app-commonjs', 'tsconfig.json'), 'utf8')) as { compilerOptions: Record<string, string> };
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(readme).toContain(`\`"module": "${tsconfig.compilerOptions['module']}"\` and \`"moduleResolution": "${tsconfig.compilerOptions['moduleResolution']}"\``);
  }, 300_000);

  describe('the producer', () => {
    let stack: LocalStack;

    beforeAll(async () => {
      stack = await startTestStack({ build: false, rateLimit: { burst: 50, perSecond: 50 } });
    });

    afterAll(async () => {
      await stack?.stop();
    });

    it('validates and sends its jobs on the system Node, and the worker applies them on the local stack', async () => {
      // Prepare
      const dir = await prepare('producer', ['@aws-sdk/client-sqs', 'typescript', '@types/node']);
      const { users, roles } = seedTenant(stack.tenant.state, { users: 3, roles: 2, random: createRandom(9) });
      const [ada, bob] = users;
      const [role] = roles;
      const env = { ...stack.workerEnv, JOBS_QUEUE_URL: stack.jobs.url };

      // Act
      const sent = await run('node', ['dist/send-jobs.js', ada?.user_id ?? '', bob?.email ?? '', role?.name ?? ''], dir, env);
      const worker = stack.startWorker({ maxConcurrency: 2 });
      expect(await drained(stack, { stalledFor: 30_000, atMost: 60_000 })).toBe(true);
      await worker.stop();

      // Assess
      expect(sent.status).toBe(0);
      expect(sent.stderr).toContain('not sending the draft: invalid_roles');
      expect(JSON.parse(sent.stdout)).toMatchObject({ sent: [expect.stringMatching(/^block-/), expect.any(String), expect.any(String)], invalid: [], failed: [] });
      expect(stack.tenant.state.users.get(ada?.user_id ?? '')?.blocked).toBe(true);
      expect(stack.tenant.state.users.get(bob?.user_id ?? '')?.user_metadata['locale']).toBe('fr');
      expect(rolesOf(stack.tenant.state, ada?.user_id ?? '').map((held) => held.id)).toContain(role?.id);
    }, 300_000);
  });
});
