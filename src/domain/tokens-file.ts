/**
 * The tokens file `custctl serve` reads (CUSTCTL_API_TOKENS_FILE) and `custctl token` writes: one
 * token a line, `name:role:sha256hex` (`name:owner:cust_…:sha256hex` for an account owner), blank
 * lines and `#` comments allowed. Only SHA-256 digests are kept: a token itself is never stored.
 * Pure: the file's I/O is in adapters/tokens-file.ts, the hashing and matching in server/auth.ts.
 */
import { createHash } from 'node:crypto';
import { UsageError } from './errors.js';

/** What a route needs. */
export type Role = 'admin' | 'viewer';
export const ROLES: readonly Role[] = ['admin', 'viewer'];
/**
 * What a token is: admin, viewer, or `owner:<customerId>` — an account owner, who may schedule
 * and cancel the deletion of its own customer and read its row and jobs; nothing else exists for it.
 */
export type TokenRole = Role | 'owner';

export interface TokenEntry {
  name: string;
  role: TokenRole;
  /** role owner: the one customer this token may act on */
  customerId?: string;
  /** SHA-256 of the token, 32 bytes */
  digest: Buffer;
}

export interface Principal {
  name: string;
  role: TokenRole;
  /** role owner: its customer */
  customerId?: string;
}

export interface TokenSet {
  readonly entries: readonly TokenEntry[];
  /** where the tokens came from (for the startup log; no secret in it) */
  readonly source: string;
  /** things to say at start-up (a tokens file readable by others) */
  readonly warnings?: readonly string[];
}

/** The names of the owner tokens (each acts for its one customer). */
export function ownerTokenNames(tokens: Pick<TokenSet, 'entries'>): Set<string> {
  return new Set(tokens.entries.filter((e) => e.role === 'owner').map((e) => e.name));
}

/** SHA-256 of a token: what the file keeps and a request's bearer token is compared by. */
export function sha256(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export function sha256Hex(token: string): string {
  return sha256(token).toString('hex');
}

/** A token's name: what logs and `requestedBy` show. */
export const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * Parses a tokens file: one `name:role:sha256hex` a line; blank lines and `#` comments are
 * ignored. A malformed line is a UsageError naming the file and the line number (its content is
 * not echoed beyond the name: a mistyped line might hold a raw token).
 */
export function parseTokensFile(text: string, source: string): TokenSet {
  const entries: TokenEntry[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${source} line ${i + 1}`;
    const parts = line.split(':').map((p) => p.trim());
    // an owner's role has a field of its own: name:owner:cust_…:sha256hex
    const owner = parts.length === 4 && parts[1] === 'owner';
    if (parts.length !== 3 && !owner) throw new UsageError(`${where}: expected name:role:sha256hex (3 fields separated by ':', or name:owner:<customerId>:sha256hex), found ${parts.length} field${parts.length === 1 ? '' : 's'}`, [TOKEN_HINT]);
    const [name = '', role = ''] = parts;
    const hex = parts[parts.length - 1] ?? '';
    if (!NAME.test(name)) throw new UsageError(`${where}: token name must be 1-64 of [A-Za-z0-9._-]`, [TOKEN_HINT]);
    if (role !== 'admin' && role !== 'viewer' && role !== 'owner') throw new UsageError(`${where}: role of token ${JSON.stringify(name)} must be admin, viewer or owner:<customerId>`, [TOKEN_HINT]);
    let customerId: string | undefined;
    if (role === 'owner') {
      if (!owner) throw new UsageError(`${where}: an owner token names its customer: ${name}:owner:cust_…:sha256hex`, [TOKEN_HINT]);
      if (!CUSTOMER_ID.test(parts[2] ?? '')) throw new UsageError(`${where}: the customer of owner token ${JSON.stringify(name)} must be a customer ID (cust_ followed by 1-44 lowercase letters or digits)`, [TOKEN_HINT]);
      customerId = parts[2];
    }
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new UsageError(`${where}: the third field of token ${JSON.stringify(name)} must be the SHA-256 of the token in hex (64 characters), not the token`, [TOKEN_HINT]);
    if (entries.some((e) => e.name === name)) throw new UsageError(`${where}: token name ${JSON.stringify(name)} appears twice`);
    entries.push({ name, role, digest: Buffer.from(hex, 'hex'), ...(customerId ? { customerId } : {}) });
  });
  return { entries, source };
}

export const TOKEN_HINT = "Make one with: custctl token create ci-bot --role admin  (an account owner: custctl token create portal-abc --role owner --customer cust_abc123)";
export const CUSTOMER_ID = /^cust_[a-z0-9]{1,44}$/;

/** One line of the tokens file for an entry (`digestHex`: SHA-256 of the token, hex). */
export function formatTokenLine(e: { name: string; role: TokenRole; customerId?: string }, digestHex: string): string {
  return e.role === 'owner' ? `${e.name}:owner:${e.customerId ?? ''}:${digestHex}` : `${e.name}:${e.role}:${digestHex}`;
}

/** The name of the entry a line holds, or null for a blank line or a comment (no validation). */
export function lineName(line: string): string | null {
  const t = line.trim();
  if (t === '' || t.startsWith('#')) return null;
  return (t.split(':')[0] ?? '').trim();
}

/**
 * A tokens file anyone but its owner can write would let them add an admin token: refused (like
 * ssh refuses a writable authorized_keys). Readable by others shows only digests: a warning.
 */
export function tokensFileModeWarnings(file: string, mode: number): string[] {
  const perms = (mode & 0o777).toString(8).padStart(4, '0');
  if ((mode & 0o022) !== 0) {
    throw new UsageError(`CUSTCTL_API_TOKENS_FILE ${file} is writable by ${mode & 0o002 ? 'everyone' : 'its group'} (mode ${perms}): refusing to start, anyone who can write it could add an admin token`, [
      `Make it private: chmod 600 ${file}`,
    ]);
  }
  if ((mode & 0o044) !== 0) return [`CUSTCTL_API_TOKENS_FILE ${file} is readable by ${mode & 0o004 ? 'everyone' : 'its group'} (mode ${perms}); it holds only digests, but chmod 600 ${file} keeps them private`];
  return [];
}

/** A new entry's name, role and customer, checked as the file's reader checks them (UsageError). */
export function checkNewEntry(o: { name: string; role: string; customerId?: string | undefined }): { name: string; role: TokenRole; customerId?: string } {
  if (!NAME.test(o.name)) throw new UsageError(`token name ${JSON.stringify(o.name)}: 1-64 of [A-Za-z0-9._-], starting with a letter or digit (it shows in logs and as requestedBy)`);
  if (o.role !== 'admin' && o.role !== 'viewer' && o.role !== 'owner') throw new UsageError(`--role ${JSON.stringify(o.role)}: admin, viewer or owner`);
  if (o.role === 'owner') {
    if (o.customerId === undefined) throw new UsageError('an owner token acts for one customer: add --customer cust_…');
    if (!CUSTOMER_ID.test(o.customerId)) throw new UsageError(`--customer ${JSON.stringify(o.customerId)} is not a customer ID (cust_ followed by 1-44 lowercase letters or digits)`);
    return { name: o.name, role: 'owner', customerId: o.customerId };
  }
  if (o.customerId !== undefined) throw new UsageError(`--customer is for --role owner; an ${o.role} token is not tied to a customer`);
  return { name: o.name, role: o.role };
}
