/** `custctl status job <id>` and `custctl status customer <id>`: read-only, cheap, never prunes. */
import { createRequire } from 'node:module';
import type * as Commander from '@commander-js/extra-typings';
import type { CustomerRow } from '../adapters/store.js';
import type { Deps } from '../deps.js';
import { parseJobId } from '../domain/job-id.js';
import { customerStatusView, jobView } from '../output/job-view.js';
import { OUTPUT_FORMATS, outputOption, print, type OutputFormat } from '../output/print.js';
import { jobExitCode, type Job } from '../domain/job.js';
import { NotFoundError } from '../errors.js';


export async function runStatusJob(d: Deps, o: { id: string; output: OutputFormat; watch: boolean }): Promise<Job> {
  const client = await d.client();
  const id = parseJobId(o.id);
  let job = await client.get(id);
  if (o.watch) job = await client.follow(job, { label: `job ${id}`, run: false, pollMs: 1_000 });
  await print(d.io, o.output, jobView(job, d.now().getTime(), await client.deliveries(id)));
  return job;
}

/**
 * `status job ID --certificate [json|text|html]`: the job's signed deletion certificate (the file
 * `certificate verify` reads, or its rendering), from the job's result. Exit 3 when it has none.
 */
export async function runStatusJobCertificate(d: Deps, o: { id: string; format: 'json' | 'text' | 'html' }): Promise<void> {
  const client = await d.client();
  const id = parseJobId(o.id);
  const job = await client.get(id);
  const { jobCertificate } = await import('../jobs/certificate-of-job.js');
  const doc = jobCertificate(job);
  const { certificateHtml, certificateJson, certificateText } = await import('../domain/certificate.js');
  if (o.format === 'json') {
    d.io.out.write(certificateJson(doc));
    return;
  }
  const { writeStyled } = await import('../output/print.js');
  const { styled } = await import('../output/text.js');
  const { visibleLines } = await import('../domain/visible.js');
  const note = 'Shown, not verified: check it with custctl certificate verify.';
  writeStyled(d.io, styled(visibleLines(o.format === 'html' ? certificateHtml(doc, note) : certificateText(doc, note))));
}

export async function runStatusCustomer(d: Deps, o: { id: string; output: OutputFormat }): Promise<{ customer: CustomerRow; jobs: Job[] }> {
  const { parseCustomerId } = await import('../domain/customer-id.js'); // not on `status job`'s path
  const customer = parseCustomerId(o.id);
  const client = await d.client();
  const r = await client.customer(customer).catch((e: unknown) => {
    // the next step, whether the row was looked for here or on the server
    if (e instanceof NotFoundError && e.details.length === 0) throw new NotFoundError(e.message, ["List customers with 'custctl customers list'; register one with 'custctl customers add'."]);
    throw e;
  });
  await print(d.io, o.output, customerStatusView(r, `No jobs ${client.jobsWhere} for this customer.`, d.now().getTime()));
  return r;
}

/**
 * `status job <id>` in its plain forms (`-o FORMAT`, `--watch`, nothing else): what to run without
 * building the command tree, or null for anything else (which commander parses). Scripts poll
 * this command; commander's load is a third of its start-up.
 */
export function statusJobShortcut(argv: readonly string[]): { id: string; output: OutputFormat; watch: boolean } | null {
  if (argv[0] !== 'status' || argv[1] !== 'job') return null;
  let id: string | undefined;
  let output: OutputFormat = 'table';
  let watch = false;
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i] as string;
    let format: string | undefined;
    if (a === '-w' || a === '--watch') watch = true;
    else if (a === '-o' || a === '--output') {
      if (i + 1 >= argv.length) return null;
      format = argv[++i];
    }
    else if (a.startsWith('--output=')) format = a.slice('--output='.length);
    else if (a.startsWith('-') || id !== undefined) return null;
    else id = a;
    if (format !== undefined) {
      if (!(OUTPUT_FORMATS as readonly string[]).includes(format)) return null;
      output = format as OutputFormat;
    }
  }
  return id === undefined ? null : { id, output, watch };
}

/** The short path's run: the job's view, and its exit code (as the command's action gives). */
export async function runStatusJobShortcut(d: Deps, o: { id: string; output: OutputFormat; watch: boolean }): Promise<number> {
  return jobExitCode(await runStatusJob(d, o));
}

export function makeStatusCommand(d: Deps, setExit: (code: number) => void) {
  const { Command } = createRequire(import.meta.url)('@commander-js/extra-typings') as typeof Commander;
  const { Option } = createRequire(import.meta.url)('@commander-js/extra-typings') as typeof Commander;
  const cmd = new Command('status')
    .description('Show the state of a job or a customer')
    .addHelpText('after', '\nExamples:\n  custctl status job 12345 --watch\n  custctl status customer cust_abc123 -o json');
  cmd
    .command('job')
    .description("A job's state, progress, attempts and log (exit code: how it ended, with or without --watch)")
    .argument('<jobId>', 'job id')
    .option('-w, --watch', 'follow the job until it has ended')
    .addOption(new Option('--certificate [format]', "print the job's signed deletion certificate instead: json (the file certificate verify reads), text or html").choices(['json', 'text', 'html'] as const))
    .addOption(outputOption())
    .addHelpText('after', `
Examples:
  custctl status job 12345
  custctl status job 12345 --watch
  custctl status job 12345 --certificate > cert.json
  custctl status job 12345 -o json | jq .state

Exit codes (the same with and without --watch): 0 completed, or not ended yet (waiting, active,
delayed; --watch waits for the end); 4 cancelled or superseded; otherwise the code of the failure:
1 failed, 2 refused as bad input, 3 not found, 5 timed out waiting for the namespace.`)
    .action(async (id, f) => {
      if (f.certificate !== undefined) {
        await runStatusJobCertificate(d, { id, format: f.certificate === true ? 'json' : f.certificate });
        return;
      }
      const job = await runStatusJob(d, { id, output: f.output, watch: !!f.watch });
      setExit(jobExitCode(job));
    });
  cmd
    .command('customer')
    .description("A customer's row and its latest jobs")
    .argument('<customerId>', 'cust_… ID')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  custctl status customer cust_abc123\n  custctl status customer cust_abc123 -o json | jq .customer.deploymentStatus')
    .action(async (id, f) => {
      await runStatusCustomer(d, { id, output: f.output });
    });
  return cmd;
}
