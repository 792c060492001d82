/**
 * One way for a command (or the API) to work with jobs, wherever they run: `LocalJobsClient`
 * (this machine's journal, or BullMQ on Redis; running a job attached when asked) and
 * `RemoteJobsClient` (the queue API of `custctl serve`). `Deps.client()` hands out one, chosen
 * once from `--api-url` (like helm's `Configuration.Init` picks a storage driver). Commands map
 * flags, call the client, print: they never ask which one they have.
 */
import type { AuditFilter, AuditRecord, CustomerRow, DeploymentStatus } from '../adapters/store.js';
import type { CustomerId } from '../domain/customer-id.js';
import type { DeletionOptions, DeletionRun } from '../domain/deletion-options.js';
import type { PlanView } from '../pipeline/plan.js';
import type { RestorePlanView } from '../pipeline/restore.js';
import type { Job, StateName } from '../domain/job.js';
import type { CleanupReport, CleanupRequest } from '../jobs/kinds/cleanup-rbac.js';
import type { DeleteOutcome, DeleteReport } from '../jobs/kinds/delete.js';
import type { CancelResult, CancelTarget } from '../jobs/cancel.js';
import type { DeliveryView } from '../domain/webhook.js';

export type { CancelResult, CancelTarget };

export type { DeletionOptions, DeletionRun };

export interface PlannedDeletion {
  customer: CustomerId;
  namespace: string;
  /** the customer's cluster, by name (local runs: a run over several customers goes cluster by cluster) */
  cluster?: string;
  /** that cluster's own concurrency (the clusters file's); absent: the run's --concurrency */
  clusterConcurrency?: number;
  /** the inspected plan (local runs that will show it) */
  plan?: PlanView;
  /** what the confirmation shows for this customer (stderr) */
  summary?: string;
  /** the namespace uid seen by the plan: step 2's precondition */
  namespaceUid?: string;
  /** a `pending` row with nothing left on the cluster: no job is created; when and by which job it went */
  alreadyDeleted?: { byJob: string | null; at: string | null };
}

/** One customer's deletion plan and where it acts (the console's customer page). */
export interface CustomerPlan {
  plan: PlanView;
  /** where it would run: the cluster (its name in the clusters registry), its API server, the database */
  target: { context?: string; server?: string; database: string; cluster?: string };
}

export interface DeletionPlan {
  target: DeleteReport['target'];
  simulated: boolean;
  items: PlannedDeletion[];
  /**
   * soft delete: the retention period these deletions wait, ms (0: immediate); undefined when the
   * server decides (remote, no --after: its CUSTCTL_RETENTION)
   */
  afterMs?: number;
}

export interface CleanupPlan {
  /** the dry-run report */
  report: CleanupReport;
  /** how the confirmation names where the sweep acts: ` from context X`, ` through URL` */
  where: string;
}

/** `restore --identity FILE`: the age identity that decrypts an encrypted backup (default CUSTCTL_BACKUP_IDENTITY). */
export interface RestoreRequest {
  identityFile?: string;
  /** `--trust-backup-location`: read a file target others can write, or owned by another user */
  trustLocation?: boolean;
  /** submit: the archive's sha256 as the plan showed it (the job refuses another) */
  sha256?: string;
  /** creates in flight inside a tier (default RESTORE_CONCURRENCY, 16; 1: one by one) */
  concurrency?: number;
}

export interface RestorePlan {
  target: { context?: string; server?: string; database: string; /** the customer's cluster (a fleet of several) */ cluster?: string };
  plan: RestorePlanView;
}

export interface FollowOptions {
  /** prefix of the progress lines */
  label: string;
  /** run the job here if this client runs jobs (the file journal); otherwise only watch it */
  run: boolean;
  pollMs?: number;
  /** show this job's progress on the status line (off when the caller shows a count over many) */
  status?: boolean;
}

