/**
 * The export archive: a .tar.gz whose files sit in one directory named after the export (so it
 * unpacks into a folder of its own), with a `SHA256SUMS` file in the format `sha256sum -c` reads;
 * optionally encrypted with age (the reference TypeScript implementation, loaded only when used)
 * to the customer's public keys or to a passphrase (age's scrypt recipient: `age -d` asks for it).
 */
import { MIN_PASSPHRASE_LENGTH } from '../domain/export.js';
import { OperationError, UsageError } from '../errors.js';
import { encryptArchive } from './backup-age.js';
import { sha256 as sha256Hex, tarGz } from './backup-archive.js';

export { sha256Hex };

export interface ExportFile {
  /** path inside the export's directory, e.g. `kubernetes/secrets.yaml` */
  path: string;
  data: Buffer;
}

export const SUMS_FILE = 'SHA256SUMS';


/** `<sha256>  <path>` for each file, sorted by path (what `sha256sum -c` checks). */
export function sumsFile(files: readonly ExportFile[]): Buffer {
  return Buffer.from([...files].sort((a, b) => (a.path < b.path ? -1 : 1)).map((f) => `${sha256Hex(f.data)}  ${f.path}\n`).join(''));
}

/** Packs `root/<path>` for every file plus `root/SHA256SUMS`; files 0600, directories 0700. */
export async function packExport(root: string, files: readonly ExportFile[], mtime: Date): Promise<Buffer> {
  if (!/^[A-Za-z0-9._-]+$/.test(root)) throw new OperationError(`export directory name ${JSON.stringify(root)} is not a plain name`);
  for (const f of files) {
    if (f.path.split('/').some((p) => p === '' || p === '.' || p === '..') || !/^[A-Za-z0-9._/-]+$/.test(f.path)) throw new OperationError(`export file ${JSON.stringify(f.path)} is not a plain relative path`);
  }
  const dirs = new Set<string>([root]);
  for (const f of files) {
    const parts = f.path.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) dirs.add(`${root}/${parts.slice(0, i).join('/')}`);
  }
  const all = [...files, { path: SUMS_FILE, data: sumsFile(files) }];
  return tarGz([
    ...[...dirs].sort().map((d) => ({ header: { name: `${d}/`, type: 'directory' as const, mode: 0o700, mtime } })),
    ...all.map((f) => ({ header: { name: `${root}/${f.path}`, mode: 0o600, mtime, size: f.data.length }, data: f.data })),
  ]);
}

export type ExportEncryption =
  | { kind: 'none' }
  | { kind: 'recipients'; recipients: readonly string[] }
  | { kind: 'passphrase'; passphrase: string };

/** The passphrase as a file holds it: its first line, without the line end. */
export function passphraseFromFile(text: string, where: string): string {
  const line = text.split(/\r?\n/)[0] ?? '';
  if ([...line].length < MIN_PASSPHRASE_LENGTH) throw new UsageError(`the passphrase in ${where} is shorter than ${MIN_PASSPHRASE_LENGTH} characters: refused`, ['A passphrase protects the customer\'s secrets in the export: use a long one (e.g. six random words).']);
  if (line.trim() !== line) throw new UsageError(`the passphrase in ${where} starts or ends with white space: refused (it would be easy to mistype)`);
  return line;
}

export async function encryptExport(bytes: Buffer, enc: ExportEncryption): Promise<Buffer> {
  switch (enc.kind) {
    case 'none':
      return bytes;
    case 'recipients':
      return encryptArchive(bytes, enc.recipients);
    case 'passphrase': {
      if ([...enc.passphrase].length < MIN_PASSPHRASE_LENGTH) throw new UsageError(`a passphrase has at least ${MIN_PASSPHRASE_LENGTH} characters`);
      const { Encrypter } = await import('age-encryption');
      const e = new Encrypter();
      e.setPassphrase(enc.passphrase);
      return Buffer.from(await e.encrypt(bytes));
    }
  }
}

/** Decrypts an export with a passphrase (what `age -d` does); for checks and tests. */
export async function decryptWithPassphrase(bytes: Buffer, passphrase: string): Promise<Buffer> {
  const { Decrypter } = await import('age-encryption');
  const d = new Decrypter();
  d.addPassphrase(passphrase);
  return Buffer.from(await d.decrypt(bytes));
}
