/**
 * What a caller may ask of one deletion: the same set whether it comes from `delete`'s flags, the
 * API's query parameters (`?force=true&timeoutMs=…`) or the queue client; stored on the job as
 * its options (src/domain/job.ts `JobOptions`).
 */
/** When step 1 runs `helm uninstall`: `auto`, only for a release helm adds something to; `always`, for every release. */
export const HELM_UNINSTALL_MODES = ['auto', 'always'] as const;
export type HelmUninstallMode = (typeof HELM_UNINSTALL_MODES)[number];

/** `always` / `auto` (case-insensitive), else null. */
export function parseHelmUninstallMode(v: string): HelmUninstallMode | null {
  const m = v.trim().toLowerCase();
  return (HELM_UNINSTALL_MODES as readonly string[]).includes(m) ? (m as HelmUninstallMode) : null;
}

export interface DeletionOptions {
  /** also delete a customer whose status is deploying */
  force?: boolean;
  /** reset a deployed row whose release, namespace and RBAC are all missing */
  allowMissing?: boolean;
  /** uninstall releases that hold cluster-scoped objects other than their RBAC */
  allowClusterScoped?: boolean;
  /** how long step 2 waits for the namespace to go, ms */
  waitTimeoutMs?: number;
  /** per-attempt timeout, ms */
  jobTimeoutMs?: number;
  /**
   * soft delete: wait this long before deleting (the instance is suspended meanwhile), ms; 0 is
   * immediate; undefined: the site's CUSTCTL_RETENTION
   */
  afterMs?: number;
  /** write a verified backup here first (file:// or s3://); default: the site's CUSTCTL_BACKUP_URL */
  backupUrl?: string;
  /** no backup, even when the site sets CUSTCTL_BACKUP_URL */
  noBackup?: boolean;
  /** take a VolumeSnapshot of every bound PVC with this class first; default: the site's CUSTCTL_SNAPSHOT_CLASS */
  snapshotClass?: string;
  /** no volume snapshots, even when the site sets CUSTCTL_SNAPSHOT_CLASS */
  noSnapshotVolumes?: boolean;
  /** how long to wait for the snapshots to be ready, ms */
  snapshotTimeoutMs?: number;
  /** encrypt the backup to these age public keys; default: the site's CUSTCTL_BACKUP_RECIPIENT */
  backupRecipients?: string[];
  /** when step 1 runs `helm uninstall`; default: the site's CUSTCTL_HELM_UNINSTALL, else `auto` */
  helmUninstall?: HelmUninstallMode;
}
