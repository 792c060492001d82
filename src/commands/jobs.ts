/** `custctl jobs list|retry|resume|cancel|prune`. */
import { Command, Option } from '@commander-js/extra-typings';
import type { Deps } from '../deps.js';
import { parseOptionalCustomerId } from '../domain/customer-id.js';
import { formatDuration, parseDuration } from '../domain/duration.js';
import { namespaceFor } from '../domain/namespace-name.js';
import { ConflictError, NotFoundError, UsageError } from '../errors.js';
import { jobOptions, settle } from '../jobs/service.js';
import { printJobList, renderJob } from '../output/job-view.js';
import { OUTPUT_FORMATS, printJson, printTable, type OutputFormat } from '../output/print.js';
import { JOB_STATES, type Job, type JobState } from '../queue/job.js';
import { combinedExitCode } from '../util/pool.js';
import { outcomeOf } from './delete.js';
import { jobsEnv, runAttached } from './run-jobs.js';
import { refuseRemote } from './shared.js';
import { jobExitCode, parseJobId } from './status.js';
import { cancelJob, retryJob } from '../jobs/actions.js';


export async function runJobsList(d: Deps, o: { state?: JobState; customer?: string; output: OutputFormat }): Promise<Job[]> {
  if (d.config().apiUrl) return (await import('./remote.js')).remoteJobsList(d, o);
  const customerId = parseOptionalCustomerId(o.customer)?.id;
  const jobs = (await (await d.jobs()).list({ state: o.state, customerId })).sort((a, b) => Number(a.id) - Number(b.id));
  await printJobList(d.io, jobs, o.output, d.now().getTime(), () => d.log.info('No jobs'));
  return jobs;
}

/** A failed deletion gets a fresh set of attempts — only while its row still points at it. */
export async function runJobsRetry(d: Deps, o: { id: string; detach: boolean; output: OutputFormat }): Promise<Job> {
  if (d.config().apiUrl) return (await import('./remote.js')).remoteJobsRetry(d, o);
  const env = await jobsEnv(d);
  const again = await retryJob(env, parseJobId(o.id));
  d.log.info(`Job ${again.id} queued again`, { attempts: again.maxAttempts });
  if (o.detach) {
    if (o.output === 'json') printJson(d.io, again);
    else d.io.out.write(`${again.id}\n`);
    return again;
  }
  const final = await runAttached(d, env, again);
  if (o.output === 'json') printJson(d.io, final);
  else d.io.out.write(`${renderJob(final, d.io.chalk, d.now().getTime())}\n`);
  return final;
}

/**
 * Takes over jobs whose worker died (lease expired) and runs waiting or delayed ones here. With
 * --customer: a row left `deleting` whose job is missing from the journal (a crash between the
 * row and the journal) gets its job recreated under the same id.
 */
export async function runJobsResume(d: Deps, o: { customer?: string; output: OutputFormat }): Promise<Job[]> {
  refuseRemote(d, 'jobs resume');
  const customer = parseOptionalCustomerId(o.customer);
  const queue = await d.jobs();
  const env = await jobsEnv(d);
  const now = d.now().getTime();
  let candidates: Job[];
  if (customer) {
    const row = await env.store.get(customer.id);
    if (!row) throw new NotFoundError(`customer ${customer.id} not found in ${env.store.description}`);
    if (row.deploymentStatus !== 'deleting' || !row.deletionJobId) {
      throw new ConflictError(`customer ${customer.id} is ${row.deploymentStatus}: there is no deletion to resume`, [
        row.deploymentStatus === 'deletion_failed' && row.deletionJobId ? `Retry it with 'custctl jobs retry ${row.deletionJobId}'.` : "Start one with 'custctl delete'.",
      ]);
    }
    let job = await queue.get(row.deletionJobId);
    if (!job) {
      d.log.warn(`Job ${row.deletionJobId} is missing from the journal: recreating it`, { customerId: customer.id });
      job = await queue.add(
        row.deletionJobId,
        {
          name: 'delete',
          data: { customerId: customer.id, namespace: namespaceFor(customer, env.config.namespacePrefix) },
          opts: jobOptions(env.config, {}),
          requestedBy: `${d.env.USER ?? 'cli'} (resume)`,
          simulated: env.config.simulate,
          previousStatus: row.previousStatus,
        },
        now,
      );
    }
    candidates = [job];
  } else {
    const all = await queue.list();
    // a failed delete whose row was never settled (its worker died on the last attempt)
    for (const j of all.filter((j) => j.state === 'failed')) await settle(env, j);
    const abandoned = (j: Job) => (queue.leaseAbandoned ? queue.leaseAbandoned(j, now) : (j.lease?.expiresAt ?? 0) <= now);
    candidates = all.filter((j) => j.state === 'waiting' || j.state === 'delayed' || (j.state === 'active' && abandoned(j)));
  }
  if (candidates.length === 0) {
    d.log.info('Nothing to resume: no waiting, delayed or abandoned jobs');
    if (o.output === 'json') printJson(d.io, []);
    return [];
  }
  const finals: Job[] = [];
  for (const job of candidates) {
    d.log.info(`Resuming job ${job.id}`, { state: job.state, customerId: job.data.customerId, attemptsMade: job.attemptsMade });
    finals.push(await runAttached(d, env, job));
    if (d.shutdown.aborted) break;
  }
  if (o.output === 'json') printJson(d.io, finals);
  else {
    await printTable(
      d.io,
      ['JOB', 'CUSTOMER', 'STATE', 'RESULT'],
      finals.map((j) => {
        const out = outcomeOf({ customerId: j.data.customerId ?? '-', namespace: j.data.namespace ?? '-', simulated: j.simulated }, j);
        return [j.id, j.data.customerId ?? '-', j.state, out.error?.message ?? (out.result?.outcome ?? 'done')];
      }),
    );
  }
  return finals;
}

