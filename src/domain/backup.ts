/**
 * Backups of a customer's instance: what an archive holds (the manifest), how an object is cleaned
 * of what the server set, and in which order a restore creates objects. Pure rules, no I/O.
 */
import { UsageError } from './errors.js';
import type { VolumeSnapshotRecord } from './volume-snapshots.js';

export const MANIFEST_NAME = 'manifest.json';
export const BACKUP_FORMAT = 1;

/** One Kubernetes object as stored: plain JSON with apiVersion, kind, metadata. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

export interface ManifestEntry {
  /** path inside the archive */
  name: string;
  sha256: string;
  bytes: number;
}

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  custctlVersion: string;
  createdAt: string;
  customerId: string;
  namespace: string;
  cluster: { server: string; context: string };
  /** namespaced objects by kind (`apps/v1 Deployment` → `Deployment`), plus ClusterRole/ClusterRoleBinding */
  counts: Record<string, number>;
  /** Helm releases found in the namespace (their records are Secrets in `objects/`) */
  releases: string[];
  /** the VolumeSnapshots taken before the deletion (`--snapshot-volumes`): where the volumes' data is */
  volumeSnapshots?: VolumeSnapshotRecord[];
  entries: ManifestEntry[];
}

/** The customer's row as the backup records it. */
export interface BackupRow {
  customerId: string;
  email: string;
  companyName: string;
  deploymentStatus: string;
  instanceNamespace: string;
  instanceUrl: string;
}

export type BackupUrl = { scheme: 'file'; dir: string; url: string } | { scheme: 's3'; bucket: string; prefix: string; url: string };

/** `file:///abs/dir` or `s3://bucket/prefix`; anything else is a usage error. */
export function parseBackupUrl(raw: string, flag = '--backup'): BackupUrl {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError(`${flag} ${JSON.stringify(raw)} is not a URL: use file:///absolute/dir or s3://bucket/prefix`);
  }
  if (u.protocol === 'file:') {
    if (u.host !== '' && u.host !== 'localhost') throw new UsageError(`${flag} ${JSON.stringify(raw)}: a file URL names a local directory (file:///dir), not a host`);
    const dir = decodeURIComponent(u.pathname).replace(/\/+$/, '') || '/';
    return { scheme: 'file', dir, url: `file://${dir}` };
  }
  if (u.protocol === 's3:') {
    if (!u.hostname) throw new UsageError(`${flag} ${JSON.stringify(raw)}: s3://bucket/prefix needs a bucket`);
    const prefix = decodeURIComponent(u.pathname).replace(/^\/+|\/+$/g, '');
    return { scheme: 's3', bucket: u.hostname, prefix, url: `s3://${u.hostname}${prefix ? `/${prefix}` : ''}` };
  }
  throw new UsageError(`${flag} ${JSON.stringify(raw)}: only file:// and s3:// backup targets are supported`);
}

/**
 * `cust_abc123-20261201T131500Z.tar.gz` (`.tar.gz.age` when encrypted): sortable by time, one
 * customer's backups share a prefix.
 */
export function archiveName(customerId: string, at: Date, encrypted = false): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
  return `${customerId}-${stamp}.tar.gz${encrypted ? '.age' : ''}`;
}

/** Beside an encrypted archive `NAME.age`: `NAME.age.sums.json`, its checksums (BackupSums). */
export const SUMS_SUFFIX = '.sums.json';

/**
 * What is recorded beside an encrypted archive, so that the archive can be proven intact without
 * the identity (the sha256 of the encrypted bytes) and, once decrypted, proven to be the archive
 * that was verified before encryption (the sha256 of the .tar.gz and of its manifest.json). No
 * per-entry sums: a Secret's sum could be matched against guessed values without the identity.
 */
export interface BackupSums {
  format: typeof BACKUP_FORMAT;
  archive: string;
  customerId: string;
  createdAt: string;
  encryption: 'age';
  recipients: string[];
  encrypted: { sha256: string; bytes: number };
  plaintext: { sha256: string; bytes: number };
  manifest: { sha256: string; entries: number };
}

