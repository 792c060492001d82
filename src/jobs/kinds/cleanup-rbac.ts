/**
 * The `cleanup-rbac` job kind: find the ClusterRoles and ClusterRoleBindings left behind by
 * customer instances that no longer exist, and remove them.
 *
 * Cost: a fixed number of calls whatever the number of customers — list namespaces, list roles,
 * list bindings (paged), list the store — then one delete per orphan.
 */
import type { Kube } from '../../adapters/kube.js';
import type { CustomerStore } from '../../adapters/store.js';
import type { Config } from '../../config.js';
import { parseCustomerId } from '../../domain/customer-id.js';
import { findOrphans, type OrphanReport, type RbacReportEntry } from '../../domain/orphans.js';
import type { RbacKind } from '../../domain/rbac-owner.js';
import { CliError, errorFromName, errorMessage } from '../../errors.js';
import { plainLine, type Level } from '../../io.js';
import type { Job, NewJob } from '../../domain/job.js';
import type { AttemptContext } from '../../adapters/queue.js';
import { runPool } from '../../util/pool.js';
import type { JobsEnv } from '../jobs-env.js';
import type { JobKind } from './kind.js';

export interface RbacError {
  kind: RbacKind;
  name: string;
  error: string;
}

/** What a sweep did: the job's return value. */
export interface CleanupResult extends OrphanReport {
  deleted: RbacReportEntry[];
  errors: RbacError[];
}

/** `-o json`: a stable contract. */
export interface CleanupReport {
  dryRun: boolean;
  simulated: boolean;
  /** real runs only: the journaled job (null when there was nothing to delete) */
  jobId?: string | null;
  orphans: RbacReportEntry[];
  deleted: RbacReportEntry[];
  kept: RbacReportEntry[];
  errors: RbacError[];
  /** why the report is empty without a scan (the API under simulation) */
  note?: string;
}

/** What a caller asks of a cleanup: one customer's objects only, and whether `keep`-annotated ones go too. */
export interface CleanupRequest {
  /** `cust_…`, validated before anything happens */
  customer?: string;
  includeKept: boolean;
}

const RESOURCE: Record<RbacKind, string> = {
  ClusterRole: 'clusterrole.rbac.authorization.k8s.io',
  ClusterRoleBinding: 'clusterrolebinding.rbac.authorization.k8s.io',
};
const DELETE_CONCURRENCY = 8;

type Log = (level: Level, message: string, fields?: Record<string, unknown>) => void;

/** The fixed set of list calls, in parallel, then the pure classification. */
export async function scanOrphans(
  kube: Kube,
  store: CustomerStore,
  o: { prefix: string; onlyKey?: string; includeKept: boolean; signal?: AbortSignal },
): Promise<OrphanReport> {
  const [namespaces, rbac, rows] = await Promise.all([kube.listNamespaceNames(o.signal), kube.listClusterRbac(o.signal), store.list()]);
  return findOrphans({
    roles: rbac.filter((x) => x.kind === 'ClusterRole'),
    bindings: rbac.filter((x) => x.kind === 'ClusterRoleBinding'),
    namespaces: new Set(namespaces),
    rows,
    prefix: o.prefix,
    ...(o.onlyKey !== undefined ? { onlyKey: o.onlyKey } : {}),
    includeKept: o.includeKept,
  });
}

/**
 * Deletes the orphans, bindings before roles (a role is never left bound to nothing by a half-done
 * sweep). A failure is recorded for its object and the sweep goes on; 404 counts as deleted.
 */
export async function deleteOrphans(kube: Kube, orphans: readonly RbacReportEntry[], log: Log, signal: AbortSignal): Promise<Pick<CleanupResult, 'deleted' | 'errors'>> {
  const deleted: RbacReportEntry[] = [];
  const errors: RbacError[] = [];
  for (const kind of ['ClusterRoleBinding', 'ClusterRole'] as const) {
    await runPool(orphans.filter((x) => x.kind === kind), DELETE_CONCURRENCY, async (x) => {
      signal.throwIfAborted();
      try {
        const r = await kube.deleteClusterRbac(x.kind, x.name, signal);
        deleted.push(x);
        const field = kind === 'ClusterRole' ? 'role' : 'binding';
        if (r === 'not-found') log('info', `${kind} already gone`, { [field]: `${RESOURCE[kind]}/${x.name}` });
        else log('info', `Deleted ${kind}`, { [field]: `${RESOURCE[kind]}/${x.name}`, customer: `cust_${x.customerKey}` });
      } catch (e) {
        if (signal.aborted) throw e;
        errors.push({ kind: x.kind, name: x.name, error: errorMessage(e) });
        log('error', `Failed to delete ${kind} ${x.name}: ${errorMessage(e)}`, e instanceof CliError && e.details.length > 0 ? { detail: e.details.join('; ') } : undefined);
      }
    });
  }
  const order = new Map(orphans.map((x, i) => [`${x.kind}/${x.name}`, i] as const));
  deleted.sort((a, b) => (order.get(`${a.kind}/${a.name}`) ?? 0) - (order.get(`${b.kind}/${b.name}`) ?? 0));
  return { deleted, errors };
}