export interface JobsClient {
  /** how a question names where a deletion goes: '' (here) or ` through URL` */
  readonly via: string;
  /** where `status customer` found the jobs: 'in this journal', 'on the server' */
  readonly jobsWhere: string;
  /** The queue API's readiness with this token (GET /readyz, viewer): its store and queue. Remote only. */
  ready?(): Promise<{ store: string; queue: string }>;

  /** Validates the ids and rows, inspects what will be deleted (the plan), logs the target. */
  planDeletion(run: DeletionRun): Promise<DeletionPlan>;
  /**
   * Accepts one deletion: the job (waiting; ended with `sync`). Refusals throw typed errors.
   * `how`: the namespace uid the plan saw (step 2's precondition), the synchronous endpoint
   * (remote: the returned job has ended), who asks (default: the OS user).
   */
  submitDeletion(customer: CustomerId, o: DeletionOptions, how?: { namespaceUid?: string; sync?: boolean; requestedBy?: string }): Promise<Job>;
  /** The cleanup-rbac scan: what a sweep would delete (changes nothing). */
  planCleanup(o: CleanupRequest): Promise<CleanupPlan>;
  /** The sweep, as a journaled job run to its end; `plan` spares a second scan. */
  submitCleanup(o: CleanupRequest, plan?: CleanupPlan): Promise<CleanupReport>;

  /** `restore`: checks the row (pending) and the namespace (absent), loads and verifies the backup, says what it will create. */
  planRestore(customer: CustomerId, from: string, o?: RestoreRequest): Promise<RestorePlan>;
  /** Accepts one restore: the job (waiting). */
  submitRestore(customer: CustomerId, from: string, o?: RestoreRequest): Promise<Job>;

  /** NotFoundError when it does not exist. */
  get(id: string): Promise<Job>;
  /** The webhook deliveries of a job's ends (endpoint, state, status code, attempts, last error), oldest first. */
  deliveries(id: string): Promise<DeliveryView[]>;
  /** `state`: as people read it (`cancelled`, `scheduled` are states of their own; `failed`, `delayed` leave them out) */
  list(filter: { state?: StateName; customerId?: string }): Promise<Job[]>;
  /** A customer's row and its latest jobs. */
  customer(customer: CustomerId): Promise<{ customer: CustomerRow; jobs: Job[] }>;
  /** The customer rows (the store, or GET /api/customers) and where they were read, for messages. */
  customers(filter: { status?: DeploymentStatus }): Promise<{ rows: CustomerRow[]; where: string }>;
  retry(id: string): Promise<Job>;
  /**
   * The one cancel (src/jobs/cancel.ts): a job by id (`jobs cancel`), or the deletion that holds a
   * customer (`cancel`); a scheduled deletion gets its instance back. ConflictError while it runs.
   */
  cancel(target: CancelTarget): Promise<CancelResult>;
  /** The audit log, newest first (the customers database, or GET /api/admin/audit). */
  audit(filter: AuditFilter): Promise<AuditRecord[]>;
  /** Until the job has ended (or Ctrl-C): runs it here when asked and possible, else watches it. */
  follow(job: Job, o: FollowOptions): Promise<Job>;
  /** Who runs a queued job (`--detach`, a watch nobody serves): the worker or server to start. */
  whoRuns(): Promise<string>;
  /** Why a followed job has not ended, and how to pick it up again. */
  interrupted(job: Job): NonNullable<DeleteOutcome['error']>;

  /** Local journal only: take over abandoned jobs, run waiting/delayed ones; `customer` recreates a lost job. */
  resume(o: { customer?: CustomerId }): Promise<Job[]>;
  /** Local journal only: the finished jobs older than `olderThanMs` (what `prune` would remove). */
  prunable(olderThanMs: number): Promise<Job[]>;
  /** Local journal only: remove finished jobs older than `olderThanMs`. */
  prune(olderThanMs: number): Promise<number>;
}
