/**
 * The `cleanup-rbac` job kind: find the ClusterRoles and ClusterRoleBindings left behind by
 * customer instances that no longer exist, and remove them.
 *
 * Cost: a fixed number of calls whatever the number of customers — list namespaces, list roles,
 * list bindings (paged), list the store — then one delete per orphan.
 */
import type { Cluster, Clusters } from '../../adapters/clusters.js';
import type { Kube } from '../../adapters/kube.js';
import { clusterFor } from '../../domain/clusters.js';
import type { AuditEntry, CustomerRow, CustomerStore } from '../../adapters/store.js';
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
import type { JobEvent } from '../events.js';

export interface RbacError {
  kind: RbacKind;
  name: string;
  error: string;
  /** the cluster the object is on */
  cluster?: string;
}

/** One cluster's part of a sweep in a fleet of several: counts, or why it could not be scanned (the others go on). */
export interface ClusterSweep {
  cluster: string;
  orphans: number;
  deleted: number;
  kept: number;
  errors: number;
  /** the cluster could not be listed (down, forbidden): nothing of it was scanned or deleted */
  error: string | null;
}

/**
 * A customer namespace on a cluster other than the one its row names: reported, never deleted
 * (a copy, a leftover of a move, or a row naming the wrong cluster; a person decides).
 */
export interface StrayNamespace {
  cluster: string;
  namespace: string;
  customerId: string;
  /** the cluster the row names */
  rowCluster: string;
}

/** What a sweep did: the job's return value. */
export interface CleanupResult extends OrphanReport {
  deleted: RbacReportEntry[];
  errors: RbacError[];
  /** per cluster swept (every cluster of the fleet, or --cluster's) */
  clusters?: ClusterSweep[];
  strays?: StrayNamespace[];
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
  /** per cluster swept: counts, or why it could not be scanned */
  clusters?: ClusterSweep[];
  /** customer namespaces on a cluster other than their row's: reported, never deleted */
  strays?: StrayNamespace[];
}

/** What a caller asks of a cleanup: one customer's objects only, and whether `keep`-annotated ones go too. */
export interface CleanupRequest {
  /** `cust_…`, validated before anything happens */
  customer?: string;
  includeKept: boolean;
  /** one cluster of the fleet (`--cluster NAME`); absent: every cluster */
  cluster?: string;
}

const RESOURCE: Record<RbacKind, string> = {
  ClusterRole: 'clusterrole.rbac.authorization.k8s.io',
  ClusterRoleBinding: 'clusterrolebinding.rbac.authorization.k8s.io',
};
const DELETE_CONCURRENCY = 8;

type Log = (level: Level, message: string, fields?: Record<string, unknown>) => void;

/** One cluster's scan in a fleet sweep: what it found (entries tagged with the cluster), or why it could not. */
export interface ClusterScan {
  cluster: Cluster;
  kube: Kube | null;
  found: OrphanReport;
  error: string | null;
}

/**
 * The sweep's scan over the fleet (or the one cluster `only` names), clusters in parallel: each
 * cluster's RBAC classified against its own namespaces and every row (a customer live anywhere
 * keeps its RBAC everywhere: never deleted on a guess). A cluster that cannot be listed is recorded
 * with why and the others go on; when every cluster failed, the first error is thrown (the attempt
 * is retried). In a fleet of several, customer namespaces on a cluster other than their row's are
 * reported as strays.
 */
export async function scanFleet(
  clusters: Clusters,
  store: CustomerStore,
  o: { prefix: string; onlyKey?: string; includeKept: boolean; signal?: AbortSignal; only?: string },
): Promise<{ scans: ClusterScan[]; report: OrphanReport; sweeps: ClusterSweep[]; strays: StrayNamespace[] }> {
  const chosen = o.only !== undefined ? [clusters.named(o.only)] : clusters.all();
  const rows = await store.list();
  const strays: StrayNamespace[] = [];
  let firstError: unknown = null;
  const scans = await Promise.all(chosen.map(async (cluster): Promise<ClusterScan> => {
    try {
      const kube = await cluster.kube();
      const [namespaces, rbac] = await Promise.all([kube.listNamespaceNames(o.signal), kube.listClusterRbac(o.signal)]);
      const found = findOrphans({
        roles: rbac.filter((x) => x.kind === 'ClusterRole'),
        bindings: rbac.filter((x) => x.kind === 'ClusterRoleBinding'),
        namespaces: new Set(namespaces),
        rows,
        prefix: o.prefix,
        ...(o.onlyKey !== undefined ? { onlyKey: o.onlyKey } : {}),
        includeKept: o.includeKept,
      });
      if (clusters.several) strays.push(...strayNamespaces(clusters, cluster.name, namespaces, rows, o.prefix, o.onlyKey));
      // a fleet of several: each entry names its cluster (a fleet of one: the report as it always was)
      const tag = (x: RbacReportEntry): RbacReportEntry => (clusters.several ? { ...x, cluster: cluster.name } : x);
      return { cluster, kube, found: { orphans: found.orphans.map(tag), kept: found.kept.map(tag) }, error: null };
    } catch (e) {
      o.signal?.throwIfAborted();
      firstError ??= e;
      return { cluster, kube: null, found: { orphans: [], kept: [] }, error: errorMessage(e).replace(`cluster ${cluster.name}: `, '') };
    }
  }));
  if (scans.every((x) => x.error !== null)) throw firstError;
  return {
    scans,
    report: { orphans: scans.flatMap((x) => x.found.orphans), kept: scans.flatMap((x) => x.found.kept) },
    sweeps: scans.map((x) => ({ cluster: x.cluster.name, orphans: x.found.orphans.length, deleted: 0, kept: x.found.kept.length, errors: 0, error: x.error })),
    strays: strays.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.cluster.localeCompare(b.cluster)),
  };
}

