/**
 * API tokens for `custctl serve`: each has a name and a role. The server keeps only SHA-256
 * digests (a tokens file holds `name:role:sha256hex`, never a token); a request's bearer token
 * is hashed and compared with every digest in constant time. The token's NAME is what the rest
 * of the server sees (`requestedBy`, logs); the token itself is never stored or printed.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { tokenProblem } from '../domain/token.js';
import { ForbiddenError, NotFoundError, UnauthorizedError, UsageError } from '../errors.js';
import type { Canceller } from '../jobs/cancel.js';

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

export function sha256(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export function sha256Hex(token: string): string {
  return sha256(token).toString('hex');
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

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

const TOKEN_HINT = "Make a line with: printf '%s' \"$TOKEN\" | sha256sum  →  ci-bot:admin:<that hex>  (an account owner: portal-abc:owner:cust_abc123:<that hex>)";
const CUSTOMER_ID = /^cust_[a-z0-9]{1,44}$/;

/**
 * The tokens `serve` accepts: CUSTCTL_API_TOKENS_FILE if set, else CUSTCTL_API_TOKEN as the single
 * admin token `default`. Neither (or an empty file) is a UsageError: serve refuses to start open.
 */
export async function loadTokens(
  env: Readonly<Record<string, string | undefined>>,
  read: (path: string) => Promise<string> = (p) => readFile(p, 'utf8'),
  modeOf: (path: string) => Promise<number> = async (p) => (await stat(p)).mode,
): Promise<TokenSet> {
  const file = env.CUSTCTL_API_TOKENS_FILE;
  if (file) {
    let text: string;
    let mode: number;
    try {
      mode = await modeOf(file);
      text = await read(file);
    } catch (e) {
      throw new UsageError(`cannot read CUSTCTL_API_TOKENS_FILE ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    const warnings = tokensFileModeWarnings(file, mode);
    const set = parseTokensFile(text, file);
    if (set.entries.length === 0) throw new UsageError(`CUSTCTL_API_TOKENS_FILE ${file} holds no token: refusing to serve without authentication`, [TOKEN_HINT]);
    return { ...set, warnings };
  }
  const single = env.CUSTCTL_API_TOKEN;
  if (single) {
    const problem = tokenProblem(single);
    if (problem) throw new UsageError(`CUSTCTL_API_TOKEN ${problem}: no client could send it`);
    if (single.length < 16) throw new UsageError('CUSTCTL_API_TOKEN is shorter than 16 characters: use a long random token (e.g. openssl rand -hex 32)');
    return { entries: [{ name: 'default', role: 'admin', digest: sha256(single) }], source: 'CUSTCTL_API_TOKEN' };
  }
  throw new UsageError('no API token configured: refusing to serve without authentication', [
    'Set CUSTCTL_API_TOKEN (one admin token), or CUSTCTL_API_TOKENS_FILE (lines name:role:sha256hex).',
  ]);
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

/** Finds the token's entry; every digest is compared (constant time each), so timing shows nothing. */
export function authenticate(tokens: TokenSet, token: string, equal: (a: Buffer, b: Buffer) => boolean = timingSafeEqual): Principal | null {
  const digest = sha256(token);
  let found: TokenEntry | null = null;
  for (const e of tokens.entries) {
    if (equal(digest, e.digest) && found === null) found = e;
  }
  return found ? { name: found.name, role: found.role, ...(found.customerId ? { customerId: found.customerId } : {}) } : null;
}

/** The bearer token of an Authorization header, or null. */
export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return m?.[1] ?? null;
}

/**
 * Authenticates and authorizes one request: 401 (UnauthorizedError) without a known token,
 * 403 (ForbiddenError) when the role is not enough. `admin` may do everything, `viewer` only read.
 * An owner reaches only the routes that allow owners (`ownerAllowed`; the route then checks the
 * customer); any other route answers it 404, as if it did not exist.
 */
export function authorize(tokens: TokenSet, header: string | undefined, need: Role, ownerAllowed = false): Principal {
  const token = bearerToken(header);
  if (token === null) throw new UnauthorizedError('missing bearer token: send Authorization: Bearer <token> (CUSTCTL_API_TOKEN)');
  const who = authenticate(tokens, token);
  if (!who) throw new UnauthorizedError('unknown or wrong API token');
  if (who.role === 'owner') {
    if (!ownerAllowed) throw new NotFoundError('not found');
    return who;
  }
  if (need === 'admin' && who.role !== 'admin') throw new ForbiddenError(`token ${who.name} has role ${who.role}; this needs an admin token`);
  return who;
}

/** Who cancels (src/jobs/cancel.ts), from a request's principal: its name, and for an account owner its customer. */
export function cancellerOf(p: Principal | undefined): Canceller {
  return { actor: `api:${p?.name ?? 'unknown'}`, ...(p?.role === 'owner' && p.customerId ? { ownerOf: p.customerId } : {}) };
}
