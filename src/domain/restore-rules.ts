/**
 * What a restore may create: only what the customer owned, judged entry by entry before anything
 * is created. A backup custctl wrote passes every rule; an entry that does not is refused, and one
 * refused entry refuses the whole restore (exit 2, every refused entry listed).
 *
 * The rules (custctl wrote none of what they refuse):
 * - namespace.json is the Namespace `<prefix><key>` itself; row.json is this customer's row.
 * - objects/: namespaced kinds (by the API server's discovery; a kind whose scope is unknown is
 *   refused), each naming the namespace `<prefix><key>` (another namespace is refused, never
 *   rewritten), at the path custctl gives it.
 * - cluster/: ClusterRole and ClusterRoleBinding only, each owned by this customer by the rule
 *   deletion and cleanup-rbac use (domain/rbac-owner.ts: the name `^c<key>-customer-instance(-.*)?$`
 *   or the annotation meta.helm.sh/release-namespace=<namespace>); and not, on the cluster, an
 *   object of that name that the customer does not own.
 * - bindings grant only roles the customer owns: a ClusterRoleBinding's role is an owned
 *   ClusterRole; a RoleBinding's role is a Role (in the namespace) or an owned ClusterRole. A
 *   RoleBinding to a ClusterRole the customer does not own (cluster-admin, admin, edit, another
 *   customer's) is refused too: the ClusterRole is the platform's definition, not the customer's,
 *   and such a binding would hand its power over the namespace, the customer's service accounts
 *   and their cluster grants included, to whoever the archive names.
 *   Custctl's own grant in the namespace (a RoleBinding of `<name>-customer-namespace`, see
 *   doctor --print-rbac) is the platform's, not the customer's: it is not judged here, and the
 *   plan re-creates it only when it grants exactly the identity restoring (ownGrantSkip).
 * - a ClusterRoleBinding grants only the customer's own identities (its namespace's service
 *   accounts); a RoleBinding grants no one who stands for everybody (system:anonymous,
 *   system:authenticated, system:unauthenticated, system:serviceaccounts).
 * - an owned ClusterRole does not reach beyond itself: no aggregationRule, no
 *   `aggregate-to-*` label (its rules would join admin/edit/view, roles other tenants hold), no
 *   escalate/bind/impersonate, no every-verb on roles, bindings or identities.
 * - a PersistentVolumeClaim names no volume (spec.volumeName: custctl strips it; a named volume may
 *   be another customer's) and no data source in another namespace.
 * - a Helm release record is of this namespace, and its manifest holds nothing a later
 *   `helm uninstall` would remove outside the customer (cluster-scoped objects other than owned
 *   RBAC, objects in other namespaces).
 * - any other entry.
 *
 * These rules keep a restore inside what the customer owned; they cannot tell whether an owned
 * object is what the chart wrote. That trust comes from where the archive lies (see
 * domain/backup-location.ts).
 */
import { entryName, type BackupRow, type KubeObject } from './backup.js';
import type { CustomerId } from './customer-id.js';
import { UsageError } from './errors.js';
import { openCostNamePattern, ownershipRule, type RbacKind, type RbacObject } from './rbac-owner.js';

export const RBAC_GROUP = 'rbac.authorization.k8s.io';
const RBAC_V1 = `${RBAC_GROUP}/v1`;

/** One entry of the archive, parsed. */
export interface ArchivedObject {
  entry: string;
  object: KubeObject;
}

/** An object a Helm release record's manifest holds (as helm-cli parseManifest gives it). */
export interface RecordObject {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}

/** A Helm release record of the archive, decoded (or why it cannot be). */
export type ReleaseRecordFacts = { entry: string; release: string; namespace: string; objects: RecordObject[] } | { entry: string; error: string };

export interface RestoreContents {
  namespaceEntry: ArchivedObject | null;
  objects: readonly ArchivedObject[];
  cluster: readonly ArchivedObject[];
  row: BackupRow;
  /** entries that are none of manifest.json, row.json, namespace.json, objects/, cluster/ */
  otherEntries: readonly string[];
  releaseRecords: readonly ReleaseRecordFacts[];
}

