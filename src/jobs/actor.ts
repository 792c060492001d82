/**
 * Who asks, as a job (`requestedBy`) and the audit log record it: only what custctl can prove.
 * Never a token, never an environment variable anyone can set (`USER=someone-else custctl …` must
 * not put someone else's name in the audit log). Control characters never reach it.
 */
import { userInfo } from 'node:os';
import { cleanAuditText } from '../domain/audit-text.js';

/** The process's effective uid and its account, as the OS tells it (getpwuid). */
export interface OsAccount {
  uid: number;
  /** null: the uid has no account (a container's arbitrary uid) */
  username: string | null;
}

function osAccountOfProcess(): OsAccount {
  try {
    // getpwuid_r(geteuid()): the account of the uid the process runs as, not $USER / $LOGNAME
    const u = userInfo();
    return { uid: u.uid, username: u.username || null };
  } catch {
    // no passwd entry for the uid: the uid is still proof of who runs the process
    return { uid: typeof process.geteuid === 'function' ? process.geteuid() : -1, username: null };
  }
}

/** `alice` (the account of the uid), or `uid 1000650000` when the uid has none. */
export function accountName(a: OsAccount): string {
  return cleanAuditText(a.username ?? `uid ${a.uid}`);
}

/** `alice@host (cli)`; `worker` is Deps.worker (`pid@host`); `account` is for tests. */
export function cliRequester(worker?: string, account: OsAccount = osAccountOfProcess()): string {
  const host = worker?.split('@')[1];
  return `${accountName(account)}${host ? `@${cleanAuditText(host)}` : ''} (cli)`;
}
