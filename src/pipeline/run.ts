/**
 * The deletion pipeline: one attempt of a `delete` job. Every step is idempotent, so a retried or
 * resumed attempt runs the whole pipeline again — but only while the job still owns the customer.
 *
 *   0. ownership check (superseded → touch nothing), inspect, refusals (first attempt)
 *   then the steps of steps/index.ts, in order (steps as data, src/pipeline/step.ts):
 *   -  volume snapshots, then the backup (when asked for): nothing deleted yet  progress 3, 5
 *   -  the `before` hooks (a 4xx refuses: nothing deleted, row handed back)  progress 7
 *   -  billing: cancel, final invoice, refund (a permanent failure that changed
 *      nothing at the provider hands the row back)                       progress 10
 *   1. helm uninstall every release in the namespace                    progress 25
 *   2. delete the namespace (uid precondition), wait until it is gone    progress 70
 *   3. delete the owned cluster RBAC (runs while step 2 waits)           progress 85
 *   -  report the PVs whose reclaim policy keeps them
 *   -  the `after-cluster` hooks                                          progress 90
 *   4. row → pending, compare-and-set on this job's ownership            progress 100
 * A simulated run walks the same list: the cluster steps and the outside effects (billing, hooks)
 * say they were skipped.
 */
import type { PvcInfo } from '../adapters/kube.js';
import type { SignedCertificate } from '../domain/certificate.js';
import { namespaceElsewhere, type Cluster, type ClusterAdapters, type Clusters } from '../adapters/clusters.js';
import type { CustomerRow, CustomerStore } from '../adapters/store.js';
import { parseCustomerId } from '../domain/customer-id.js';
import { deletionTimeouts } from '../domain/clusters.js';
import { checkRowNamespace, namespaceFor } from '../domain/namespace-name.js';
import { BackupError, CliError, ConflictError, OperationError, errorMessage, isPermanent } from '../errors.js';
import { BillingError, changedAnything } from '../domain/billing.js';
import { HookRefusedError } from '../domain/hooks.js';
import { billingCustomerOf, NO_OUTSIDE, type OutsideEnv } from './outside.js';
import type { Job } from '../domain/job.js';
import { inspect, refuseClusterScoped, refuseRecreatedNamespace, refuseSuspiciousEmptiness } from './inspect.js';
import type { Step, StepContext, StepTiming } from './step.js';
import { DELETE_STEPS } from './steps/index.js';
import { rowStep } from './steps/row.js';
import { restoreInstance, SUSPENDED_ANNOTATION } from './suspend.js';
import type { DeleteResult, PipelineEnv, StepLog } from './types.js';

export interface DeleteAttempt {
  job: Job;
  attempt: number;
  signal: AbortSignal;
  progress(n: number): Promise<void>;
  log: StepLog;
  /** hears each step's duration (metrics) */
  onStep?: (t: StepTiming) => void;
}

export interface PipelineSettings {
  namespacePrefix: string;
  /** step 2's wait and helm's --timeout when the job does not say, ms */
  defaultWaitTimeoutMs: number;
  now: () => number;
  /** billing and the deletion hooks, loaded once per process (absent: none) */
  outside?: () => Promise<OutsideEnv>;
  /**
   * The deletion certificate of a finished hard deletion, signed (null: the site has no signing
   * key). Called after the row step; a failure is a warning of the job, never its failure: the
   * deletion is done.
   */
  certify?: (r: DeleteResult, x: { namespaceUid: string | null; pvcs?: readonly PvcInfo[] }) => Promise<SignedCertificate | null>;
}

/**
 * A permanent failure that comes before anything was deleted, whatever step raised it: a failed
 * backup (step 0), a `before` hook's refusal, a billing failure that changed nothing at the
 * provider (the billing step runs only while no attempt of the job has touched the cluster).
 */
export function beforeAnythingDeleted(e: unknown): boolean {
  if (e instanceof BackupError) return true;
  if (e instanceof HookRefusedError) return e.nothingDeleted;
  if (e instanceof BillingError) return !(e.partial && changedAnything(e.partial));
  return false;
}

/** A check that refused before anything was touched: the claim on the row is handed back. */
class Refusal extends Error {
  constructor(readonly inner: CliError) {
    super(inner.message);
  }
}

function refusing<T>(check: () => T): T {
  try {
    return check();
  } catch (e) {
    throw e instanceof CliError ? new Refusal(e) : e;
  }
}

/**
 * Starts `p` now and returns a getter that awaits it later; a rejection is held until the getter
 * is called (no unhandled rejection when an earlier refusal means it never is).
 */