export type Scope = 'cluster' | 'namespaced' | 'unknown';

export interface RestoreFacts {
  /** the API server's answer for apiVersion/kind; 'unknown' when it does not serve it */
  scope(apiVersion: string, kind: string): Scope;
  /** the ClusterRole/ClusterRoleBinding of that name on the cluster, null when there is none */
  live(kind: RbacKind, name: string): RbacObject | null;
  /** custctl's own grant in a customer namespace (least privilege): the role it binds */
  ownGrant?: OwnGrant;
}

/**
 * Custctl's grant inside a customer namespace: a RoleBinding of the ClusterRole `role`
 * (`<name>-customer-namespace`) made by the platform's provisioning, which a restore of the
 * namespace re-creates first for a ServiceAccount that has no other access there.
 */
export interface OwnGrant {
  role: string;
  /** the ServiceAccount restoring (its token says so); absent for other credentials */
  serviceAccount?: { namespace: string; name: string };
}

/** Is `o` a RoleBinding of custctl's namespace role? */
export function isOwnGrant(o: KubeObject, g: OwnGrant | undefined): boolean {
  if (!g || o.kind !== 'RoleBinding' || !o.apiVersion.startsWith(`${RBAC_GROUP}/`)) return false;
  const ref = (o.roleRef ?? {}) as RoleRef;
  return ref.kind === 'ClusterRole' && ref.name === g.role && ref.apiGroup === RBAC_GROUP;
}

/**
 * Why a restore leaves out custctl's grant, or null when it re-creates it: only a grant of exactly
 * the ServiceAccount restoring is made (so an archive cannot hand custctl's access to anyone else).
 */
export function ownGrantSkip(o: KubeObject, g: OwnGrant | undefined): string | null {
  if (!g || !isOwnGrant(o, g)) return null;
  const subjects = Array.isArray(o.subjects) ? (o.subjects as Subject[]) : [];
  const sa = g.serviceAccount;
  const exact = sa !== undefined && subjects.length === 1 && subjects[0]?.kind === 'ServiceAccount' && subjects[0].name === sa.name && subjects[0].namespace === sa.namespace;
  if (exact) return null;
  return `custctl's own access (ClusterRole ${g.role}) for ${subjects.map(subjectText).join(', ') || 'no one'}, not for the identity restoring${sa ? ` (ServiceAccount ${sa.namespace}/${sa.name})` : ''}: the platform's provisioning makes it`;
}

export interface RefusedEntry {
  entry: string;
  reason: string;
}

export const scopeKey = (apiVersion: string, kind: string) => `${apiVersion} ${kind}`;

const EVERYONE: ReadonlyArray<readonly [string, string]> = [
  ['User', 'system:anonymous'],
  ['Group', 'system:unauthenticated'],
  ['Group', 'system:authenticated'],
  ['Group', 'system:serviceaccounts'],
];

/** Resources whose every-verb grant (`*`) includes escalate, bind or impersonate. */
const POWER_RESOURCES = new Set(['*', 'roles', 'clusterroles', 'rolebindings', 'clusterrolebindings', 'users', 'groups', 'serviceaccounts', 'userextras', 'uids']);

interface Subject { kind?: unknown; name?: unknown; namespace?: unknown }
interface RoleRef { apiGroup?: unknown; kind?: unknown; name?: unknown }

const str = (v: unknown) => (typeof v === 'string' ? v : '');
const show = (v: unknown) => JSON.stringify(v ?? null);

export function rbacObjectOf(o: KubeObject): RbacObject {
  const ref = o.roleRef as RoleRef | undefined;
  return {
    kind: o.kind as RbacKind,
    name: o.metadata.name,
    annotations: o.metadata.annotations ?? {},
    ...(ref ? { roleRef: { kind: str(ref.kind), name: str(ref.name) } } : {}),
  };
}