const BECH32 = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const RECIPIENT = new RegExp(`^age1(pq1)?[${BECH32}]{50,}$`);

/**
 * age public keys (`age1…`, X25519; `age1pq1…`, post-quantum hybrid), each flag value or the
 * variable's value split at commas and white space. An empty list means no encryption.
 */
export function parseRecipients(values: readonly string[], source = '--backup-recipient'): string[] {
  const out: string[] = [];
  for (const r of values.flatMap((v) => v.split(/[\s,]+/)).filter(Boolean)) {
    if (r.startsWith('AGE-SECRET-KEY-')) throw new UsageError(`${source}: that is an age secret key (an identity); a backup is encrypted to the public key (age1…), and the secret key stays with whoever restores`);
    if (!RECIPIENT.test(r)) throw new UsageError(`${source} ${JSON.stringify(r.slice(0, 80))} is not an age public key (age1…, as age-keygen prints it)`);
    if (!out.includes(r)) out.push(r);
  }
  return out;
}

const SERVER_SET_METADATA = ['uid', 'resourceVersion', 'creationTimestamp', 'managedFields', 'generation', 'selfLink', 'deletionTimestamp', 'deletionGracePeriodSeconds'] as const;
const SERVER_SET_ANNOTATIONS = ['kubectl.kubernetes.io/last-applied-configuration', 'deployment.kubernetes.io/revision', 'pv.kubernetes.io/bind-completed', 'pv.kubernetes.io/bound-by-controller', 'volume.beta.kubernetes.io/storage-provisioner', 'volume.kubernetes.io/storage-provisioner', 'volume.kubernetes.io/selected-node'];

/**
 * The object without what the server set: status, uid, resourceVersion, creationTimestamp,
 * managedFields, generation, and the fields the API server allocates in a spec
 * (a Service's cluster IPs, a PVC's bound volume). Owner references stay: a restore skips what a
 * controller made.
 */
export function normalizeObject(o: KubeObject): KubeObject {
  const copy = JSON.parse(JSON.stringify(o)) as KubeObject;
  delete copy.status;
  const md = copy.metadata;
  for (const k of SERVER_SET_METADATA) delete md[k];
  if (md.annotations) {
    for (const a of SERVER_SET_ANNOTATIONS) delete md.annotations[a];
    if (Object.keys(md.annotations).length === 0) delete md.annotations;
  }
  const spec = copy.spec as Record<string, unknown> | undefined;
  if (copy.kind === 'Service' && spec) {
    // allocated by the API server; a restore gets new ones
    delete spec.clusterIP;
    delete spec.clusterIPs;
    if (Array.isArray(spec.ports) && spec.type !== 'NodePort' && spec.type !== 'LoadBalancer') {
      for (const p of spec.ports as Array<Record<string, unknown>>) delete p.nodePort;
    }
  }
  if (copy.kind === 'PersistentVolumeClaim' && spec) delete spec.volumeName; // the old PV is Released, not bindable
  return copy;
}

/**
 * Objects a restore does not create: made by controllers (they carry an owner reference, or are
 * a Service's Endpoints), or created by the cluster in every namespace (the `default`
 * ServiceAccount, `kube-root-ca.crt`, service-account token Secrets).
 */
export function skippedOnRestore(o: KubeObject, serviceNames: ReadonlySet<string>): string | null {
  const md = o.metadata as KubeObject['metadata'] & { ownerReferences?: unknown[] };
  if (Array.isArray(md.ownerReferences) && md.ownerReferences.length > 0) return 'made by a controller (owner reference)';
  if (o.kind === 'Endpoints' && serviceNames.has(md.name)) return "a Service's endpoints (made by the endpoints controller)";
  if (o.kind === 'EndpointSlice') return 'made by the endpoint-slice controller';
  if (o.kind === 'ServiceAccount' && md.name === 'default') return 'created in every namespace';
  if (o.kind === 'ConfigMap' && md.name === 'kube-root-ca.crt') return 'created in every namespace';
  if (o.kind === 'Secret' && (o as { type?: string }).type === 'kubernetes.io/service-account-token') return 'a token the token controller makes';
  if (o.kind === 'Event') return 'events are not kept';
  return null;
}

