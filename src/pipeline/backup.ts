/**
 * Writing a customer's backup (before a deletion) and loading one (for a restore): every
 * namespaced object of the namespace (discovery; the Helm release records are Secrets among them),
 * the namespace itself, the owned cluster RBAC and the row, cleaned of server-set fields, in one
 * tar.gz with a manifest of sha256 sums. A written archive is read back and verified before the
 * caller goes on.
 */
import { decryptArchive, encryptArchive, isAgeEncrypted } from '../adapters/backup-age.js';
import { packArchive, readArchive, sha256 } from '../adapters/backup-archive.js';
import type { BackupTarget, OpenBackupTarget, ReadOptions } from '../adapters/backup-target.js';
import { splitArchiveUrl } from '../adapters/backup-target.js';
import type { ClusterTarget, Kube } from '../adapters/kube.js';
import type { CustomerRow } from '../adapters/store.js';
import {
  archiveName, BACKUP_FORMAT, checkBackupRow, checkKubeObject, entryName, isHelmReleaseRecord, normalizeObject, SUMS_SUFFIX,
  type BackupManifest, type BackupRow, type BackupSums, type KubeObject,
} from '../domain/backup.js';
import type { ArchivedObject } from '../domain/restore-rules.js';
import { BackupError, errorMessage, NotFoundError, OperationError, UsageError } from '../errors.js';
import { VERSION } from '../version.js';
import type { RbacRef, StepLog } from './types.js';
import type { VolumeSnapshotRecord } from '../domain/volume-snapshots.js';
import { isDeletionSnapshot } from './volume-snapshots.js';

export const RBAC_API = 'rbac.authorization.k8s.io/v1';
/** S3 tag `retention-days` (90 days, as the original design says); the lifecycle rule that expires backups reads it. */
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
    const { manifest } = await readArchive(back, url, { customerId: i.row.customerId });
    i.log('ok', 'Backup written and verified', { url, bytes: bytes.length, entries: manifest.entries.length });
    await warnLocation(target, i.log);
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
  const read = await readArchive(plain, name, { customerId: i.row.customerId });
  const manifest = read.manifest;
  const manifestSha256 = sha256(read.manifestBytes);
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
  await warnLocation(target, i.log);
  return {
    url, bytes: enc.length, sha256: sums.encrypted.sha256, entries: manifest.entries.length, counts,
    encrypted: { recipients, sums: sumsUrl, plaintextSha256: sums.plaintext.sha256, manifestSha256 },
  };
}

/** A restore refuses a file target others can write; the deletion that writes there says so first. */
async function warnLocation(target: BackupTarget, log: StepLog): Promise<void> {
  const problems = (await target.locationProblems?.()) ?? [];
  if (problems.length) log('warn', 'Others can write where this backup lies: a restore will refuse it unless --trust-backup-location', { problems: problems.join('; ') });
}

export interface LoadedBackup {
  /** the archive's URL (a directory given: the archive chosen in it) */
  url: string;
  /** sha256 of the archive as stored (encrypted bytes when encrypted): what the plan saw */
  sha256: string;
  /** decrypted with an age identity */
  encrypted: boolean;
  manifest: BackupManifest;
  namespace: ArchivedObject | null;
  objects: ArchivedObject[];
  clusterObjects: ArchivedObject[];
  /** entries that are none of what custctl writes (refused by the restore rules) */
  otherEntries: string[];
  row: BackupRow;
  helmRecords: KubeObject[];
}

export interface LoadOptions {
  signal?: AbortSignal;
  /** age identities for an encrypted archive */
  identities?: readonly string[];
  /** the archive's sha256 as the confirmed plan saw it: another archive is refused */
  expectSha256?: string;
  /** read a file target others can write (restore --trust-backup-location) */
  trustLocation?: boolean;
  /** why an archive of a directory was passed over */
  log?: StepLog;
}

