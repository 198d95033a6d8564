/** The reusable constructs, for other CDK apps. */
export { Auth0QueueWorker, type Auth0QueueWorkerProps, type DeployedProducer, type ProducerProps, type ScheduledJob, type ScheduledSync } from './queue-worker.ts';
export { Auth0QueueWorkerStack } from './worker-stack.ts';
