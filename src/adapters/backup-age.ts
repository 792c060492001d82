/**
 * Encrypted backups: the archive encrypted to one or more age public keys (`--backup-recipient`,
 * CUSTCTL_BACKUP_RECIPIENT) with age-encryption, the reference TypeScript implementation of age
 * (loaded only when used). The process that writes backups holds only the public keys, so it cannot
 * read what it wrote; a restore decrypts with the identity (`--identity FILE`, CUSTCTL_BACKUP_IDENTITY).
 */
import { readFile } from 'node:fs/promises';
import { OperationError, UsageError } from '../errors.js';

/** Every age file starts with this line (age-encryption.org/v1 header). */
const AGE_MAGIC = Buffer.from('age-encryption.org/v1\n');

export function isAgeEncrypted(bytes: Buffer): boolean {
  return bytes.length >= AGE_MAGIC.length && bytes.subarray(0, AGE_MAGIC.length).equals(AGE_MAGIC);
}

export async function encryptArchive(bytes: Buffer, recipients: readonly string[]): Promise<Buffer> {
  if (recipients.length === 0) throw new UsageError('encrypting a backup needs at least one age recipient');
  const { Encrypter } = await import('age-encryption');
  const e = new Encrypter();
  for (const r of recipients) {
    try {
      e.addRecipient(r);
    } catch (err) {
      throw new UsageError(`backup recipient ${JSON.stringify(r.slice(0, 80))} is not an age public key: ${(err as Error).message}`);
    }
  }
  return Buffer.from(await e.encrypt(bytes));
}

/**
 * Decrypts with the identities (AGE-SECRET-KEY-1… strings). One that does not match, or a damaged
 * file, is an OperationError that names the backup.
 */
export async function decryptArchive(bytes: Buffer, identities: readonly string[], where: string): Promise<Buffer> {
  if (identities.length === 0) {
    throw new OperationError(`backup ${where} is encrypted (age): it cannot be read without the identity`, [
      'Pass --identity FILE (an age identity file, AGE-SECRET-KEY-1…) or set CUSTCTL_BACKUP_IDENTITY.',
    ], { permanent: true });
  }
  const { Decrypter } = await import('age-encryption');
  const d = new Decrypter();
  for (const id of identities) {
    try {
      d.addIdentity(id);
    } catch (err) {
      throw new UsageError(`the identity given is not an age secret key: ${(err as Error).message}`);
    }
  }
  try {
    return Buffer.from(await d.decrypt(bytes));
  } catch (err) {
    throw new OperationError(`cannot decrypt backup ${where}: ${(err as Error).message}`, [
      'The identity given does not match any recipient the backup was encrypted to, or the file is damaged.',
    ], { permanent: true });
  }
}

/** The identities in an age identity file (`age-keygen` output: comments, then AGE-SECRET-KEY-1… lines). */
export function parseIdentities(text: string, where: string): string[] {
  const keys = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const bad = keys.find((k) => !k.startsWith('AGE-SECRET-KEY-'));
  if (bad !== undefined || keys.length === 0) throw new UsageError(`${where} holds no age identity (a line AGE-SECRET-KEY-1…)`);
  return keys;
}

/**
 * `--identity FILE` / CUSTCTL_BACKUP_IDENTITY: a path to an identity file, or (for the variable)
 * the key itself when it starts with AGE-SECRET-KEY-.
 */
export async function loadIdentities(source: string | undefined, what: string): Promise<string[]> {
  if (!source) return [];
  if (source.trim().startsWith('AGE-SECRET-KEY-')) return parseIdentities(source, what);
  let text: string;
  try {
    text = await readFile(source, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read the identity file ${source} (${what}): ${(e as Error).message}`);
  }
  return parseIdentities(text, `${what} ${source}`);
}
