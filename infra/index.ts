/** The reusable constructs, for other CDK apps. */
export { Auth0QueueWorker, type Auth0QueueWorkerProps, type DeployedProducer, type ProducerProps, type ScheduledJob, type ScheduledSync } from './queue-worker.ts';
export { Auth0QueueWorkerStack } from './worker-stack.ts';
/** Types the construct's props name: a scheduled job, a sync's definition, a plan. */
export type { Job } from '../shared/jobs/schema.ts';
export type { SyncDefinition } from '../shared/sync/definition.ts';
export type { Auth0Plan } from '../shared/auth0/plans.ts';
