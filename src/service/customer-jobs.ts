/** The latest jobs of a customer, newest first: what `status customer`, the API's customer answer and the console's customer page show. */
import type { JobQueue } from '../adapters/queue.js';
import type { Job } from '../domain/job.js';

/** How many of a customer's jobs a customer answer shows. */
export const LATEST_JOBS = 10;

export async function latestJobs(queue: Pick<JobQueue, 'list'>, customerId: string, limit = LATEST_JOBS): Promise<Job[]> {
  return (await queue.list({ customerId })).sort((a, b) => Number(b.id) - Number(a.id)).slice(0, limit);
}