/** The entry is at the path custctl gives that object (a second object of one name gets `.2.json`). */
function pathMatches(entry: string, o: KubeObject, clusterScoped: boolean): boolean {
  const base = entryName(o, clusterScoped);
  if (entry === base) return true;
  const stem = base.slice(0, -'.json'.length);
  return entry.startsWith(`${stem}.`) && /^\d+\.json$/.test(entry.slice(stem.length + 1));
}

function subjectText(s: Subject): string {
  return `${str(s.kind) || '?'} ${str(s.namespace) ? `${str(s.namespace)}/` : ''}${str(s.name) || '?'}`;
}

/** Why an owned ClusterRole reaches beyond itself, or null. */
export function clusterRoleProblem(o: KubeObject): string | null {
  if (o.aggregationRule !== undefined && o.aggregationRule !== null) return 'has an aggregationRule: it would take in the rules of other ClusterRoles';
  const agg = Object.keys(o.metadata.labels ?? {}).find((l) => l.startsWith(`${RBAC_GROUP}/aggregate-to-`));
  if (agg) return `is labelled ${agg}: its rules would be added to a built-in role that other customers' users hold`;
  const rules = Array.isArray(o.rules) ? (o.rules as Array<Record<string, unknown>>) : [];
  for (const r of rules) {
    const verbs = Array.isArray(r.verbs) ? r.verbs.map(str) : [];
    const resources = Array.isArray(r.resources) ? r.resources.map(str) : [];
    const strong = verbs.find((v) => v === 'escalate' || v === 'bind' || v === 'impersonate');
    if (strong) return `grants ${strong}: whoever holds it can give itself any permission`;
    if (verbs.includes('*') && resources.some((x) => POWER_RESOURCES.has(x))) return `grants every verb on ${resources.filter((x) => POWER_RESOURCES.has(x)).join(', ')}: that includes escalate, bind or impersonate`;
  }
  return null;
}

