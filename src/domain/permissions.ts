/**
 * What custctl asks of the API server, feature by feature: the one table that `custctl doctor`
 * checks (SelfSubjectAccessReview) and `custctl doctor --print-rbac` turns into roles.
 *
 * Two scopes, because no RBAC rule can name "every customer namespace":
 * - `cluster`: granted cluster-wide (a ClusterRole bound by a ClusterRoleBinding): namespaces
 *   themselves, cluster RBAC, PersistentVolumes, snapshot classes and contents;
 * - `namespace`: granted inside each customer namespace only (a ClusterRole bound by a RoleBinding
 *   in that namespace, made with the namespace by the platform's provisioning), so custctl cannot
 *   read another namespace's Secrets or touch its objects.
 */
import { UsageError } from './errors.js';
import type { OwnGrant } from './restore-rules.js';

/** The features a role is made for; `delete` and `cleanup-rbac` are always there. */
export const FEATURES = ['delete', 'cleanup-rbac', 'backup', 'restore', 'snapshots', 'soft-delete'] as const;
export type Feature = (typeof FEATURES)[number];

/** How doctor names an optional feature (a denial is a warning); the required ones have none. */
export const FEATURE_LABELS: Partial<Record<Feature, string>> = {
  'soft-delete': 'soft delete (--after)',
  backup: 'backup (--backup)',
  restore: 'restore',
  snapshots: 'volume snapshots (--snapshot-volumes)',
};

export type AccessScope = 'cluster' | 'namespace';

export interface RequiredAccess {
  verb: string;
  resource: string;
  /** '' is the core group */
  group: string;
  /** why custctl needs it, in the doctor's words */
  why: string;
  uses: Feature;
  scope: AccessScope;
  /** only these objects (RBAC resourceNames), e.g. the one role a restore may bind */
  resourceNames?: readonly string[];
  /** needed only by this feature (a denial is a warning); absent: by every deletion (a failure) */
  feature?: string;
}

type Row = [verb: string, resource: string, group: string, why: string];
const rows = (uses: Feature, scope: AccessScope, list: Row[], extra: Partial<RequiredAccess> = {}): RequiredAccess[] =>
  list.map(([verb, resource, group, why]) => ({
    verb, resource, group, why, uses, scope, ...extra,
    ...(FEATURE_LABELS[uses] ? { feature: FEATURE_LABELS[uses] } : {}),
  }));

/** The default name of the roles (`custctl`, `custctl-customer-namespace`) and bindings. */
export const RBAC_NAME = 'custctl';
export const namespaceRoleName = (name: string): string => `${name}-customer-namespace`;