/** The largest archive read (Node reads at most 2 GiB into one buffer). */
export const MAX_ARCHIVE_BYTES = 2 * 1024 * 1024 * 1024 - 1;
/** The sums file beside an encrypted archive is a few hundred bytes. */
const MAX_SUMS_BYTES = 64 * 1024;

interface OpenedArchive {
  url: string;
  sha256: string;
  encrypted: boolean;
  manifest: BackupManifest;
  files: Map<string, Buffer>;
}

/**
 * One archive of the target: read (its location checked unless trusted), decrypted when it is an
 * age file (proven against the sums beside it), inflated within what its manifest declares and
 * verified entry by entry; a manifest of another customer is refused before the rest is read.
 */
async function openArchive(target: BackupTarget, name: string, customerId: string, o: LoadOptions, manifestOnly = false): Promise<OpenedArchive> {
  const url = `${target.url.replace(/\/+$/, '')}/${name}`;
  const read = { checkLocation: !o.trustLocation, maxBytes: MAX_ARCHIVE_BYTES };
  let bytes = await target.get(name, o.signal, read);
  const stored = sha256(bytes);
  if (o.expectSha256 !== undefined && stored !== o.expectSha256) {
    throw new OperationError(`backup ${url} is not the archive the plan showed (sha256 ${stored.slice(0, 12)}…, planned ${o.expectSha256.slice(0, 12)}…): refusing`, ['It was replaced after the plan. Look at it, then run the restore again.'], { permanent: true });
  }
  const encrypted = isAgeEncrypted(bytes);
  let sums: BackupSums | null = null;
  if (encrypted) {
    sums = await readSums(target, name, url, { ...read, maxBytes: MAX_SUMS_BYTES }, o.signal);
    if (sums && stored !== sums.encrypted.sha256) {
      throw new OperationError(`backup ${url} is damaged: its sha256 differs from the one recorded beside it (${name}${SUMS_SUFFIX})`, [], { permanent: true });
    }
    bytes = await decryptArchive(bytes, o.identities ?? [], url);
    if (sums && sha256(bytes) !== sums.plaintext.sha256) throw new OperationError(`backup ${url} decrypted to an archive other than the one verified when it was written`, [], { permanent: true });
  }
  const r = await readArchive(bytes, url, { customerId, manifestOnly });
  if (sums && sha256(r.manifestBytes) !== sums.manifest.sha256) throw new OperationError(`backup ${url}: its manifest differs from the one recorded when it was written`, [], { permanent: true });
  return { url, sha256: stored, encrypted, manifest: r.manifest, files: r.files };
}

/**
 * The customer's newest archive in a directory or prefix, by what each manifest says (its
 * customer and time), not by file names: names narrow the search to the customer's archives, each
 * candidate's manifest decides. An archive that cannot be read (damaged, another customer's, not
 * decryptable) might be the newest, so the choice is refused, naming each: the operator names the
 * archive to restore instead.
 */
async function chooseArchive(target: BackupTarget, customerId: string, o: LoadOptions): Promise<string> {
  const mine = (await target.list(o.signal)).filter((b) => b.customerId === customerId);
  if (mine.length === 0) throw new NotFoundError(`no backup of ${customerId} in ${target.url}`, [`List them with 'custctl backups list --backup ${target.url}'.`]);
  let best: { name: string; at: number } | null = null;
  const unreadable: Array<{ name: string; error: unknown }> = [];
  for (const b of mine) {
    try {
      const m = (await openArchive(target, b.name, customerId, { ...o, expectSha256: undefined }, true)).manifest;
      const at = Date.parse(m.createdAt);
      if (best === null || at > best.at || (at === best.at && b.name > best.name)) best = { name: b.name, at };
    } catch (e) {
      if (o.signal?.aborted || e instanceof UsageError) throw e;
      unreadable.push({ name: b.name, error: e });
    }
  }
  if (unreadable.length === 1 && mine.length === 1) throw (unreadable[0] as { error: unknown }).error;
  if (unreadable.length || !best) {
    throw new OperationError(`cannot choose the newest backup of ${customerId} in ${target.url}: ${unreadable.length} of ${mine.length} cannot be read, and any of them might be the newest`, [
      ...unreadable.slice(0, 10).map((u) => `${u.name}: ${errorMessage(u.error)}`),
      `Name the archive to restore: --from ${target.url.replace(/\/+$/, '')}/NAME.`,
    ], { permanent: true });
  }
  return best.name;
}

