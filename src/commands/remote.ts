/**
 * Remote mode (`--api-url` / CUSTCTL_API_URL): the same commands sent to `custctl serve`. Each
 * function answers like its local twin (same return value, same output, same exit codes), so
 * the local commands only branch at their top: `if (d.config().apiUrl) return remoteX(d, o)`.
 */
import type { CustomerRow } from '../adapters/store.js';
import { QueueApiClient, TransportError, type QueuedDeletion } from '../adapters/queue-client.js';
import type { Deps } from '../deps.js';
import { parseCustomerId, parseCustomerIds, parseOptionalCustomerId, type CustomerId } from '../domain/customer-id.js';
import { namespaceFor } from '../domain/namespace-name.js';
import { CliError, ConflictError, errorNameFor, exitCodeFor, ForbiddenError, UnauthorizedError, UsageError } from '../errors.js';
import { printCustomerStatus, printJobList, renderJob } from '../output/job-view.js';
import { printJson, type OutputFormat } from '../output/print.js';
import { isFinished, type Job, type JobState } from '../queue/job.js';
import { combinedExitCode, runPool } from '../util/pool.js';
import { outcomeOf, type DeleteOptions, type DeleteOutcome, type DeleteReport } from './delete.js';
import type { CleanupRbacOptions, CleanupRbacOutcome, CleanupReport } from './cleanup-rbac.js';
import { confirmOrRefuse } from './shared.js';
import { parseJobId } from './status.js';

export const POLL_MS = 500;

export function apiClient(d: Deps): QueueApiClient {
  const cfg = d.config();
  if (!cfg.apiUrl) throw new UsageError('no --api-url / CUSTCTL_API_URL given');
  return new QueueApiClient(cfg.apiUrl, cfg.apiToken);
}

/** Errors that concern the whole run, not one customer: stop at once. */
function isGlobal(e: unknown): boolean {
  return e instanceof TransportError || e instanceof UnauthorizedError || e instanceof ForbiddenError;
}

function errorInfo(e: unknown): NonNullable<DeleteOutcome['error']> {
  return { error: errorNameFor(e), message: e instanceof Error ? e.message : String(e), details: e instanceof CliError ? [...e.details] : [] };
}

/**
 * Follows a job until it has ended, printing its state, progress and the server's log lines on
 * stderr. Ctrl-C stops following (the job carries on on the server) and returns the job as last seen.
 */
/** Where a followed job lives: the queue API, or a queue this process does not run (BullMQ). */
export interface JobSource {
  get(id: string, signal?: AbortSignal): Promise<Job>;
  /** how to follow it again after Ctrl-C */
  hint: string;
}

export function apiSource(api: QueueApiClient): JobSource {
  return { get: (id, signal) => api.getJob(id, signal), hint: ` --api-url ${api.baseUrl}` };
}

/**
 * Polls a job that runs elsewhere until it ends, relaying its pipeline log lines and state
 * changes on stderr. Ctrl-C stops following; the job carries on.
 */
export async function followJob(d: Deps, source: JobSource, jobId: string, label: string, pollMs = POLL_MS): Promise<Job> {
  let last = '';
  const seen = new Map<number, number>();
  for (;;) {
    let job: Job;
    try {
      job = await source.get(jobId, d.shutdown);
    } catch (e) {
      if (d.shutdown.aborted) break;
      throw e;
    }
    for (const a of job.attempts ?? []) {
      const from = seen.get(a.attempt) ?? 0;
      for (const line of a.log.slice(from)) d.log.line(`  ${label} | ${line}`);
      seen.set(a.attempt, a.log.length);
    }
    const attempt = Math.min(job.attemptsMade + (job.state === 'active' ? 1 : 0), job.maxAttempts) || 1;
    const line = `${label}: job ${job.id} ${job.state} ${job.progress}% (attempt ${attempt}/${job.maxAttempts})${job.state === 'delayed' && job.delayUntil ? `, next try ${new Date(job.delayUntil).toISOString()}` : ''}`;
    if (line !== last) d.log.info(line);
    last = line;
    if (isFinished(job)) return job;
    try {
      await d.sleep(pollMs, d.shutdown);
    } catch {
      break;
    }
  }
  const job = await source.get(jobId).catch(() => null);
  d.log.warn(`Stopped following job ${jobId}: it carries on. Follow it with 'custctl status job ${jobId} --watch${source.hint}'`);
  if (!job) throw new ConflictError(`stopped following job ${jobId}`);
  return job;
}

