/**
 * The job: one JSON schema everywhere (file journal, BullMQ, the HTTP API), following BullMQ's
 * field names so a job looks the same locally and remotely.
 */
import { exitCodeForErrorName, type ErrorName } from './errors.js';

export type JobState = 'waiting' | 'active' | 'delayed' | 'completed' | 'failed';
export const JOB_STATES: readonly JobState[] = ['waiting', 'active', 'delayed', 'completed', 'failed'];
export type JobName = 'delete' | 'cleanup-rbac' | 'restore';

export interface JobData {
  /** `cust_…`; for cleanup-rbac only when limited to one customer */
  customerId?: string;
  /**
   * The cluster the job acts on, by name, in a fleet of several: a deletion's (its row's when it was
   * accepted; each attempt asks the row again), or the one cluster a cleanup-rbac sweeps (`--cluster`;
   * absent: every cluster). Absent with one cluster.
   */
  cluster?: string;
  namespace?: string;
  /** the namespace uid seen when the job was accepted: step 2's delete precondition */
  namespaceUid?: string;
  /** soft delete: when the deletion is due (ms); the job waits delayed until then, the instance suspended */
  scheduledFor?: number;
  /** soft delete with billing: the subscriptions whose collection was paused at scheduling */
  billingPaused?: string[];
  /** restore: the backup archive (or the directory/prefix holding the customer's newest) */
  from?: string;
  /** restore: the archive's sha256 as the confirmed plan saw it (a replaced archive is refused) */
  sha256?: string;
  /** restore: `--trust-backup-location` (read a file target others can write) */
  trustLocation?: boolean;
  /** restore: the age identity FILE (`--identity`; a path, never the key); else CUSTCTL_BACKUP_IDENTITY */
  identityFile?: string;
  /** restore: creates in flight inside a tier (`--concurrency`; default 16) */
  concurrency?: number;
}

/** How the job runs; stored with it so a retry, a resume or another worker runs it the same way. */
export interface JobOptions {
  /** tries in all (QUEUE_MAX_RETRIES) */
  attempts: number;
  backoff: { type: 'exponential'; delay: number };
  /** per-attempt timeout (CUSTCTL_JOB_TIMEOUT / --job-timeout), ms */
  timeoutMs: number;
  /** how long step 2 waits for the namespace to go (--timeout), ms */
  waitTimeoutMs?: number;
  force?: boolean;
  allowMissing?: boolean;
  allowClusterScoped?: boolean;
  /** delete: write a verified backup here before anything is deleted (file:// or s3://) */
  backupUrl?: string;
  /** delete: take a VolumeSnapshot of every bound PVC with this class (deletionPolicy Retain) first */
  snapshotClass?: string;
  /** delete: how long to wait for the snapshots to be ready, ms */
  snapshotTimeoutMs?: number;
  /** delete: encrypt the backup to these age public keys (--backup-recipient, CUSTCTL_BACKUP_RECIPIENT) */
  backupRecipients?: string[];
  /** delete: `always` runs `helm uninstall` for every release; absent or `auto`: only where helm adds something */
  helmUninstall?: 'always' | 'auto';
  /** cleanup-rbac */
  includeKept?: boolean;
}

export interface AttemptRecord {
  /** 1-based */
  attempt: number;
  startedOn: number;
  finishedOn: number | null;
  /** who ran it: `pid@host` */
  worker: string;
  outcome: 'running' | 'completed' | 'failed' | 'superseded' | 'interrupted';
  error?: string;
  errorName?: ErrorName;
  /** the pipeline's log lines of this attempt, `ISO-time message` */
  log: string[];
}

export interface Lease {
  owner: string;
  pid: number;
  host: string;
  /** ms since epoch */
  expiresAt: number;
}

export interface Job {
  /** numeric string, never reused */
  id: string;
  name: JobName;
  state: JobState;
  /** 0-100 */
  progress: number;
  data: JobData;
  opts: JobOptions;
  /** finished attempts */
  attemptsMade: number;
  maxAttempts: number;
  /** ms, when delayed */
  delayUntil: number | null;
  failedReason: string | null;
  /** JSON error name of the last failure (maps to the exit code) */
  failedCode: ErrorName | null;
  /** latest first */
  stacktrace: string[];
  returnvalue: unknown;
  requestedBy: string;
  simulated: boolean;
  /** created, ms */
  timestamp: number;
  /** last attempt started, ms */
  processedOn: number | null;
  finishedOn: number | null;
  /** the customer row's status before the deletion claimed it */
  previousStatus?: string | null;
  attempts: AttemptRecord[];
  lease: Lease | null;
}

export interface NewJob {
  name: JobName;
  data: JobData;
  opts: JobOptions;
  requestedBy: string;
  simulated: boolean;
  previousStatus?: string | null;
  /** created delayed until this time (ms): a scheduled deletion */
  delayUntil?: number;
}

// ---- the kinds, as facts --------------------------------------------------------------------

/**
 * What each job kind is, as facts the domain, the views and the server read without loading the
 * jobs layer. Its behaviour (its attempt, what its end means for its row, its audit rows, its retry
 * guard) is its module in src/jobs/kinds/; what a webhook says it deleted is src/domain/webhook.ts.
 * Generic code asks these, never compares a job's name.
 */