/** Every permission, `name` being the roles' name (restore binds the namespace role by name). */
export function requiredAccess(name = RBAC_NAME): RequiredAccess[] {
  return [
    ...rows('delete', 'cluster', [
      ['get', 'namespaces', '', 'read the namespace and its uid before deleting it'],
      ['delete', 'namespaces', '', 'delete the customer namespace (step 2)'],
      ['watch', 'namespaces', '', 'wait until the namespace is gone'],
      ['list', 'clusterroles', 'rbac.authorization.k8s.io', 'find the ClusterRoles a customer left behind'],
      ['delete', 'clusterroles', 'rbac.authorization.k8s.io', 'delete them (step 3)'],
      ['list', 'clusterrolebindings', 'rbac.authorization.k8s.io', 'find the ClusterRoleBindings a customer left behind'],
      ['delete', 'clusterrolebindings', 'rbac.authorization.k8s.io', 'delete them (step 3)'],
      ['get', 'persistentvolumes', '', 'read the reclaim policy of each bound volume'],
    ]),
    // speed only: without them custctl lists the cluster RBAC per deletion, and leaves the pods and
    // PVCs to the namespace controller (a denial is a warning)
    ...rows('delete', 'cluster', [
      ['watch', 'clusterroles', 'rbac.authorization.k8s.io', 'keep one listing of the ClusterRoles current through a bulk run'],
      ['watch', 'clusterrolebindings', 'rbac.authorization.k8s.io', 'keep one listing of the ClusterRoleBindings current through a bulk run'],
    ], { feature: 'one cluster RBAC listing per bulk run' }),
    ...rows('delete', 'namespace', [
      ['deletecollection', 'pods', '', 'delete the pods right after the namespace, before the namespace controller looks'],
      ['deletecollection', 'persistentvolumeclaims', '', "delete the PVCs then too (their protection finalizer otherwise costs the controller a second pass)"],
    ], { feature: 'pods and PVCs deleted with the namespace at once' }),
    ...rows('cleanup-rbac', 'cluster', [
      ['list', 'namespaces', '', 'cleanup-rbac: tell live customers from gone ones'],
    ]),
    ...rows('delete', 'namespace', [
      ['list', 'persistentvolumeclaims', '', 'show which volumes lose their data (the plan)'],
      ['list', 'secrets', '', 'helm reads its release records (Secrets) in the namespace'],
      ['get', 'secrets', '', 'helm reads its release records'],
      ['update', 'secrets', '', 'helm uninstall marks its release record uninstalling'],
      ['delete', 'secrets', '', 'helm uninstall deletes its release records'],
      ['list', '*', '*', 'count the objects of the namespace (the plan)'],
      ['delete', '*', '*', "helm uninstall deletes each object of the release (the chart's kinds)"],
    ]),
    ...rows('backup', 'namespace', [
      ['list', '*', '*', 'read every object of the namespace into the archive'],
    ]),
    ...rows('backup', 'cluster', [
      ['get', 'clusterroles', 'rbac.authorization.k8s.io', "read the customer's ClusterRoles into the archive"],
      ['get', 'clusterrolebindings', 'rbac.authorization.k8s.io', "read the customer's ClusterRoleBindings into the archive"],
    ]),
    ...rows('restore', 'cluster', [
      ['get', 'clusterroles', 'rbac.authorization.k8s.io', "check that a ClusterRole of the archive is not already another's"],
      ['get', 'clusterrolebindings', 'rbac.authorization.k8s.io', "check that a ClusterRoleBinding of the archive is not already another's"],
      ['create', 'namespaces', '', 're-create the namespace'],
      ['create', 'clusterroles', 'rbac.authorization.k8s.io', "re-create the customer's ClusterRoles (RBAC allows it only with their rules held)"],
      ['create', 'clusterrolebindings', 'rbac.authorization.k8s.io', "re-create the customer's ClusterRoleBindings"],
      ['create', 'rolebindings', 'rbac.authorization.k8s.io', "re-create the new namespace's RoleBinding of custctl's namespace role before anything else"],
    ]),
    ...rows('restore', 'cluster', [
      ['bind', 'clusterroles', 'rbac.authorization.k8s.io', `bind ${namespaceRoleName(name)} in the re-created namespace (and no other role)`],
    ], { resourceNames: [namespaceRoleName(name)] }),
    ...rows('restore', 'namespace', [
      ['create', '*', '*', 're-create the objects of the archive'],
      // RBAC lets a Role be created, and a role be bound, only by who holds its rules or may
      // escalate / bind: inside a customer namespace, whose every object custctl may delete anyway
      ['escalate', 'roles', 'rbac.authorization.k8s.io', "re-create the namespace's Roles, whatever they grant there"],
      ['bind', 'roles', 'rbac.authorization.k8s.io', "re-create the namespace's RoleBindings of its Roles"],
      ['bind', 'clusterroles', 'rbac.authorization.k8s.io', "re-create the namespace's RoleBindings of ClusterRoles (they grant inside it only)"],
    ]),
    ...rows('snapshots', 'cluster', [
      ['get', 'volumesnapshotclasses', 'snapshot.storage.k8s.io', 'check that the class keeps its contents (Retain)'],
      ['get', 'volumesnapshotcontents', 'snapshot.storage.k8s.io', 'record each snapshot content and its handle'],
    ]),
    ...rows('snapshots', 'namespace', [
      ['create', 'volumesnapshots', 'snapshot.storage.k8s.io', 'snapshot each bound PVC before the deletion'],
      ['list', 'volumesnapshots', 'snapshot.storage.k8s.io', 'wait until the snapshots are ready'],
    ]),
    ...rows('soft-delete', 'namespace', [
      ['list', 'deployments', 'apps', 'find the workloads to suspend'],
      ['patch', 'deployments', 'apps', 'scale them to 0 and back'],
      ['list', 'statefulsets', 'apps', 'find the workloads to suspend'],
      ['patch', 'statefulsets', 'apps', 'scale them to 0 and back'],
      ['list', 'cronjobs', 'batch', 'find the CronJobs to suspend'],
      ['patch', 'cronjobs', 'batch', 'suspend them and back'],
    ]),
  ];
}

/** The table with the default names: what doctor asks. */
export const REQUIRED_ACCESS: readonly RequiredAccess[] = requiredAccess();

/** One RBAC rule. */
export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** An extra rule the role must hold, with why (e.g. what a customer's ClusterRole grants, for a restore). */
export interface ExtraRules {
  why: string;
  rules: PolicyRule[];
}

const VERB_ORDER = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'bind', 'escalate'];
const byVerb = (a: string, b: string) => (VERB_ORDER.indexOf(a) + 100 * Number(!VERB_ORDER.includes(a))) - (VERB_ORDER.indexOf(b) + 100 * Number(!VERB_ORDER.includes(b))) || a.localeCompare(b);

/**
 * The rules of one scope for these features: the verbs of each resource merged, then resources
 * with the same verbs in one rule; a stable order (group, then resources) so the output diffs well.
 */
