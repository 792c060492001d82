/**
 * Writing a customer's backup (before a deletion) and loading one (for a restore): every
 * namespaced object of the namespace (discovery; the Helm release records are Secrets among them),
 * the namespace itself, the owned cluster RBAC and the row, cleaned of server-set fields, in one
 * tar.gz with a manifest of sha256 sums. A written archive is read back and verified before the
 * caller goes on.
 */
import { decryptArchive, encryptArchive, isAgeEncrypted } from '../adapters/backup-age.js';
import { packArchive, sha256, unpackArchive, verifyArchive } from '../adapters/backup-archive.js';
import type { BackupTarget, OpenBackupTarget } from '../adapters/backup-target.js';
import { splitArchiveUrl } from '../adapters/backup-target.js';
import type { ClusterTarget, Kube } from '../adapters/kube.js';
import type { CustomerRow } from '../adapters/store.js';
import {
  archiveName, BACKUP_FORMAT, entryName, isHelmReleaseRecord, MANIFEST_NAME, normalizeObject, SUMS_SUFFIX,
  type BackupManifest, type BackupRow, type BackupSums, type KubeObject,
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
  /** encrypted to these age recipients (`sha256` is then that of the encrypted bytes) */
  encrypted?: { recipients: string[]; sums: string; plaintextSha256: string; manifestSha256: string };
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
  /** age public keys: the archive is encrypted to them (empty: not encrypted) */
  recipients?: readonly string[];
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
  const recipients = [...(i.recipients ?? [])];
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
    const meta = { customerId: i.row.customerId, retentionDays: DEFAULT_RETENTION_DAYS };
    if (recipients.length) return await writeEncrypted(i, target, bytes, recipients, counts);
    const name = archiveName(i.row.customerId, i.now);
    i.signal.throwIfAborted();
    const url = await target.put(name, bytes, meta, i.signal);
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

/**
 * The encrypted path: this process cannot decrypt what it writes, so the archive is verified
 * before encryption (every entry against the manifest), and what the target holds afterwards is
 * proven to be exactly the encrypted bytes (sha256 read back). The sums file beside it records
 * both, so a restore proves the chain: encrypted bytes → decrypted .tar.gz → its manifest.
 */
async function writeEncrypted(i: BackupInput, target: BackupTarget, plain: Buffer, recipients: string[], counts: Record<string, number>): Promise<WrittenBackup> {
  const name = archiveName(i.row.customerId, i.now, true);
  const files = await unpackArchive(plain, name);
  const manifest = verifyArchive(files, name);
  const manifestSha256 = sha256(files.get(MANIFEST_NAME) as Buffer);
  const enc = await encryptArchive(plain, recipients);
  const sums: BackupSums = {
    format: BACKUP_FORMAT,
    archive: name,
    customerId: i.row.customerId,
    createdAt: i.now.toISOString(),
    encryption: 'age',
    recipients,
    encrypted: { sha256: sha256(enc), bytes: enc.length },
    plaintext: { sha256: sha256(plain), bytes: plain.length },
    manifest: { sha256: manifestSha256, entries: manifest.entries.length },
  };
  const sumsBytes = Buffer.from(`${JSON.stringify(sums, null, 2)}\n`);
  const meta = { customerId: i.row.customerId, retentionDays: DEFAULT_RETENTION_DAYS };
  i.signal.throwIfAborted();
  const url = await target.put(name, enc, meta, i.signal);
  const sumsUrl = await target.put(`${name}${SUMS_SUFFIX}`, sumsBytes, meta, i.signal);
  const back = await target.get(name, i.signal);
  if (sha256(back) !== sums.encrypted.sha256) throw new OperationError(`backup ${url} read back differs from what was written (${back.length} bytes, wrote ${enc.length})`);
  if (!isAgeEncrypted(back)) throw new OperationError(`backup ${url} read back is not an age file`);
  const sumsBack = await target.get(`${name}${SUMS_SUFFIX}`, i.signal);
  if (!sumsBack.equals(sumsBytes)) throw new OperationError(`checksums ${sumsUrl} read back differ from what was written`);
  i.log('ok', 'Encrypted backup written and verified', { url, bytes: enc.length, entries: manifest.entries.length, recipients: recipients.length });
  return {
    url, bytes: enc.length, sha256: sums.encrypted.sha256, entries: manifest.entries.length, counts,
    encrypted: { recipients, sums: sumsUrl, plaintextSha256: sums.plaintext.sha256, manifestSha256 },
  };
}

export interface LoadedBackup {
  url: string;
  /** decrypted with an age identity */
  encrypted: boolean;
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
export async function loadBackup(from: string, customerId: string, openTarget: (u: string) => Promise<BackupTarget>, signal?: AbortSignal, identities: readonly string[] = []): Promise<LoadedBackup> {
  const { target: where, name: given } = splitArchiveUrl(from);
  const target = await openTarget(where.url);
  let name = given;
  if (!name) {
    const mine = (await target.list(signal)).filter((b) => b.customerId === customerId).sort((a, b) => a.name.localeCompare(b.name));
    const newest = mine.at(-1);
    if (!newest) throw new NotFoundError(`no backup of ${customerId} in ${where.url}`, [`List them with 'custctl backups list --backup ${where.url}'.`]);
    name = newest.name;
  }
  const url = `${where.url.replace(/\/+$/, '')}/${name}`;
  let bytes = await target.get(name, signal);
  const encrypted = isAgeEncrypted(bytes);
  let sums: BackupSums | null = null;
  if (encrypted) {
    sums = await readSums(target, name, url, signal);
    if (sums && sha256(bytes) !== sums.encrypted.sha256) {
      throw new OperationError(`backup ${url} is damaged: its sha256 differs from the one recorded beside it (${name}${SUMS_SUFFIX})`, [], { permanent: true });
    }
    bytes = await decryptArchive(bytes, identities, url);
    if (sums && sha256(bytes) !== sums.plaintext.sha256) throw new OperationError(`backup ${url} decrypted to an archive other than the one verified when it was written`, [], { permanent: true });
  }
  const files = await unpackArchive(bytes, url);
  const manifest = verifyArchive(files, url);
  if (sums && sha256(files.get(MANIFEST_NAME) as Buffer) !== sums.manifest.sha256) throw new OperationError(`backup ${url}: its manifest differs from the one recorded when it was written`, [], { permanent: true });
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
    encrypted,
    manifest,
    namespace: files.has('namespace.json') ? (parse('namespace.json') as KubeObject) : null,
    objects,
    clusterObjects,
    row: parse('row.json') as BackupRow,
    helmRecords: objects.filter(isHelmReleaseRecord),
  };
}

/**
 * The sums beside an encrypted archive; null when there are none (written by hand, or lost): the
 * decryption is authenticated (age) and the entries are checked against the manifest all the same.
 */
async function readSums(target: BackupTarget, name: string, url: string, signal?: AbortSignal): Promise<BackupSums | null> {
  let raw: Buffer;
  try {
    raw = await target.get(`${name}${SUMS_SUFFIX}`, signal);
  } catch {
    return null;
  }
  try {
    const s = JSON.parse(raw.toString('utf8')) as BackupSums;
    if (typeof s.encrypted?.sha256 !== 'string' || typeof s.plaintext?.sha256 !== 'string' || typeof s.manifest?.sha256 !== 'string') throw new Error('fields missing');
    return s;
  } catch (e) {
    throw new OperationError(`the checksums beside ${url} (${name}${SUMS_SUFFIX}) are not readable: ${(e as Error).message}`, [], { permanent: true });
  }
}
