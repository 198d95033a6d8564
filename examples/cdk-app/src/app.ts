/**
 * An infrastructure team's CDK app: two deployments of the Auth0 queue worker, one per tenant, in one stack,
 * each with its own domain, secret, allowlists, alarm email and schedule.
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { Auth0QueueWorker } from 'auth0-queue-worker/cdk';

const app = new App();
const stack = new Stack(app, 'AcmeAuth0Jobs', { env: { account: '123456789012', region: 'eu-west-1' } });

const europe = new Auth0QueueWorker(stack, 'Europe', {
  auth0Domain: 'acme.eu.auth0.com',
  secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:acme/auth0-eu-m2m-AbCdEf',
  allowedRoles: ['support-agent', 'billing-admin'],
  allowedFields: ['blocked', 'user_metadata', 'app_metadata'],
  alarmEmail: 'identity-oncall@acme.example',
  maxConcurrency: 4,
  timeout: Duration.seconds(90),
  schedules: [
    {
      name: 'NightlyOffboarding',
      expression: scheduler.ScheduleExpression.cron({ hour: '2', minute: '30' }),
      job: { type: 'roles.remove', email: 'leaver@acme.example', roles: ['billing-admin'] },
    },
  ],
});

const americas = new Auth0QueueWorker(stack, 'Americas', {
  auth0Domain: 'acme.us.auth0.com',
  secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:acme/auth0-us-m2m-GhIjKl',
  allowedRoles: ['support-agent'],
  alarmEmail: 'identity-oncall@acme.example',
  metricsNamespace: 'Acme/Auth0Jobs/Americas',
});

// The CRM's role may post jobs to the European deployment only.
const crm = new iam.Role(stack, 'CrmExporter', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
europe.grantSendJobs(crm);

console.log(`metrics: ${europe.metricsNamespace}, ${americas.metricsNamespace}`);
app.synth();
