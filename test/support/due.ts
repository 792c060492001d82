/**
 * Time passing for a scheduled deletion: custctl accepts a retention period of at least an hour,
 * so a test that needs the deletion to come due schedules it with `--after 1h` and then moves its
 * due time to now — in the job (the file journal's job file, or BullMQ's delayed set) and in the
 * row — as if the hour had passed. Nothing else of the job or the row changes.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Queue } from 'bullmq';
import { redisConnectionFrom } from '../../src/adapters/bullmq-redis.js';
import { openPostgresBullQueue } from '../../src/adapters/bullmq-postgres.js';
import { db } from './fixtures.js';
import { testEnv } from './env.js';

/**
 * The job comes due now. `where`: the state directory of the file journal, the REDIS_URL of BullMQ
 * on Redis, or the queue environment of custctl processes (CUSTCTL_QUEUE=postgres, its schema).
 * No worker may hold the file journal's job meanwhile.
 */
export async function bringDue(jobId: string, customerId: string, where: { stateDir: string } | { redisUrl: string } | { queueEnv: Record<string, string> }): Promise<number> {
  if ('queueEnv' in where && where.queueEnv.REDIS_URL) return bringDue(jobId, customerId, { redisUrl: where.queueEnv.REDIS_URL });
  const due = Date.now() - 1_000;
  if ('stateDir' in where) {
    const file = path.join(where.stateDir, 'journal', 'jobs', `${jobId}.json`);
    const job = JSON.parse(readFileSync(file, 'utf8')) as { state: string; delayUntil: number | null; data: { scheduledFor?: number } };
    if (job.state !== 'delayed') throw new Error(`bringDue: job ${jobId} is ${job.state}, not delayed`);
    job.delayUntil = due;
    job.data.scheduledFor = due;
    writeFileSync(`${file}.due-tmp`, JSON.stringify(job), { mode: 0o600 });
    renameSync(`${file}.due-tmp`, file);
  } else if ('queueEnv' in where) {
    const q = await openPostgresBullQueue({ pool: { connectionString: testEnv().databaseUrl, max: 2 }, schema: where.queueEnv.CUSTCTL_QUEUE_SCHEMA ?? 'custctl_queue', where: 'test' });
    try {
      const b = await q.queue.getJob(`j${jobId}`);
      if (!b) throw new Error(`bringDue: BullMQ job j${jobId} not found`);
      await b.updateData({ ...b.data, scheduledFor: due });
      await b.changeDelay(0);
    } finally {
      await q.close();
    }
  } else {
    const q = new Queue('custctl-deletions', { connection: redisConnectionFrom({ REDIS_URL: where.redisUrl }), prefix: 'bull' });
    try {
      const b = await q.getJob(`j${jobId}`);
      if (!b) throw new Error(`bringDue: BullMQ job j${jobId} not found`);
      await b.updateData({ ...b.data, scheduledFor: due });
      await b.changeDelay(0);
    } finally {
      await q.close();
    }
  }
  await db().query('update customers set deletion_scheduled_at = $2 where customer_id = $1', [customerId, new Date(due)]);
  return due;
}