export interface KindFacts {
  /**
   * A deletion: the job holds its customer's row (`deleting`, deletion_job_id = the job) while it
   * runs. Such a job is retried only while the row still points at it, a cancel hands the row
   * back, it sends the customer events, counts in the deletion metrics, shows its steps on its
   * page, is the customer's job in the portal, and ends with a certificate.
   */
  holdsCustomerRow: boolean;
  /** what a person calls a job of this kind */
  label: string;
  /** the hint of a cancelled job, which is not retried: how to start it anew */
  startAnew(job: Pick<Job, 'name' | 'data'>): string;
}

const plainAnew = (job: Pick<Job, 'name'>): string => `Start it anew (custctl ${job.name}).`;

export const JOB_KINDS: Readonly<Record<JobName, KindFacts>> = {
  delete: {
    holdsCustomerRow: true,
    label: 'deletion',
    startAnew: (job) => (job.data.customerId ? `Start a new deletion with 'custctl delete ${job.data.customerId}'.` : plainAnew(job)),
  },
  'cleanup-rbac': { holdsCustomerRow: false, label: 'RBAC sweep', startAnew: plainAnew },
  restore: { holdsCustomerRow: false, label: 'restore', startAnew: plainAnew },
};

/** A name this custctl does not know (a journal written by a newer one): a job that holds no row. */
const UNKNOWN_KIND: KindFacts = { holdsCustomerRow: false, label: 'job', startAnew: plainAnew };

/** The facts of a job's kind, by its name. */
export function kindFacts(name: string): KindFacts {
  return (JOB_KINDS as Record<string, KindFacts | undefined>)[name] ?? UNKNOWN_KIND;
}

/** Delay before try k+1, after k failed tries: delay × 2^(k−1). */
export function backoffDelay(delayMs: number, attemptsMade: number): number {
  return delayMs * 2 ** Math.max(0, attemptsMade - 1);
}

export function isFinished(job: Pick<Job, 'state'>): boolean {
  return job.state === 'completed' || job.state === 'failed';
}

/**
 * A cancelled job (`jobs cancel`, `custctl cancel`): BullMQ has no such state, so the JSON keeps
 * its shape (`state: failed`, `failedReason: cancelled`); the human views say "cancelled".
 */
export function isCancelled(job: Pick<Job, 'state' | 'failedReason'>): boolean {
  return job.state === 'failed' && job.failedReason === 'cancelled';
}

/**
 * A scheduled deletion waiting for its time (soft delete): delayed until `data.scheduledFor`, no
 * attempt run yet. The JSON says `delayed` (BullMQ's state); the human views say "scheduled". A
 * scheduled deletion whose first attempt failed and waits for the next is `delayed` again.
 */
export function isScheduled(job: Pick<Job, 'state' | 'data' | 'attemptsMade' | 'attempts'>): boolean {
  return job.state === 'delayed' && job.data.scheduledFor !== undefined && job.attemptsMade === 0 && job.attempts.length === 0;
}

/**
 * Has an attempt of the job run (or started, or been handed back)? For a deletion: part of the
 * instance may be gone, so a cancel puts nothing back (src/jobs/cancel.ts).
 */
export function deletionStarted(job: Pick<Job, 'attemptsMade' | 'attempts' | 'progress'>): boolean {
  return job.attemptsMade > 0 || job.attempts.length > 0 || job.progress > 0;
}

/** The states as people read them (and filter on): BullMQ's, plus `scheduled` and `cancelled`. */
export type StateName = JobState | 'scheduled' | 'cancelled';
export const STATE_NAMES: readonly StateName[] = ['waiting', 'scheduled', 'active', 'delayed', 'completed', 'failed', 'cancelled'];

type Named = Pick<Job, 'state' | 'failedReason' | 'data' | 'attemptsMade' | 'attempts'>;

/** The state as people read it: `cancelled`, `scheduled`, else the state (`failed` and `delayed` then exclude those two). */
export function stateName(job: Named): StateName {
  if (isCancelled(job)) return 'cancelled';
  if (isScheduled(job)) return 'scheduled';
  return job.state;
}

/** The queue state that holds the jobs of a state name: ask the queue for it, then keep `stateName(job) === name`. */
export function queueStateOf(name: StateName): JobState {
  return name === 'cancelled' ? 'failed' : name === 'scheduled' ? 'delayed' : name;
}

export function isStateName(raw: unknown): raw is StateName {
  return typeof raw === 'string' && (STATE_NAMES as readonly string[]).includes(raw);
}

/**
 * The exit code a job stands for (so `status job N` in a script tells how it ended), the same
 * with and without --watch: 0 completed (or not ended yet), 4 superseded or cancelled, else the
 * code of its failure (1 failed, 2 refused as bad input, 3 not found, 5 timed out waiting).
 */
export function jobExitCode(job: Pick<Job, 'state' | 'failedCode'> & Partial<Pick<Job, 'failedReason' | 'returnvalue'>>): number {
  if (job.state === 'completed') return isSupersededResult(job.returnvalue) || (job.returnvalue as { outcome?: unknown } | null)?.outcome === 'superseded' ? 4 : 0;
  if (job.state !== 'failed') return 0;
  if (job.failedReason === 'cancelled') return 4;
  return exitCodeForErrorName(job.failedCode ?? undefined);
}

/** A processor's way to say the job no longer owns its subject: `{ superseded: true, … }`. */
export function isSupersededResult(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { superseded?: unknown }).superseded === true;
}