function settledLater<T>(p: Promise<T>): () => Promise<T> {
  const held = p.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }));
  return async () => {
    const r = await held;
    if (!r.ok) throw r.error;
    return r.value;
  };
}

/**
 * Step 4 of this job ran: the row is `pending` and still names this job. Only step 4 sets that
 * (a refusal or a cancel hands the row back with `deletion_job_id` cleared, a new claim names
 * another job), so the row is the record that this job finished the deletion.
 */
export function finishedByThisJob(row: Pick<CustomerRow, 'deploymentStatus' | 'deletionJobId'>, jobId: string): boolean {
  return row.deploymentStatus === 'pending' && row.deletionJobId === jobId;
}

export function emptyResult(job: Job, customerId: string, namespace: string): DeleteResult {
  return {
    customerId,
    namespace,
    jobId: job.id,
    simulated: job.simulated,
    outcome: 'deleted',
    releases: [],
    namespaceOutcome: 'untouched',
    rbac: { deleted: [], alreadyGone: [], keptByPolicy: [], keptUnowned: [], failed: [] },
    retainedVolumes: [],
    row: null,
    warnings: [],
    durationMs: 0,
  };
}

/**
 * Runs one attempt on the customer's cluster: `clusters.for(row)` (a row naming no cluster in a
 * fleet of several is refused, the row handed back), whose adapters are loaded only when the job is
 * not simulated (a simulated run makes no cluster calls). A bare function is a fleet of one (its
 * adapters). In a fleet of several, the customer's namespace found on another cluster refuses the
 * attempt before anything is touched. Throws typed errors; a refusal hands the row back untouched before it
 * propagates (the jobs service sets `deletion_failed` after a job's last failed attempt).
 */
