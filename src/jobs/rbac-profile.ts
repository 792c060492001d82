/**
 * `custctl doctor --print-rbac`: the roles the configured features need (domain/permissions.ts),
 * plus, for a restore, the rules of the customers' own ClusterRoles: RBAC lets a role be created
 * (and bound) only by who holds its rules, so re-creating a customer's OpenCost-style ClusterRole
 * needs what it grants. They are read from the cluster: one ClusterRole of each name the customers'
 * chart gives (`c<key>-customer-instance-opencost` → `-opencost`), their rules merged.
 */
import type { Kube } from '../adapters/kube.js';
import { RELEASE_NAMESPACE_ANNOTATION, keyFromOpenCostName } from '../domain/rbac-owner.js';
import type { ExtraRules, Feature, PolicyRule } from '../domain/permissions.js';
import { errorMessage } from '../errors.js';

/** The features the environment turns on: a backup URL, a snapshot class, a retention period. */
export function configuredFeatures(c: { backupUrl?: string | undefined; snapshotClass?: string | undefined; retentionMs: number }): Feature[] {
  return [
    ...(c.backupUrl ? ['backup' as const] : []),
    ...(c.snapshotClass ? ['snapshots' as const] : []),
    ...(c.retentionMs > 0 ? ['soft-delete' as const] : []),
  ];
}

/** The rules of the customers' ClusterRoles (one per name pattern), or why they could not be read. */
export async function customerClusterRules(kube: Kube, prefix: string, signal?: AbortSignal): Promise<{ extra: ExtraRules | null; note: string }> {
  try {
    const all = await kube.listClusterRbac(signal);
    const byPattern = new Map<string, string>();
    for (const o of all) {
      if (o.kind !== 'ClusterRole') continue;
      const key = keyFromOpenCostName(o.name);
      const ns = o.annotations[RELEASE_NAMESPACE_ANNOTATION];
      let pattern: string | null = null;
      if (key !== null) pattern = `c<key>${o.name.slice(1 + key.length)}`;
      else if (ns?.startsWith(prefix)) pattern = o.name.split(ns.slice(prefix.length)).join('<key>');
      if (pattern !== null && !byPattern.has(pattern)) byPattern.set(pattern, o.name);
    }
    if (byPattern.size === 0) return { extra: null, note: "no customer owns a ClusterRole on this cluster: a restore re-creates none, so the role needs none of their rules" };
    const rules: PolicyRule[] = [];
    const seen = new Set<string>();
    for (const name of byPattern.values()) {
      const o = await kube.readClusterObject('rbac.authorization.k8s.io/v1', 'ClusterRole', name, signal);
      for (const r of ((o as { rules?: PolicyRule[] } | null)?.rules ?? [])) {
        const k = JSON.stringify(r);
        if (!seen.has(k)) { seen.add(k); rules.push(r); }
      }
    }
    const patterns = [...byPattern.keys()].sort();
    return {
      extra: { why: `what the customers' ClusterRoles grant (${patterns.join(', ')}): a restore re-creates them, and RBAC allows that only to who holds their rules`, rules },
      note: `read the rules of ${patterns.length} customer ClusterRole name(s): ${patterns.join(', ')}`,
    };
  } catch (e) {
    return { extra: null, note: `could not read the customers' ClusterRoles (${errorMessage(e)}): a restore of a customer with cluster RBAC also needs the rules they grant` };
  }
}
