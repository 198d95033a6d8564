/**
 * An infrastructure team's CDK app: two deployments of the Auth0 queue worker, one per tenant, in one stack,
 * each with its own domain, secret, alarm email and schedule. The European one has one queue and one policy;
 * the American one has two producers, each with its own queue, policy and share of the tenant.
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

// HR offboards people (blocks them, removes their support role); the CRM only writes profile data, in bulk.
const hrSystem = new iam.Role(stack, 'HrSystem', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
const americas = new Auth0QueueWorker(stack, 'Americas', {
  auth0Domain: 'acme.us.auth0.com',
  secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:acme/auth0-us-m2m-GhIjKl',
  alarmEmail: 'identity-oncall@acme.example',
  metricsNamespace: 'Acme/Auth0Jobs/Americas',
  producers: [
    { name: 'hr', allowedFields: ['blocked'], allowedRoles: ['support-agent'], senders: [hrSystem] },
    { name: 'crm', allowedFields: ['app_metadata', 'given_name', 'family_name'], share: 2 },
  ],
});

// The CRM's role may post jobs to the European deployment, and to the American CRM producer's queue only.
const crm = new iam.Role(stack, 'CrmExporter', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
europe.grantSendJobs(crm);
americas.grantSendJobs(crm, 'crm');

console.log(`metrics: ${europe.metricsNamespace}, ${americas.metricsNamespace}`);
app.synth();
