/**
 * `custctl delete <customerId...>`: validate every id and row, show the target and the plan,
 * confirm, then submit each deletion as a job and run it in this process (or only enqueue it
 * with --detach).
 */
import { Command, Option } from '@commander-js/extra-typings';
import { DELETABLE_STATUSES, type CustomerRow } from '../adapters/store.js';
import { DEFAULTS } from '../config.js';
import type { Deps } from '../deps.js';
import { parseCustomerIds, type CustomerId } from '../domain/customer-id.js';
import { formatDuration } from '../domain/duration.js';
import { checkRowNamespace, namespaceFor } from '../domain/namespace-name.js';
import { CliError, errorNameFor, exitCodeFor, exitCodeForErrorName, NotFoundError, UsageError } from '../errors.js';
import { planView, renderPlan, type PlanView } from '../output/plan.js';
import { OUTPUT_FORMATS, printJson, printTable, type OutputFormat } from '../output/print.js';
import { inspect, refuseClusterScoped, refuseSuspiciousEmptiness } from '../pipeline/inspect.js';
import type { DeleteResult } from '../pipeline/types.js';
import type { Job } from '../queue/job.js';
import { combinedExitCode, runPool } from '../util/pool.js';
import { confirmOrRefuse, durationFlag, intFlag } from './shared.js';
import { jobsEnv, runAttached } from './run-jobs.js';
import { RETENTION_MS, statusConflict, submitDeletion } from '../jobs/service.js';

export interface DeleteOptions {
  ids: string[];
  yes: boolean;
  dryRun: boolean;
  detach: boolean;
  /** with --api-url: the synchronous endpoint */
  sync?: boolean;
  concurrency: number;
  waitTimeoutMs: number;
  jobTimeoutMs?: number;
  force: boolean;
  allowMissing: boolean;
  allowClusterScoped: boolean;
  output: OutputFormat;
}

export interface DeleteOutcome {
  customerId: string;
  namespace: string;
  jobId: string | null;
  state: Job['state'] | 'planned' | 'refused';
  exitCode: number;
  simulated: boolean;
  error: { error: string; message: string; details: string[] } | null;
  result: DeleteResult | null;
  plan?: PlanView;
}

export interface DeleteReport {
  dryRun: boolean;
  simulated: boolean;
  target: { context?: string; server?: string; database: string };
  results: DeleteOutcome[];
  exitCode: number;
}

function errorInfo(e: unknown): NonNullable<DeleteOutcome['error']> {
  return { error: errorNameFor(e), message: e instanceof Error ? e.message : String(e), details: e instanceof CliError ? [...e.details] : [] };
}

/** Every id and row checked before anything happens; a single bad one refuses the whole run. */
async function validateAll(o: DeleteOptions, d: Deps): Promise<Array<{ customer: CustomerId; row: CustomerRow; namespace: string }>> {
  const customers = parseCustomerIds(o.ids);
  const cfg = d.config();
  const store = await d.store();
  const out: Array<{ customer: CustomerId; row: CustomerRow; namespace: string }> = [];
  for (const customer of customers) {
    const row = await store.get(customer.id);
    if (!row) throw new NotFoundError(`customer ${customer.id} not found in ${store.description}`, ["List customers with 'custctl customers list'."]);
    const namespace = checkRowNamespace(customer, row.instanceNamespace, cfg.namespacePrefix);
    // the journal is opened only to name the job that holds a customer already being deleted
    const conflict = DELETABLE_STATUSES.includes(row.deploymentStatus) ? null : await statusConflict(await d.jobs(), row, o.force);
    if (conflict) throw conflict;
    out.push({ customer, row, namespace });
  }
  return out;
}

