/**
 * The producer's entry point: validate jobs against the contract and put them on the jobs queue, with the
 * message group and deduplication ids the worker expects on a FIFO queue.
 */
export { type SendJobsOptions, type SendJobsResult, type SentJob, type UnsentJob, deduplicationIdFor, messageGroupFor, sendJobs } from './send-jobs.ts';
export type { Job, JobType } from '../jobs/schema.ts';
