/**
 * What the API server serves: the API groups (preferred versions), the resources of each group
 * version (cached for the client's life; the group list for GROUPS_FRESH_MS), and whether a kind
 * is cluster-scoped (a table of well-known kinds first, discovery for the others).
 */
import { OperationError } from '../../errors.js';
import type { RetryPolicy } from '../retry.js';
import type { Client } from './client.js';
import { isNotFound } from './errors.js';

/** The API group list is read again after this (counting a terminating namespace asks for it repeatedly). */
const GROUPS_FRESH_MS = 30_000;

export interface ApiResource { name: string; kind: string; namespaced: boolean; verbs: string[] }

export function discoveryPath(groupVersion: string): string {
  return groupVersion.includes('/') ? `/apis/${groupVersion}` : `/api/${groupVersion}`;
}

/** `group/Kind` → cluster-scoped? (group '' is the core group). */
const WELL_KNOWN_SCOPE: ReadonlyMap<string, boolean> = new Map([
  // cluster-scoped
  ...[
    '/Namespace', '/Node', '/PersistentVolume', '/ComponentStatus',
    'rbac.authorization.k8s.io/ClusterRole', 'rbac.authorization.k8s.io/ClusterRoleBinding',
    'apiextensions.k8s.io/CustomResourceDefinition',
    'storage.k8s.io/StorageClass', 'storage.k8s.io/CSIDriver', 'storage.k8s.io/CSINode',
    'storage.k8s.io/VolumeAttachment', 'storage.k8s.io/VolumeAttributesClass',
    'scheduling.k8s.io/PriorityClass',
    'admissionregistration.k8s.io/ValidatingWebhookConfiguration',
    'admissionregistration.k8s.io/MutatingWebhookConfiguration',
    'admissionregistration.k8s.io/ValidatingAdmissionPolicy',
    'admissionregistration.k8s.io/ValidatingAdmissionPolicyBinding',
    'apiregistration.k8s.io/APIService',
    'networking.k8s.io/IngressClass', 'extensions/IngressClass',
    'node.k8s.io/RuntimeClass',
    'policy/PodSecurityPolicy', 'extensions/PodSecurityPolicy',
    'certificates.k8s.io/CertificateSigningRequest',
    'flowcontrol.apiserver.k8s.io/FlowSchema', 'flowcontrol.apiserver.k8s.io/PriorityLevelConfiguration',
    'authentication.k8s.io/TokenReview', 'authorization.k8s.io/SubjectAccessReview',
    'authorization.k8s.io/SelfSubjectAccessReview', 'authorization.k8s.io/SelfSubjectRulesReview',
  ].map((k) => [k, true] as const),
  // namespaced
  ...[
    '/Pod', '/Service', '/ConfigMap', '/Secret', '/ServiceAccount', '/PersistentVolumeClaim',
    '/Endpoints', '/Event', '/LimitRange', '/ResourceQuota', '/ReplicationController', '/PodTemplate',
    'apps/Deployment', 'apps/StatefulSet', 'apps/DaemonSet', 'apps/ReplicaSet', 'apps/ControllerRevision',
    'batch/Job', 'batch/CronJob',
    'autoscaling/HorizontalPodAutoscaler',
    'policy/PodDisruptionBudget',
    'networking.k8s.io/NetworkPolicy', 'networking.k8s.io/Ingress', 'extensions/Ingress', 'extensions/NetworkPolicy',
    'rbac.authorization.k8s.io/Role', 'rbac.authorization.k8s.io/RoleBinding',
    'coordination.k8s.io/Lease', 'discovery.k8s.io/EndpointSlice', 'events.k8s.io/Event',
    'storage.k8s.io/CSIStorageCapacity', 'authorization.k8s.io/LocalSubjectAccessReview',
  ].map((k) => [k, false] as const),
]);

