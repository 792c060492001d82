/**
 * Files that hold the site's secrets: the certificate signing key (CUSTCTL_SIGNING_KEY_FILE, an
 * ed25519 private key in PEM) and the portal link secret (CUSTCTL_PORTAL_SECRET_FILE). A secret
 * file is read only when it is a regular file (not through a symbolic link) that no one but its
 * owner can read or write (mode 0600 or stricter), as ssh reads a private key: a key others can
 * read is a key others may have copied.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { isEd25519, keyIdOf } from '../domain/certificate.js';
import { parsePortalSecrets, PortalConfigError, type PortalSecrets } from '../domain/portal-link.js';
import { UsageError } from '../errors.js';
import { createFileExclusive, FileExistsError } from './fs-atomic.js';

/** The largest secret file read (a PEM key is ~120 bytes; a secrets file a few lines). */
const MAX_SECRET_FILE_BYTES = 64 * 1024;

/** The text of a secret file, refused (UsageError) when others can read or write it, or it is not a regular file. */
export async function readSecretFile(path: string, what: string): Promise<string> {
  let fh;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new UsageError(`${what} ${path} is a symbolic link: refused (point ${what} at the file itself)`);
    throw new UsageError(`cannot read ${what} ${path}: ${(e as Error).message}`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new UsageError(`${what} ${path} is not a regular file`);
    if ((st.mode & 0o077) !== 0) {
      throw new UsageError(`${what} ${path} is readable or writable by others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}): refused`, [
        `A secret others can read may have been copied: make a new one, or, if no one else could have read it, run 'chmod 600 ${path}'.`,
      ]);
    }
    if (st.size > MAX_SECRET_FILE_BYTES) throw new UsageError(`${what} ${path} is ${st.size} bytes: not a key file`);
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}

/** The site's signing key: an ed25519 private key, PEM (PKCS#8, as `certificate keygen` writes it). */
export async function loadSigningKey(path: string, what = 'CUSTCTL_SIGNING_KEY_FILE'): Promise<KeyObject> {
  const pem = await readSecretFile(path, what);
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (e) {
    throw new UsageError(`${what} ${path} holds no private key in PEM: ${(e as Error).message}`, ["Make one with 'custctl certificate keygen --out FILE'."]);
  }
  if (!isEd25519(key)) throw new UsageError(`${what} ${path} holds a ${key.asymmetricKeyType ?? 'unknown'} key: certificates are signed with ed25519`, ["Make one with 'custctl certificate keygen --out FILE'."]);
  return key;
}

/**
 * A public key to verify with: a PEM public key (SPKI, as keygen prints it) or, on the site itself,
 * the private key file (its public half is used). Its mode is not checked: a public key is public.
 */
export async function loadPublicKey(path: string, what = '--public-key'): Promise<KeyObject> {
  let text: string;
  let fh;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const st = await fh.stat();
    if (!st.isFile()) throw new UsageError(`${what} ${path} is not a regular file`);
    if (st.size > MAX_SECRET_FILE_BYTES) throw new UsageError(`${what} ${path} is ${st.size} bytes: not a key file`);
    text = await fh.readFile('utf8');
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot read ${what} ${path}: ${(e as Error).message}`);
  } finally {
    await fh?.close();
  }
  let key: KeyObject;
  try {
    key = /PRIVATE KEY/.test(text) ? createPublicKey(createPrivateKey(text)) : createPublicKey(text);
  } catch (e) {
    throw new UsageError(`${what} ${path} holds no public key in PEM: ${(e as Error).message}`);
  }
  if (!isEd25519(key)) throw new UsageError(`${what} ${path} holds a ${key.asymmetricKeyType ?? 'unknown'} key, not ed25519`);
  return key;
}

export interface NewSigningKey {
  path: string;
  /** the public key, PEM (SPKI): what the site publishes for verifiers */
  publicKeyPem: string;
  keyId: string;
}

/**
 * A new ed25519 key written to `path` (PKCS#8 PEM, mode 0600) complete or not at all, never over
 * an existing file (a signing key replaced by mistake would orphan every certificate it signed).
 */
export async function writeNewSigningKey(path: string): Promise<NewSigningKey> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  try {
    await createFileExclusive(path, pem, 0o600);
  } catch (e) {
    if (e instanceof FileExistsError) {
      throw new UsageError(`${path} exists already: a signing key is never overwritten`, [
        'Certificates signed with the old key are checked with its public key: keep it. Write the new key to another file.',
      ]);
    }
    throw new UsageError(`cannot write the signing key to ${path}: ${(e as Error).message}`);
  }
  return { path, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string, keyId: keyIdOf(publicKey) };
}

/**
 * The portal link secrets: CUSTCTL_PORTAL_SECRET_FILE (one secret a line, the first makes links;
 * a secret file, 0600) or CUSTCTL_PORTAL_SECRET (one secret). Both set is refused: which one
 * signs would be a guess. Null when neither is set.
 */
export async function loadPortalSecrets(env: Readonly<Record<string, string | undefined>>): Promise<PortalSecrets | null> {
  const file = env.CUSTCTL_PORTAL_SECRET_FILE || undefined;
  const value = env.CUSTCTL_PORTAL_SECRET || undefined;
  if (file && value) throw new UsageError('CUSTCTL_PORTAL_SECRET_FILE and CUSTCTL_PORTAL_SECRET are both set: keep one');
  try {
    if (file) return parsePortalSecrets(await readSecretFile(file, 'CUSTCTL_PORTAL_SECRET_FILE'), `CUSTCTL_PORTAL_SECRET_FILE ${file}`);
    if (value) return parsePortalSecrets(value, 'CUSTCTL_PORTAL_SECRET');
  } catch (e) {
    if (e instanceof PortalConfigError) throw new UsageError(e.message);
    throw e;
  }
  return null;
}
