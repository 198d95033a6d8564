/**
 * An upstream service posting jobs: builds them with the contract's types, checks each with the same
 * validator the worker uses, and sends them with the producer module (batches of ten, the FIFO message group
 * and deduplication id derived for you). Prints one JSON line: what was sent and what was not, and why.
 *
 * Needs JOBS_QUEUE_URL, and the usual AWS credentials and region.
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import { type Job, validateJob } from 'auth0-queue-worker/contract';
import { sendJobs } from 'auth0-queue-worker/producer';

const queueUrl = process.env['JOBS_QUEUE_URL'];
if (queueUrl === undefined) {
  console.error('set JOBS_QUEUE_URL to the jobs queue (the stack output JobsQueueUrl)');
  process.exit(2);
}
// node dist/send-jobs.js USER_ID EMAIL ROLE: whom the example jobs are about.
const [userId = 'auth0|example', email = 'ada@example.com', role = 'support-agent'] = process.argv.slice(2);

const jobs: Job[] = [
  { type: 'user.update', userId, changes: { blocked: true }, jobId: `block-${Date.now()}`, source: 'crm' },
  { type: 'user.update', email, changes: { user_metadata: { locale: 'fr' } }, source: 'crm' },
  { type: 'roles.assign', userId, roles: [role], source: 'crm' },
];

// What the worker would refuse, caught before sending: a role list with nothing in it.
const draft = { type: 'roles.remove', userId, roles: [] };
const check = validateJob(draft);
if (!check.ok) console.error(`not sending the draft: ${check.code}: ${check.reason}`);

// The configured endpoint (AWS_ENDPOINT_URL_SQS, when set) rather than the host the queue URL names.
const result = await sendJobs(new SQSClient({ useQueueUrlAsEndpoint: false }), queueUrl, jobs);
console.log(JSON.stringify({ sent: result.sent.map((job) => job.jobId), invalid: result.invalid, failed: result.failed }));
process.exitCode = result.invalid.length + result.failed.length === 0 ? 0 : 1;
