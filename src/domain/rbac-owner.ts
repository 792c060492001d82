/** Which cluster-scoped RBAC objects a customer instance owns (DESIGN "Names and ownership"). */

export const RELEASE_NAMESPACE_ANNOTATION = 'meta.helm.sh/release-namespace';
export const RESOURCE_POLICY_ANNOTATION = 'helm.sh/resource-policy';

export type RbacKind = 'ClusterRole' | 'ClusterRoleBinding';

export interface RbacObject {
  kind: RbacKind;
  name: string;
  annotations: Readonly<Record<string, string>>;
  /** bindings only */
  roleRef?: { kind: string; name: string };
}

export type OwnershipRule = 'release-namespace-annotation' | 'opencost-name';

/** `^c<key>-customer-instance(-.*)?$`, matched exactly: never a substring. */
export function openCostNamePattern(key: string): RegExp {
  return new RegExp(`^c${key}-customer-instance(-.*)?$`);
}

/** The key an OpenCost-style name belongs to, or null. Keys are [a-z0-9]{1,44}. */
export function keyFromOpenCostName(name: string): string | null {
  const m = /^c([a-z0-9]{1,44})-customer-instance(-.*)?$/.exec(name);
  return m?.[1] ?? null;
}

/** Why `obj` belongs to the instance in `namespace` with `key`, or null when it does not. */
export function ownershipRule(obj: RbacObject, key: string, namespace: string): OwnershipRule | null {
  if (obj.annotations[RELEASE_NAMESPACE_ANNOTATION] === namespace) return 'release-namespace-annotation';
  if (openCostNamePattern(key).test(obj.name)) return 'opencost-name';
  return null;
}

export function keptByPolicy(obj: RbacObject): boolean {
  return (obj.annotations[RESOURCE_POLICY_ANNOTATION] ?? '').split(',').map((s) => s.trim()).includes('keep');
}

export interface RbacClassification {
  /** owned, to delete */
  owned: Array<RbacObject & { rule: OwnershipRule }>;
  /** owned but annotated helm.sh/resource-policy: keep */
  keptByPolicy: Array<RbacObject & { rule: OwnershipRule }>;
  /** bindings without an ownership mark that reference an owned role: reported, never deleted */
  keptUnowned: RbacObject[];
}

export function classifyRbac(objects: readonly RbacObject[], key: string, namespace: string): RbacClassification {
  const owned: RbacClassification['owned'] = [];
  const kept: RbacClassification['keptByPolicy'] = [];
  for (const obj of objects) {
    const rule = ownershipRule(obj, key, namespace);
    if (!rule) continue;
    (keptByPolicy(obj) ? kept : owned).push({ ...obj, rule });
  }
  const ownedRoles = new Set([...owned, ...kept].filter((o) => o.kind === 'ClusterRole').map((o) => o.name));
  const keptUnowned = objects.filter(
    (o) => o.kind === 'ClusterRoleBinding' && o.roleRef?.kind === 'ClusterRole' && ownedRoles.has(o.roleRef.name)
      && ownershipRule(o, key, namespace) === null,
  );
  return { owned, keptByPolicy: kept, keptUnowned };
}
