/** `custctl status job <id>` and `custctl status customer <id>`: read-only, cheap, never prunes. */
import { Command } from '@commander-js/extra-typings';
import type { CustomerRow } from '../adapters/store.js';
import type { Deps } from '../deps.js';
import { parseCustomerId } from '../domain/customer-id.js';
import { parseJobId } from '../domain/job-id.js';
import { NotFoundError } from '../errors.js';
import { customerStatusView, jobView } from '../output/job-view.js';
import { outputOption, print, type OutputFormat } from '../output/print.js';
import { isFinished, jobExitCode, type Job } from '../queue/job.js';


export async function getJob(d: Deps, id: string): Promise<Job> {
  const job = await (await d.jobs()).get(parseJobId(id));
  if (!job) throw new NotFoundError(`job ${id} not found`, ["List jobs with 'custctl jobs list' (finished jobs are kept 7 days)."]);
  return job;
}


export async function runStatusJob(d: Deps, o: { id: string; output: OutputFormat; watch: boolean }): Promise<Job> {
  if (d.config().apiUrl) return (await import('./remote.js')).remoteStatusJob(d, o);
  let job = await getJob(d, o.id);
  if (o.watch) {
    let last = '';
    while (!isFinished(job)) {
      const line = `job ${job.id}: ${job.state} ${job.progress}% (attempt ${Math.min(job.attemptsMade + 1, job.maxAttempts)}/${job.maxAttempts})`;
      if (line !== last) d.log.info(line);
      last = line;
      try {
        await d.sleep(1000, d.shutdown);
      } catch {
        break;
      }
      job = await getJob(d, o.id);
    }
  }
  await print(d.io, o.output, jobView(job, d.now().getTime()));
  return job;
}

export async function runStatusCustomer(d: Deps, o: { id: string; output: OutputFormat }): Promise<{ customer: CustomerRow; jobs: Job[] }> {
  if (d.config().apiUrl) return (await import('./remote.js')).remoteStatusCustomer(d, o);
  const customer = parseCustomerId(o.id);
  const store = await d.store();
  const row = await store.get(customer.id);
  if (!row) throw new NotFoundError(`customer ${customer.id} not found in ${store.description}`);
  const jobs = (await (await d.jobs()).list({ customerId: customer.id })).sort((a, b) => Number(b.id) - Number(a.id)).slice(0, 10);
  await print(d.io, o.output, customerStatusView({ customer: row, jobs }, 'No jobs in this journal for this customer.'));
  return { customer: row, jobs };
}

export function makeStatusCommand(d: Deps, setExit: (code: number) => void) {
  const cmd = new Command('status')
    .description('Show the state of a job or a customer')
    .addHelpText('after', '\nExamples:\n  custctl status job 12345 --watch\n  custctl status customer cust_abc123 -o json');
  cmd
    .command('job')
    .description("A job's state, progress, attempts and log (exit code: how it ended)")
    .argument('<jobId>', 'job id')
    .option('-w, --watch', 'follow the job until it has ended')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  custctl status job 12345\n  custctl status job 12345 --watch\n  custctl status job 12345 -o json | jq .state')
    .action(async (id, f) => {
      const job = await runStatusJob(d, { id, output: f.output, watch: !!f.watch });
      if (f.watch) setExit(jobExitCode(job));
    });
  cmd
    .command('customer')
    .description("A customer's row and its latest jobs")
    .argument('<customerId>', 'cust_… ID')
    .addOption(outputOption())
    .action(async (id, f) => {
      await runStatusCustomer(d, { id, output: f.output });
    });
  return cmd;
}
