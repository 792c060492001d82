/**
 * The service as the queue API and the console call it (src/server/): the same operations as the
 * CLI's client, in the server's terms (the caller is a token: who asks is passed in; answers are
 * jobs and rows, the policy's views are applied by the edge). `serve` builds one over its jobs
 * client, store and queue (`serverService`); every route and console page calls it, never the
 * store or the queue.
 */
import type { AuditFilter, AuditRecord, CustomerRow, CustomerStore } from '../adapters/store.js';
import type { JobQueue } from '../adapters/queue.js';
import type { CustomerId } from '../domain/customer-id.js';
import type { DeletionOptions } from '../domain/deletion-options.js';
import { queueStateOf, stateName, type Job, type StateName } from '../domain/job.js';
import { errorMessage } from '../errors.js';
import { retryJob } from '../jobs/actions.js';
import type { CancelResult, CancelTarget, Canceller } from '../jobs/cancel.js';
import type { JobEvents } from '../jobs/events.js';
import { latestJobs } from './customer-jobs.js';
import type { CustomerPlan } from './service.js';

export interface ServerService {
  /** where the customer rows are (messages; an owner never reads it) */
  where(): string;
  /** the queue's kind (`file`, `bullmq`): /readyz */
  readonly queueKind: string;
  /** what does not answer now (the store, the queue): /readyz; empty when ready */
  problems(): Promise<string[]>;
  now(): number;

  job(id: string): Promise<Job | null>;
  /** by state as people read it, oldest first */
  jobs(filter: { state?: StateName; customerId?: string }): Promise<Job[]>;
  row(customerId: string): Promise<CustomerRow | null>;
  rows(): Promise<CustomerRow[]>;
  /** a customer's latest jobs, newest first */
  latestJobs(customerId: string): Promise<Job[]>;
  audit(filter: AuditFilter): Promise<AuditRecord[]>;
  /** the webhook deliveries of a job */
  deliveries(jobId: string): Promise<unknown[]>;

  /** accepts a deletion (row compare-and-set + job); NotFoundError / ConflictError when refused */
  submit(customer: CustomerId, requestedBy: string, o: DeletionOptions): Promise<Job>;
  /** runs the job in this process until it has ended, or was handed back on shutdown */
  runSync(job: Job): Promise<Job>;
  retry(id: string, actor: string): Promise<Job>;
  /** the one cancel (src/jobs/cancel.ts): absent where the server cannot cancel */
  cancel?(target: CancelTarget, who: Canceller): Promise<CancelResult>;
  /** the cleanup-rbac sweep (dry run: the report only) */
  cleanupRbac?(dryRun: boolean, requestedBy: string, opts: { customer?: CustomerId; includeKept: boolean; cluster?: string }): Promise<unknown>;
  /** one customer's deletion plan, as `delete --dry-run` shows it (the console's customer page) */
  plan?(customer: CustomerId): Promise<CustomerPlan>;
  /** the erasure (src/jobs/erase.ts); NotFoundError / ConflictError when refused; absent where the server cannot erase */
  erase?(customer: CustomerId, requestedBy: string, dryRun: boolean): Promise<unknown>;
}

/** What a server service is made of: the store and the queue it reads, and the operations of the jobs client it acts through. */
export interface ServerParts {
  store: CustomerStore;
  queue: JobQueue;
  now: () => number;
  /** the job lifecycle stream (a retry through the API is an event there) */
  events?: JobEvents | undefined;
  submit: ServerService['submit'];
  runSync: ServerService['runSync'];
  cancel?: ServerService['cancel'] | undefined;
  cleanupRbac?: ServerService['cleanupRbac'] | undefined;
  deliveries?: ((jobId: string) => Promise<unknown[]>) | undefined;
  plan?: ServerService['plan'] | undefined;
  erase?: ServerService['erase'] | undefined;
}

export function serverService(p: ServerParts): ServerService {
  const { store, queue } = p;
  return {
    where: () => store.description,
    queueKind: queue.kind,
    problems: async () => {
      const problems: string[] = [];
      await store.ping().catch((e: unknown) => problems.push(`store: ${errorMessage(e)}`));
      await queue.get('1').catch((e: unknown) => problems.push(`queue: ${errorMessage(e)}`));
      return problems;
    },
    now: p.now,
    job: (id) => queue.get(id),
    jobs: async ({ state, customerId }) => {
      const jobs = (await queue.list({ ...(state ? { state: queueStateOf(state) } : {}), ...(customerId ? { customerId } : {}) })).filter((j) => !state || stateName(j) === state);
      return jobs.sort((a, b) => Number(a.id) - Number(b.id));
    },
    row: (id) => store.get(id),
    rows: () => store.list(),
    latestJobs: (id) => latestJobs(queue, id),
    audit: (f) => store.listAudit(f),
    deliveries: async (id) => (p.deliveries ? p.deliveries(id) : []),
    submit: p.submit,
    runSync: p.runSync,
    retry: (id, actor) => retryJob({ queue, store, now: p.now, actor, ...(p.events ? { events: p.events } : {}) }, id),
    ...(p.cancel ? { cancel: p.cancel } : {}),
    ...(p.cleanupRbac ? { cleanupRbac: p.cleanupRbac } : {}),
    ...(p.plan ? { plan: p.plan } : {}),
    ...(p.erase ? { erase: p.erase } : {}),
  };
}
