/**
 * The tokens file on disk (format: domain/tokens-file.ts): `custctl token` changes it under a lock,
 * atomically, mode 0600; `custctl serve` follows it, so a token created or revoked takes effect
 * without a restart.
 *
 * A change keeps every other line as it was (comments included). A file that serve would refuse
 * (writable by others, or a line it cannot read) is refused here too, before anything is written.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { lstat, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseTokensFile, tokensFileModeWarnings, type TokenEntry, type TokenSet } from '../domain/tokens-file.js';
import { OperationError, UsageError, errorMessage } from '../errors.js';
import { writeFileAtomic } from './fs-atomic.js';

/** How long `custctl token` waits for another writer of the file. */
const LOCK_WAIT_MS = 10_000;

/**
 * A new token: 32 random bytes (256 bits) in base64url behind a `custctl_` prefix, so a leaked one
 * is recognisable in logs and by secret scanners. Printable ASCII without spaces: a bearer token.
 */
export function generateToken(): string {
  return `custctl_${randomBytes(32).toString('base64url')}`;
}

export interface TokensFileContent {
  /** the file's lines (without the final newline) */
  lines: string[];
  set: TokenSet;
}

/** Reads and checks the file as serve would; null when it does not exist. */
export async function readTokensFile(file: string): Promise<TokensFileContent | null> {
  let mode: number;
  try {
    const st = await lstat(file);
    if (st.isSymbolicLink()) throw new UsageError(`the tokens file ${file} is a symbolic link: give the file itself`);
    if (!st.isFile()) throw new UsageError(`the tokens file ${file} is not a regular file`);
    mode = st.mode;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if (e instanceof UsageError) throw e;
    throw new OperationError(`cannot read the tokens file ${file}: ${errorMessage(e)}`);
  }
  const warnings = tokensFileModeWarnings(file, mode);
  const text = await readFile(file, 'utf8');
  const set = parseTokensFile(text, file);
  return { lines: text === '' ? [] : text.replace(/\n$/, '').split('\n'), set: { ...set, warnings } };
}

/**
 * Changes the file under its lock (`<file>.lock`): reads it (null when absent), lets `change`
 * return the new lines, checks they parse, writes them atomically with mode 0600.
 */
export async function changeTokensFile<T>(file: string, change: (current: TokensFileContent | null) => { lines: string[]; result: T }): Promise<T> {
  const dir = path.dirname(file);
  const { default: lockfile } = await import('proper-lockfile');
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(dir, {
      lockfilePath: `${file}.lock`,
      realpath: false,
      stale: 10_000,
      retries: { retries: 1_000, factor: 1.2, minTimeout: 5, maxTimeout: 100, randomize: true, maxRetryTime: LOCK_WAIT_MS },
      onCompromised: () => undefined,
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOCKED') throw new OperationError(`the tokens file ${file} stayed locked for more than ${LOCK_WAIT_MS / 1000} s`, [`another custctl token is changing it; if none is running, remove ${file}.lock`]);
    if (code === 'ENOENT') throw new UsageError(`the directory of the tokens file ${file} does not exist`);
    throw new OperationError(`cannot lock the tokens file ${file}: ${errorMessage(e)}`);
  }
  try {
    const current = await readTokensFile(file);
    const { lines, result } = change(current);
    const text = lines.length ? `${lines.join('\n')}\n` : '';
    parseTokensFile(text, file); // never write what serve could not read
    await writeFileAtomic(file, text, 0o600);
    return result;
  } finally {
    await release().catch(() => undefined);
  }
}

/** What `token list` shows of an entry: never the digest. */
export function entryView(e: TokenEntry): { name: string; role: string; customerId?: string } {
  return { name: e.name, role: e.role, ...(e.customerId ? { customerId: e.customerId } : {}) };
}

/**
 * A TokenSet that follows its file: each read of `entries` compares the file's identity, size and
 * mtime with the last load (one stat) and reloads it when they differ. A file that cannot be read
 * or parsed, or became writable by others, keeps the last good tokens and is reported once.
 */
export function followTokensFile(file: string, initial: TokenSet, report: (level: 'info' | 'warn', message: string) => void): TokenSet {
  const key = (): string => {
    try {
      const st = statSync(file);
      return `${st.ino}:${st.size}:${st.mtimeMs}:${st.mode}`;
    } catch (e) {
      return `error:${(e as NodeJS.ErrnoException).code ?? 'unknown'}`;
    }
  };
  let loadedKey = key();
  let current = initial;
  let reportedKey = loadedKey;
  const reload = (): void => {
    const k = key();
    if (k === loadedKey || k === reportedKey) return;
    try {
      if (k.startsWith('error:')) throw new UsageError(`cannot read it (${k.slice(6)})`);
      tokensFileModeWarnings(file, statSync(file).mode);
      const set = parseTokensFile(readFileSync(file, 'utf8'), file);
      if (set.entries.length === 0) throw new UsageError('it holds no token');
      current = { ...set, warnings: [] };
      loadedKey = k;
      reportedKey = k;
      report('info', `Tokens file ${file} reloaded: ${set.entries.length} token(s)`);
    } catch (e) {
      reportedKey = k;
      report('warn', `Tokens file ${file} changed but was not loaded, the previous tokens stay in force: ${errorMessage(e)}`);
    }
  };
  return {
    get entries() {
      reload();
      return current.entries;
    },
    source: initial.source,
    ...(initial.warnings ? { warnings: initial.warnings } : {}),
  };
}