export async function runDelete(o: DeleteOptions, d: Deps): Promise<DeleteReport> {
  const cfg = d.config();
  if (cfg.apiUrl) return (await import('./remote.js')).remoteDelete(d, o);
  if (o.detach && o.dryRun) throw new UsageError('--detach and --dry-run do not go together');
  if (o.sync) throw new UsageError('--sync needs --api-url: it runs the deletion on the queue API synchronously');
  const targets = await validateAll(o, d);
  const store = await d.store();
  const target: DeleteReport['target'] = { database: store.description };
  if (cfg.simulate) {
    d.log.warn('SIMULATE_K8S_DEPLOYMENT=true: Helm, namespace and RBAC steps are simulated; only the database row changes');
  } else {
    const kube = await d.kube();
    target.context = kube.target.context;
    target.server = kube.target.server;
  }
  d.log.info('Target', { context: target.context, server: target.server, database: target.database });

  // The plan: inspected when someone will read it (dry-run, confirmation). With --yes the first
  // attempt performs the same checks itself, so the cluster is not asked twice.
  const needPlan = o.dryRun || !o.yes;
  const plans = new Map<string, PlanView>();
  const uids = new Map<string, string>();
  if (needPlan) {
    const env = cfg.simulate ? null : { kube: await d.kube(), helm: await d.helm(), store };
    await runPool(targets, o.concurrency, async (t) => {
      const insp = env ? await inspect(t.customer, t.namespace, t.row, env, { detail: true }) : null;
      plans.set(t.customer.id, planView(insp, t.row, t.customer.id, t.namespace, cfg.simulate));
      if (insp?.ns) uids.set(t.customer.id, insp.ns.uid);
      if (insp && !o.dryRun) {
        refuseClusterScoped(insp, o.allowClusterScoped);
        refuseSuspiciousEmptiness(insp, t.row.deploymentStatus, { context: target.context ?? '', server: target.server ?? '', database: target.database }, o.allowMissing);
      }
    });
  }
  if (o.dryRun) {
    const results: DeleteOutcome[] = targets.map((t) => ({
      customerId: t.customer.id,
      namespace: t.namespace,
      jobId: null,
      state: 'planned',
      exitCode: 0,
      simulated: cfg.simulate,
      error: null,
      result: null,
      plan: plans.get(t.customer.id),
    }));
    return { dryRun: true, simulated: cfg.simulate, target, results, exitCode: 0 };
  }
  if (!o.yes) {
    for (const t of targets) d.log.line(renderPlan(plans.get(t.customer.id) as PlanView, d.io.chalk));
    const many = targets.length > 1;
    const first = targets[0] as (typeof targets)[number];
    await confirmOrRefuse(
      d,
      many ? `Delete these ${targets.length} customers? Type their count (${targets.length}) to confirm` : `Delete ${first.customer.id}? Type its customer ID to confirm`,
      many ? String(targets.length) : first.customer.id,
      `delete ${many ? `${targets.length} customers` : first.customer.id}`,
    );
  }

  const env = await jobsEnv(d);
  await env.queue.prune(env.now() - RETENTION_MS).catch(() => 0);
  const results = await runPool(targets, o.concurrency, async (t): Promise<DeleteOutcome> => {
    const base = { customerId: t.customer.id, namespace: namespaceFor(t.customer, cfg.namespacePrefix), simulated: cfg.simulate };
    let job: Job;
    try {
      job = await submitDeletion(env, t.customer, {
        force: o.force,
        allowMissing: o.allowMissing,
        allowClusterScoped: o.allowClusterScoped,
        waitTimeoutMs: o.waitTimeoutMs,
        jobTimeoutMs: o.jobTimeoutMs,
        requestedBy: d.env.USER ? `${d.env.USER} (cli)` : 'cli',
        namespaceUid: uids.get(t.customer.id),
      });
    } catch (e) {
      return { ...base, jobId: null, state: 'refused', exitCode: exitCodeFor(e), error: errorInfo(e), result: null };
    }
    d.log.info('Deletion queued', { customerId: t.customer.id, job: job.id, attempts: job.maxAttempts, jobTimeout: formatDuration(job.opts.timeoutMs) });
    if (o.detach) return { ...base, jobId: job.id, state: job.state, exitCode: 0, error: null, result: null };
    const final = await runAttached(d, env, job);
    return outcomeOf(base, final);
  });
  return { dryRun: false, simulated: cfg.simulate, target, results, exitCode: combinedExitCode(results.map((r) => r.exitCode)) };
}

export function outcomeOf(base: Pick<DeleteOutcome, 'customerId' | 'namespace' | 'simulated'>, job: Job): DeleteOutcome {
  const result = (job.returnvalue as DeleteResult | null) ?? null;
  if (job.state === 'completed') {
    const superseded = result?.outcome === 'superseded';
    return {
      ...base,
      jobId: job.id,
      state: job.state,
      exitCode: superseded ? 4 : 0,
      error: superseded ? { error: 'conflict', message: `job ${job.id} was superseded: ${result?.reason ?? ''}`, details: [] } : null,
      result,
    };
  }
  if (job.state === 'failed') {
    const [firstLine = 'failed', ...restLines] = (job.failedReason ?? 'failed').split('\n');
    return {
      ...base,
      jobId: job.id,
      state: job.state,
      exitCode: exitCodeForErrorName(job.failedCode ?? undefined),
      error: { error: job.failedCode ?? 'internal', message: firstLine, details: restLines },
      result,
    };
  }
  // interrupted (Ctrl-C) while waiting or running: the job stays resumable
  return {
    ...base,
    jobId: job.id,
    state: job.state,
    exitCode: 1,
    error: { error: 'internal', message: `interrupted: job ${job.id} is ${job.state}`, details: [`Resume it with 'custctl jobs resume' or 'custctl worker --once'.`] },
    result,
  };
}

