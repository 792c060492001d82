/** `custctl jobs list|retry|resume|cancel|prune`. */
import { Command, Option } from '@commander-js/extra-typings';
import type { Deps } from '../deps.js';
import { parseOptionalCustomerId } from '../domain/customer-id.js';
import { formatDuration, parseDuration } from '../domain/duration.js';
import { parseJobId } from '../domain/job-id.js';
import { UsageError } from '../errors.js';
import { outcomeOf } from '../jobs/kinds/delete.js';
import { cancelledView, jobIdView, jobListView, jobView } from '../output/job-view.js';
import { outputOption, print, printTable, view, type OutputFormat } from '../output/print.js';
import { JOB_STATES, jobExitCode, type Job, type JobState } from '../domain/job.js';
import { combinedExitCode } from '../util/pool.js';

export async function runJobsList(d: Deps, o: { state?: JobState; customer?: string; output: OutputFormat }): Promise<Job[]> {
  const customerId = parseOptionalCustomerId(o.customer)?.id;
  const jobs = await (await d.client()).list({ ...(o.state ? { state: o.state } : {}), ...(customerId ? { customerId } : {}) });
  await print(d.io, o.output, jobListView(jobs, d.now().getTime(), () => d.log.info('No jobs')));
  return jobs;
}

function customerOpt(raw: string | undefined) {
  const customer = parseOptionalCustomerId(raw);
  return customer ? { customer } : {};
}

/** A failed deletion gets a fresh set of attempts — only while its row still points at it. */
export async function runJobsRetry(d: Deps, o: { id: string; detach: boolean; output: OutputFormat }): Promise<Job> {
  const client = await d.client();
  const again = await client.retry(parseJobId(o.id));
  if (o.detach) {
    await print(d.io, o.output, jobIdView(again));
    return again;
  }
  const final = await client.follow(again, { label: `job ${again.id}`, run: true });
  await print(d.io, o.output, jobView(final, d.now().getTime()));
  return final;
}

/**
 * Takes over jobs whose worker died (lease expired) and runs waiting or delayed ones here. With
 * --customer: a row left `deleting` whose job is missing from the journal (a crash between the
 * row and the journal) gets its job recreated under the same id.
 */
export async function runJobsResume(d: Deps, o: { customer?: string; output: OutputFormat }): Promise<Job[]> {
  const client = await d.client();
  const finals = await client.resume(customerOpt(o.customer));
  await print(d.io, o.output, view(finals, async (io) => {
    if (finals.length === 0) return;
    await printTable(
      io,
      ['JOB', 'CUSTOMER', 'STATE', 'RESULT'],
      finals.map((j) => {
        const out = outcomeOf({ customerId: j.data.customerId ?? '-', namespace: j.data.namespace ?? '-', simulated: j.simulated }, j, client.interrupted(j));
        return [j.id, j.data.customerId ?? '-', j.state, out.error?.message ?? (out.result?.outcome ?? 'done')];
      }),
    );
  }));
  return finals;
}

export async function runJobsCancel(d: Deps, o: { id: string; output: OutputFormat }): Promise<Job> {
  const cancelled = await (await d.client()).cancel(parseJobId(o.id));
  await print(d.io, o.output, cancelledView(cancelled));
  return cancelled;
}

export async function runJobsPrune(d: Deps, o: { olderThanMs: number }): Promise<number> {
  const n = await (await d.client()).prune(o.olderThanMs);
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
  const output = outputOption;
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