/**
 * One attempt of a `cleanup-rbac` job: list, classify, delete the orphans; returns the result.
 * Deletion failures are recorded per object, not thrown; a failed list throws (the attempt is
 * retried). A simulated job lists and reports, and deletes nothing.
 */
async function processCleanup(env: JobsEnv, ctx: AttemptContext): Promise<CleanupResult> {
  const log: Log = (level, message, fields) => {
    env.sink?.(ctx.job, level, message, fields);
    void ctx.log(plainLine(level, message, fields)).catch(() => undefined);
  };
  const onlyKey = ctx.job.data.customerId ? parseCustomerId(ctx.job.data.customerId).key : undefined;
  const includeKept = ctx.job.opts.includeKept ?? false;
  const kube = env.kube ? await env.kube() : (await env.cluster()).kube;
  log('info', 'Listing cluster RBAC, namespaces and customers', { customer: ctx.job.data.customerId, includeKept: includeKept || undefined });
  const found = await scanOrphans(kube, env.store, { prefix: env.config.namespacePrefix, ...(onlyKey !== undefined ? { onlyKey } : {}), includeKept, signal: ctx.signal });
  await ctx.progress(30);
  log('info', `Found ${found.orphans.length} orphaned, ${found.kept.length} kept`);
  for (const k of found.kept) log('warn', `${k.kind} ${k.name} kept`, { reason: k.reason });
  if (ctx.job.simulated) {
    env.metrics?.orphansScanned(found.orphans);
    log('warn', `SIMULATE_K8S_DEPLOYMENT=true: ${found.orphans.length} orphaned object(s) reported, nothing deleted`);
    await ctx.progress(100);
    return { ...found, deleted: [], errors: [] };
  }
  const done = await deleteOrphans(kube, found.orphans, log, ctx.signal);
  env.metrics?.orphansScanned(done.errors); // what this sweep found and could not delete is still there
  await ctx.progress(100);
  return { ...found, ...done };
}

export const cleanupRbacKind: JobKind<CleanupResult> = {
  name: 'cleanup-rbac',
  process: processCleanup,
  settle: async () => undefined, // cluster objects only: no row to bring in line
};

/** The journaled job of a sweep. */
export function newCleanupJob(config: Config, o: CleanupRequest & { requestedBy: string }): NewJob {
  return {
    name: 'cleanup-rbac',
    data: o.customer !== undefined ? { customerId: o.customer } : {},
    opts: {
      attempts: config.maxAttempts,
      backoff: { type: 'exponential', delay: config.retryDelayMs },
      timeoutMs: config.jobTimeoutMs,
      includeKept: o.includeKept,
    },
    requestedBy: o.requestedBy,
    simulated: config.simulate,
  };
}

/**
 * The report of a finished sweep, or the typed error it failed with; `unfinished` builds the error
 * for a job that has not ended (interrupted, or the server shutting down).
 */
export function cleanupReportOf(job: Job, unfinished: (job: Job) => Error): CleanupReport {
  if (job.state === 'failed') {
    const [first = 'failed', ...rest] = (job.failedReason ?? 'failed').split('\n');
    throw errorFromName(job.failedCode ?? undefined, `cleanup-rbac job ${job.id} failed: ${first}`, rest);
  }
  if (job.state !== 'completed') throw unfinished(job);
  const r = job.returnvalue as CleanupResult;
  return { dryRun: false, simulated: job.simulated, jobId: job.id, orphans: r.orphans, deleted: r.deleted, kept: r.kept, errors: r.errors };
}
