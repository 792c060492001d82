/**
 * Soft delete (scheduled deletions): what happens when a deletion is accepted with a retention
 * period — the same checks an attempt makes, then the instance suspended — and the restore that
 * the one cancel (src/jobs/cancel.ts) makes. The hard deletion itself is the ordinary `delete`
 * job, run by a worker when it comes due (src/jobs/kinds/delete.ts, src/pipeline/run.ts).
 */
import type { CustomerRow } from '../adapters/store.js';
import type { RowCluster } from '../domain/clusters.js';
import type { CustomerId } from '../domain/customer-id.js';
import { checkRowNamespace, namespaceFor } from '../domain/namespace-name.js';
import type { SuspendChange } from '../pipeline/suspend.js';
import type { JobsEnv } from './jobs-env.js';
import { ConflictError } from '../errors.js';

/** When a deletion accepted now with `afterMs` is due (ms), or undefined for an immediate one. */
export function scheduledFor(now: number, afterMs: number): number | undefined {
  return afterMs > 0 ? now + afterMs : undefined;
}

/**
 * Site policy CUSTCTL_DELETE_REQUIRES_EXPORT: a scheduled deletion is refused (ConflictError,
 * nothing changed) until the customer has an export, as the audit log records it
 * (`customer-exported`, written by `custctl export` and the portal's download).
 */
export async function requireExportBeforeScheduling(env: Pick<JobsEnv, 'store' | 'config'>, customerId: string): Promise<void> {
  if (!env.config.deleteRequiresExport) return;
  const exported = await env.store.listAudit({ customerId, actions: ['customer-exported'], limit: 1 });
  if (exported.length > 0) return;
  throw new ConflictError(`customer ${customerId} has no export: this site requires one before a deletion is scheduled (CUSTCTL_DELETE_REQUIRES_EXPORT)`, [
    `Export first: custctl export ${customerId} --to file:///var/exports (or s3://bucket/prefix; add --recipient age1… or --passphrase-file FILE to encrypt it), or let the customer download it from the portal; then schedule the deletion again.`,
    'Nothing was changed.',
  ]);
}

/**
 * Before a scheduled deletion is claimed: the namespace bound to the key (before any cluster
 * call), then the same read-only checks the first attempt makes (cluster-scoped objects,
 * suspicious emptiness), so that a deletion that would be refused when due is refused now, while
 * the instance still runs.
 */
export async function checkBeforeScheduling(env: JobsEnv, customer: CustomerId, row: CustomerRow, o: { allowClusterScoped?: boolean; allowMissing?: boolean; helmUninstall?: 'always' | 'auto' }): Promise<void> {
  checkRowNamespace(customer, row.instanceNamespace, env.config.namespacePrefix);
  if (env.config.simulate) return;
  const namespace = namespaceFor(customer, env.config.namespacePrefix);
  const { inspect, refuseClusterScoped, refuseSuspiciousEmptiness } = await import('../pipeline/inspect.js');
  const c = await env.clusters.for(row).adapters();
  const insp = await inspect(customer, namespace, row, { kube: c.kube, helm: c.helm, store: env.store }, { helmUninstall: o.helmUninstall ?? env.config.helmUninstall });
  refuseClusterScoped(insp, o.allowClusterScoped ?? false);
  refuseSuspiciousEmptiness(insp, row.deploymentStatus, { context: c.target.context, server: c.target.server, database: env.store.description }, o.allowMissing ?? false);
}

/** Suspends the instance on the row's cluster (nothing when simulated or when there is no namespace); the namespace uid for step 2's precondition. */
export async function suspendForSchedule(env: JobsEnv, row: RowCluster, namespace: string): Promise<{ uid?: string; changes: SuspendChange[] }> {
  if (env.config.simulate) return { changes: [] };
  const kube = await env.clusters.for(row).kube();
  const ns = await kube.getNamespace(namespace);
  if (!ns) return { changes: [] };
  const { suspendInstance } = await import('../pipeline/suspend.js');
  return { uid: ns.uid, changes: await suspendInstance(kube, namespace) };
}

/** Puts the instance back as it was, on the row's cluster (nothing when simulated or when there is no namespace). */
export async function restoreAfterSchedule(env: JobsEnv, row: RowCluster, namespace: string): Promise<SuspendChange[]> {
  if (env.config.simulate) return [];
  const kube = await env.clusters.for(row).kube();
  if (!(await kube.getNamespace(namespace))) return [];
  const { restoreInstance } = await import('../pipeline/suspend.js');
  return restoreInstance(kube, namespace);
}


/**
 * Soft delete and billing: at scheduling, collection of what still bills is paused (recording
 * what to put back); the cancel of that deletion resumes it exactly (src/adapters/billing.ts).
 * Nothing when simulated or when no billing is configured. Returns the lines people read.
 */
export async function pauseBillingForSchedule(env: JobsEnv, customerId: string, jobId: string): Promise<{ paused: string[]; lines: string[] }> {
  const o = env.config.simulate || !env.outside ? null : await env.outside();
  if (!o?.billing) return { paused: [], lines: [] };
  const { billingCustomerOf } = await import('../pipeline/outside.js');
  const { suspendResultLines } = await import('../domain/billing.js');
  const r = await o.billing.suspend({ customerId, providerCustomerId: await billingCustomerOf(env.store, customerId, o) }, { jobId });
  return { paused: r.changed.map((c) => c.id), lines: suspendResultLines(r, false) };
}

export async function resumeBillingAfterSchedule(env: JobsEnv, customerId: string, jobId: string): Promise<{ resumed: string[]; lines: string[] }> {
  const o = env.config.simulate || !env.outside ? null : await env.outside();
  if (!o?.billing) return { resumed: [], lines: [] };
  const { billingCustomerOf } = await import('../pipeline/outside.js');
  const { suspendResultLines } = await import('../domain/billing.js');
  const r = await o.billing.unsuspend({ customerId, providerCustomerId: await billingCustomerOf(env.store, customerId, o) }, { jobId });
  return { resumed: r.changed.map((c) => c.id), lines: suspendResultLines(r, true) };
}
