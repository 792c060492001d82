/**
 * What a deletion asks of the API server, as SelfSubjectAccessReview attributes: `custctl doctor`
 * asks the server itself whether the current user may do each, and README lists them as the RBAC a
 * deleting identity needs. Namespaced resources are asked for every namespace (a customer's
 * namespace is known only at deletion time).
 */
export interface RequiredAccess {
  verb: string;
  resource: string;
  /** '' is the core group */
  group: string;
  /** why custctl needs it, in the doctor's words */
  why: string;
  /** needed only by this feature (a denial is a warning); absent: by every deletion (a failure) */
  feature?: string;
}

export const REQUIRED_ACCESS: readonly RequiredAccess[] = [
  { verb: 'get', resource: 'namespaces', group: '', why: 'read the namespace and its uid before deleting it' },
  { verb: 'delete', resource: 'namespaces', group: '', why: 'delete the customer namespace (step 2)' },
  { verb: 'watch', resource: 'namespaces', group: '', why: 'wait until the namespace is gone' },
  { verb: 'list', resource: 'namespaces', group: '', why: 'cleanup-rbac: tell live customers from gone ones' },
  { verb: 'list', resource: 'clusterroles', group: 'rbac.authorization.k8s.io', why: 'find the ClusterRoles a customer left behind' },
  { verb: 'delete', resource: 'clusterroles', group: 'rbac.authorization.k8s.io', why: 'delete them (step 3)' },
  { verb: 'list', resource: 'clusterrolebindings', group: 'rbac.authorization.k8s.io', why: 'find the ClusterRoleBindings a customer left behind' },
  { verb: 'delete', resource: 'clusterrolebindings', group: 'rbac.authorization.k8s.io', why: 'delete them (step 3)' },
  { verb: 'list', resource: 'persistentvolumeclaims', group: '', why: 'show which volumes lose their data (the plan)' },
  { verb: 'get', resource: 'persistentvolumes', group: '', why: 'read the reclaim policy of each bound volume' },
  { verb: 'list', resource: 'secrets', group: '', why: 'helm reads its release records (Secrets) in the namespace' },
  { verb: 'get', resource: 'secrets', group: '', why: 'helm reads its release records' },
  { verb: 'delete', resource: 'secrets', group: '', why: 'helm uninstall deletes its release records' },
  { verb: 'list', resource: 'deployments', group: 'apps', why: 'find the workloads to suspend', feature: 'soft delete (--after)' },
  { verb: 'patch', resource: 'deployments', group: 'apps', why: 'scale them to 0 and back', feature: 'soft delete (--after)' },
  { verb: 'list', resource: 'statefulsets', group: 'apps', why: 'find the workloads to suspend', feature: 'soft delete (--after)' },
  { verb: 'patch', resource: 'statefulsets', group: 'apps', why: 'scale them to 0 and back', feature: 'soft delete (--after)' },
  { verb: 'list', resource: 'cronjobs', group: 'batch', why: 'find the CronJobs to suspend', feature: 'soft delete (--after)' },
  { verb: 'patch', resource: 'cronjobs', group: 'batch', why: 'suspend them and back', feature: 'soft delete (--after)' },
  { verb: 'list', resource: '*', group: '*', why: 'read every object of the namespace into the archive', feature: 'backup (--backup)' },
  { verb: 'create', resource: '*', group: '*', why: 're-create the objects of the archive', feature: 'restore' },
  { verb: 'get', resource: 'clusterroles', group: 'rbac.authorization.k8s.io', why: 'check that a ClusterRole of the archive is not already another\'s', feature: 'restore' },
  { verb: 'get', resource: 'clusterrolebindings', group: 'rbac.authorization.k8s.io', why: 'check that a ClusterRoleBinding of the archive is not already another\'s', feature: 'restore' },
  { verb: 'get', resource: 'volumesnapshotclasses', group: 'snapshot.storage.k8s.io', why: 'check that the class keeps its contents (Retain)', feature: 'volume snapshots (--snapshot-volumes)' },
  { verb: 'create', resource: 'volumesnapshots', group: 'snapshot.storage.k8s.io', why: 'snapshot each bound PVC before the deletion', feature: 'volume snapshots (--snapshot-volumes)' },
  { verb: 'list', resource: 'volumesnapshots', group: 'snapshot.storage.k8s.io', why: 'wait until the snapshots are ready', feature: 'volume snapshots (--snapshot-volumes)' },
  { verb: 'get', resource: 'volumesnapshotcontents', group: 'snapshot.storage.k8s.io', why: 'record each snapshot content and its handle', feature: 'volume snapshots (--snapshot-volumes)' },
];
