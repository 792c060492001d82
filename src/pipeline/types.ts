/** What the deletion pipeline reads, decides and returns. */
import type { OpenBackupTarget } from '../adapters/backup-target.js';
import type { Kube, NamespaceInfo, PvcInfo } from '../adapters/kube.js';
import type { Helm, HelmRelease, ManifestObject, ReleaseContents, UnreadableDocument } from '../adapters/helm.js';
import type { CustomerRow, CustomerStore } from '../adapters/store.js';
import type { CustomerId } from '../domain/customer-id.js';
import type { OwnershipRule, RbacKind } from '../domain/rbac-owner.js';
import type { VolumeSnapshotRecord } from '../domain/volume-snapshots.js';
import type { Level } from '../io.js';
import type { BillingSummary } from '../domain/billing.js';
import type { HookPointResult } from '../domain/hooks.js';
import type { SignedCertificate } from '../domain/certificate.js';

export interface PipelineEnv {
  kube: Kube;
  helm: Helm;
  store: CustomerStore;
  /** where backups go (default: src/adapters/backup-target.ts with no S3 settings) */
  backups?: OpenBackupTarget;
}

/** How a release is removed (src/pipeline/helm-need.ts decides). */
export interface ReleaseRemoval {
  /** `helm`: `helm uninstall` runs in step 1; `namespace`: removed with the namespace, no helm process */
  by: 'helm' | 'namespace';
  /** why, in words for the plan and the result ("no delete hooks", "pre-delete hook Job/migrate") */
  why: string;
}

/** Where log lines of an attempt go (the job's log and, attached, the terminal). */
export type StepLog = (level: Level, message: string, fields?: Record<string, unknown>) => void;

export interface RbacRef {
  kind: RbacKind;
  name: string;
}

export interface ReleasePlan extends HelmRelease {
  /** cluster-scoped objects other than ClusterRole/ClusterRoleBinding: refused unless allowed */
  clusterScoped: ManifestObject[];
  /**
   * namespaced objects the release keeps in another namespace (`metadata.namespace` set to one
   * that is not the release's): `helm uninstall` would delete them there; refused unless allowed
   */
  outsideNamespace: Array<ManifestObject & { namespace: string }>;
  /** ClusterRole/ClusterRoleBinding the release itself removes */
  clusterRbac: RbacRef[];
  /**
   * of those, the ones that exist and carry neither this customer's name nor Helm's annotation for
   * its namespace: `helm uninstall` would delete another's objects (always refused)
   */
  foreignRbac?: RbacRef[];
  /** Namespace objects the manifest names other than the customer's own: never deleted, whatever the flags */
  foreignNamespaces?: string[];
  /** manifest documents that could not be interpreted: their objects are unknown (refused unless allowed) */
  unreadable: UnreadableDocument[];
  /** the hooks helm runs on uninstall; null: not known (records outside the namespace) */
  deleteHooks: ReleaseContents['deleteHooks'];
  /** `helm uninstall` in step 1, or removed with the namespace (no helm process), and why */
  removal: ReleaseRemoval;
}

/** A read-only look at one customer's instance: what a deletion would act on. */
export interface Inspection {
  customer: CustomerId;
  namespace: string;
  row: CustomerRow;
  releases: ReleasePlan[];
  ns: NamespaceInfo | null;
  rbac: {
    owned: Array<RbacRef & { rule: OwnershipRule }>;
    keptByPolicy: Array<RbacRef & { rule: OwnershipRule }>;
    keptUnowned: RbacRef[];
  };
  pvcs?: PvcInfo[];
  objects?: Array<{ resource: string; kind: string; count: number }>;
  /** the objects the releases' manifests hold, by kind (what `helm uninstall` removes; the audit log's counts) */
  manifestKinds?: Record<string, number>;
}

/** `removed-with-namespace`: no helm process, the release's objects and records went with the namespace (step 2) */
export type ReleaseOutcome = 'uninstalled' | 'not-found' | 'simulated' | 'removed-with-namespace';

export interface DeleteResult {
  customerId: string;
  namespace: string;
  jobId: string;
  simulated: boolean;
  /** superseded: the job no longer owned the customer; nothing was touched */
  outcome: 'deleted' | 'superseded';
  /** set when superseded (the runner's convention: the job completes without progress) */
  superseded?: true;
  /** `why`: what decided between helm and the namespace ("no delete hooks", "pre-delete hook Job/x", "--helm-uninstall always") */
  releases: Array<{ name: string; outcome: ReleaseOutcome; why?: string }>;
  namespaceOutcome: 'deleted' | 'already-gone' | 'simulated' | 'untouched';
  /** how long step 2 waited for the namespace to go, ms (when it deleted it) */
  namespaceWaitMs?: number;
  rbac: {
    deleted: RbacRef[];
    alreadyGone: RbacRef[];
    keptByPolicy: RbacRef[];
    keptUnowned: RbacRef[];
    failed: Array<RbacRef & { error: string }>;
  };
  /** PVs whose reclaim policy keeps them (and their data) after the namespace is gone */
  retainedVolumes: Array<{ pvc: string; volume: string; reclaimPolicy: string }>;
  row: { status: string } | null;
  /** the backup written before anything was deleted (`--backup`) */
  backup?: {
    url: string; bytes: number; sha256: string; entries: number; counts: Record<string, number>;
    /** `--backup-recipient`: encrypted to these age keys; `sha256` is that of the encrypted bytes, the sums file beside it */
    encrypted?: { recipients: string[]; sums: string; plaintextSha256: string; manifestSha256: string };
  };
  /** the VolumeSnapshots taken before anything was deleted (`--snapshot-volumes`), their contents retained */
  volumeSnapshots?: VolumeSnapshotRecord[];
  /** what the billing step did at the billing provider (ids and amounts), and its lines as people read them */
  billing?: BillingSummary & { lines: string[] };
  /** the deletion hooks called by this attempt, point by point */
  hooks?: HookPointResult[];
  warnings: string[];
  durationMs: number;
  reason?: string;
  /** what step 4 recorded as deleted (the audit row's `deleted`: releases, objects by kind, RBAC); the webhooks send its counts */
  deleted?: { releases?: string[]; objects?: Record<string, number>; rbac?: string[]; billing?: BillingSummary };
  /**
   * The signed deletion certificate (src/domain/certificate.ts), issued when the site has a
   * signing key (CUSTCTL_SIGNING_KEY_FILE): `{certificate, signature}`, the file
   * `custctl certificate verify` reads. No personal data.
   */
  certificate?: SignedCertificate;
}
