/**
 * Whether a release needs `helm uninstall`, or goes with the namespace (step 2) and the owned RBAC
 * (step 3) with nothing left for helm to do. The one rule, used by the plan and by every attempt.
 *
 * `helm uninstall` adds something only when it does what deleting the namespace does not: run the
 * release's delete hooks, delete objects outside the namespace (cluster-scoped ones, or ones in
 * other namespaces), delete cluster RBAC step 3 would not delete, or remove release records kept
 * outside the namespace (HELM_DRIVER=sql). Otherwise the namespace controller deletes the same
 * objects and the records with them, and the helm process (a Go start-up and ~55 API requests) is
 * saved. `--helm-uninstall always` (CUSTCTL_HELM_UNINSTALL=always) runs helm for every release.
 */
import type { HelmUninstallMode } from '../domain/deletion-options.js';
import type { ReleasePlan, ReleaseRemoval } from './types.js';

export type { HelmUninstallMode };

export type { ReleaseRemoval };

/** What the cluster holds of a cluster RBAC object the release's manifest names. */
export type RbacPresence = 'owned' | 'kept-by-policy' | 'not-owned' | 'absent';

export interface RemovalInput {
  mode: HelmUninstallMode;
  /** helm keeps release records in the namespace (Secret or ConfigMap driver) */
  recordsInNamespace: boolean;
  /** `Kind/name` of each cluster RBAC object → whether step 3 deletes it */
  rbac: (kind: string, name: string) => RbacPresence;
}

const list = (xs: readonly string[], max = 3): string => (xs.length <= max ? xs.join(', ') : `${xs.slice(0, max).join(', ')} and ${xs.length - max} more`);

export function releaseRemoval(r: Pick<ReleasePlan, 'clusterScoped' | 'outsideNamespace' | 'clusterRbac' | 'unreadable' | 'deleteHooks'>, i: RemovalInput): ReleaseRemoval {
  const helm = (why: string): ReleaseRemoval => ({ by: 'helm', why });
  if (i.mode === 'always') return helm('--helm-uninstall always');
  if (!i.recordsInNamespace || r.deleteHooks === null) return helm('its release records are kept outside the namespace (HELM_DRIVER)');
  if (r.deleteHooks.length > 0) {
    return helm(`delete hooks: ${list(r.deleteHooks.map((h) => `${h.events.join('/')} ${h.kind}/${h.name}`))}`);
  }
  if (r.unreadable.length > 0) return helm(`${r.unreadable.length} manifest document(s) could not be read: only helm knows what they hold`);
  if (r.clusterScoped.length > 0) return helm(`cluster-scoped objects: ${list(r.clusterScoped.map((o) => `${o.kind}/${o.name}`))}`);
  if (r.outsideNamespace.length > 0) return helm(`objects in other namespaces: ${list(r.outsideNamespace.map((o) => `${o.kind} ${o.namespace}/${o.name}`))}`);
  const notOwned = r.clusterRbac.filter((o) => i.rbac(o.kind, o.name) === 'not-owned');
  if (notOwned.length > 0) return helm(`cluster RBAC without this customer's mark, which only helm deletes: ${list(notOwned.map((o) => `${o.kind}/${o.name}`))}`);
  return { by: 'namespace', why: 'no delete hooks' };
}
