/**
 * The state directory (journal, embedded store) holds customer ids, job logs and the billing rows
 * of the embedded store: it is private to its user.
 *
 * - missing: created 0700;
 * - writable by group or others (0777, 0775, a shared /tmp): refused. Anyone who can write it
 *   could plant or replace job files and links; custctl does not chmod a directory it did not
 *   create (it may be shared on purpose), the user decides;
 * - readable by group or others (0755): tightened to 0700, and said so.
 */
import { chmod, lstat, mkdir } from 'node:fs/promises';
import { UsageError } from '../errors.js';

export interface StateDirResult {
  /** a line to show on stderr when the mode was tightened */
  warning?: string;
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

export async function ensureStateDir(dir: string): Promise<StateDirResult> {
  let st;
  try {
    st = await lstat(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new UsageError(`cannot use the state directory ${dir}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700); // whatever the umask
    return {};
  }
  if (!st.isDirectory()) {
    throw new UsageError(`the state directory ${dir} is not a directory${st.isSymbolicLink() ? ' (a symbolic link)' : ''}`, ['Set CUSTCTL_STATE_DIR to a private directory (mode 0700).']);
  }
  if ((st.mode & 0o022) !== 0) {
    throw new UsageError(`the state directory ${dir} is writable by ${st.mode & 0o002 ? 'everyone' : 'its group'} (mode ${octal(st.mode)}): refusing to use it`, [
      `Anyone who can write it could replace job files. Make it private (chmod 700 ${dir}) or set CUSTCTL_STATE_DIR to a private directory.`,
    ]);
  }
  if ((st.mode & 0o077) !== 0) {
    const before = octal(st.mode);
    await chmod(dir, 0o700);
    return { warning: `the state directory ${dir} was readable by others (mode ${before}): changed to 0700` };
  }
  return {};
}
