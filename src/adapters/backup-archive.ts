/**
 * The backup archive: a gzipped tar of JSON entries with `manifest.json` first, built and read in
 * memory through tar-stream (no extraction to disk, so no path in an archive can reach the file
 * system).
 *
 * Reading is bounded by what the manifest declares, and streamed: gunzip's output is counted as it
 * comes, the manifest (first, and capped) sets the budget for the rest, and every later entry is
 * checked against the manifest from its tar header alone (listed, a file, seen once, its declared
 * size) before a byte of it is inflated. A small archive that would inflate to gigabytes is refused
 * once it passes the budget, with memory flat; what is kept is at most what the manifest declares.
 */
import { createHash } from 'node:crypto';
import { createGunzip, gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { checkManifest, MANIFEST_NAME, type BackupManifest, type ManifestEntry } from '../domain/backup.js';
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
  const file = (name: string, data: Buffer) => ({ header: { name, mode: 0o600, mtime, size: data.length }, data });
  const bytes = await tarGz([file(MANIFEST_NAME, Buffer.from(JSON.stringify(full, null, 2))), ...entries.map((e) => file(e.name, e.data))]);
  return { bytes, manifest: full };
}

/** The .tar.gz of these entries, in this order (a directory entry has no data). */
export async function tarGz(entries: ReadonlyArray<{ header: tar.Headers; data?: Buffer }>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: Buffer) => chunks.push(c));
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => pack.entry(e.header, e.data ?? (null as unknown as Buffer), (err) => (err ? reject(err) : resolve())));
  }
  pack.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

/** How far an archive may inflate. */
export interface ArchiveLimits {
  /** manifest.json (read before anything declares a size): about 200 bytes per entry */
  manifestBytes: number;
  /** tar's own bytes around one entry: its header, a pax header, padding to 512 */
  perEntryOverhead: number;
  /** end-of-archive blocks and the padding a tar writer adds to whole records */
  slack: number;
}

export const ARCHIVE_LIMITS: ArchiveLimits = {
  manifestBytes: 64 * 1024 * 1024,
  perEntryOverhead: 4096,
  slack: 64 * 1024,
};

export interface ReadArchive {
  manifest: BackupManifest;
  /** manifest.json as stored (its sha256 is recorded beside an encrypted archive) */
  manifestBytes: Buffer;
  /** every listed entry, verified against its sha256 (empty with `manifestOnly`) */
  files: Map<string, Buffer>;
}

export interface ReadArchiveOptions {
  /** refuse, before the rest is inflated, a manifest of another customer */
  customerId?: string;
  /** stop after the manifest (choosing among archives by what their manifests say) */
  manifestOnly?: boolean;
  limits?: ArchiveLimits;
}

/** A failed check of an archive: exit 1, permanent (no retry reads a different archive). */
function verificationError(where: string, problems: readonly string[]): OperationError {
  return new OperationError(`backup ${where} failed verification: ${problems.length} entr${problems.length === 1 ? 'y does' : 'ies do'} not match the manifest`, [...problems.slice(0, 20), ...(problems.length > 20 ? [`… and ${problems.length - 20} more`] : [])], { permanent: true });
}

/**
 * Reads and verifies a .tar.gz: manifest.json first (a custctl manifest, optionally of
 * `customerId`), then every entry it lists, each once, a file of its declared size and sha256,
 * nothing it does not list. Gunzip's output is counted against the manifest's declared sizes and
 * the read stops as soon as it passes them. Every failure is an OperationError naming the entry.
 */
