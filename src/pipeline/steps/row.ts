/** Step 4: the row → pending, a compare-and-set on this job's ownership; only after step 2 saw the namespace gone. */
import { releaseRemoved } from '../../domain/release-outcome.js';
import type { AuditDeleted } from '../../adapters/store.js';
import type { Step, StepContext } from '../step.js';

/** What this deletion removed, as the audit row records it (written with the row change, one transaction). */
export function deletedCounts(ctx: Pick<StepContext, 'result' | 'inspection' | 'pvcs'>): AuditDeleted {
  const objects: Record<string, number> = { ...(ctx.inspection?.manifestKinds ?? {}) };
  // PVCs are often made by a StatefulSet's claim template, not the chart: counted from the cluster
  if (ctx.pvcs && ctx.pvcs.length > (objects.PersistentVolumeClaim ?? 0)) objects.PersistentVolumeClaim = ctx.pvcs.length;
  return {
    releases: ctx.result.releases.filter((r) => releaseRemoved(r.outcome)).map((r) => r.name),
    objects,
    rbac: ctx.result.rbac.deleted.map((x) => `${x.kind}/${x.name}`),
  };
}

/** The billing step's summary without its display lines (the audit row keeps ids and amounts). */
function billingRecord(ctx: Pick<StepContext, 'result'>): { billing?: NonNullable<AuditDeleted['billing']> } {
  if (!ctx.result.billing) return {};
  const { lines: _lines, ...billing } = ctx.result.billing;
  return { billing };
}

export const rowStep: Step = {
  name: 'row',
  progress: 100,
  cluster: false,
  async run(ctx) {
    ctx.signal.throwIfAborted();
    const audit = {
      action: 'deletion-completed' as const,
      actor: ctx.job.requestedBy,
      customerId: ctx.customer.id,
      namespace: ctx.namespace,
      jobId: ctx.job.id,
      outcome: ctx.job.simulated ? 'simulated' : 'deleted',
      deleted: { ...deletedCounts(ctx), ...billingRecord(ctx) },
      reason: ctx.result.warnings.length > 0 ? ctx.result.warnings.join('; ') : null,
    };
    if (!(await ctx.store.completeDeletion(ctx.customer.id, ctx.job.id, audit))) {
      ctx.superseded = 'the row was taken by another job or changed while the instance was being deleted';
      ctx.log('warn', 'Job superseded before the row update', { customerId: ctx.customer.id, reason: ctx.superseded });
      return;
    }
    ctx.result.row = { status: 'pending' };
    ctx.result.deleted = audit.deleted;
  },
};