export async function runDeleteAttempt(
  a: DeleteAttempt,
  store: CustomerStore,
  clusters: Clusters | (() => Promise<ClusterAdapters>),
  s: PipelineSettings,
  steps: readonly Step[] = DELETE_STEPS,
): Promise<DeleteResult> {
  const started = s.now();
  const { job, log, signal } = a;
  const customer = parseCustomerId(job.data.customerId ?? '');
  const namespace = namespaceFor(customer, s.namespacePrefix);
  if (job.data.namespace !== namespace) {
    throw new OperationError(`job ${job.id} names namespace ${JSON.stringify(job.data.namespace)}, but ${customer.id} may only own ${namespace}: refusing`);
  }
  const result = emptyResult(job, customer.id, namespace);

  // one read answers both "does this job still own the customer" and "which row is it"
  const owned = await store.get(customer.id);
  if (!owned || owned.deploymentStatus !== 'deleting' || owned.deletionJobId !== job.id) {
    const row = owned;
    if (row && finishedByThisJob(row, job.id)) {
      // An earlier attempt of this job reset the row (step 4) and its process died before the job
      // was marked completed: the deletion is done, by this job. Nothing to touch again.
      log('ok', 'Customer instance already deleted by an earlier attempt of this job (the row was reset)', { customerId: customer.id, job: job.id });
      await a.progress(rowStep.progress ?? 100);
      return { ...result, namespaceOutcome: job.simulated ? 'simulated' : result.namespaceOutcome, row: { status: 'pending' }, warnings: ['finished by an earlier attempt of this job, whose process stopped before recording it'], durationMs: s.now() - started };
    }
    const reason = row
      ? `the row is ${row.deploymentStatus}${row.deletionJobId && row.deletionJobId !== job.id ? ` (deletion job ${row.deletionJobId})` : ''}, no longer held by job ${job.id}`
      : 'the customer row no longer exists';
    log('warn', 'Job superseded: touching nothing', { customerId: customer.id, reason });
    return { ...result, outcome: 'superseded', superseded: true, reason, durationMs: s.now() - started };
  }

  log('info', 'Starting customer instance deletion', { customerId: customer.id, namespace, job: job.id, attempt: a.attempt });
  /** set just before the first change to the cluster: a permanent error before it hands the row back */
  let touched = false;
  /** the cluster, once asked for: a refused scheduled deletion gives its suspended instance back */
  let kubeForRestore: PipelineEnv['kube'] | null = null;
  /** billing, once loaded: a refused scheduled deletion resumes the collection it paused */
  let outsideForRestore: OutsideEnv | null = null;
  try {
    const row = owned;
    refusing(() => checkRowNamespace(customer, row.instanceNamespace, s.namespacePrefix));
    const fleet = typeof clusters === 'function' ? null : clusters;
    const home = fleet ? refusing(() => fleet.for(row)) : null;
    const cluster = home ? () => home.adapters() : (clusters as () => Promise<ClusterAdapters>);

    const outside = s.outside ? await s.outside() : NO_OUTSIDE;
    outsideForRestore = outside;
    const ctx: StepContext = { job, customer, namespace, store, signal, log, result, attempt: a.attempt, outside, timeoutMs: job.opts.waitTimeoutMs ?? deletionTimeouts({}, home?.entry, { jobTimeoutMs: job.opts.timeoutMs, defaultWaitTimeoutMs: s.defaultWaitTimeoutMs }).namespaceMs, removedByHelm: new Set(), now: s.now, progress: a.progress, ...(a.onStep ? { timing: { now: s.now, report: a.onStep } } : {}) };
    if (job.simulated) {
      await runSimulated(steps, ctx, a.progress);
      result.namespaceOutcome = 'simulated';
    } else {
      const c = await cluster();
      kubeForRestore = c.kube;
      if (fleet && home) await refuseElsewhere(fleet, home, namespace, signal, log);
      const env: PipelineEnv = { ...c, store };
      // The reads need no order among themselves: the PVC list (what stays behind) runs beside the
      // inspection; every check below still happens before anything is deleted.
      const pvcsRead = settledLater(c.kube.listPvcs(namespace, signal));
      const insp = await inspect(customer, namespace, row, env, { signal, helmUninstall: job.opts.helmUninstall ?? 'auto' });
      // The first look at this customer: no earlier attempt did anything. Progress 25 is recorded
      // before the namespace is touched, so an attempt resumed after a crash (which BullMQ does
      // not count as an attempt) or a retry is never taken for a first one.
      const firstAttempt = job.attemptsMade === 0 && job.progress === 0 && job.attempts.every((x) => x.outcome === 'running');
      refusing(() => refuseRecreatedNamespace(insp, job.data.namespaceUid));
      refusing(() => refuseClusterScoped(insp, job.opts.allowClusterScoped === true));
      if (firstAttempt) {
        const where = { context: c.target.context, server: c.target.server, database: store.description };
        refusing(() => refuseSuspiciousEmptiness(insp, row.previousStatus, where, job.opts.allowMissing === true));
      }
      ctx.cluster = c;
      ctx.inspection = insp;
      ctx.pvcs = await pvcsRead();
      touched = true; // the first step changes the cluster
      await runSteps(steps, ctx, a.progress);
    }
    if (ctx.superseded) return { ...result, outcome: 'superseded', superseded: true, reason: ctx.superseded, durationMs: s.now() - started };
    result.durationMs = s.now() - started;
    log('ok', 'Customer instance deleted successfully', { customerId: customer.id, namespace, simulated: job.simulated || undefined });
    if (s.certify && !job.simulated) {
      try {
        const certificate = await s.certify(result, { namespaceUid: ctx.inspection?.ns?.uid ?? job.data.namespaceUid ?? null, ...(ctx.pvcs ? { pvcs: ctx.pvcs } : {}) });
        if (certificate) {
          result.certificate = certificate;
          log('ok', 'Deletion certificate signed', { key: certificate.signature.keyId.slice(0, 16), auditSeq: certificate.certificate.audit.seq });
        }
      } catch (e) {
        result.warnings.push(`no deletion certificate: ${errorMessage(e)}`);
        log('warn', `No deletion certificate: ${errorMessage(e)}`, {});
      }
    }
    return result;
  } catch (e) {
    // a refusal, or a permanent error (helm missing, 403, a bad kubeconfig) before anything was
    // touched: give the row back to the status it had
    // a failed backup comes before anything is deleted (step 0), whatever `touched` says
    const found = e instanceof Refusal ? e.inner : (!touched || beforeAnythingDeleted(e)) && e instanceof CliError && isPermanent(e) ? e : null;
    const untouched = found instanceof BillingError
      ? new BillingError(found.message, [...found.details, 'Nothing was deleted and nothing was changed at the billing provider; the row was handed back.'], { cause: found, permanent: true })
      : found;
    if (untouched) {
      let suspended = false;
      if (job.data.scheduledFor !== undefined && kubeForRestore) {
        // a scheduled deletion suspended the instance when it was scheduled; refused now, the
        // customer is served again (the annotations say what each workload had)
        try {
          const restored = await restoreInstance(kubeForRestore, namespace, signal);
          if (restored.length) log('info', 'Suspended instance restored: the deletion was refused', { namespace, restored: restored.length });
        } catch (re) {
          suspended = true;
          log('error', `The instance stays suspended (${errorMessage(re)}): restore it with the replica counts in the ${SUSPENDED_ANNOTATION} annotations`, { namespace });
        }
      }
      if (job.data.scheduledFor !== undefined && outsideForRestore?.billing) {
        // the scheduled deletion paused billing when it was scheduled; refused now, it bills again
        try {
          const r = await outsideForRestore.billing.unsuspend({ customerId: customer.id, providerCustomerId: await billingCustomerOf(store, customer.id, outsideForRestore) }, { jobId: job.id, signal, log: (l, m) => log(l, m) });
          if (r.changed.length) log('info', 'Billing resumed: the deletion was refused', { subscriptions: r.changed.map((c) => c.id).join(', ') });
        } catch (be) {
          log('error', `Billing stays paused (${errorMessage(be)}): resume its collection in the billing provider`, {});
        }
      }
      // never `deployed` over workloads still at 0: the job's failure then leaves the row deletion_failed
      if (suspended) {
        log('error', untouched.message, {});
        throw untouched;
      }
      await store.releaseDeletion(customer.id, job.id, {
        action: 'deletion-refused', actor: job.requestedBy, customerId: customer.id, namespace, jobId: job.id,
        outcome: untouched.errorName, reason: untouched.message,
      });
      log('error', untouched.message, {});
      throw untouched;
    }
    throw e;
  }
}

