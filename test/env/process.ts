import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';

const SETPRIV = '/usr/bin/setpriv';

/**
 * CUSTCTL_TEST_KEEP=1 leaves the environment running after the test run: servers then get no
 * parent-death signal, their own process group and do not hold the runner's event loop.
 */
export const KEEP_ENV = process.env.CUSTCTL_TEST_KEEP === '1';

export interface StartOptions {
  /** stdout and stderr go here (appended) */
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** run as this user (numeric ids); needs root */
  runAs?: { uid: number; gid: number };
}

/** A server process started by the test run: only this pid is ever signalled. */
export class ManagedProcess {
  readonly exited: Promise<number | string | null>;
  private exitInfo: number | string | null | undefined;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitInfo = code ?? signal;
        resolve(this.exitInfo);
      });
      child.once('error', (err) => {
        this.exitInfo = String(err);
        resolve(this.exitInfo);
      });
    });
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.name} has no pid (failed to spawn)`);
    return this.child.pid;
  }

  alive(): boolean {
    return this.exitInfo === undefined && this.child.pid !== undefined;
  }

  /** The last lines of the process's log, for error messages. */
  tail(lines = 40): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** An error explaining that this part failed, with the tail of its log. */
  failure(reason: string): Error {
    const status = this.alive() ? 'still running' : `exited with ${String(this.exitInfo)}`;
    return new Error(`${this.name} failed to start: ${reason} (${status}); log ${this.logFile}:\n${this.tail()}`);
  }

  /** Sends `signal` to this pid only, then SIGKILL after `graceMs`; resolves once it has exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<void> {
    if (!this.alive()) return;
    this.child.kill(signal);
    const timer = setTimeout(() => { if (this.alive()) this.child.kill('SIGKILL'); }, graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * Starts a long-running server with its output in `logFile`. When setpriv is available the
 * child gets a parent-death signal, so a killed test runner does not leave servers behind.
 */
export function startProcess(name: string, command: string, args: readonly string[], opts: StartOptions): ManagedProcess {
  const fd = fs.openSync(opts.logFile, 'a');
  let cmd = command;
  let argv = [...args];
  if (fs.existsSync(SETPRIV) && (opts.runAs || !KEEP_ENV)) {
    const priv = KEEP_ENV ? [] : ['--pdeathsig', 'SIGTERM'];
    if (opts.runAs) priv.push(`--reuid=${opts.runAs.uid}`, `--regid=${opts.runAs.gid}`, '--clear-groups');
    argv = [...priv, '--', command, ...args];
    cmd = SETPRIV;
  }
  try {
    const child = spawn(cmd, argv, {
      stdio: ['ignore', fd, fd],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      detached: KEEP_ENV,
      ...(opts.runAs && cmd !== SETPRIV ? { uid: opts.runAs.uid, gid: opts.runAs.gid } : {}),
    });
    if (KEEP_ENV) child.unref();
    return new ManagedProcess(name, child, opts.logFile);
  } finally {
    fs.closeSync(fd);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns true; throws `onTimeout()` (or when `alive` turns false). */
export async function waitUntil(
  check: () => Promise<boolean>,
  opts: { timeoutMs: number; intervalMs?: number; proc?: ManagedProcess; what: string },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    if (opts.proc && !opts.proc.alive()) throw opts.proc.failure(`exited while waiting for ${opts.what}`);
    if (Date.now() > deadline) {
      const msg = `timed out after ${opts.timeoutMs} ms waiting for ${opts.what}${lastError ? ` (last error: ${lastError})` : ''}`;
      throw opts.proc ? opts.proc.failure(msg) : new Error(msg);
    }
    await sleep(opts.intervalMs ?? 200);
  }
}