export async function runJobsCancel(d: Deps, o: { id: string; output: OutputFormat }): Promise<Job> {
  if (d.config().apiUrl) return (await import('./remote.js')).remoteJobsCancel(d, o);
  const cancelled = await cancelJob({ queue: await d.jobs(), store: await d.store(), now: () => d.now().getTime() }, parseJobId(o.id));
  if (o.output === 'json') printJson(d.io, cancelled);
  else d.io.out.write(`job ${cancelled.id} cancelled${cancelled.data.customerId ? `; customer ${cancelled.data.customerId} is back to ${cancelled.previousStatus ?? 'its previous status'}` : ''}\n`);
  return cancelled;
}

export async function runJobsPrune(d: Deps, o: { olderThanMs: number }): Promise<number> {
  refuseRemote(d, 'jobs prune');
  const n = await (await d.jobs()).prune(d.now().getTime() - o.olderThanMs);
  d.io.out.write(`pruned ${n} finished job${n === 1 ? '' : 's'} older than ${formatDuration(o.olderThanMs)}\n`);
  return n;
}

function ageFlag(raw: string): number {
  const m = /^(\d+)d$/.exec(raw);
  if (m) return Number(m[1]) * 86_400_000;
  try {
    return parseDuration(raw);
  } catch {
    throw new UsageError(`--older-than takes an age like 7d, 12h or 30m`);
  }
}

export function makeJobsCommand(d: Deps, setExit: (code: number) => void) {
  const cmd = new Command('jobs')
    .description('List and manage jobs in the journal')
    .addHelpText(
      'after',
      `
Examples:
  custctl jobs list --state failed
  custctl jobs retry 12345                  # a failed deletion, while its customer is still its own
  custctl jobs resume                       # take over jobs whose worker died
  custctl jobs resume --customer cust_abc123
  custctl jobs cancel 12345                 # waiting or delayed only
  custctl jobs prune --older-than 7d`,
    );
  const output = () => new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table' as const);
  cmd
    .command('list')
    .description('List jobs')
    .addOption(new Option('--state <state>', 'only jobs in this state').choices(JOB_STATES))
    .option('--customer <customerId>', "only this customer's jobs")
    .addOption(output())
    .action(async (f) => {
      await runJobsList(d, { state: f.state, customer: f.customer, output: f.output });
    });
  cmd
    .command('retry')
    .description('Give a failed job a fresh set of attempts (only while its customer is still its own)')
    .argument('<jobId>')
    .option('--detach', 'only queue it again')
    .addOption(output())
    .action(async (id, f) => {
      const job = await runJobsRetry(d, { id, detach: !!f.detach, output: f.output });
      setExit(jobExitCode(job));
    });
  cmd
    .command('resume')
    .description('Run waiting/delayed jobs and take over jobs whose worker died; --customer recreates a lost job')
    .option('--customer <customerId>', 'resume (or recreate) the deletion of this customer')
    .addOption(output())
    .action(async (f) => {
      const jobs = await runJobsResume(d, { customer: f.customer, output: f.output });
      setExit(combinedExitCode(jobs.map(jobExitCode)));
    });
  cmd
    .command('cancel')
    .description('Cancel a waiting or delayed job; its customer goes back to its previous status')
    .argument('<jobId>')
    .addOption(output())
    .action(async (id, f) => {
      await runJobsCancel(d, { id, output: f.output });
    });
  cmd
    .command('prune')
    .description('Remove completed and failed jobs older than --older-than (default 7d)')
    .option('--older-than <age>', 'age, e.g. 7d, 12h', '7d')
    .action(async (f) => {
      await runJobsPrune(d, { olderThanMs: ageFlag(f.olderThan) });
    });
  return cmd;
}
