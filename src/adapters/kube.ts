/**
 * The cluster. This file holds only types so that importing it costs nothing; kube/ (index.ts)
 * holds the implementation (plain HTTPS; client-node only for exec/auth-provider users) and is
 * loaded on demand.
 */
import type { KubeObject } from '../domain/backup.js';
import type { RbacKind, RbacObject } from '../domain/rbac-owner.js';
import type { RbacIndex } from '../domain/rbac-index.js';
import type { RecordResource, ReleaseSecret } from './helm-storage.js';

export interface NamespaceCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export interface NamespaceInfo {
  name: string;
  uid: string;
  /** Active | Terminating */
  phase: string;
  deletionTimestamp?: string;
  conditions: NamespaceCondition[];
  /** spec.finalizers */
  finalizers: string[];
}

export interface PvcInfo {
  name: string;
  phase: string;
  storage?: string;
  volumeName?: string;
  /** of the bound PV: Delete | Retain | Recycle; undefined when unbound */
  reclaimPolicy?: string;
}

export interface CountOptions {
  /** collect the finalizers of the objects (pages through every object); default true */
  finalizers?: boolean;
  /** count only these resources (labels as returned: `configmaps`, `deployments.apps`) */
  only?: ReadonlySet<string>;
}

export interface NamespacedObjectCount {
  /** e.g. `configmaps`, `deployments.apps` */
  resource: string;
  kind: string;
  count: number;
  /** finalizers found on these objects (deduplicated) */
  finalizers: string[];
}

/** What a soft delete suspends: a Deployment or StatefulSet (scaled to 0) or a CronJob (suspended). */
export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'CronJob';

export interface Workload {
  kind: WorkloadKind;
  name: string;
  /** spec.replicas (Deployment, StatefulSet) */
  replicas?: number;
  /** spec.suspend (CronJob) */
  suspend?: boolean;
  annotations: Record<string, string>;
  resourceVersion: string;
}

export interface ClusterTarget {
  context: string;
  server: string;
  user?: string;
  kubeconfig: string;
  /** the ServiceAccount the credentials are a token of (read from the token itself), when they are */
  serviceAccount?: { namespace: string; name: string };
}

export interface Kube {
  readonly target: ClusterTarget;
  /** the API server answered a request of this process: a refused connection now means it is restarting */
  answered?(): boolean;

  /** GET namespace; null on 404. */
  getNamespace(name: string, signal?: AbortSignal): Promise<NamespaceInfo | null>;
  /**
   * DELETE namespace with preconditions.uid = uid (propagationPolicy Background).
   * 'not-found' on 404; a uid mismatch (409) is a ConflictError: the namespace was recreated.
   */
  deleteNamespace(name: string, uid: string, signal?: AbortSignal): Promise<'deleted' | 'not-found'>;
  /**
   * In a namespace this process has just deleted (Terminating: nothing can be created in it any
   * more), deletes the pods and PVCs at once instead of leaving them to the namespace
   * controller, which first looks 5 s after the deletion: a PVC's `kubernetes.io/pvc-protection`
   * finalizer (held until no pod uses it) or a pod's grace period then costs it a second pass,
   * ~5 s later. What `helm uninstall` did early, before the namespace was deleted. Best effort:
   * a refusal (no `deletecollection` permission) or a failure only leaves them to the controller.
   */
  hastenNamespaceDeletion?(name: string, signal?: AbortSignal): Promise<void>;
  /**
   * Waits until GET namespace answers 404, with a watch on fieldSelector=metadata.name=NAME and
   * timeoutSeconds, re-checking with a GET after every reconnect. Resolves 'timeout' at the deadline.
   */
  waitNamespaceGone(name: string, timeoutMs: number, signal?: AbortSignal): Promise<'gone' | 'timeout'>;
  /** Every ClusterRole and ClusterRoleBinding, with only the annotations the ownership rules read (two paged lists, shared). */
  listClusterRbac(signal?: AbortSignal): Promise<RbacObject[]>;
  /**
   * The same, indexed by customer marks (src/domain/rbac-index.ts): one listing shared by every
   * deletion of the process, kept current by a watch after followClusterRbac().
   */
  clusterRbac?(signal?: AbortSignal): Promise<RbacIndex>;
  /** Several deletions will read the cluster RBAC (bulk, serve, worker, a sweep): keep one listing current instead of listing per deletion. */
  followClusterRbac?(): void;
  /** Stops background watches and closes idle connections. */
  close?(): void;
  /** 'not-found' on 404. */
  deleteClusterRbac(kind: RbacKind, name: string, signal?: AbortSignal): Promise<'deleted' | 'not-found'>;
  /** PVCs in the namespace with the reclaim policy of their bound PVs. */
  listPvcs(namespace: string, signal?: AbortSignal): Promise<PvcInfo[]>;
  /**
   * Objects still in the namespace, by resource (discovery of namespaced, listable resources).
   * Without finalizers, each resource is counted from one request (the server's remainingItemCount),
   * never listed whole.
   */
  countNamespaceObjects(namespace: string, signal?: AbortSignal, opts?: CountOptions): Promise<NamespacedObjectCount[]>;
  /** Whether apiVersion/kind is cluster-scoped (well-known table first, discovery for others). */
  isClusterScoped(apiVersion: string, kind: string, signal?: AbortSignal): Promise<boolean>;
  /** Every namespace name (one list call, paged). */
  listNamespaceNames(signal?: AbortSignal): Promise<string[]>;
  /** Helm's release records in the namespace (Secrets, or ConfigMaps, labelled owner=helm), data included. */
  listHelmReleaseRecords(namespace: string, resource: RecordResource, signal?: AbortSignal): Promise<ReleaseSecret[]>;
  /** Deployments, StatefulSets and CronJobs in the namespace (soft delete). */
  listWorkloads(namespace: string, signal?: AbortSignal): Promise<Workload[]>;
  /**
   * A JSON merge patch of one workload, with `metadata.resourceVersion` as its precondition (a
   * concurrent change answers 409: ConflictError). 'not-found' on 404.
   */
  patchWorkload(namespace: string, w: Pick<Workload, 'kind' | 'name' | 'resourceVersion'>, patch: Record<string, unknown>, signal?: AbortSignal): Promise<'patched' | 'not-found'>;
  /** Every object of every listable namespaced type (CRDs included, events left out), full JSON. */
  exportNamespaceObjects(namespace: string, signal?: AbortSignal): Promise<KubeObject[]>;
  /** GET a cluster-scoped object; null on 404. */
  readClusterObject(apiVersion: string, kind: string, name: string, signal?: AbortSignal): Promise<KubeObject | null>;
  /** POST an object (its namespace from metadata); 'exists' when it is already there. */
  createObject(o: KubeObject, signal?: AbortSignal): Promise<'created' | 'exists'>;
  /**
   * The bearer token this user's requests carry when it comes from an exec credential plugin
   * (fetched once per expiry); null for any other kind of credential. helm is given it, so that a
   * helm process does not run the plugin again.
   */
  pluginToken?(signal?: AbortSignal): Promise<string | null>;
  /** The API server's version (GET /version: gitVersion). For `version` and `doctor`. */
  serverVersion?(signal?: AbortSignal): Promise<string>;
  /** Asks the API server whether this user may do each (SelfSubjectAccessReview). For `doctor`. */
  accessReview?(checks: readonly AccessCheck[], signal?: AbortSignal): Promise<AccessAnswer[]>;
  /** The VolumeSnapshot API (snapshot.storage.k8s.io/v1), for `delete --snapshot-volumes`. */
  volumeSnapshots?: VolumeSnapshotApi;
}