export async function remoteDelete(d: Deps, o: DeleteOptions & { sync?: boolean }): Promise<DeleteReport> {
  if (o.dryRun) throw new UsageError('--dry-run is not available with --api-url: the plan needs the cluster; run it locally, or see the customer with custctl status customer ID --api-url …');
  if (o.detach && o.sync) throw new UsageError('--detach and --sync do not go together');
  const customers = parseCustomerIds(o.ids);
  const cfg = d.config();
  const api = apiClient(d);
  d.log.info('Target', { api: api.baseUrl });

  if (!o.yes) {
    // show what will go (the rows as the server sees them), then ask for the ID or the count
    for (const c of customers) {
      const { customer: row } = await api.getCustomer(c.id);
      d.log.line(`  ${row.customerId}  status ${row.deploymentStatus}  namespace ${row.instanceNamespace || '-'}  (${row.companyName || '-'})`);
    }
    const many = customers.length > 1;
    const first = customers[0] as CustomerId;
    await confirmOrRefuse(
      d,
      many ? `Delete these ${customers.length} customers through ${api.baseUrl}? Type their count (${customers.length}) to confirm` : `Delete ${first.id} through ${api.baseUrl}? Type its customer ID to confirm`,
      many ? String(customers.length) : first.id,
      `delete ${many ? `${customers.length} customers` : first.id}`,
    );
  }

  const query = {
    force: o.force,
    allowMissing: o.allowMissing,
    allowClusterScoped: o.allowClusterScoped,
    waitTimeoutMs: o.waitTimeoutMs,
    ...(o.jobTimeoutMs !== undefined ? { jobTimeoutMs: o.jobTimeoutMs } : {}),
  };
  let simulated = false;
  const results = await runPool(customers, o.concurrency, async (c): Promise<DeleteOutcome> => {
    const base = { customerId: c.id, namespace: namespaceFor(c, cfg.namespacePrefix), simulated: false };
    try {
      let job: Job;
      if (o.sync) {
        d.log.info(`${c.id}: deleting synchronously on the server`);
        const r = await api.deleteDeployment(c.id, query, d.shutdown);
        job = await api.getJob(r.jobId);
      } else {
        const queued: QueuedDeletion = await api.deleteCustomer(c.id, query, d.shutdown);
        d.log.info(queued.message, { customerId: c.id, job: queued.jobId });
        job = await api.getJob(queued.jobId);
        if (o.detach) {
          simulated ||= job.simulated;
          return { ...base, simulated: job.simulated, jobId: queued.jobId, state: job.state, exitCode: 0, error: null, result: null };
        }
        job = await followJob(d, apiSource(api), queued.jobId, c.id);
      }
      simulated ||= job.simulated;
      const out = outcomeOf({ ...base, simulated: job.simulated }, job);
      if (!isFinished(job)) {
        out.error = { error: 'internal', message: `job ${job.id} is ${job.state} on the server`, details: [`Follow it with 'custctl status job ${job.id} --watch --api-url ${api.baseUrl}'.`] };
      }
      return out;
    } catch (e) {
      if (isGlobal(e)) throw e;
      return { ...base, jobId: null, state: 'refused', exitCode: exitCodeFor(e), error: errorInfo(e), result: null };
    }
  });
  return { dryRun: false, simulated, target: { database: `remote (${api.baseUrl})` }, results, exitCode: combinedExitCode(results.map((r) => r.exitCode)) };
}

export async function remoteStatusJob(d: Deps, o: { id: string; output: OutputFormat; watch: boolean }): Promise<Job> {
  const api = apiClient(d);
  const id = parseJobId(o.id);
  const job = o.watch ? await followJob(d, apiSource(api), id, `job ${id}`, 1_000) : await api.getJob(id);
  if (o.output === 'json') printJson(d.io, job);
  else d.io.out.write(`${renderJob(job, d.io.chalk, d.now().getTime())}\n`);
  return job;
}

