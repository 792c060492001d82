/**
 * Volume snapshots before a deletion (`delete --snapshot-volumes CLASS`): what a snapshot is called
 * and labelled, which class is acceptable, and what the plan says of each PVC. Pure rules, no I/O.
 */
import { createHash } from 'node:crypto';
import { UsageError } from './errors.js';

export const SNAPSHOT_API = 'snapshot.storage.k8s.io/v1';
/** The labels every VolumeSnapshot custctl creates carries: a retry of the same job finds its own. */
export const SNAPSHOT_JOB_LABEL = 'custctl.io/deletion-job';
export const SNAPSHOT_CUSTOMER_LABEL = 'custctl.io/customer-id';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
/** How long a deletion waits for its snapshots to be readyToUse (--snapshot-timeout). */
export const DEFAULT_SNAPSHOT_TIMEOUT_MS = 5 * 60_000;

/** One snapshot taken before a deletion, as the result, the job's log and the backup manifest record it. */
export interface VolumeSnapshotRecord {
  pvc: string;
  /** the PV the PVC was bound to */
  volume?: string;
  /** the VolumeSnapshot (namespaced: it goes with the namespace) */
  snapshot: string;
  class: string;
  /** the VolumeSnapshotContent (cluster-scoped; deletionPolicy Retain keeps it after the namespace) */
  content: string;
  /** the storage system's id of the snapshot (status.snapshotHandle of the content) */
  snapshotHandle?: string;
  /** the smallest volume a restore needs (the VolumeSnapshot's status.restoreSize, e.g. `1Gi`) */
  restoreSize?: string;
  driver?: string;
  deletionPolicy: string;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** A VolumeSnapshotClass name as given (`--snapshot-volumes`, CUSTCTL_SNAPSHOT_CLASS): a DNS subdomain. */
export function parseSnapshotClass(raw: string, flag = '--snapshot-volumes'): string {
  const v = raw.trim();
  if (!DNS_SUBDOMAIN.test(v) || v.length > 253) {
    throw new UsageError(`${flag} ${JSON.stringify(raw)} is not a VolumeSnapshotClass name (lowercase letters, digits, '-' and '.')`, [
      "List the classes with 'kubectl get volumesnapshotclass'.",
    ]);
  }
  return v;
}

/**
 * `custctl-<job>-<pvc>`: the same job always asks for the same name, so a retried attempt finds the
 * snapshot it created instead of taking a second one; another job (a later deletion) takes fresh
 * ones. Over 253 characters the tail is replaced by a hash of the PVC name.
 */
export function snapshotName(jobId: string, pvc: string): string {
  const full = `custctl-${jobId}-${pvc}`;
  if (full.length <= 253) return full;
  const hash = createHash('sha256').update(pvc).digest('hex').slice(0, 10);
  return `${full.slice(0, 253 - 11).replace(/[-.]+$/, '')}-${hash}`;
}

/** Why a class cannot serve a deletion's snapshots, or null when it can. */
export function classProblem(className: string, deletionPolicy: string | undefined): string | null {
  if (deletionPolicy === 'Retain') return null;
  return `VolumeSnapshotClass ${className} has deletionPolicy ${deletionPolicy ?? '(none)'}: its snapshot contents would be deleted with the namespace's VolumeSnapshots`;
}

/** How the plan sees one PVC's data. */
export type VolumeCoverage = 'snapshot' | 'volume-retained' | 'not-covered' | 'no-volume';

export interface CoverageInput {
  volumeName?: string;
  reclaimPolicy?: string;
}

/** What happens to a PVC's data: snapshot (class usable), kept by the PV's reclaim policy, lost, or none bound. */
export function volumeCoverage(p: CoverageInput, snapshot: { class: string; deletionPolicy: string } | null): { coverage: VolumeCoverage; note: string } {
  if (!p.volumeName) return { coverage: 'no-volume', note: 'no volume bound: no data to lose, nothing to snapshot' };
  if (snapshot) return { coverage: 'snapshot', note: `covered by snapshot (class ${snapshot.class}, ${snapshot.deletionPolicy})` };
  if (p.reclaimPolicy && p.reclaimPolicy !== 'Delete') return { coverage: 'volume-retained', note: `not snapshotted; the volume stays (reclaim policy ${p.reclaimPolicy}) with its data` };
  return { coverage: 'not-covered', note: 'NOT covered: the data is lost when the namespace is deleted' };
}
