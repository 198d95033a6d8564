import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { Auth0QueueWorker, type Auth0QueueWorkerProps } from './queue-worker.ts';

/** The deployable stack: one {@link Auth0QueueWorker}. */
export class Auth0QueueWorkerStack extends Stack {
  /** The deployment: its queues, worker, ledger and alarms. */
  readonly jobs: Auth0QueueWorker;

  constructor(scope: Construct, id: string, props: StackProps & { worker: Auth0QueueWorkerProps }) {
    super(scope, id, props);
    this.jobs = new Auth0QueueWorker(this, 'Auth0Jobs', props.worker);
  }
}
