/**
 * The CDK app (`npx cdk synth`, `npx cdk deploy -c auth0Domain=… -c secretArn=…`). The only infra file that
 * reads context or the environment.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { readDeploymentContext } from './context.ts';
import { Auth0QueueWorkerStack } from './worker-stack.ts';

const app = new App();
const worker = readDeploymentContext((key) => app.node.tryGetContext(key));
new Auth0QueueWorkerStack(app, String(app.node.tryGetContext('stackName') ?? 'Auth0QueueWorker'), {
  worker,
  env: { account: process.env['CDK_DEFAULT_ACCOUNT'], region: process.env['CDK_DEFAULT_REGION'] },
  description: 'Auth0 user-management jobs from SQS, applied by Lambda through the Management API',
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