/**
 * In a fleet of several clusters: the customer's namespace on a cluster other than its row's is
 * refused (a copy, a leftover or someone else's: deleting on the row's cluster would leave it,
 * and custctl never deletes where it merely found a name). A cluster that does not answer is
 * named in the log and not waited for: the row names the cluster, this is a second look.
 */
async function refuseElsewhere(fleet: Clusters, home: Cluster, namespace: string, signal: AbortSignal, log: StepLog): Promise<void> {
  const away = await namespaceElsewhere(fleet, home, namespace, { signal });
  for (const u of away.unreachable) log('warn', `Could not look for ${namespace} on cluster ${u.cluster}: ${u.error}`, { cluster: u.cluster });
  if (away.found.length === 0) return;
  throw new Refusal(new ConflictError(`namespace ${namespace} exists on cluster${away.found.length === 1 ? '' : 's'} ${away.found.join(', ')}, but the row names cluster ${home.name}: refused, nothing was deleted on any cluster`, [
    `find out which cluster really holds the customer; fix the row's cluster column, or remove the stray namespace by hand`,
  ]));
}

/**
 * Runs the steps in order; a step marked `besidePrevious` runs at the same time as the one before
 * it. Progress is recorded in list order once a group is done. Stops when a step finds the job
 * superseded.
 */
export async function runSteps(steps: readonly Step[], ctx: StepContext, progress: (n: number) => Promise<void>): Promise<void> {
  const groups: Step[][] = [];
  for (const step of steps) {
    const last = groups.at(-1);
    if (step.besidePrevious && last) last.push(step);
    else groups.push([step]);
  }
  for (const group of groups) {
    await Promise.all(group.map((step) => runTimed(step, ctx)));
    if (ctx.superseded) return;
    for (const step of group) if (step.progress !== undefined) await progress(step.progress);
  }
}

/** The simulated run, derived from the same list: cluster steps are skipped (and say so), the others run. */
async function runSimulated(steps: readonly Step[], ctx: StepContext, progress: (n: number) => Promise<void>): Promise<void> {
  for (const step of steps) {
    if (step.applies && !step.applies(ctx)) continue;
    if (step.cluster) {
      if (step.simulatedAs) ctx.log('info', `Simulated: ${step.simulatedAs} skipped (SIMULATE_K8S_DEPLOYMENT=true)`, { namespace: ctx.namespace });
    } else if (step.outside) {
      if (step.simulatedAs) ctx.log('info', `Simulated: ${step.simulatedAs} skipped: a simulated run changes nothing outside (SIMULATE_K8S_DEPLOYMENT=true)`, { namespace: ctx.namespace });
    } else {
      await runTimed(step, ctx);
      if (ctx.superseded) return;
    }
    if (step.progress !== undefined) await progress(step.progress);
  }
}

/** Runs one step; `ctx.timing` (when set) hears how long it took and whether it failed. */
async function runTimed(step: Step, ctx: StepContext): Promise<void> {
  if (step.applies && !step.applies(ctx)) return;
  const t = ctx.timing;
  if (!t) return step.run(ctx);
  const t0 = t.now();
  try {
    await step.run(ctx);
  } catch (e) {
    t.report({ ...step.report?.(ctx), step: step.name, seconds: (t.now() - t0) / 1000, ok: false, errorName: e instanceof CliError ? e.errorName : 'internal' });
    throw e;
  }
  t.report({ ...step.report?.(ctx), step: step.name, seconds: (t.now() - t0) / 1000, ok: true });
}

