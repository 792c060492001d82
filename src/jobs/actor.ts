/** Who asks, as a job (`requestedBy`) and the audit log record it. Never a token. */
import { userInfo } from 'node:os';

function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return '';
  }
}

/** `alice@host (cli)`; `worker` is Deps.worker (`pid@host`). */
export function cliRequester(env: Readonly<Record<string, string | undefined>>, worker?: string): string {
  const host = worker?.split('@')[1];
  const user = env.USER || env.LOGNAME || osUser();
  if (!user && !host) return 'cli';
  return `${user}${user && host ? '@' : ''}${host ?? ''} (cli)`;
}

/** `api:<token name>`: a request to `custctl serve`. */
export function apiRequester(tokenName: string | undefined): string {
  return `api:${tokenName ?? 'unknown'}`;
}
