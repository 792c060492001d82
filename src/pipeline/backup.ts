/**
 * Writing a customer's backup (before a deletion) and loading one (for a restore): every
 * namespaced object of the namespace (discovery; the Helm release records are Secrets among them),
 * the namespace itself, the owned cluster RBAC and the row, cleaned of server-set fields, in one
 * tar.gz with a manifest of sha256 sums. A written archive is read back and verified before the
 * caller goes on.
 */
import { packArchive, sha256, unpackArchive, verifyArchive } from '../adapters/backup-archive.js';
import type { BackupTarget, OpenBackupTarget } from '../adapters/backup-target.js';
import { splitArchiveUrl } from '../adapters/backup-target.js';
import type { ClusterTarget, Kube } from '../adapters/kube.js';
import type { CustomerRow } from '../adapters/store.js';
import {
  archiveName, BACKUP_FORMAT, entryName, isHelmReleaseRecord, normalizeObject,
  type BackupManifest, type BackupRow, type KubeObject,
} from '../domain/backup.js';
import { BackupError, errorMessage, NotFoundError, OperationError } from '../errors.js';
import { VERSION } from '../version.js';
import type { RbacRef, StepLog } from './types.js';
import type { VolumeSnapshotRecord } from '../domain/volume-snapshots.js';
import { isDeletionSnapshot } from './volume-snapshots.js';

export const RBAC_API = 'rbac.authorization.k8s.io/v1';
/** S3 tag `retention-days` (the seed's 90 days); the lifecycle rule that expires backups reads it. */
export const DEFAULT_RETENTION_DAYS = 90;

export interface WrittenBackup {
  url: string;
  bytes: number;
  sha256: string;
  entries: number;
  counts: Record<string, number>;
}

export interface BackupInput {
  kube: Kube;
  target: ClusterTarget;
  namespace: string;
  row: CustomerRow;
  releases: string[];
  rbac: RbacRef[];
  openTarget: OpenBackupTarget;
  url: string;
  now: Date;
  log: StepLog;
  signal: AbortSignal;
  /** recorded in the manifest: the volume snapshots taken before (their contents outlive the namespace) */
  volumeSnapshots?: VolumeSnapshotRecord[];
}

/** The archive's entries (objects/, cluster/, namespace.json, row.json), each as pretty JSON. */
export async function collectBackup(i: Pick<BackupInput, 'kube' | 'namespace' | 'row' | 'rbac' | 'signal'>): Promise<{ entries: Array<{ name: string; data: Buffer }>; counts: Record<string, number> }> {
  const [objects, ns] = await Promise.all([
    i.kube.exportNamespaceObjects(i.namespace, i.signal),
    i.kube.readClusterObject('v1', 'Namespace', i.namespace, i.signal),
  ]);
  const entries: Array<{ name: string; data: Buffer }> = [];
  const counts: Record<string, number> = {};
  const json = (o: unknown) => Buffer.from(`${JSON.stringify(o, null, 2)}\n`);
  const names = new Set<string>();
  const add = (name: string, o: unknown) => {
    let n = name;
    for (let k = 2; names.has(n); k++) n = name.replace(/\.json$/, `.${k}.json`);
    names.add(n);
    entries.push({ name: n, data: json(o) });
  };
  if (ns) {
    const clean = normalizeObject(ns);
    delete clean.spec; // spec.finalizers: set by the server
    add('namespace.json', clean);
  }
  for (const o of objects) {
    if (isDeletionSnapshot(o)) continue; // recorded in the manifest; restored, it would take a new snapshot
    add(entryName(o, false), normalizeObject(o));
    counts[o.kind] = (counts[o.kind] ?? 0) + 1;
  }
  for (const ref of i.rbac) {
    const o = await i.kube.readClusterObject(RBAC_API, ref.kind, ref.name, i.signal);
    if (!o) continue;
    add(entryName(o, true), normalizeObject(o));
    counts[ref.kind] = (counts[ref.kind] ?? 0) + 1;
  }
  const row: BackupRow = {
    customerId: i.row.customerId,
    email: i.row.email,
    companyName: i.row.companyName,
    deploymentStatus: i.row.previousStatus ?? i.row.deploymentStatus,
    instanceNamespace: i.row.instanceNamespace,
    instanceUrl: i.row.instanceUrl,
  };
  add('row.json', row);
  return { entries, counts };
}

