import { parseRetention } from './duration.js';
import { UsageError } from './errors.js';

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

/**
 * How one run of `delete` goes, beside the options of each deletion: which customers, whether to
 * ask, only plan, leave the jobs queued, use the API's synchronous endpoint, how many at once.
 * The CLI's alone: the API and the console ask for one deletion at a time.
 */
export interface DeletionRun extends DeletionOptions {
  /** as typed: validated by the plan, before anything else happens */
  ids: string[];
  yes: boolean;
  dryRun: boolean;
  detach: boolean;
  /** with --api-url: the synchronous endpoint */
  sync?: boolean;
  concurrency: number;
}

const KEYS = ['force', 'allowMissing', 'allowClusterScoped', 'waitTimeoutMs', 'jobTimeoutMs', 'afterMs', 'backupUrl', 'noBackup', 'snapshotClass', 'noSnapshotVolumes', 'snapshotTimeoutMs', 'backupRecipients', 'helmUninstall'] as const satisfies readonly (keyof DeletionOptions)[];

/** The deletion options of a larger bag (a run, a request): only the keys that are set (`false` flags left out). */
export function deletionOptionsOf(o: DeletionOptions): DeletionOptions {
  const out: Record<string, unknown> = {};
  for (const k of KEYS) if (o[k] !== undefined && o[k] !== false) out[k] = o[k];
  return out as DeletionOptions;
}

/**
 * The options as the queue API's query parameters (DELETE /api/customers/:id[/deployment]):
 * `force`, `allowMissing`, `allowClusterScoped`, `helmUninstall`, `timeoutMs` (step 2's wait),
 * `jobTimeoutMs`, `after` (soft delete, a duration the server parses: `604800000ms`). The backup
 * and snapshot options are the server's own settings: they do not travel.
 */
export function toQuery(o: DeletionOptions): Record<string, string | number | boolean | undefined> {
  return {
    force: o.force || undefined,
    allowMissing: o.allowMissing || undefined,
    allowClusterScoped: o.allowClusterScoped || undefined,
    helmUninstall: o.helmUninstall,
    timeoutMs: o.waitTimeoutMs,
    jobTimeoutMs: o.jobTimeoutMs,
    after: o.afterMs !== undefined ? `${o.afterMs}ms` : undefined,
  };
}

function boolParam(name: string, raw: string | undefined): boolean | undefined {
  if (raw === undefined) return undefined;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new UsageError(`query parameter ${name} must be true or false`);
}

function msParam(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !/^\d{1,10}$/.test(raw) || Number(raw) <= 0) throw new UsageError(`query parameter ${name} must be a positive number of milliseconds`);
  return Number(raw);
}

/** The other way: the query parameters of a deletion request as options; a malformed one is a UsageError (400), before any job exists. */
export function fromQuery(q: Record<string, string | undefined>): DeletionOptions {
  const out: DeletionOptions = {};
  const force = boolParam('force', q.force);
  const allowMissing = boolParam('allowMissing', q.allowMissing);
  const allowClusterScoped = boolParam('allowClusterScoped', q.allowClusterScoped);
  const waitTimeoutMs = msParam('timeoutMs', q.timeoutMs);
  const jobTimeoutMs = msParam('jobTimeoutMs', q.jobTimeoutMs);
  if (q.helmUninstall !== undefined) {
    const mode = parseHelmUninstallMode(q.helmUninstall);
    if (!mode) throw new UsageError("query parameter helmUninstall must be 'auto' or 'always'");
    out.helmUninstall = mode;
  }
  if (force !== undefined) out.force = force;
  if (allowMissing !== undefined) out.allowMissing = allowMissing;
  if (allowClusterScoped !== undefined) out.allowClusterScoped = allowClusterScoped;
  if (waitTimeoutMs !== undefined) out.waitTimeoutMs = waitTimeoutMs;
  if (jobTimeoutMs !== undefined) out.jobTimeoutMs = jobTimeoutMs;
  // soft delete: a retention period, 0 (now) or 1h…400d
  if (q.after !== undefined) out.afterMs = parseRetention(q.after, 'query parameter after');
  return out;
}
