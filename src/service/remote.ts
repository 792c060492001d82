/**
 * The jobs client of `--api-url` / CUSTCTL_API_URL: the same operations sent to `custctl serve`
 * through its queue API (src/adapters/queue-client.ts). Answers like the local client: same
 * return values, same typed errors (same exit codes).
 */
import { retryText } from '../adapters/retry.js';
import { QueueApiClient } from '../adapters/queue-client.js';
import type { ServiceEnv } from './env.js';
import { checkCustomerIds, parseCustomerId, type CustomerId } from '../domain/customer-id.js';
import { namespaceFor } from '../domain/namespace-name.js';
import { deletionOptionsOf } from '../domain/deletion-options.js';
import { CliError, isRunWideError, refuseAll, UsageError } from '../errors.js';
import type { Job, StateName } from '../domain/job.js';
import type { AuditFilter, AuditRecord, CustomerRow, DeploymentStatus } from '../adapters/store.js';
import type { DeliveryView } from '../domain/webhook.js';
import type { CancelResult, CancelTarget, CleanupPlan, DeletionOptions, DeletionPlan, DeletionRun, FollowOptions, JobsClient, RestorePlan } from './service.js';
import { followJob, type JobSource } from '../jobs/follow.js';
import type { CleanupReport, CleanupRequest } from '../jobs/kinds/cleanup-rbac.js';

export class RemoteJobsClient implements JobsClient {
  readonly api: QueueApiClient;
  readonly via: string;
  readonly jobsWhere = 'on the server';

  constructor(
    private readonly d: ServiceEnv,
    apiUrl: string,
    token: string | undefined,
  ) {
    this.api = new QueueApiClient(apiUrl, token, undefined, {
      // a read tried again is shown on a terminal (in logs with -v), as for the cluster
      onRetry: (e) => (d.io.isErrTTY ? d.log.warn : d.log.debug).call(d.log, `${e.op}: ${retryText(e)}`, { inMs: e.waitMs }),
    });
    this.via = ` through ${this.api.baseUrl}`;
  }

  ready(): Promise<{ store: string; queue: string }> {
    return this.api.request<{ store: string; queue: string }>('GET', '/readyz', { timeoutMs: 10_000 });
  }

  private source(): JobSource {
    return { get: (id, signal) => this.api.getJob(id, signal), hint: ` --api-url ${this.api.baseUrl}`, whoRuns: `the server at ${this.api.baseUrl} (its own worker, or the 'custctl worker' processes next to it when it runs with --no-worker or BullMQ)` };
  }

  async planDeletion(o: DeletionRun): Promise<DeletionPlan> {
    if (o.dryRun) throw new UsageError('--dry-run is not available with --api-url: the plan needs the cluster; run it locally, or see the customer with custctl status customer ID --api-url …');
    if (o.detach && o.sync) throw new UsageError('--detach and --sync do not go together');
    // every id checked (and, to show them, every row) before anything happens; every refusal reported at once
    const { ids: customers, refusals } = checkCustomerIds(o.ids);
    const prefix = this.d.config().namespacePrefix;
    this.d.log.info('Target', { api: this.api.baseUrl });
    const items = [];
    for (const c of customers) {
      const item: DeletionPlan['items'][number] = { customer: c, namespace: namespaceFor(c, prefix) };
      if (!o.yes) {
        // what will go: the row as the server sees it
        try {
          const { customer: row } = await this.api.getCustomer(c.id);
          item.summary = `  ${row.customerId}  (${row.companyName || '-'}, ${row.email || '-'})  status ${row.deploymentStatus}  namespace ${row.instanceNamespace || '-'}`;
        } catch (e) {
          if (!(e instanceof CliError) || isRunWideError(e)) throw e;
          refusals.push({ subject: c.id, error: e });
        }
      }
      items.push(item);
    }
    refuseAll(`delete ${o.ids.length === 1 ? 'it' : `these ${o.ids.length} customers`}`, refusals, o.ids.length);
    return { target: { database: `remote (${this.api.baseUrl})` }, simulated: false, items, ...(o.afterMs !== undefined ? { afterMs: o.afterMs } : {}) };
  }

  async submitDeletion(c: CustomerId, o: DeletionOptions, how: { sync?: boolean } = {}): Promise<Job> {
    if (o.backupUrl !== undefined || o.noBackup || o.backupRecipients !== undefined) {
      throw new UsageError('--backup/--no-backup/--backup-recipient apply to local runs: through --api-url the server backs up to its own CUSTCTL_BACKUP_URL (encrypted to its CUSTCTL_BACKUP_RECIPIENT)');
    }
    if (o.snapshotClass !== undefined || o.noSnapshotVolumes || o.snapshotTimeoutMs !== undefined) {
      throw new UsageError('--snapshot-volumes/--no-snapshot-volumes/--snapshot-timeout apply to local runs: through --api-url the server snapshots with its own CUSTCTL_SNAPSHOT_CLASS');
    }
    // the options that travel (src/domain/deletion-options.ts toQuery): the rest were refused above
    const query = deletionOptionsOf(o);
    if (how.sync) {
      this.d.log.step('info', `${c.id}: deleting synchronously on the server`);
      const r = await this.api.deleteDeployment(c.id, query, this.d.shutdown);
      return this.api.getJob(r.jobId);
    }
    const queued = await this.api.deleteCustomer(c.id, query, this.d.shutdown);
    this.d.log.step('info', queued.message, { customerId: c.id, job: queued.jobId });
    return this.api.getJob(queued.jobId);
  }

