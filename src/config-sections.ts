/**
 * The optional settings' parsers: the default `--helm-uninstall`, the site's backup target and
 * recipients, snapshot class, portal URL, extra personal columns. Their rules live in domain
 * modules that a command reading none of these settings need not load: config.ts loads this
 * module only when the environment sets one of them (see `prepareConfig`).
 */
import { UsageError } from './errors.js';
import { parseHelmUninstallMode, type HelmUninstallMode } from './domain/deletion-options.js';
import { parseBackupUrl, parseRecipients } from './domain/backup.js';
import { parseSnapshotClass } from './domain/volume-snapshots.js';
import { EraseColumnsError, parseEraseColumns } from './domain/erasure.js';
import { parsePortalBaseUrl, PortalConfigError } from './domain/portal-link.js';

export function helmUninstall(raw: string): HelmUninstallMode {
  const m = parseHelmUninstallMode(raw);
  if (!m) throw new UsageError(`CUSTCTL_HELM_UNINSTALL=${JSON.stringify(raw)}: it is 'auto' (helm only for releases with delete hooks or objects outside the namespace) or 'always'`);
  return m;
}

export const backupUrl = (raw: string): string => parseBackupUrl(raw, 'CUSTCTL_BACKUP_URL').url;
export const snapshotClass = (raw: string): string => parseSnapshotClass(raw, 'CUSTCTL_SNAPSHOT_CLASS');
export const backupRecipients = (raw: string): string[] => parseRecipients([raw], 'CUSTCTL_BACKUP_RECIPIENT');
/** CUSTCTL_ERASE_TARGETS: more backup targets an erasure empties of the customer's objects (spaces or commas between URLs). */
export const eraseTargets = (raw: string): string[] => raw.split(/[\s,]+/).filter(Boolean).map((u) => parseBackupUrl(u, 'CUSTCTL_ERASE_TARGETS').url);
export const portalUrl = (raw: string): string => rethrown(() => parsePortalBaseUrl(raw, 'CUSTCTL_PORTAL_URL'));
export const eraseColumns = (raw: string): string[] => rethrown(() => parseEraseColumns(raw));

/** A domain rule's own error as a usage error (exit 2). */
function rethrown<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof EraseColumnsError || e instanceof PortalConfigError) throw new UsageError(e.message);
    throw e;
  }
}
