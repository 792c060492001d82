/** `custctl jobs list|retry|resume|cancel|prune`. */
import { Command, Option } from '@commander-js/extra-typings';
import type { Deps } from '../deps.js';
import { withCompletions } from '../completions.js';
import { mayCancel, mayRetry } from '../domain/job-machine.js';
import { parseOptionalCustomerId } from '../domain/customer-id.js';
import { formatDuration, parseDuration } from '../domain/duration.js';
import { parseJobId } from '../domain/job-id.js';
import { UsageError } from '../errors.js';
import { outcomeOf } from '../jobs/kinds/delete.js';
import { cancelledJobView, jobIdView, jobListView, jobView } from '../output/job-view.js';
import type { CancelResult } from '../service/service.js';
import { outputOption, print, printTable, view, type OutputFormat } from '../output/print.js';
import { STATE_NAMES, jobExitCode, stateName, type Job, type StateName } from '../domain/job.js';
import { confirmOrRefuse } from '../prompt.js';
import { combinedExitCode } from '../util/pool.js';

export async function runJobsList(d: Deps, o: { state?: StateName; customer?: string; output: OutputFormat }): Promise<Job[]> {
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

/** The one cancel by job id (src/jobs/cancel.ts): a scheduled deletion's instance is restored, as `custctl cancel ID` does. */
export async function runJobsCancel(d: Deps, o: { id: string; output: OutputFormat }): Promise<CancelResult> {
  const r = await (await d.client()).cancel({ jobId: parseJobId(o.id) });
  await print(d.io, o.output, cancelledJobView(r));
  return r;
}

export interface PruneReport {
  dryRun: boolean;
  olderThan: string;
  /** finished before this time (ISO) */
  before: string;
  /** the finished jobs old enough to go (what the dry run and the confirmation show) */
  jobs: Array<{ id: string; name: string; state: string; customerId: string | null; finishedOn: string | null }>;
  /** how many were removed (0 in a dry run) */
  pruned: number;
}

/**
 * Removes finished jobs older than --older-than, after showing them and asking (or --yes; no
 * terminal and no --yes: refused, exit 2). --dry-run only lists them.
 */
export async function runJobsPrune(d: Deps, o: { olderThanMs: number; dryRun: boolean; yes: boolean; output: OutputFormat }): Promise<PruneReport> {
  const client = await d.client();
  const age = formatDuration(o.olderThanMs);
  const jobs = await client.prunable(o.olderThanMs);
  const report: PruneReport = {
    dryRun: o.dryRun,
    olderThan: age,
    before: new Date(d.now().getTime() - o.olderThanMs).toISOString(),
    jobs: jobs.map((j) => ({ id: j.id, name: j.name, state: stateName(j), customerId: j.data.customerId ?? null, finishedOn: j.finishedOn !== null ? new Date(j.finishedOn).toISOString() : null })),
    pruned: 0,
  };
  const plural = (n: number) => `${n} finished job${n === 1 ? '' : 's'}`;
  // nothing to remove: nothing to confirm either, with or without a terminal (exit 0)
  if (!o.dryRun && !o.yes && jobs.length > 0) {
    d.log.line(`Finished jobs older than ${age}: ${jobs.map((j) => j.id).join(', ')}`);
    await confirmOrRefuse(d, `Remove these ${plural(jobs.length)} from the journal? Type their count (${jobs.length}) to confirm`, String(jobs.length), `prune ${plural(jobs.length)}`);
  }
  if (!o.dryRun && jobs.length > 0) report.pruned = await client.prune(o.olderThanMs);
  await print(d.io, o.output, view(report, (io) => {
    if (jobs.length === 0) io.out.write(`nothing to prune: no finished jobs older than ${age}\n`);
    else if (o.dryRun) io.out.write(`would prune ${plural(jobs.length)} older than ${age}: ${jobs.map((j) => j.id).join(', ')} (dry run: nothing removed)\n`);
    else io.out.write(`pruned ${plural(report.pruned)} older than ${age}\n`);
  }));
  return report;
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
    .addOption(new Option('--state <state>', 'only jobs in this state (scheduled: deletions waiting for their time; cancelled)').choices(STATE_NAMES))
    .option('--customer <customerId>', "only this customer's jobs")
    .addOption(output({ list: true }))
    .addHelpText('after', '\nExamples:\n  custctl jobs list\n  custctl jobs list --state failed -o wide\n  custctl jobs list --state failed -o name | cut -d/ -f2 | xargs -n1 custctl jobs retry --detach\n  custctl jobs list --customer cust_abc123 -o json')
    .action(async (f) => {
      await runJobsList(d, { state: f.state, customer: f.customer, output: f.output });
    });
  withCompletions(cmd.command('retry'), { jobs: (j) => mayRetry(j.state) })
    .description('Give a failed job a fresh set of attempts (only while its customer is still its own)')
    .argument('<jobId>')
    .option('--detach', 'only queue it again')
    .addOption(output())
    .addHelpText('after', '\nExamples:\n  custctl jobs retry 12345            # runs it here and follows it to its end\n  custctl jobs retry 12345 --detach   # queue only; a worker runs it')
    .action(async (id, f) => {
      const job = await runJobsRetry(d, { id, detach: !!f.detach, output: f.output });
      setExit(jobExitCode(job));
    });
  cmd
    .command('resume')
    .description('Run waiting/delayed jobs and take over jobs whose worker died; --customer recreates a lost job')
    .option('--customer <customerId>', 'resume (or recreate) the deletion of this customer')
    .addOption(output())
    .addHelpText('after', '\nExamples:\n  custctl jobs resume\n  custctl jobs resume --customer cust_abc123   # a row left deleting whose job is lost')
    .action(async (f) => {
      const jobs = await runJobsResume(d, { customer: f.customer, output: f.output });
      setExit(combinedExitCode(jobs.map(jobExitCode)));
    });
  withCompletions(cmd.command('cancel'), { jobs: (j) => mayCancel(j.state) })
    .description('Cancel a waiting or delayed job; its customer goes back to its previous status')
    .argument('<jobId>')
    .addOption(output())
    .addHelpText('after', '\nExamples:\n  custctl jobs cancel 12345\n  custctl cancel cust_abc123    # a scheduled deletion (soft delete): also restores the instance')
    .action(async (id, f) => {
      await runJobsCancel(d, { id, output: f.output });
    });
  cmd
    .command('prune')
    .description('Remove completed and failed jobs older than --older-than (default 7d), after asking')
    .option('--older-than <age>', 'age, e.g. 7d, 12h', '7d')
    .option('--dry-run', 'list the jobs that would be removed, remove nothing')
    .option('-y, --yes', 'do not ask for confirmation')
    .addOption(output())
    .addHelpText('after', '\nExamples:\n  custctl jobs prune --dry-run\n  custctl jobs prune --older-than 30d --yes   # from cron')
    .action(async (f) => {
      await runJobsPrune(d, { olderThanMs: ageFlag(f.olderThan), dryRun: !!f.dryRun, yes: !!f.yes, output: f.output });
    });
  return cmd;
}