  deliveries(id: string): Promise<DeliveryView[]> {
    return this.api.jobDeliveries(id);
  }

  async audit(f: AuditFilter): Promise<AuditRecord[]> {
    return this.api.listAudit({
      ...(f.customerId ? { customer: f.customerId } : {}),
      ...(f.since ? { since: f.since.toISOString() } : {}),
      ...(f.actions?.length ? { action: f.actions.join(',') } : {}),
      ...(f.limit !== undefined ? { limit: f.limit } : {}),
    });
  }

  async planRestore(): Promise<RestorePlan> {
    throw new UsageError('restore runs locally (it needs the backup and the cluster): drop --api-url');
  }

  async submitRestore(): Promise<Job> {
    throw new UsageError('restore runs locally (it needs the backup and the cluster): drop --api-url');
  }

  async planCleanup(o: CleanupRequest): Promise<CleanupPlan> {
    this.logCleanupTarget(o);
    const report = (await this.api.cleanupRbac<CleanupReport>({ dryRun: true, ...this.cleanupAsk(o) })).result;
    return { report, where: this.via };
  }

  async submitCleanup(o: CleanupRequest, plan?: CleanupPlan): Promise<CleanupReport> {
    if (!plan) this.logCleanupTarget(o);
    return (await this.api.cleanupRbac<CleanupReport>({ dryRun: false, ...this.cleanupAsk(o) })).result;
  }

  private cleanupAsk(o: CleanupRequest) {
    const customer = o.customer !== undefined ? parseCustomerId(o.customer).id : undefined;
    return { ...(customer ? { customer } : {}), includeKept: o.includeKept, ...(o.cluster !== undefined ? { cluster: o.cluster } : {}) };
  }

  private logCleanupTarget(o: CleanupRequest): void {
    const customer = o.customer !== undefined ? parseCustomerId(o.customer).id : undefined;
    this.d.log.info('Target', { api: this.api.baseUrl, customer, cluster: o.cluster });
  }

  get(id: string): Promise<Job> {
    return this.api.getJob(id);
  }

  list(filter: { state?: StateName; customerId?: string }): Promise<Job[]> {
    return this.api.listJobs({ ...(filter.state ? { state: filter.state } : {}), ...(filter.customerId ? { customer: filter.customerId } : {}) });
  }

  customer(c: CustomerId) {
    return this.api.getCustomer(c.id);
  }

  async customers(filter: { status?: DeploymentStatus }): Promise<{ rows: CustomerRow[]; where: string }> {
    return { rows: await this.api.listCustomers(filter), where: `the server at ${this.api.baseUrl}` };
  }

  async retry(id: string): Promise<Job> {
    const again = await this.api.retryJob(id);
    this.d.log.info(`Job ${again.id} queued again on the server`, { attempts: again.maxAttempts });
    return again;
  }

  async cancel(t: CancelTarget): Promise<CancelResult> {
    let r: CancelResult;
    if ('jobId' in t) {
      // the job, as every job answer, plus what the cancel did (`cancel`)
      const { cancel: done, ...job } = await this.api.cancelJob<Job & { cancel?: Omit<CancelResult, 'job'> }>(t.jobId);
      r = done
        ? { ...done, job }
        : { customerId: job.data.customerId ?? null, jobId: job.id, status: null, scheduledFor: null, restored: [], simulated: job.simulated, deletionStarted: false, cancelledBy: '', job };
    } else {
      r = await this.api.cancelDeletion<CancelResult>(t.customer.id);
    }
    const what = r.customerId && r.status !== null ? `Deletion of ${r.customerId} cancelled on the server` : `Job ${r.jobId} cancelled on the server`;
    if (r.deletionStarted) this.d.log.warn(`${what} after it had started: nothing was restored, the customer is ${r.status ?? '-'}`, { job: r.jobId });
    else this.d.log.ok(what, { job: r.jobId, status: r.status ?? undefined, restored: r.customerId ? r.restored.length : undefined });
    return r;
  }

  /** The server runs its jobs: this follows one (Ctrl-C stops following; the job carries on). */
  follow(job: Job, o: FollowOptions): Promise<Job> {
    return followJob(this.d, this.source(), job.id, o.label, o.pollMs);
  }

  async whoRuns(): Promise<string> {
    return `the server at ${this.api.baseUrl} (its own worker, or the 'custctl worker' processes next to it when it runs with --no-worker or BullMQ)`;
  }

  interrupted(job: Job) {
    return { error: 'internal', message: `job ${job.id} is ${job.state} on the server`, details: [`Follow it with 'custctl status job ${job.id} --watch --api-url ${this.api.baseUrl}'.`] };
  }

  resume(): Promise<Job[]> {
    throw localOnly('jobs resume');
  }

  prunable(): Promise<Job[]> {
    throw localOnly('jobs prune');
  }

  prune(): Promise<number> {
    throw localOnly('jobs prune');
  }
}

/** For the subcommands that work on the local journal only. */
function localOnly(what: string): UsageError {
  return new UsageError(`${what} works on the local journal only: it is not available with --api-url / CUSTCTL_API_URL`);
}