export async function remoteStatusCustomer(d: Deps, o: { id: string; output: OutputFormat }): Promise<{ customer: CustomerRow; jobs: Job[] }> {
  const customer = parseCustomerId(o.id);
  const r = await apiClient(d).getCustomer(customer.id);
  const row = r.customer;
  if (o.output === 'json') printJson(d.io, r);
  else await printCustomerStatus(d.io, row, r.jobs, 'No jobs on the server for this customer.');
  return r;
}

export async function remoteJobsList(d: Deps, o: { state?: JobState; customer?: string; output: OutputFormat }): Promise<Job[]> {
  const customer = parseOptionalCustomerId(o.customer)?.id;
  const jobs = await apiClient(d).listJobs({ ...(o.state ? { state: o.state } : {}), ...(customer ? { customer } : {}) });
  await printJobList(d.io, jobs, o.output, d.now().getTime(), () => d.log.info('No jobs'));
  return jobs;
}

export async function remoteJobsRetry(d: Deps, o: { id: string; detach: boolean; output: OutputFormat }): Promise<Job> {
  const api = apiClient(d);
  const again = await api.retryJob(parseJobId(o.id));
  d.log.info(`Job ${again.id} queued again on the server`, { attempts: again.maxAttempts });
  const final = o.detach ? again : await followJob(d, apiSource(api), again.id, `job ${again.id}`);
  if (o.output === 'json') printJson(d.io, final);
  else if (o.detach) d.io.out.write(`${final.id}\n`);
  else d.io.out.write(`${renderJob(final, d.io.chalk, d.now().getTime())}\n`);
  return final;
}

export async function remoteJobsCancel(d: Deps, o: { id: string; output: OutputFormat }): Promise<Job> {
  const cancelled = await apiClient(d).cancelJob(parseJobId(o.id));
  if (o.output === 'json') printJson(d.io, cancelled);
  else d.io.out.write(`job ${cancelled.id} cancelled${cancelled.data.customerId ? `; customer ${cancelled.data.customerId} is back to ${cancelled.previousStatus ?? 'its previous status'}` : ''}\n`);
  return cancelled;
}

/**
 * `cleanup-rbac --api-url`: the server scans and sweeps; same report and exit codes as locally.
 * A sweep without --yes shows the server's dry run first and asks.
 */
export async function remoteCleanupRbac(d: Deps, o: CleanupRbacOptions): Promise<CleanupRbacOutcome> {
  const customer = o.customer !== undefined ? parseCustomerId(o.customer).id : undefined;
  const api = apiClient(d);
  d.log.info('Target', { api: api.baseUrl, customer });
  const ask = { ...(customer ? { customer } : {}), includeKept: o.includeKept };
  if (!o.dryRun && !o.yes) {
    const plan = (await api.cleanupRbac<CleanupReport>({ dryRun: true, ...ask })).result;
    if (plan.orphans.length === 0) {
      d.log.info('No orphaned cluster RBAC: nothing to delete');
      return { report: { ...plan, dryRun: false, jobId: null }, exitCode: 0 };
    }
    for (const x of plan.orphans) d.log.line(`  delete ${x.kind} ${x.name}  (cust_${x.customerKey}: ${x.reason})`);
    for (const x of plan.kept) d.log.line(`  keep   ${x.kind} ${x.name}  (${x.reason})`);
    await confirmOrRefuse(d, `Delete these ${plan.orphans.length} cluster RBAC objects through ${api.baseUrl}? Type 'delete' to confirm`, 'delete', `delete ${plan.orphans.length} cluster RBAC objects`);
  }
  const report = (await api.cleanupRbac<CleanupReport>({ dryRun: o.dryRun, ...ask })).result;
  if (o.dryRun) return { report, exitCode: o.exitCode && report.orphans.length > 0 ? 6 : 0 };
  const remaining = report.orphans.length - report.deleted.length;
  return { report, exitCode: report.errors.length > 0 ? 1 : o.exitCode && remaining > 0 ? 6 : 0 };
}

/** For the local-only subcommands (`jobs resume`, `jobs prune`, `db`, `customers`, `worker`). */
