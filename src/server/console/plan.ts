/**
 * The customer page's plan: the same inspection and PlanView as `custctl delete --dry-run`
 * (src/pipeline/inspect.ts, src/pipeline/plan.ts), run by the server on its own cluster and store.
 * A customer that cannot be deleted now (already being deleted, deploying) has no plan: the
 * refusal a deletion would get is the answer.
 */
import { DELETABLE_STATUSES } from '../../adapters/store.js';
import type { CustomerId } from '../../domain/customer-id.js';
import { checkRowNamespace } from '../../domain/namespace-name.js';
import { NotFoundError } from '../../errors.js';
import type { JobsEnv } from '../../jobs/env.js';
import type { ConsolePlan } from './pages.js';

export async function consolePlan(env: JobsEnv, customer: CustomerId): Promise<ConsolePlan> {
  const { inspect, outsidePlan, planView, statusConflict } = await import('../../jobs/local-running.js');
  const { store, config } = env;
  const row = await store.get(customer.id);
  if (!row) throw new NotFoundError(`customer ${customer.id} not found in ${store.description}`);
  const namespace = checkRowNamespace(customer, row.instanceNamespace, config.namespacePrefix);
  const conflict = DELETABLE_STATUSES.includes(row.deploymentStatus) ? null : await statusConflict(env.queue, row, false);
  if (conflict) throw conflict;
  const home = env.clusters.for(row); // the customer's cluster (a row naming none in a fleet of several is refused)
  const cluster = config.simulate ? null : await home.adapters();
  const insp = cluster ? await inspect(customer, namespace, row, { ...cluster, store }, { detail: true }) : null;
  const plan = planView(insp, row, customer.id, namespace, config.simulate);
  plan.backup = config.backupUrl
    ? {
        url: config.backupUrl,
        covers: 'every namespaced object (Helm release records included), the owned cluster RBAC, the row',
        notCovered: (insp?.pvcs ?? []).map((p) => `the data in PVC ${p.name}${p.volumeName ? ` (volume ${p.volumeName})` : ''}: only the PVC object is kept`),
      }
    : null;
  if (env.outside) Object.assign(plan, await outsidePlan(await env.outside(), store, customer.id, { scheduled: config.retentionMs > 0, simulated: config.simulate }));
  return {
    plan,
    target: { ...(cluster ? { context: cluster.target.context, server: cluster.target.server } : {}), database: store.description, cluster: home.name },
  };
}
