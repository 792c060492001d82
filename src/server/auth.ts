/**
 * API tokens for `custctl serve`: each has a name and a role. The server keeps only SHA-256
 * digests (a tokens file holds `name:role:sha256hex`, never a token); a request's bearer token
 * is hashed and compared with every digest in constant time. The token's NAME is what the rest
 * of the server sees (`requestedBy`, logs); the token itself is never stored or printed.
 */
import { timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { tokenProblem } from '../domain/token.js';
import { ForbiddenError, NotFoundError, UnauthorizedError, UsageError } from '../errors.js';
import { TOKEN_HINT, parseTokensFile, sha256, tokensFileModeWarnings, type Principal, type Role, type TokenEntry, type TokenSet } from '../domain/tokens-file.js';


// the file format is domain code (custctl token writes it too); re-exported where serve used to find it
export {
  CUSTOMER_ID, NAME as TOKEN_NAME, TOKEN_HINT, parseTokensFile, sha256, sha256Hex, tokensFileModeWarnings,
  type Principal, type Role, type TokenEntry, type TokenRole, type TokenSet,
} from '../domain/tokens-file.js';

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

/** Who cancels (src/jobs/cancel.ts), from a request's principal: the rule is the policy's (src/service/policy.ts). */
export { cancellerOf } from '../service/policy.js';