export interface VolumeSnapshotClassInfo {
  name: string;
  driver: string;
  /** Retain | Delete */
  deletionPolicy: string;
}

export interface VolumeSnapshotInfo {
  name: string;
  /** spec.source.persistentVolumeClaimName */
  pvc: string;
  className?: string;
  labels: Record<string, string>;
  readyToUse: boolean;
  boundContentName?: string;
  /** status.restoreSize (a quantity, e.g. `1Gi`) */
  restoreSize?: string;
  /** status.error.message */
  error?: string;
}

export interface VolumeSnapshotContentInfo {
  name: string;
  deletionPolicy: string;
  driver: string;
  snapshotHandle?: string;
  /** status.restoreSize, bytes */
  restoreSizeBytes?: number;
  /** spec.volumeSnapshotRef: the VolumeSnapshot it is bound to */
  snapshotRef: { namespace?: string; name?: string };
  readyToUse: boolean;
  error?: string;
}

export interface VolumeSnapshotRequest {
  name: string;
  pvc: string;
  className: string;
  labels: Record<string, string>;
}

export interface VolumeSnapshotApi {
  /** Whether the server serves snapshot.storage.k8s.io/v1 with its three resources (discovery). */
  served(signal?: AbortSignal): Promise<boolean>;
  /** null on 404. */
  getClass(name: string, signal?: AbortSignal): Promise<VolumeSnapshotClassInfo | null>;
  /** The VolumeSnapshots of the namespace that match the label selector. */
  list(namespace: string, labelSelector: string, signal?: AbortSignal): Promise<VolumeSnapshotInfo[]>;
  /** POST a VolumeSnapshot of the PVC; 'exists' when one of that name is already there. */
  create(namespace: string, r: VolumeSnapshotRequest, signal?: AbortSignal): Promise<'created' | 'exists'>;
  /** null on 404. */
  getContent(name: string, signal?: AbortSignal): Promise<VolumeSnapshotContentInfo | null>;
}

/** One permission, as a SelfSubjectAccessReview's resourceAttributes (group '' is the core group). */
export interface AccessCheck {
  verb: string;
  resource: string;
  group: string;
  /** unset: cluster-wide (or every namespace, for a namespaced resource) */
  namespace?: string;
  /** one object (RBAC resourceNames) */
  name?: string;
}

export interface AccessAnswer extends AccessCheck {
  allowed: boolean;
  /** the authorizer's reason, when it gave one */
  reason?: string;
}
