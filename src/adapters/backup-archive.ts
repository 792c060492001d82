/**
 * The backup archive: a gzipped tar of JSON entries with `manifest.json` first, built and read in
 * memory through tar-stream (no extraction to disk, so no path in an archive can reach the file
 * system). `verifyArchive` checks every entry against the manifest's sha256.
 */
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { MANIFEST_NAME, type BackupManifest, type ManifestEntry } from '../domain/backup.js';
import { OperationError } from '../errors.js';

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Packs the entries with a manifest that lists their checksums; returns the .tar.gz bytes and the manifest. */
export async function packArchive(
  entries: ReadonlyArray<{ name: string; data: Buffer }>,
  manifest: Omit<BackupManifest, 'entries'>,
  mtime: Date,
): Promise<{ bytes: Buffer; manifest: BackupManifest }> {
  const list: ManifestEntry[] = entries.map((e) => ({ name: e.name, sha256: sha256(e.data), bytes: e.data.length }));
  const full: BackupManifest = { ...manifest, entries: list };
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: Buffer) => chunks.push(c));
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  const add = (name: string, data: Buffer) =>
    new Promise<void>((resolve, reject) => pack.entry({ name, mode: 0o600, mtime, size: data.length }, data, (err) => (err ? reject(err) : resolve())));
  await add(MANIFEST_NAME, Buffer.from(JSON.stringify(full, null, 2)));
  for (const e of entries) await add(e.name, e.data);
  pack.finalize();
  await done;
  return { bytes: gzipSync(Buffer.concat(chunks)), manifest: full };
}

/** Reads every entry of a .tar.gz into memory. A damaged archive is an OperationError. */
export async function unpackArchive(bytes: Buffer, where: string): Promise<Map<string, Buffer>> {
  let raw: Buffer;
  try {
    raw = gunzipSync(bytes);
  } catch (e) {
    throw new OperationError(`backup ${where} is not a gzip archive (${(e as Error).message}): damaged, or encrypted (pass --identity)`);
  }
  const out = new Map<string, Buffer>();
  const extract = tar.extract();
  await new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const parts: Buffer[] = [];
      stream.on('data', (c: Buffer) => parts.push(c));
      stream.on('end', () => {
        if (header.type === 'file' || header.type === undefined) out.set(header.name, Buffer.concat(parts));
        next();
      });
      stream.on('error', reject);
    });
    extract.on('finish', () => resolve());
    extract.on('error', (e: Error) => reject(new OperationError(`backup ${where} is not a valid tar archive: ${e.message}`)));
    extract.end(raw);
  });
  return out;
}

/**
 * The manifest of an unpacked archive, every entry checked against its sha256 (and nothing in the
 * archive that the manifest does not list). Throws an OperationError that names the first mismatch.
 */
export function verifyArchive(files: Map<string, Buffer>, where: string): BackupManifest {
  const m = files.get(MANIFEST_NAME);
  if (!m) throw new OperationError(`backup ${where} has no ${MANIFEST_NAME}`);
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(m.toString('utf8')) as BackupManifest;
  } catch {
    throw new OperationError(`backup ${where}: ${MANIFEST_NAME} is not JSON`);
  }
  if (!Array.isArray(manifest.entries)) throw new OperationError(`backup ${where}: ${MANIFEST_NAME} lists no entries`);
  const bad: string[] = [];
  for (const e of manifest.entries) {
    const data = files.get(e.name);
    if (!data) bad.push(`${e.name}: missing`);
    else if (sha256(data) !== e.sha256) bad.push(`${e.name}: sha256 ${sha256(data).slice(0, 12)}… ≠ manifest ${e.sha256.slice(0, 12)}…`);
  }
  const listed = new Set(manifest.entries.map((e) => e.name));
  for (const name of files.keys()) if (name !== MANIFEST_NAME && !listed.has(name)) bad.push(`${name}: not in the manifest`);
  if (bad.length) throw new OperationError(`backup ${where} failed verification: ${bad.length} entr${bad.length === 1 ? 'y' : 'ies'} do not match the manifest`, bad.slice(0, 10));
  return manifest;
}