/**
 * Collects, packs, writes, reads back and verifies. Any failure is a BackupError: the caller has
 * deleted nothing yet and must not.
 */
export async function writeBackup(i: BackupInput): Promise<WrittenBackup> {
  const where = i.url;
  try {
    const { entries, counts } = await collectBackup(i);
    const { bytes } = await packArchive(entries, {
      format: BACKUP_FORMAT,
      custctlVersion: VERSION,
      createdAt: i.now.toISOString(),
      customerId: i.row.customerId,
      namespace: i.namespace,
      cluster: { server: i.target.server, context: i.target.context },
      counts,
      releases: i.releases,
      ...(i.volumeSnapshots?.length ? { volumeSnapshots: i.volumeSnapshots } : {}),
    }, i.now);
    const target = await i.openTarget(i.url);
    const name = archiveName(i.row.customerId, i.now);
    i.signal.throwIfAborted();
    const url = await target.put(name, bytes, { customerId: i.row.customerId, retentionDays: DEFAULT_RETENTION_DAYS }, i.signal);
    // read back what the target holds now, and check it entry by entry
    const back = await target.get(name, i.signal);
    if (sha256(back) !== sha256(bytes)) throw new OperationError(`backup ${url} read back differs from what was written (${back.length} bytes, wrote ${bytes.length})`);
    const manifest = verifyArchive(await unpackArchive(back, url), url);
    i.log('ok', 'Backup written and verified', { url, bytes: bytes.length, entries: manifest.entries.length });
    return { url, bytes: bytes.length, sha256: sha256(bytes), entries: manifest.entries.length, counts };
  } catch (e) {
    if (i.signal.aborted) throw e;
    const inner = e instanceof OperationError ? e.details : [];
    throw new BackupError(`backup to ${where} failed, nothing was deleted: ${errorMessage(e)}`, [
      ...inner.filter((l) => !l.startsWith('Nothing was deleted')),
      'The row is unchanged. Fix the target and run the deletion again, or pass --no-backup to delete without one.',
    ], { cause: e });
  }
}

export interface LoadedBackup {
  url: string;
  manifest: BackupManifest;
  namespace: KubeObject | null;
  objects: KubeObject[];
  clusterObjects: KubeObject[];
  row: BackupRow;
  helmRecords: KubeObject[];
}

/**
 * Reads an archive (`…/name.tar.gz`, or a directory/prefix: the customer's newest backup there),
 * verifies every entry against the manifest, and returns what it holds.
 */
export async function loadBackup(from: string, customerId: string, openTarget: (u: string) => Promise<BackupTarget>, signal?: AbortSignal): Promise<LoadedBackup> {
  const { target: where, name: given } = splitArchiveUrl(from);
  const target = await openTarget(where.url);
  let name = given;
  if (!name) {
    const mine = (await target.list(signal)).filter((b) => b.customerId === customerId).sort((a, b) => a.name.localeCompare(b.name));
    const newest = mine.at(-1);
    if (!newest) throw new NotFoundError(`no backup of ${customerId} in ${where.url}`, [`List them with 'custctl backups list --from ${where.url}'.`]);
    name = newest.name;
  }
  const url = `${where.url.replace(/\/+$/, '')}/${name}`;
  const files = await unpackArchive(await target.get(name, signal), url);
  const manifest = verifyArchive(files, url);
  if (manifest.customerId !== customerId) throw new OperationError(`backup ${url} is of ${manifest.customerId}, not ${customerId}: refusing`);
  const parse = (n: string) => JSON.parse((files.get(n) as Buffer).toString('utf8')) as unknown;
  const objects: KubeObject[] = [];
  const clusterObjects: KubeObject[] = [];
  for (const e of manifest.entries) {
    if (e.name.startsWith('objects/')) objects.push(parse(e.name) as KubeObject);
    else if (e.name.startsWith('cluster/')) clusterObjects.push(parse(e.name) as KubeObject);
  }
  if (!files.has('row.json')) throw new OperationError(`backup ${url} holds no row.json`);
  return {
    url,
    manifest,
    namespace: files.has('namespace.json') ? (parse('namespace.json') as KubeObject) : null,
    objects,
    clusterObjects,
    row: parse('row.json') as BackupRow,
    helmRecords: objects.filter(isHelmReleaseRecord),
  };
}
