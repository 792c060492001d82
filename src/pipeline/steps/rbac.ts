/**
 * Step 3: the owned cluster RBAC. It needs no order with the namespace step, so it runs while the
 * namespace finalizes. Failing here is a warning: `cleanup-rbac` can finish it later.
 */
import { deleteOwnedRbac } from '../rbac.js';
import type { Step } from '../step.js';

export const rbacStep: Step = {
  name: 'cluster-rbac',
  progress: 85,
  cluster: true,
  simulatedAs: 'cluster RBAC cleanup',
  besidePrevious: true,
  async run(ctx) {
    try {
      ctx.result.rbac = await deleteOwnedRbac(ctx.cluster!.kube, ctx.inspection!, ctx.removedByHelm, ctx.log, ctx.signal);
      for (const f of ctx.result.rbac.failed) ctx.result.warnings.push(`${f.kind} ${f.name} was not deleted: ${f.error}`);
    } catch (e) {
      if (ctx.signal.aborted) throw e;
      const error = e instanceof Error ? e.message : String(e);
      ctx.result.warnings.push(`cluster RBAC cleanup failed: ${error}; run 'custctl cleanup-rbac --customer ${ctx.customer.id}'`);
      ctx.log('warn', 'Cluster RBAC cleanup failed (non-critical)', { error });
    }
  },
};