export function rulesFor(access: readonly RequiredAccess[], scope: AccessScope, features: ReadonlySet<Feature>): PolicyRule[] {
  const wanted = access.filter((a) => a.scope === scope && features.has(a.uses));
  const perResource = new Map<string, { group: string; resource: string; names: string; verbs: Set<string> }>();
  for (const a of wanted) {
    const names = (a.resourceNames ?? []).join(',');
    const key = `${a.group}\u0000${a.resource}\u0000${names}`;
    const e = perResource.get(key) ?? { group: a.group, resource: a.resource, names, verbs: new Set<string>() };
    e.verbs.add(a.verb);
    perResource.set(key, e);
  }
  const merged = new Map<string, PolicyRule>();
  for (const e of perResource.values()) {
    const verbs = [...e.verbs].sort(byVerb);
    const key = `${e.group}\u0000${verbs.join(',')}\u0000${e.names}`;
    const r = merged.get(key) ?? { apiGroups: [e.group], resources: [], verbs, ...(e.names ? { resourceNames: e.names.split(',') } : {}) };
    r.resources.push(e.resource);
    merged.set(key, r);
  }
  const groupRank = (g: string) => (g === '' ? '0' : g === '*' ? '2' : `1${g}`);
  return [...merged.values()]
    .map((r) => ({ ...r, resources: [...r.resources].sort() }))
    .sort((a, b) => groupRank(a.apiGroups[0] ?? '').localeCompare(groupRank(b.apiGroups[0] ?? '')) || (a.resources[0] ?? '').localeCompare(b.resources[0] ?? '') || a.verbs.join().localeCompare(b.verbs.join()));
}

export interface RbacManifestOptions {
  features: ReadonlySet<Feature>;
  /** the identity custctl runs as */
  serviceAccount: { namespace: string; name: string };
  /** the roles' name (default custctl) */
  name?: string;
  /** rules the cluster role must hold too (a restore re-creates the customers' ClusterRoles) */
  extra?: ExtraRules;
}

export interface KubeManifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [k: string]: unknown;
}

/**
 * The objects that give custctl exactly what these features need: its ServiceAccount, the
 * ClusterRole for the cluster-scoped part and its ClusterRoleBinding, and the ClusterRole for the
 * inside of a customer namespace, which a RoleBinding in each customer namespace grants
 * (`namespaceRoleBinding`: the provisioning makes it with the namespace).
 */
export function rbacManifests(o: RbacManifestOptions): KubeManifest[] {
  const name = o.name ?? RBAC_NAME;
  const access = requiredAccess(name);
  const features = [...FEATURES].filter((f) => o.features.has(f));
  const labels = { 'app.kubernetes.io/name': 'custctl', 'app.kubernetes.io/component': 'rbac' };
  const annotations = { 'custctl.io/features': features.join(',') };
  const clusterRules = rulesFor(access, 'cluster', o.features);
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: o.serviceAccount.name, namespace: o.serviceAccount.namespace, labels } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole',
      metadata: { name, labels, annotations: { ...annotations, ...(o.extra ? { 'custctl.io/extra-rules': o.extra.why } : {}) } },
      rules: [...clusterRules, ...(o.extra?.rules ?? [])],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding',
      metadata: { name, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ kind: 'ServiceAccount', name: o.serviceAccount.name, namespace: o.serviceAccount.namespace }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole',
      metadata: { name: namespaceRoleName(name), labels, annotations: { ...annotations, 'custctl.io/bound-by': 'a RoleBinding in each customer namespace' } },
      rules: rulesFor(access, 'namespace', o.features),
    },
  ];
}

/** The RoleBinding each customer namespace carries, so custctl may act inside it (and nowhere else). */
export function namespaceRoleBinding(namespace: string, o: Pick<RbacManifestOptions, 'serviceAccount' | 'name'>): KubeManifest {
  const name = o.name ?? RBAC_NAME;
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding',
    metadata: { name, namespace, annotations: { 'helm.sh/resource-policy': 'keep' } },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: namespaceRoleName(name) },
    subjects: [{ kind: 'ServiceAccount', name: o.serviceAccount.name, namespace: o.serviceAccount.namespace }],
  };
}

/** `--features backup,restore` (or `all`): the set, with delete and cleanup-rbac always in it. */
export function parseFeatures(raw: readonly string[]): Set<Feature> {
  const out = new Set<Feature>(['delete', 'cleanup-rbac']);
  for (const part of raw.flatMap((r) => r.split(',')).map((s) => s.trim()).filter(Boolean)) {
    if (part === 'all') FEATURES.forEach((f) => out.add(f));
    else if ((FEATURES as readonly string[]).includes(part)) out.add(part as Feature);
    else throw new UsageError(`unknown feature ${JSON.stringify(part)}: ${FEATURES.join(', ')} or all`);
  }
  return out;
}

/** custctl's own grant in a customer namespace, for a restore: its role and the ServiceAccount restoring (when the credentials say). */
export function ownGrantOf(name: string, target: { serviceAccount?: { namespace: string; name: string } | undefined }): OwnGrant {
  return { role: namespaceRoleName(name), ...(target.serviceAccount ? { serviceAccount: target.serviceAccount } : {}) };
}
