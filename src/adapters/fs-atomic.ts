/**
 * Crash-safe file writes for the job journal.
 *
 * `writeFileAtomic` never leaves a half-written file at `path`: the data goes to a temporary file
 * in the same directory (same filesystem, so rename is atomic), is fsync'd, then renamed over the
 * target, and the directory is fsync'd so the rename itself survives a power loss. A kill -9 at
 * any instant leaves either the old complete file or the new complete file at `path`, plus at
 * worst a stray `.<name>.<pid>.<rand>.tmp` that readers ignore.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, unlink, readFile } from 'node:fs/promises';
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

export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let renamed = false;
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    renamed = true;
    await fsyncDir(dir);
  } finally {
    if (!renamed) await unlink(tmp).catch(() => undefined);
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

/** The parsed JSON at `path`; null when the file does not exist; CorruptFileError when it does not parse. */
export async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  if (text.trim() === '') throw new CorruptFileError(path, 'the file is empty');
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new CorruptFileError(path, `not valid JSON (${(e as Error).message})`);
  }
}
