/**
 * The read-only look before acting: releases (with their manifests' cluster-scoped objects), the
 * namespace, the owned cluster RBAC; with `detail`, the PVCs and a count of objects by kind.
 * Used for the plan (dry-run, confirmation) and at the start of every attempt.
 */
import type { CustomerRow } from '../adapters/store.js';
import type { CustomerId } from '../domain/customer-id.js';
import { classifyRbac } from '../domain/rbac-owner.js';
import { RbacIndex } from '../domain/rbac-index.js';
import { ConflictError, NotFoundError, UsageError } from '../errors.js';
import { releaseRemoval, type HelmUninstallMode, type RbacPresence } from './helm-need.js';
import type { Inspection, PipelineEnv, RbacRef, ReleasePlan } from './types.js';

const RBAC_KINDS = new Set(['ClusterRole', 'ClusterRoleBinding']);

export async function inspect(
  customer: CustomerId,
  namespace: string,
  row: CustomerRow,
  env: PipelineEnv,
  opts: { detail?: boolean; signal?: AbortSignal; helmUninstall?: HelmUninstallMode } = {},
): Promise<Inspection> {
  const { signal } = opts;
  const [releases, ns, rbacIndex] = await Promise.all([
    env.helm.listReleases(namespace, signal),
    env.kube.getNamespace(namespace, signal),
    // one listing shared by every deletion of the process, indexed by customer marks
    env.kube.clusterRbac ? env.kube.clusterRbac(signal) : env.kube.listClusterRbac(signal).then((l) => RbacIndex.of(l)),
  ]);
  // the manifests of several releases are read at once (no order among them)
  const manifestKinds: Record<string, number> = {};
  const plans = await Promise.all(releases.map(async (r) => {
    const { objects, unreadable, deleteHooks } = await env.helm.readRelease(r.name, namespace, signal);
    for (const o of objects) manifestKinds[o.kind] = (manifestKinds[o.kind] ?? 0) + 1;
    const clusterScoped: ReleasePlan['clusterScoped'] = [];
    const outsideNamespace: ReleasePlan['outsideNamespace'] = [];
    const clusterRbac: RbacRef[] = [];
    for (const o of objects) {
      if (!(await env.kube.isClusterScoped(o.apiVersion, o.kind, signal))) {
        // helm puts a namespaced object without metadata.namespace into the release's namespace
        const where = o.namespace ?? (r.namespace || namespace);
        if (where !== namespace) outsideNamespace.push({ ...o, namespace: where });
        continue;
      }
      if (RBAC_KINDS.has(o.kind) && o.apiVersion.startsWith('rbac.authorization.k8s.io/')) {
        clusterRbac.push({ kind: o.kind as RbacRef['kind'], name: o.name });
      } else {
        clusterScoped.push(o);
      }
    }
    return { ...r, clusterScoped, outsideNamespace, clusterRbac, unreadable, deleteHooks };
  }));
  // the objects carrying this customer's marks and the bindings of their roles: what classifyRbac needs
  const c = classifyRbac(rbacIndex.forCustomer(customer.key, namespace), customer.key, namespace);
  // what step 3 does with each cluster RBAC object a manifest names: helm is needed for one it would not delete
  const presence = new Map<string, RbacPresence>();
  for (const o of c.keptByPolicy) presence.set(`${o.kind}/${o.name}`, 'kept-by-policy');
  for (const o of c.owned) presence.set(`${o.kind}/${o.name}`, 'owned');
  const rbacPresence = (kind: string, name: string): RbacPresence => presence.get(`${kind}/${name}`) ?? (rbacIndex.get(kind, name) ? 'not-owned' : 'absent');
  const removalInput = { mode: opts.helmUninstall ?? 'auto', recordsInNamespace: env.helm.recordsInNamespace, rbac: rbacPresence } as const;
  const withRemoval: ReleasePlan[] = plans.map((p) => ({
    ...p,
    foreignRbac: p.clusterRbac.filter((o) => rbacPresence(o.kind, o.name) === 'not-owned'),
    foreignNamespaces: p.clusterScoped.filter((o) => o.kind === 'Namespace' && o.apiVersion === 'v1' && o.name !== namespace).map((o) => o.name),
    removal: releaseRemoval(p, removalInput),
  }));
  // a missing helm is refused before anything happens, when a release needs it
  if (withRemoval.some((p) => p.removal.by === 'helm')) await env.helm.ensureAvailable(signal);
  const ref = (o: { kind: RbacRef['kind']; name: string }): RbacRef => ({ kind: o.kind, name: o.name });
  const inspection: Inspection = {
    customer,
    namespace,
    row,
    releases: withRemoval,
    ns,
    rbac: {
      owned: c.owned.map((o) => ({ ...ref(o), rule: o.rule })),
      keptByPolicy: c.keptByPolicy.map((o) => ({ ...ref(o), rule: o.rule })),
      keptUnowned: c.keptUnowned.map(ref),
    },
    manifestKinds,
  };
  if (opts.detail && ns) {
    // counted, not listed: one small request per kind however many objects it holds
    const [pvcs, objects] = await Promise.all([env.kube.listPvcs(namespace, signal), env.kube.countNamespaceObjects(namespace, signal, { finalizers: false })]);
    inspection.pvcs = pvcs;
    inspection.objects = objects.map(({ resource, kind, count }) => ({ resource, kind, count }));
  }
  return inspection;
}