export function groupOf(apiVersion: string): { group: string; version: string } {
  const i = apiVersion.indexOf('/');
  return i < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

/** true / false for well-known kinds, undefined when discovery must decide. */
export function wellKnownScope(apiVersion: string, kind: string): boolean | undefined {
  return WELL_KNOWN_SCOPE.get(`${groupOf(apiVersion).group}/${kind}`);
}

export interface Discovery {
  /** The resources of one group version (cached; a failure is not). A 404: the group version is not served. */
  discover(groupVersion: string, signal: AbortSignal | undefined, retry?: RetryPolicy): Promise<ApiResource[]>;
  /** `v1` and the preferred version of every API group, read again after GROUPS_FRESH_MS (a CRD added since shows up then). */
  preferredGroupVersions(signal: AbortSignal | undefined): Promise<string[]>;
  /** The resource of apiVersion/kind; a permanent OperationError when it is not served. */
  resourceOf(apiVersion: string, kind: string, signal?: AbortSignal): Promise<ApiResource>;
  /** Whether apiVersion/kind is cluster-scoped (well-known table first, discovery for others). */
  isClusterScoped(apiVersion: string, kind: string, signal?: AbortSignal): Promise<boolean>;
}

export function makeDiscovery(c: Client): Discovery {
  const discoveryCache = new Map<string, Promise<ApiResource[]>>();
  function discover(groupVersion: string, signal: AbortSignal | undefined, retry?: RetryPolicy): Promise<ApiResource[]> {
    let p = discoveryCache.get(groupVersion);
    if (!p) {
      p = c.get(discoveryPath(groupVersion), {}, 'application/json', signal, { verb: 'discover', what: groupVersion, ...(retry ? { retry } : {}) })
        .then((r) => ((r as { resources?: ApiResource[] }).resources ?? []));
      discoveryCache.set(groupVersion, p);
      p.catch(() => discoveryCache.delete(groupVersion));
    }
    return p;
  }

  let groupsRead: { at: number; value: Promise<string[]> } | null = null;
  function preferredGroupVersions(signal: AbortSignal | undefined): Promise<string[]> {
    if (groupsRead && Date.now() - groupsRead.at < GROUPS_FRESH_MS) return groupsRead.value;
    const value = readGroupVersions(c, signal);
    groupsRead = { at: Date.now(), value };
    value.catch(() => { if (groupsRead?.value === value) groupsRead = null; });
    return value;
  }

  async function resourceOf(apiVersion: string, kind: string, signal?: AbortSignal): Promise<ApiResource> {
    const r = (await discover(apiVersion, signal)).find((x) => x.kind === kind && !x.name.includes('/'));
    if (!r) throw new OperationError(`the API server ${c.target.server} does not serve ${apiVersion} ${kind}`, [], { permanent: true });
    return r;
  }

  async function isClusterScoped(apiVersion: string, kind: string, signal?: AbortSignal): Promise<boolean> {
    const known = wellKnownScope(apiVersion, kind);
    if (known !== undefined) return known;
    let resources: ApiResource[];
    try {
      resources = await discover(apiVersion, signal);
    } catch (e) {
      // the API does not serve that group/version: its kind cannot be placed, so it is treated
      // as cluster-scoped (the conservative answer: the plan shows it, an operator decides)
      if (isNotFound(e)) return true;
      throw e;
    }
    const r = resources.find((x) => x.kind === kind && !x.name.includes('/'));
    return r ? !r.namespaced : true;
  }

  return { discover, preferredGroupVersions, resourceOf, isClusterScoped };
}

async function readGroupVersions(c: Client, signal: AbortSignal | undefined): Promise<string[]> {
  const groups = await c.get('/apis', {}, 'application/json', signal, { verb: 'discover', what: 'API groups' }) as {
    groups?: Array<{ name: string; preferredVersion?: { groupVersion: string }; versions?: Array<{ groupVersion: string }> }>;
  };
  const out = ['v1'];
  for (const g of groups.groups ?? []) {
    const gv = g.preferredVersion?.groupVersion ?? g.versions?.[0]?.groupVersion;
    if (gv) out.push(gv);
  }
  return out;
}

/**
 * The namespaced, listable resource types of the group versions, extensions/v1beta1 last (it
 * serves the same Ingresses, etc. as their real groups on old servers), events left out.
 */
export function namespacedListable(perGv: ReadonlyArray<{ gv: string; resources: ApiResource[] }>): Array<{ gv: string; group: string; resource: ApiResource }> {
  const ordered = [...perGv.filter((x) => groupOf(x.gv).group !== 'extensions'), ...perGv.filter((x) => groupOf(x.gv).group === 'extensions')];
  const out: Array<{ gv: string; group: string; resource: ApiResource }> = [];
  for (const { gv, resources } of ordered) {
    const group = groupOf(gv).group;
    for (const r of resources) {
      if (!r.namespaced || r.name.includes('/') || r.name === 'events' || !r.verbs?.includes('list')) continue;
      out.push({ gv, group, resource: r });
    }
  }
  return out;
}
