/**
 * The deletion pipeline: one attempt of a `delete` job. Every step is idempotent, so a retried or
 * resumed attempt runs the whole pipeline again — but only while the job still owns the customer.
 *
 *   0. ownership check (superseded → touch nothing), inspect, refusals (first attempt)
 *   1. helm uninstall every release in the namespace                    progress 25
 *   2. delete the namespace (uid precondition), wait until it is gone    progress 70
 *   3. delete the owned cluster RBAC (runs while step 2 waits)           progress 85
 *   4. row → pending, compare-and-set on this job's ownership            progress 100
 */
import type { ClusterTarget } from '../adapters/kube.js';
import type { CustomerRow, CustomerStore } from '../adapters/store.js';
import { parseCustomerId } from '../domain/customer-id.js';
import { checkRowNamespace, namespaceFor } from '../domain/namespace-name.js';
import { CliError, OperationError, isPermanent } from '../errors.js';
import type { Job } from '../queue/job.js';
import { uninstallReleases } from './helm-uninstall.js';
import { inspect, refuseClusterScoped, refuseRecreatedNamespace, refuseSuspiciousEmptiness } from './inspect.js';
import { deleteNamespaceAndWait } from './namespace.js';
import { deleteOwnedRbac } from './rbac.js';
import type { DeleteResult, PipelineEnv, StepLog } from './types.js';

export const PROGRESS = { helm: 25, namespace: 70, rbac: 85, row: 100 } as const;

export interface DeleteAttempt {
  job: Job;
  attempt: number;
  signal: AbortSignal;
  progress(n: number): Promise<void>;
  log: StepLog;
}

export interface PipelineSettings {
  namespacePrefix: string;
  /** step 2's wait and helm's --timeout when the job does not say, ms */
  defaultWaitTimeoutMs: number;
  now: () => number;
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
 * Runs one attempt. `cluster` is loaded only when the job is not simulated (a simulated run makes
 * no cluster calls). Throws typed errors; a refusal hands the row back untouched before it
 * propagates (the jobs service sets `deletion_failed` after a job's last failed attempt).
 */
export async function runDeleteAttempt(
  a: DeleteAttempt,
  store: CustomerStore,
  cluster: () => Promise<Omit<PipelineEnv, 'store'> & { target: ClusterTarget }>,
  s: PipelineSettings,
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
      await a.progress(PROGRESS.row);
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
  try {
    const row = owned;
    refusing(() => checkRowNamespace(customer, row.instanceNamespace, s.namespacePrefix));

    if (job.simulated) {
      for (const [step, p] of [['Helm uninstall', PROGRESS.helm], ['namespace deletion', PROGRESS.namespace], ['cluster RBAC cleanup', PROGRESS.rbac]] as const) {
        log('info', `Simulated: ${step} skipped (SIMULATE_K8S_DEPLOYMENT=true)`, { namespace });
        await a.progress(p);
      }
      result.namespaceOutcome = 'simulated';
    } else {
      const c = await cluster();
      const env: PipelineEnv = { ...c, store };
      // The reads need no order among themselves: the PVC list (what stays behind) runs beside the
      // inspection; every check below still happens before anything is deleted.
      const pvcsRead = settledLater(c.kube.listPvcs(namespace, signal));
      const insp = await inspect(customer, namespace, row, env, { signal });
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
      const pvcs = await pvcsRead();
      const timeoutMs = job.opts.waitTimeoutMs ?? s.defaultWaitTimeoutMs;

      // 1. Helm first, always: deleting the namespace first would delete the release records.
      touched = true;
      result.releases = await uninstallReleases(c.helm, namespace, insp.releases, timeoutMs, log, signal);
      await a.progress(PROGRESS.helm);
      const removedByHelm = new Set(insp.releases.flatMap((r) => r.clusterRbac.map((o) => `${o.kind}/${o.name}`)));

      // 2 and 3 need no order between them: the RBAC sweep runs while the namespace finalizes.
      const nsStep = deleteNamespaceAndWait(c.kube, namespace, insp.ns, timeoutMs, log, signal);
      const rbacStep = deleteOwnedRbac(c.kube, insp, removedByHelm, log, signal);
      const [nsOutcome, rbac] = await Promise.all([nsStep, rbacStep.catch((e: unknown) => e)]);
      result.namespaceOutcome = nsOutcome;
      await a.progress(PROGRESS.namespace);
      if (rbac instanceof Error || !rbac || typeof rbac !== 'object') {
        if (signal.aborted) throw rbac;
        result.warnings.push(`cluster RBAC cleanup failed: ${rbac instanceof Error ? rbac.message : String(rbac)}; run 'custctl cleanup-rbac --customer ${customer.id}'`);
        log('warn', 'Cluster RBAC cleanup failed (non-critical)', { error: rbac instanceof Error ? rbac.message : String(rbac) });
      } else {
        result.rbac = rbac as DeleteResult['rbac'];
        for (const f of result.rbac.failed) result.warnings.push(`${f.kind} ${f.name} was not deleted: ${f.error}`);
      }
      await a.progress(PROGRESS.rbac);
      result.retainedVolumes = pvcs
        .filter((p) => p.volumeName && p.reclaimPolicy && p.reclaimPolicy !== 'Delete')
        .map((p) => ({ pvc: p.name, volume: p.volumeName as string, reclaimPolicy: p.reclaimPolicy as string }));
      for (const v of result.retainedVolumes) {
        log('warn', 'PersistentVolume stays behind (reclaim policy keeps its data)', { pv: v.volume, pvc: v.pvc, reclaimPolicy: v.reclaimPolicy });
      }
    }

    // 4. Only after step 2 saw the namespace gone (or never there).
    signal.throwIfAborted();
    if (!(await store.completeDeletion(customer.id, job.id))) {
      const reason = 'the row was taken by another job or changed while the instance was being deleted';
      log('warn', 'Job superseded before the row update', { customerId: customer.id, reason });
      return { ...result, outcome: 'superseded', superseded: true, reason, durationMs: s.now() - started };
    }
    await a.progress(PROGRESS.row);
    result.row = { status: 'pending' };
    result.durationMs = s.now() - started;
    log('ok', 'Customer instance deleted successfully', { customerId: customer.id, namespace, simulated: job.simulated || undefined });
    return result;
  } catch (e) {
    // a refusal, or a permanent error (helm missing, 403, a bad kubeconfig) before anything was
    // touched: give the row back to the status it had
    const untouched = e instanceof Refusal ? e.inner : !touched && e instanceof CliError && isPermanent(e) ? e : null;
    if (untouched) {
      await store.releaseDeletion(customer.id, job.id);
      log('error', untouched.message, {});
      throw untouched;
    }
    throw e;
  }
}