/**
 * A release holding objects outside the customer's namespace — cluster-scoped ones other than its
 * RBAC, or namespaced ones placed in another namespace (a ConfigMap in `monitoring`, a Secret in a
 * shared namespace) — would have `helm uninstall` delete what other customers may depend on.
 * Refused unless --allow-cluster-scoped (alias --allow-outside-namespace).
 */
export function refuseClusterScoped(insp: Inspection, allow: boolean): void {
  refuseForeignRbac(insp);
  const offending = insp.releases.filter((r) => r.clusterScoped.length > 0 || r.outsideNamespace.length > 0 || r.unreadable.length > 0);
  if (offending.length === 0 || allow) return;
  const lines = offending.flatMap((r) => [
    ...r.clusterScoped.map((o) => `release ${r.name}: ${o.kind} ${o.name} (${o.apiVersion}, cluster-scoped)`),
    ...r.outsideNamespace.map((o) => `release ${r.name}: ${o.kind} ${o.name} (${o.apiVersion}) in namespace ${o.namespace}`),
    ...r.unreadable.map((u) => `release ${r.name}: ${unreadableText(u)}: its objects are unknown and could be cluster-scoped`),
  ]);
  const what = [
    offending.some((r) => r.clusterScoped.length > 0) ? 'cluster-scoped objects' : '',
    offending.some((r) => r.outsideNamespace.length > 0) ? `objects in namespaces other than ${insp.namespace}` : '',
    offending.some((r) => r.unreadable.length > 0) ? 'manifest documents custctl cannot interpret' : '',
  ].filter((w) => w !== '').join(' and ');
  throw new UsageError(
    `refusing to delete ${insp.customer.id}: its Helm release holds ${what} that other customers may depend on`,
    [...lines, 'Nothing was changed. If these really belong to this customer alone, run again with --allow-cluster-scoped (alias --allow-outside-namespace): helm uninstall then removes the release.'],
  );
}

/**
 * What no deletion of a customer may remove, whatever the flags, named by a release's manifest
 * (`helm uninstall` deletes what a manifest names, whoever owns it, so a release record planted in
 * the namespace could name `cluster-admin` or `kube-system`):
 * - cluster RBAC that exists and is not this customer's (no `c<key>-customer-instance` name, no
 *   `meta.helm.sh/release-namespace` of its namespace);
 * - a Namespace other than the customer's own (custctl deletes `<prefix><key>` and no other).
 */
export function refuseForeignRbac(insp: Inspection): void {
  const rbac = insp.releases.flatMap((r) => (r.foreignRbac ?? []).map((o) => ({ release: r.name, ...o })));
  const namespaces = insp.releases.flatMap((r) => (r.foreignNamespaces ?? []).map((name) => ({ release: r.name, name })));
  if (rbac.length === 0 && namespaces.length === 0) return;
  const what = [
    rbac.length ? 'cluster RBAC that exists and is not this customer\'s' : '',
    namespaces.length ? `namespaces other than ${insp.namespace}` : '',
  ].filter(Boolean).join(' and ');
  throw new ConflictError(
    `refusing to delete ${insp.customer.id}: its Helm release names ${what}, and helm uninstall would delete them`,
    [
      ...rbac.map((o) => `release ${o.release}: ${o.kind} ${o.name} (no meta.helm.sh/release-namespace: ${insp.namespace}, no c${insp.customer.key}-customer-instance name)`),
      ...namespaces.map((o) => `release ${o.release}: Namespace ${o.name} (only ${insp.namespace} is ${insp.customer.id}'s)`),
      'Nothing was changed. No flag overrides this: check who created the release. Cluster RBAC that really is this customer\'s can be annotated meta.helm.sh/release-namespace=' + insp.namespace + '; a namespace never is.',
    ],
  );
}

/** `document 3 (chart/templates/x.yaml) could not be read: <why>` */
export function unreadableText(u: { index: number; source?: string; reason: string }): string {
  return `manifest document ${u.index}${u.source ? ` (${u.source})` : ''} could not be read: ${u.reason}`;
}

/**
 * A `deployed` row whose release, namespace and owned RBAC are all missing most likely means the
 * wrong cluster or context: refuse (exit 3) unless --allow-missing.
 */
export function refuseSuspiciousEmptiness(
  insp: Inspection,
  statusBefore: string | null,
  where: { context: string; server: string; database: string },
  allow: boolean,
): void {
  if (allow || statusBefore !== 'deployed') return;
  const empty = insp.releases.length === 0 && insp.ns === null && insp.rbac.owned.length === 0 && insp.rbac.keptByPolicy.length === 0;
  if (!empty) return;
  throw new NotFoundError(
    `refusing to delete ${insp.customer.id}: its row says deployed, but there is no Helm release, no namespace ${insp.namespace} and no cluster RBAC for it on this cluster`,
    [
      `kube context: ${where.context}`,
      `API server:   ${where.server}`,
      `database:     ${where.database}`,
      'This is most likely the wrong cluster or context. Nothing was changed.',
      'If the instance really is gone already, run again with --allow-missing to reset the row.',
    ],
  );
}

/**
 * The namespace was recreated since the deletion was accepted (another instance now lives there):
 * refuse before Helm touches anything.
 */
export function refuseRecreatedNamespace(insp: Inspection, acceptedUid: string | undefined): void {
  if (!acceptedUid || !insp.ns || insp.ns.uid === acceptedUid) return;
  throw new ConflictError(
    `refusing to delete ${insp.customer.id}: namespace ${insp.namespace} was recreated since the deletion was accepted (uid ${acceptedUid} → ${insp.ns.uid})`,
    ['Nothing was changed. If the new instance must go too, start a new deletion with custctl delete.'],
  );
}
