/**
 * Crash-safe file writes for the job journal.
 *
 * `writeFileAtomic` never leaves a half-written file at `path`: the data goes to a temporary file
 * in the same directory (same filesystem, so rename is atomic), is fsync'd, then renamed over the
 * target, and the directory is fsync'd so the rename itself survives a power loss. A kill -9 at
 * any instant leaves either the old complete file or the new complete file at `path`, plus at
 * worst a stray `.<name>.<pid>.<rand>.tmp` that readers ignore.
 *
 * Reads never follow a symbolic link (O_NOFOLLOW) and accept only regular files; an error about a
 * file never quotes its content (a link planted to /etc/passwd must not leak it).
 */
import { constants } from 'node:fs';
import { link, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { OperationError } from '../errors.js';

/** A file that exists but does not hold what it should (truncated, garbage, wrong shape). */
export class CorruptFileError extends OperationError {
  readonly path: string;
  readonly reason: string;

  constructor(path: string, reason: string, details: readonly string[] = []) {
    super(`${path} is unreadable: ${reason}`, details);
    this.path = path;
    this.reason = reason;
  }
}

/** True for the temporary names `writeFileAtomic` uses, so directory scans can skip them. */
export function isTempFileName(name: string): boolean {
  return name.startsWith('.') && name.endsWith('.tmp');
}

async function writeTemp(path: string, data: string | Uint8Array, mode: number): Promise<string> {
  // node:crypto loads on the first write: reading the journal (`status job`) does not need it
  const { randomBytes } = await import('node:crypto');
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await fh.close();
  return tmp;
}

export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = await writeTemp(path, data, mode);
  let renamed = false;
  try {
    await rename(tmp, path);
    renamed = true;
    await fsyncDir(dirname(path));
  } finally {
    if (!renamed) await unlink(tmp).catch(() => undefined);
  }
}

/** The file at `path` existed already: `createFileExclusive` replaced nothing. */
export class FileExistsError extends OperationError {
  constructor(readonly path: string) {
    super(`${path} exists already: not replaced`);
  }
}

/**
 * Creates `path` with `data`, complete or not at all, and never replaces anything that is there
 * (a file, a directory, a link): the data is written to a temporary file and hard-linked to
 * `path` (link(2) fails with EEXIST instead of replacing), then the temporary name is removed.
 */
export async function createFileExclusive(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = await writeTemp(path, data, mode);
  try {
    await link(tmp, path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new FileExistsError(path);
    throw e;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  await fsyncDir(dirname(path));
}

const NO_FOLLOW_READ = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

function kindOf(st: { isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean }): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a named pipe';
  if (st.isSocket()) return 'a socket';
  return 'a device';
}

/**
 * The text of the regular file at `path`, or undefined when nothing is there. A symbolic link
 * (not followed), a directory or any other non-regular file is a CorruptFileError.
 */
export async function readTextNoFollow(path: string): Promise<string | undefined> {
  let fh;
  try {
    fh = await open(path, NO_FOLLOW_READ);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw new CorruptFileError(path, 'a symbolic link (links are never followed in the journal)');
    throw e;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new CorruptFileError(path, `not a regular file (${kindOf(st)})`);
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}

/** fsync a directory so a rename or unlink in it is durable; a no-op where the OS refuses. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (e) {
    // Some platforms (Windows, some network filesystems) cannot fsync a directory.
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EBADF') throw e;
  } finally {
    await fh?.close();
  }
}

/**
 * The parsed JSON at `path`; undefined when the file does not exist (JSON itself never yields
 * undefined, so a file holding `null` is told apart); CorruptFileError when it is not a regular
 * file or does not parse. The reason never quotes the file's content.
 */
export async function readJsonFile(path: string): Promise<unknown> {
  const text = await readTextNoFollow(path);
  if (text === undefined) return undefined;
  if (text.trim() === '') throw new CorruptFileError(path, 'the file is empty');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new CorruptFileError(path, `not valid JSON (${Buffer.byteLength(text)} bytes)`);
  }
}
