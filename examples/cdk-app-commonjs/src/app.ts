/**
 * A CommonJS CDK app (no "type": "module" in its package.json, ts-node running it from cdk.json, as
 * `cdk init app --language typescript` makes one): TypeScript compiles the import below to require(), and
 * Node 20.19 or later loads the package, which is ESM, that way. TypeScript 5.8 or later reads the package's
 * entry points with "module" and "moduleResolution" set to "NodeNext" (cdk init's "module": "commonjs"
 * cannot read them; TypeScript 5.6 refuses the import with TS1479).
 */
import { App, Stack } from 'aws-cdk-lib';
import { Auth0QueueWorker } from 'auth0-queue-worker/cdk';

const app = new App();
const stack = new Stack(app, 'Auth0Jobs', { env: { account: '123456789012', region: 'eu-west-1' } });

new Auth0QueueWorker(stack, 'Worker', {
  auth0Domain: 'acme.eu.auth0.com',
  auth0Plan: 'professional',
  allowedRoles: ['support-agent'],
});

app.synth();
