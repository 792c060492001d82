/**
 * The cluster's ClusterRoles and ClusterRoleBindings, indexed by the customer marks they carry, so
 * that many deletions (a bulk run, `serve`, `worker`) share one listing and each finds its own
 * objects without scanning every object of the cluster. Pure: filled and updated by the caller.
 *
 * Only what the ownership rules read is kept of each object (kind, name, the two helm annotations,
 * a binding's roleRef): memory stays small at 100,000 objects.
 */
import { RELEASE_NAMESPACE_ANNOTATION, RESOURCE_POLICY_ANNOTATION, keyFromOpenCostName, type RbacKind, type RbacObject } from './rbac-owner.js';

const KEPT_ANNOTATIONS = [RELEASE_NAMESPACE_ANNOTATION, RESOURCE_POLICY_ANNOTATION] as const;

/** `obj` with only the annotations the ownership rules read. */
export function slimRbac(kind: RbacKind, name: string, annotations: Readonly<Record<string, string>> | undefined, roleRef?: { kind: string; name: string }): RbacObject {
  const kept: Record<string, string> = {};
  for (const a of KEPT_ANNOTATIONS) {
    const v = annotations?.[a];
    if (v !== undefined) kept[a] = v;
  }
  return { kind, name, annotations: kept, ...(roleRef ? { roleRef: { kind: roleRef.kind, name: roleRef.name } } : {}) };
}

const id = (kind: string, name: string): string => `${kind}/${name}`;

function addTo(m: Map<string, Set<string>>, k: string, v: string): void {
  let s = m.get(k);
  if (!s) m.set(k, (s = new Set()));
  s.add(v);
}

function removeFrom(m: Map<string, Set<string>>, k: string, v: string): void {
  const s = m.get(k);
  if (!s) return;
  s.delete(v);
  if (s.size === 0) m.delete(k);
}

export class RbacIndex {
  private readonly objects = new Map<string, RbacObject>();
  /** customer key (from a `c<key>-customer-instance…` name) → object ids */
  private readonly byNameKey = new Map<string, Set<string>>();
  /** `meta.helm.sh/release-namespace` value → object ids */
  private readonly byReleaseNamespace = new Map<string, Set<string>>();
  /** ClusterRole name → ids of the bindings that reference it */
  private readonly bindingsOfRole = new Map<string, Set<string>>();

  static of(objects: Iterable<RbacObject>): RbacIndex {
    const i = new RbacIndex();
    for (const o of objects) i.put(o);
    return i;
  }

  get size(): number {
    return this.objects.size;
  }

  /** Adds or replaces the object of that kind and name. */
  put(o: RbacObject): void {
    const k = id(o.kind, o.name);
    if (this.objects.has(k)) this.remove(o.kind, o.name);
    this.objects.set(k, o);
    const key = keyFromOpenCostName(o.name);
    if (key !== null) addTo(this.byNameKey, key, k);
    const ns = o.annotations[RELEASE_NAMESPACE_ANNOTATION];
    if (ns !== undefined) addTo(this.byReleaseNamespace, ns, k);
    if (o.kind === 'ClusterRoleBinding' && o.roleRef?.kind === 'ClusterRole') addTo(this.bindingsOfRole, o.roleRef.name, k);
  }

  remove(kind: RbacKind, name: string): void {
    const k = id(kind, name);
    const o = this.objects.get(k);
    if (!o) return;
    this.objects.delete(k);
    const key = keyFromOpenCostName(o.name);
    if (key !== null) removeFrom(this.byNameKey, key, k);
    const ns = o.annotations[RELEASE_NAMESPACE_ANNOTATION];
    if (ns !== undefined) removeFrom(this.byReleaseNamespace, ns, k);
    if (o.kind === 'ClusterRoleBinding' && o.roleRef?.kind === 'ClusterRole') removeFrom(this.bindingsOfRole, o.roleRef.name, k);
  }

  /** Every object of `kind` replaced by `objects` (a kind listed again). */
  replaceKind(kind: RbacKind, objects: Iterable<RbacObject>): void {
    for (const o of [...this.objects.values()]) if (o.kind === kind) this.remove(o.kind, o.name);
    for (const o of objects) if (o.kind === kind) this.put(o);
  }

  get(kind: string, name: string): RbacObject | undefined {
    return this.objects.get(id(kind, name));
  }

  all(): RbacObject[] {
    return [...this.objects.values()];
  }

  /**
   * What concerns one customer: every object carrying its marks (its `c<key>-customer-instance…`
   * name, or `meta.helm.sh/release-namespace: <namespace>`) and every binding of a role among
   * them. classifyRbac over this gives what it gives over every object of the cluster.
   */
  forCustomer(key: string, namespace: string): RbacObject[] {
    const ids = new Set<string>([...(this.byNameKey.get(key) ?? []), ...(this.byReleaseNamespace.get(namespace) ?? [])]);
    for (const k of [...ids]) {
      const o = this.objects.get(k);
      if (o?.kind === 'ClusterRole') for (const b of this.bindingsOfRole.get(o.name) ?? []) ids.add(b);
    }
    return [...ids].map((k) => this.objects.get(k)).filter((o): o is RbacObject => o !== undefined);
  }
}