/** Customer namespaces on `cluster` whose row names another cluster of the fleet. */
function strayNamespaces(clusters: Clusters, cluster: string, namespaces: readonly string[], rows: readonly CustomerRow[], prefix: string, onlyKey?: string): StrayNamespace[] {
  const byId = new Map(rows.map((r) => [r.customerId, r] as const));
  const out: StrayNamespace[] = [];
  for (const ns of namespaces) {
    if (!ns.startsWith(prefix)) continue;
    const key = ns.slice(prefix.length);
    if (onlyKey !== undefined && key !== onlyKey) continue;
    const row = byId.get(`cust_${key}`);
    if (!row) continue;
    let home: string;
    try {
      home = clusterFor(row, clusters.fleet).name;
    } catch {
      continue; // a row naming no cluster, or one not in the fleet: `clusters list` reports it
    }
    if (home !== cluster) out.push({ cluster, namespace: ns, customerId: row.customerId, rowCluster: home });
  }
  return out;
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
  const only = ctx.job.data.cluster;
  log('info', 'Listing cluster RBAC, namespaces and customers', { customer: ctx.job.data.customerId, includeKept: includeKept || undefined, cluster: only });
  const scan = await scanFleet(env.clusters, env.store, { prefix: env.config.namespacePrefix, ...(onlyKey !== undefined ? { onlyKey } : {}), includeKept, signal: ctx.signal, ...(only !== undefined ? { only } : {}) });
  const found = scan.report;
  await ctx.progress(30);
  log('info', `Found ${found.orphans.length} orphaned, ${found.kept.length} kept`);
  for (const k of found.kept) log('warn', `${k.kind} ${k.name} kept`, { reason: k.reason, ...(env.clusters.several ? { cluster: k.cluster } : {}) });
  for (const x of scan.sweeps.filter((x) => x.error !== null)) log('error', `Cluster ${x.cluster} could not be swept: ${x.error}`);
  for (const x of scan.strays) log('warn', `Namespace ${x.namespace} is on cluster ${x.cluster}, but ${x.customerId}'s row names cluster ${x.rowCluster}: reported, not deleted`);
  // a fleet of several: per-cluster counts and the strays (a fleet of one: the result as it always was)
  const fleetParts: Pick<CleanupResult, 'clusters' | 'strays'> = env.clusters.several ? { clusters: scan.sweeps, strays: scan.strays } : {};
  if (ctx.job.simulated) {
    env.metrics?.orphansScanned(found.orphans);
    log('warn', `SIMULATE_K8S_DEPLOYMENT=true: ${found.orphans.length} orphaned object(s) reported, nothing deleted`);
    await ctx.progress(100);
    return { ...found, deleted: [], errors: [], ...fleetParts };
  }
  // each cluster's orphans deleted on that cluster, the clusters in parallel
  const done = await Promise.all(scan.scans.filter((x) => x.kube !== null).map(async (x) => {
    const r = await deleteOrphans(x.kube as Kube, x.found.orphans, env.clusters.several ? (l, m, f) => log(l, m, { ...f, cluster: x.cluster.name }) : log, ctx.signal);
    const sweep = fleetParts.clusters?.find((c) => c.cluster === x.cluster.name);
    if (sweep) Object.assign(sweep, { deleted: r.deleted.length, errors: r.errors.length });
    return { deleted: r.deleted, errors: env.clusters.several ? r.errors.map((e) => ({ ...e, cluster: x.cluster.name })) : r.errors };
  }));
  const deleted = done.flatMap((x) => x.deleted);
  const errors = done.flatMap((x) => x.errors);
  env.metrics?.orphansScanned(errors); // what this sweep found and could not delete is still there
  await ctx.progress(100);
  return { ...found, deleted, errors, ...fleetParts };
}

/** A completed sweep: one `rbac-deleted` row per customer whose leftovers went. */
function auditCleanup(e: JobEvent): AuditEntry[] {
  if (e.type !== 'completed') return [];
  const job = e.job;
  const deleted = ((job.returnvalue as { deleted?: RbacReportEntry[] } | null)?.deleted ?? []);
  const byCustomer = new Map<string, string[]>();
  for (const x of deleted) {
    const id = `cust_${x.customerKey}`;
    byCustomer.set(id, [...(byCustomer.get(id) ?? []), `${x.kind}/${x.name}`]);
  }
  return [...byCustomer].map(([customerId, rbac]): AuditEntry => ({
    actor: job.requestedBy, customerId, namespace: null, jobId: job.id,
    action: 'rbac-deleted', outcome: 'deleted', deleted: { rbac }, reason: 'orphaned cluster RBAC (cleanup-rbac)',
  }));
}

export const cleanupRbacKind: JobKind<CleanupResult> = {
  name: 'cleanup-rbac',
  process: processCleanup,
  settle: async () => undefined, // cluster objects only: no row to bring in line
  audit: auditCleanup,
};

/** The journaled job of a sweep. */
export function newCleanupJob(config: Config, o: CleanupRequest & { requestedBy: string }): NewJob {
  return {
    name: 'cleanup-rbac',
    data: { ...(o.customer !== undefined ? { customerId: o.customer } : {}), ...(o.cluster !== undefined ? { cluster: o.cluster } : {}) },
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
  return { dryRun: false, simulated: job.simulated, jobId: job.id, orphans: r.orphans, deleted: r.deleted, kept: r.kept, errors: r.errors, ...(r.clusters ? { clusters: r.clusters } : {}), ...(r.strays ? { strays: r.strays } : {}) };
}
