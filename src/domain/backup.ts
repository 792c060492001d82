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

/**
 * The largest entry a manifest may declare. The API server takes no object over 3 MiB (etcd's
 * default limit is 1.5 MiB), and custctl writes objects as indented JSON: 16 MiB is room to spare.
 */
export const MAX_ENTRY_BYTES = 16 * 1024 * 1024;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A parsed manifest.json checked field by field (what custctl writes); throws an Error that says
 * which field is wrong. Entry names are unique and never `manifest.json` itself.
 */
export function checkManifest(v: unknown): BackupManifest {
  if (!isRecord(v)) throw new Error('not a JSON object');
  if (v.format !== BACKUP_FORMAT) throw new Error(`format ${JSON.stringify(v.format)}: this custctl reads format ${BACKUP_FORMAT}`);
  if (typeof v.customerId !== 'string' || !/^cust_[a-z0-9]{1,44}$/.test(v.customerId)) throw new Error('customerId is not a customer ID (cust_…)');
  for (const k of ['custctlVersion', 'createdAt', 'namespace'] as const) if (typeof v[k] !== 'string') throw new Error(`${k} is not a string`);
  if (Number.isNaN(Date.parse(v.createdAt as string))) throw new Error(`createdAt ${JSON.stringify(v.createdAt)} is not a time`);
  if (!isRecord(v.cluster) || typeof v.cluster.server !== 'string' || typeof v.cluster.context !== 'string') throw new Error('cluster is not {server, context}');
  if (!isRecord(v.counts) || Object.values(v.counts).some((n) => typeof n !== 'number')) throw new Error('counts is not a map of numbers');
  if (!Array.isArray(v.releases) || v.releases.some((r) => typeof r !== 'string')) throw new Error('releases is not a list of names');
  if (!Array.isArray(v.entries)) throw new Error('entries is not a list');
  const seen = new Set<string>();
  for (const [i, e] of v.entries.entries()) {
    if (!isRecord(e) || typeof e.name !== 'string' || typeof e.sha256 !== 'string' || typeof e.bytes !== 'number') throw new Error(`entries[${i}] is not {name, sha256, bytes}`);
    if (e.name === '' || e.name === MANIFEST_NAME || seen.has(e.name)) throw new Error(`entries[${i}]: ${JSON.stringify(e.name)} is listed twice, empty, or the manifest itself`);
    if (!/^[0-9a-f]{64}$/.test(e.sha256)) throw new Error(`entries[${i}] (${e.name}): sha256 is not 64 hex digits`);
    if (!Number.isSafeInteger(e.bytes) || e.bytes < 0 || e.bytes > MAX_ENTRY_BYTES) throw new Error(`entries[${i}] (${e.name}): ${e.bytes} bytes, outside 0…${MAX_ENTRY_BYTES}`);
    seen.add(e.name);
  }
  return v as unknown as BackupManifest;
}

/**
 * A parsed archive entry checked as a Kubernetes object: apiVersion, kind, metadata.name (non-empty
 * strings), metadata.namespace a string if there, labels and annotations maps of strings. Throws
 * an Error that says what is missing.
 */
export function checkKubeObject(v: unknown): KubeObject {
  if (!isRecord(v)) throw new Error('not a JSON object');
  if (typeof v.apiVersion !== 'string' || v.apiVersion === '') throw new Error('has no apiVersion');
  if (typeof v.kind !== 'string' || v.kind === '') throw new Error('has no kind');
  const md = v.metadata;
  if (!isRecord(md)) throw new Error('has no metadata');
  if (typeof md.name !== 'string' || md.name === '') throw new Error('has no metadata.name');
  if (md.namespace !== undefined && typeof md.namespace !== 'string') throw new Error('metadata.namespace is not a string');
  for (const k of ['labels', 'annotations'] as const) {
    const m = md[k];
    if (m !== undefined && (!isRecord(m) || Object.values(m).some((x) => typeof x !== 'string'))) throw new Error(`metadata.${k} is not a map of strings`);
  }
  return v as KubeObject;
}

/** row.json checked: every field custctl writes, a string. */
export function checkBackupRow(v: unknown): BackupRow {
  if (!isRecord(v)) throw new Error('not a JSON object');
  for (const k of ['customerId', 'email', 'companyName', 'deploymentStatus', 'instanceNamespace', 'instanceUrl'] as const) {
    if (typeof v[k] !== 'string') throw new Error(`${k} is not a string`);
  }
  return v as unknown as BackupRow;
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

export { fileUrl, parseBackupUrl, s3Url, type BackupUrl } from './backup-url.js';

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