/**
 * Reads an archive (`…/name.tar.gz`, or a directory/prefix: the customer's newest backup there, by
 * its manifest), verifies every entry against the manifest and parses each as custctl wrote it.
 * What the entries hold is judged by the restore rules (domain/restore-rules.ts), not here.
 */
export async function loadBackup(from: string, customerId: string, openTarget: (u: string) => Promise<BackupTarget>, signal?: AbortSignal, identities: readonly string[] = [], opts: Omit<LoadOptions, 'signal' | 'identities'> = {}): Promise<LoadedBackup> {
  const o: LoadOptions = { ...opts, ...(signal ? { signal } : {}), identities };
  const { target: where, name: given } = splitArchiveUrl(from);
  const target = await openTarget(where.url);
  const name = given ?? (await chooseArchive(target, customerId, o));
  const a = await openArchive(target, name, customerId, o);
  const problems: string[] = [];
  const parse = <T>(entry: string, check: (v: unknown) => T): T | null => {
    try {
      return check(JSON.parse((a.files.get(entry) as Buffer).toString('utf8')) as unknown);
    } catch (e) {
      problems.push(`${entry}: ${e instanceof SyntaxError ? `not JSON (${e.message})` : `not what custctl writes: ${(e as Error).message}`}`);
      return null;
    }
  };
  const objects: ArchivedObject[] = [];
  const clusterObjects: ArchivedObject[] = [];
  const otherEntries: string[] = [];
  let namespace: ArchivedObject | null = null;
  let row: BackupRow | null = null;
  for (const { name: entry } of a.manifest.entries) {
    if (entry === 'row.json') row = parse(entry, checkBackupRow);
    else if (entry === 'namespace.json' || entry.startsWith('objects/') || entry.startsWith('cluster/')) {
      const object = parse(entry, checkKubeObject);
      if (!object) continue;
      if (entry === 'namespace.json') namespace = { entry, object };
      else (entry.startsWith('objects/') ? objects : clusterObjects).push({ entry, object });
    } else otherEntries.push(entry);
  }
  if (!a.manifest.entries.some((e) => e.name === 'row.json')) problems.push('row.json: missing (custctl always writes the row)');
  if (problems.length) {
    throw new OperationError(`backup ${a.url} failed verification: ${problems.length} entr${problems.length === 1 ? 'y is' : 'ies are'} not what custctl writes`, problems.slice(0, 20), { permanent: true });
  }
  return {
    url: a.url,
    sha256: a.sha256,
    encrypted: a.encrypted,
    manifest: a.manifest,
    namespace,
    objects,
    clusterObjects,
    otherEntries,
    row: row as BackupRow,
    helmRecords: objects.map((x) => x.object).filter(isHelmReleaseRecord),
  };
}

/**
 * The sums beside an encrypted archive; null when there are none (written by hand, or lost): the
 * decryption is authenticated (age) and the entries are checked against the manifest all the same.
 */
async function readSums(target: BackupTarget, name: string, url: string, read: ReadOptions, signal?: AbortSignal): Promise<BackupSums | null> {
  let raw: Buffer;
  try {
    raw = await target.get(`${name}${SUMS_SUFFIX}`, signal, read);
  } catch (e) {
    if (e instanceof UsageError || /bytes, more than/.test(errorMessage(e))) throw e;
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