/** Restore order: what others refer to first (kubectl/helm install order), workloads after, unknown kinds last. */
const ORDER = [
  'ResourceQuota', 'LimitRange', 'NetworkPolicy', 'ServiceAccount', 'Secret', 'ConfigMap', 'PersistentVolumeClaim',
  'Role', 'RoleBinding', 'Service', 'PodDisruptionBudget',
  'Pod', 'ReplicaSet', 'Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'HorizontalPodAutoscaler', 'Ingress',
];

export function restoreRank(kind: string): number {
  const i = ORDER.indexOf(kind);
  return i < 0 ? ORDER.length : i;
}

export function sortForRestore<T extends { kind: string; metadata: { name: string } }>(objects: readonly T[]): T[] {
  return [...objects].sort((a, b) => restoreRank(a.kind) - restoreRank(b.kind) || a.kind.localeCompare(b.kind) || a.metadata.name.localeCompare(b.metadata.name));
}

/**
 * The tiers a restore creates one after the other; inside a tier nothing refers to anything else
 * in it, so its objects are created at once (bounded). Tier 0 is what others refer to (quotas and
 * limits before any pod, service accounts before the pods that run as them, Roles before the
 * RoleBindings that grant them: RBAC checks the grantor holds the Role); then bindings and
 * Services; then workloads; then what points at workloads (autoscalers, ingresses) and the kinds
 * this list does not know (custom resources).
 */
const TIERS: ReadonlyArray<readonly string[]> = [
  ['ResourceQuota', 'LimitRange', 'NetworkPolicy', 'ServiceAccount', 'Secret', 'ConfigMap', 'PersistentVolumeClaim', 'Role'],
  ['RoleBinding', 'Service', 'PodDisruptionBudget'],
  ['Pod', 'ReplicaSet', 'Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob'],
];

export function restoreTier(kind: string): number {
  const i = TIERS.findIndex((t) => t.includes(kind));
  return i < 0 ? TIERS.length : i;
}

/**
 * A RoleBinding of a ClusterRole: it may be what lets the restorer create anything in the
 * namespace (custctl's own grant there, when it runs with least privilege: doctor --print-rbac),
 * so these come first, in a tier of their own.
 */
export function isClusterRoleGrant(o: { kind: string }): boolean {
  return o.kind === 'RoleBinding' && (o as { roleRef?: { kind?: unknown } }).roleRef?.kind === 'ClusterRole';
}

/** The objects in tiers (restore order inside each, as sortForRestore), empty tiers left out; grants of ClusterRoles first. */
export function restoreTiers<T extends { kind: string; metadata: { name: string } }>(objects: readonly T[]): T[][] {
  const grants: T[] = [];
  const tiers: T[][] = Array.from({ length: TIERS.length + 1 }, () => []);
  for (const o of sortForRestore(objects)) {
    if (isClusterRoleGrant(o)) grants.push(o);
    else (tiers[restoreTier(o.kind)] as T[]).push(o);
  }
  return [grants, ...tiers].filter((t) => t.length > 0);
}

/** A Secret that holds a Helm release record (helm 3/4 storage driver `secret`). */
export function isHelmReleaseRecord(o: KubeObject): boolean {
  return o.kind === 'Secret' && (o as { type?: string }).type === 'helm.sh/release.v1';
}

/** Archive path of an object: `objects/<group>/<kind>/<name>.json`, `cluster/<kind>/<name>.json`. */
export function entryName(o: KubeObject, clusterScoped: boolean): string {
  const group = o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : 'core';
  const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_');
  return clusterScoped ? `cluster/${safe(o.kind)}/${safe(o.metadata.name)}.json` : `objects/${safe(group ?? 'core')}/${safe(o.kind)}/${safe(o.metadata.name)}.json`;
}