/** Every entry the restore refuses, with its reason; empty when everything is the customer's. */
export function judgeRestore(c: RestoreContents, customer: CustomerId, namespace: string, facts: RestoreFacts): RefusedEntry[] {
  const refused: RefusedEntry[] = [];
  const refuse = (entry: string, reason: string) => refused.push({ entry, reason });
  const notOwnedRule = `neither named ${openCostNamePattern(customer.key).source} nor annotated meta.helm.sh/release-namespace=${namespace}`;

  // row.json and namespace.json
  if (c.row.customerId !== customer.id) refuse('row.json', `is the row of ${show(c.row.customerId)}, not ${customer.id}`);
  if (c.row.instanceNamespace !== '' && c.row.instanceNamespace !== namespace) refuse('row.json', `names the namespace ${show(c.row.instanceNamespace)}, not ${namespace}`);
  if (/[\u0000-\u001f\u007f-\u009f]/.test(c.row.instanceUrl)) refuse('row.json', 'its instanceUrl holds a control character');
  if (c.namespaceEntry) {
    const n = c.namespaceEntry.object;
    if (n.apiVersion !== 'v1' || n.kind !== 'Namespace') refuse(c.namespaceEntry.entry, `is a ${n.apiVersion} ${n.kind}, not the Namespace`);
    else if (n.metadata.name !== namespace) refuse(c.namespaceEntry.entry, `is the namespace ${show(n.metadata.name)}, not ${namespace}`);
  }
  for (const e of c.otherEntries) refuse(e, 'is not an entry custctl writes (manifest.json, row.json, namespace.json, objects/…, cluster/…)');

  // cluster/: owned ClusterRoles and ClusterRoleBindings
  const ownedRoles = new Set<string>();
  const clusterOk = new Map<string, boolean>();
  const roles = c.cluster.filter((a) => a.object.kind === 'ClusterRole');
  const ordered = [...roles, ...c.cluster.filter((a) => a.object.kind !== 'ClusterRole')];
  for (const { entry, object: o } of ordered) {
    const before = refused.length;
    const isRbac = o.apiVersion === RBAC_V1 && (o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding');
    if (!isRbac) {
      refuse(entry, `is a ${o.apiVersion} ${o.kind}: a restore creates no cluster-scoped object but the customer's own ClusterRoles and ClusterRoleBindings`);
      continue;
    }
    if (!pathMatches(entry, o, true)) refuse(entry, `holds ${o.kind} ${o.metadata.name}, which custctl writes as ${entryName(o, true)}`);
    if (o.metadata.namespace !== undefined) refuse(entry, `is cluster-scoped but names the namespace ${show(o.metadata.namespace)}`);
    const rbac = rbacObjectOf(o);
    if (!ownershipRule(rbac, customer.key, namespace)) refuse(entry, `${o.kind} ${o.metadata.name} is not ${customer.id}'s: ${notOwnedRule}`);
    const live = facts.live(o.kind as RbacKind, o.metadata.name);
    if (live && !ownershipRule(live, customer.key, namespace)) refuse(entry, `${o.kind} ${o.metadata.name} exists on the cluster and is not ${customer.id}'s (${notOwnedRule}): a restore never takes over an object`);
    if (o.kind === 'ClusterRole') {
      const p = clusterRoleProblem(o);
      if (p) refuse(entry, `ClusterRole ${o.metadata.name} ${p}`);
    } else {
      const ref = (o.roleRef ?? {}) as RoleRef;
      const name = str(ref.name);
      if (ref.kind !== 'ClusterRole' || ref.apiGroup !== RBAC_GROUP) refuse(entry, `binds ${show(ref.kind)} ${show(ref.name)}: a ClusterRoleBinding grants a ClusterRole (${RBAC_GROUP})`);
      else if (!ownedRoles.has(name) && !openCostNamePattern(customer.key).test(name)) refuse(entry, `binds ClusterRole ${name}, which ${customer.id} does not own: a binding grants only a role the customer owns`);
      const subjects = Array.isArray(o.subjects) ? (o.subjects as Subject[]) : [];
      for (const s of subjects) {
        const own = (s.kind === 'ServiceAccount' && s.namespace === namespace) || (s.kind === 'Group' && s.name === `system:serviceaccounts:${namespace}`);
        if (!own) refuse(entry, `grants ${subjectText(s)} cluster-wide: a ClusterRoleBinding of ${customer.id} grants only service accounts of ${namespace}`);
      }
    }
    const ok = refused.length === before;
    clusterOk.set(`${o.kind}/${o.metadata.name}`, ok);
    if (ok && o.kind === 'ClusterRole') ownedRoles.add(o.metadata.name);
  }

  // objects/: namespaced objects of the customer's namespace
  for (const { entry, object: o } of c.objects) {
    const scope = facts.scope(o.apiVersion, o.kind);
    if (scope !== 'namespaced') {
      refuse(entry, scope === 'cluster'
        ? `${o.apiVersion} ${o.kind} is cluster-scoped: under objects/ it would be created cluster-wide`
        : `the API server does not serve ${o.apiVersion} ${o.kind}, so whether it is namespaced is unknown: refused`);
      continue;
    }
    if (!pathMatches(entry, o, false)) refuse(entry, `holds ${o.kind} ${o.metadata.name}, which custctl writes as ${entryName(o, false)}`);
    if (o.metadata.namespace !== namespace) {
      refuse(entry, o.metadata.namespace === undefined
        ? `names no namespace (custctl records each object's namespace, ${namespace})`
        : `names the namespace ${show(o.metadata.namespace)}, not ${namespace}: refused, not rewritten (custctl never writes an object of another namespace)`);
    }
    const group = o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : '';
    if (group === RBAC_GROUP && o.kind === 'RoleBinding' && !isOwnGrant(o, facts.ownGrant)) {
      const ref = (o.roleRef ?? {}) as RoleRef;
      const name = str(ref.name);
      if (ref.apiGroup !== RBAC_GROUP || (ref.kind !== 'Role' && ref.kind !== 'ClusterRole')) refuse(entry, `binds ${show(ref.kind)} ${show(ref.name)}: a RoleBinding grants a Role or ClusterRole (${RBAC_GROUP})`);
      else if (ref.kind === 'ClusterRole' && !ownedRoles.has(name) && !openCostNamePattern(customer.key).test(name)) {
        refuse(entry, `binds ClusterRole ${name}, which ${customer.id} does not own: inside the namespace too, a binding grants only a Role of the namespace or a ClusterRole the customer owns`);
      }
      for (const s of Array.isArray(o.subjects) ? (o.subjects as Subject[]) : []) {
        if (EVERYONE.some(([k, n]) => s.kind === k && s.name === n)) refuse(entry, `grants ${subjectText(s)}, which stands for everybody`);
      }
    }
    if (o.apiVersion === 'v1' && o.kind === 'PersistentVolumeClaim') {
      const spec = (o.spec ?? {}) as Record<string, unknown>;
      if (spec.volumeName) refuse(entry, `names the PersistentVolume ${show(spec.volumeName)}: custctl records no volumeName (the volume may be another customer's)`);
      const ref = spec.dataSourceRef as Record<string, unknown> | undefined;
      if (ref && ref.namespace !== undefined && ref.namespace !== namespace) refuse(entry, `takes its data from namespace ${show(ref.namespace)}`);
    }
  }

  // Helm release records: what a later `helm uninstall` would act on
  for (const r of c.releaseRecords) {
    if ('error' in r) {
      refuse(r.entry, `is a Helm release record custctl cannot read (${r.error}): a later deletion would act on what it says`);
      continue;
    }
    if (r.namespace !== namespace) refuse(r.entry, `is the record of Helm release ${r.release} in namespace ${show(r.namespace)}, not ${namespace}`);
    for (const o of r.objects) {
      const what = `Helm release ${r.release} holds ${o.kind} ${o.name}`;
      const scope = facts.scope(o.apiVersion, o.kind);
      if (scope === 'namespaced') {
        const where = o.namespace ?? namespace;
        if (where !== namespace) refuse(r.entry, `${what} in namespace ${where}: a later helm uninstall would delete it there`);
        continue;
      }
      const isRbac = o.apiVersion === RBAC_V1 && (o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding');
      if (!isRbac) {
        refuse(r.entry, `${what} (${o.apiVersion}, ${scope === 'cluster' ? 'cluster-scoped' : 'of unknown scope'}): a later helm uninstall would delete it for every customer`);
        continue;
      }
      const key = `${o.kind}/${o.name}`;
      const live = facts.live(o.kind as RbacKind, o.name);
      const owned = clusterOk.get(key) === true || openCostNamePattern(customer.key).test(o.name)
        || (!clusterOk.has(key) && live !== null && ownershipRule(live, customer.key, namespace) !== null);
      if (!owned) refuse(r.entry, `${what}, which ${customer.id} does not own: a later helm uninstall would delete it`);
    }
  }
  return refused;
}

/** The restore refused (exit 2): every refused entry, and that nothing was created. */
export class RestoreRefusedError extends UsageError {
  readonly refused: readonly RefusedEntry[];
  constructor(customerId: string, url: string, refused: readonly RefusedEntry[]) {
    const n = refused.length;
    const shown = refused.slice(0, 200).map((r) => `${r.entry}: ${r.reason}`);
    super(`refusing to restore ${customerId} from ${url}: ${n} entr${n === 1 ? 'y holds' : 'ies hold'} what the customer did not own, so nothing was created`, [
      ...shown,
      ...(n > shown.length ? [`… and ${n - shown.length} more`] : []),
      'A backup custctl wrote holds none of these: the archive was changed after it was written, or is not this customer\'s.',
    ]);
    this.refused = refused;
  }
}