export async function readArchive(bytes: Buffer, where: string, o: ReadArchiveOptions = {}): Promise<ReadArchive> {
  const limits = o.limits ?? ARCHIVE_LIMITS;
  const gunzip = createGunzip();
  const extract = tar.extract();
  let inflated = 0;
  let budget = limits.manifestBytes + limits.perEntryOverhead + limits.slack;
  // read and written from the stream callbacks
  const st: { manifest: BackupManifest | null; manifestBytes: Buffer | null } = { manifest: null, manifestBytes: null };
  let declared = new Map<string, ManifestEntry>();
  const files = new Map<string, Buffer>();
  const bad: string[] = [];
  let settled = false;
  let resolveRead: () => void = () => undefined;
  let rejectRead: (e: unknown) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    resolveRead = resolve;
    rejectRead = reject;
  });
  const stop = (e: Error | null) => {
    if (settled) return;
    settled = true;
    gunzip.removeAllListeners('data');
    gunzip.destroy();
    extract.destroy();
    if (e) rejectRead(e);
    else resolveRead();
  };
  const refuse = (problem: string) => stop(verificationError(where, [problem]));

  gunzip.on('data', (c: Buffer) => {
    inflated += c.length;
    if (inflated > budget) {
      refuse(st.manifest
        ? `the archive inflates past ${budget} bytes, more than its manifest declares (${st.manifest.entries.length} entries): refused before reading on (a decompression bomb, or entries the manifest does not list)`
        : `the archive inflates past ${budget} bytes before its manifest ends: refused`);
      return;
    }
    if (!extract.write(c)) gunzip.pause();
  });
  extract.on('drain', () => gunzip.resume());
  gunzip.on('end', () => extract.end());
  gunzip.on('error', (e: Error) => stop(new OperationError(`backup ${where} is not a gzip archive (${e.message}): damaged, or encrypted (pass --identity)`, [], { permanent: true })));
  extract.on('error', (e: Error) => stop(new OperationError(`backup ${where} is not a valid tar archive: ${e.message}`, [], { permanent: true })));
  extract.on('finish', () => {
    if (!st.manifest) return refuse(`it holds no ${MANIFEST_NAME}`);
    for (const e of st.manifest.entries) if (!files.has(e.name)) bad.push(`${e.name}: missing`);
    if (bad.length) return stop(verificationError(where, bad));
    stop(null);
  });
  extract.on('entry', (header, stream, next) => {
    if (settled) return;
    const name = header.name;
    const type = header.type ?? 'file';
    const size = header.size ?? 0;
    if (!st.manifest) {
      if (name !== MANIFEST_NAME || type !== 'file') return refuse(`the first entry is ${JSON.stringify(name)} (${type}), not ${MANIFEST_NAME}: custctl writes the manifest first`);
      if (size > limits.manifestBytes) return refuse(`${MANIFEST_NAME} is ${size} bytes, more than the ${limits.manifestBytes} a manifest may have: refused before it is read`);
      collect(stream, (data) => {
        let m: BackupManifest;
        try {
          const parsed = JSON.parse(data.toString('utf8')) as { customerId?: unknown } | null;
          // another customer's archive is refused first, whatever else its manifest says
          const of = parsed?.customerId;
          if (o.customerId !== undefined && of !== o.customerId) {
            return stop(new OperationError(`backup ${where} is of ${typeof of === 'string' ? JSON.stringify(of).slice(1, -1).slice(0, 80) : 'no customer'}, not ${o.customerId}: refusing`, ['Its manifest names another customer; nothing was read past it.'], { permanent: true }));
          }
          m = checkManifest(parsed);
        } catch (e) {
          return stop(new OperationError(`backup ${where}: ${MANIFEST_NAME} is not a custctl manifest: ${e instanceof SyntaxError ? `not JSON (${e.message})` : (e as Error).message}`, [], { permanent: true }));
        }
        st.manifest = m;
        st.manifestBytes = data;
        declared = new Map(m.entries.map((e) => [e.name, e]));
        const total = m.entries.reduce((n, e) => n + e.bytes, 0);
        budget = size + limits.perEntryOverhead + total + m.entries.length * limits.perEntryOverhead + limits.slack;
        if (o.manifestOnly) return stop(null);
        next();
      });
      return;
    }
    const e = declared.get(name);
    if (type !== 'file') return refuse(`${name}: a ${type} entry (custctl writes only files): refused`);
    if (!e) return refuse(`${name}: not in the manifest: refused before it is read`);
    if (files.has(name)) return refuse(`${name}: in the archive twice: refused`);
    if (size !== e.bytes) return refuse(`${name}: ${size} bytes in the archive, the manifest says ${e.bytes}: refused before it is read`);
    collect(stream, (data) => {
      const sum = sha256(data);
      if (sum !== e.sha256) bad.push(`${name}: sha256 ${sum.slice(0, 12)}… ≠ manifest ${e.sha256.slice(0, 12)}…`);
      files.set(name, data);
      next();
    });
  });

  function collect(stream: NodeJS.ReadableStream, then: (data: Buffer) => void) {
    const parts: Buffer[] = [];
    stream.on('data', (c: Buffer) => parts.push(c));
    stream.on('end', () => {
      if (!settled) then(Buffer.concat(parts));
    });
    stream.on('error', () => undefined); // reported through extract's own error
  }

  gunzip.end(bytes);
  await done;
  if (!st.manifest || !st.manifestBytes) throw verificationError(where, [`it holds no ${MANIFEST_NAME}`]);
  return { manifest: st.manifest, manifestBytes: st.manifestBytes, files };
}