export async function printDeleteReport(d: Deps, r: DeleteReport, format: OutputFormat): Promise<void> {
  if (format === 'json') return printJson(d.io, r);
  if (r.dryRun) {
    const where = r.simulated ? 'cluster not contacted (simulated)' : `context ${r.target.context ?? '-'} (${r.target.server ?? '-'})`;
    d.io.out.write(`Dry run: nothing will be changed. ${where}, database ${r.target.database}\n\n`);
    d.io.out.write(`${r.results.map((x) => renderPlan(x.plan as PlanView, d.io.chalk)).join('\n\n')}\n`);
    return;
  }
  await printTable(
    d.io,
    ['CUSTOMER', 'NAMESPACE', 'JOB', 'RESULT', 'DETAIL'],
    r.results.map((x) => [x.customerId, x.namespace, x.jobId ?? '-', resultWord(x), detail(x)]),
  );
  for (const x of r.results.filter((x) => x.error)) {
    d.log.error(`${x.customerId}: ${x.error?.message ?? ''}`);
    for (const line of x.error?.details ?? []) d.log.line(`    ${line}`);
  }
}

function resultWord(x: DeleteOutcome): string {
  if (x.state === 'completed') return x.result?.outcome === 'superseded' ? 'superseded' : x.simulated ? 'deleted (simulated)' : 'deleted';
  return x.state;
}

function detail(x: DeleteOutcome): string {
  if (!x.result || x.state !== 'completed') return x.error ? `exit ${x.exitCode}` : '';
  const r = x.result;
  const parts = [
    `releases ${r.releases.length}`,
    `namespace ${r.namespaceOutcome}`,
    `rbac deleted ${r.rbac.deleted.length}`,
  ];
  if (r.rbac.keptByPolicy.length) parts.push(`kept by policy ${r.rbac.keptByPolicy.length}`);
  if (r.retainedVolumes.length) parts.push(`PVs retained ${r.retainedVolumes.length}`);
  if (r.warnings.length) parts.push(`warnings ${r.warnings.length}`);
  return parts.join(', ');
}

export function makeDeleteCommand(d: Deps, setExit: (code: number) => void, runF = runDelete) {
  return new Command('delete')
    .description("Delete customers' infrastructure: Helm releases, namespace, cluster RBAC; then reset the row to pending")
    .argument('<customerId...>', 'customer IDs (cust_…)')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--dry-run', 'show what would be deleted, change nothing')
    .option('--detach', 'only queue the deletion and print the job id')
    .option('--sync', 'with --api-url: run the deletion synchronously on the server (DELETE …/deployment)')
    .addOption(new Option('--concurrency <n>', 'customers deleted at once').argParser(intFlag('--concurrency', 1, 64)).default(DEFAULTS.concurrency))
    .addOption(new Option('--timeout <duration>', 'how long to wait for the namespace to go').argParser(durationFlag('--timeout')).default(DEFAULTS.waitTimeoutMs, '5m'))
    .addOption(new Option('--job-timeout <duration>', 'timeout of each attempt (CUSTCTL_JOB_TIMEOUT, default 10m)').argParser(durationFlag('--job-timeout')))
    .option('--force', 'also delete a customer whose status is deploying')
    .option('--allow-missing', "reset a deployed row whose release, namespace and RBAC are all missing (otherwise: wrong cluster?)")
    .option('--allow-cluster-scoped', 'uninstall releases that hold objects outside the customer namespace: cluster-scoped ones other than their RBAC, or objects in other namespaces')
    .addOption(new Option('--allow-outside-namespace', 'the same as --allow-cluster-scoped').hideHelp())
    .addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table' as const))
    .addHelpText(
      'after',
      `
Examples:
  custctl delete cust_abc123                 # shows the plan, asks you to type the ID
  custctl delete cust_abc123 --dry-run       # the plan only
  custctl delete cust_abc123 --yes -o json   # in scripts
  custctl delete cust_a cust_b --yes --concurrency 8
  custctl delete cust_abc123 --yes --detach  # queue only; then: custctl status job <id> --watch`,
    )
    .action(async (ids, f) => {
      const report = await runF(
        {
          ids,
          yes: !!f.yes,
          dryRun: !!f.dryRun,
          detach: !!f.detach,
          sync: !!f.sync,
          concurrency: f.concurrency,
          waitTimeoutMs: f.timeout,
          jobTimeoutMs: f.jobTimeout,
          force: !!f.force,
          allowMissing: !!f.allowMissing,
          allowClusterScoped: !!f.allowClusterScoped || !!f.allowOutsideNamespace,
          output: f.output,
        },
        d,
      );
      await printDeleteReport(d, report, f.output);
      setExit(report.exitCode);
    });
}
