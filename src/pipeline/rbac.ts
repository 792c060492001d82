/** Step 3: delete the cluster-scoped RBAC the instance owned. Failing here is a warning. */
import type { Kube } from '../adapters/kube.js';
import type { DeleteResult, Inspection, RbacRef, StepLog } from './types.js';

const RESOURCE = { ClusterRole: 'clusterrole.rbac.authorization.k8s.io', ClusterRoleBinding: 'clusterrolebinding.rbac.authorization.k8s.io' } as const;

export async function deleteOwnedRbac(
  kube: Kube,
  insp: Inspection,
  removedByHelm: ReadonlySet<string>,
  log: StepLog,
  signal: AbortSignal,
): Promise<DeleteResult['rbac']> {
  const prefix = `c${insp.customer.key}-customer-instance`;
  log('info', 'Cleaning up cluster-scoped resources', { prefix, namespace: insp.namespace });
  const result: DeleteResult['rbac'] = {
    deleted: [],
    alreadyGone: [],
    keptByPolicy: insp.rbac.keptByPolicy.map(({ kind, name }) => ({ kind, name })),
    keptUnowned: insp.rbac.keptUnowned,
    failed: [],
  };
  // bindings first, so a role is never left bound to nothing by a half-done step
  const todo = [...insp.rbac.owned].sort((a, b) => (a.kind === b.kind ? a.name.localeCompare(b.name) : a.kind === 'ClusterRoleBinding' ? -1 : 1));
  for (const o of todo) {
    const ref: RbacRef = { kind: o.kind, name: o.name };
    if (removedByHelm.has(`${o.kind}/${o.name}`)) {
      result.deleted.push(ref);
      continue;
    }
    try {
      const r = await kube.deleteClusterRbac(o.kind, o.name, signal);
      if (r === 'not-found') result.alreadyGone.push(ref);
      else {
        result.deleted.push(ref);
        log('info', `Deleted ${o.kind}`, { [o.kind === 'ClusterRole' ? 'role' : 'binding']: `${RESOURCE[o.kind]}/${o.name}`, rule: o.rule });
      }
    } catch (e) {
      if (signal.aborted) throw e;
      const error = e instanceof Error ? e.message : String(e);
      result.failed.push({ ...ref, error });
      log('warn', `Failed to delete ${o.kind}`, { name: o.name, error, next: `custctl cleanup-rbac --customer ${insp.customer.id}` });
    }
  }
  for (const k of result.keptByPolicy) log('warn', `${k.kind} kept by policy (helm.sh/resource-policy: keep)`, { name: k.name });
  for (const k of result.keptUnowned) log('warn', `${k.kind} references an owned role but carries no ownership mark: kept`, { name: k.name });
  if (todo.length === 0) log('info', 'No cluster-scoped resources to clean up', { prefix });
  return result;
}
