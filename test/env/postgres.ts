import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './ports.js';
import { ManagedProcess, startProcess, waitUntil } from './process.js';

const run = promisify(execFile);

export const PG_BIN = process.env.CUSTCTL_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';
/** The system user PostgreSQL runs as when the tests run as root. */
export const PG_OS_USER = 'custctl-test';
export const PG_ROLE = 'custctl_test';
export const PG_DATABASE = 'custctl_test';

export interface Postgres {
  url: string;
  port: number;
  process: ManagedProcess;
  stop(): Promise<void>;
}

async function osUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const ids = async (): Promise<{ uid: number; gid: number }> => {
    const uid = Number((await run('id', ['-u', PG_OS_USER])).stdout.trim());
    const gid = Number((await run('id', ['-g', PG_OS_USER])).stdout.trim());
    return { uid, gid };
  };
  try {
    return await ids();
  } catch {
    await run('useradd', ['--system', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', PG_OS_USER])
      .catch((err: { stderr?: string }) => { throw new Error(`cannot create system user ${PG_OS_USER} for PostgreSQL: ${err.stderr ?? String(err)}`); });
    return ids();
  }
}

/**
 * initdb + postgres on a free 127.0.0.1 port, data and unix socket inside `runDir/postgres`,
 * as a non-root user when running as root; creates database custctl_test.
 */
export async function startPostgres(runDir: string): Promise<Postgres> {
  const base = path.join(runDir, 'postgres');
  const data = path.join(base, 'data');
  const sock = path.join(base, 'sock');
  await fs.mkdir(sock, { recursive: true });
  const user = await osUser();
  if (user) {
    await fs.chmod(runDir, 0o755);
    await fs.chown(base, user.uid, user.gid);
    await fs.chown(sock, user.uid, user.gid);
  }
  const logFile = path.join(runDir, 'postgres.log');
  const initdb = startProcess('initdb', path.join(PG_BIN, 'initdb'), [
    '-D', data, '-U', PG_ROLE, '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync', '--no-instructions',
  ], { logFile, ...(user ? { runAs: user } : {}) });
  const code = await initdb.exited;
  if (code !== 0) throw initdb.failure(`initdb exited with ${String(code)}`);

  const port = await freePort();
  const proc = startProcess('postgres', path.join(PG_BIN, 'postgres'), [
    '-D', data,
    '-p', String(port),
    '-c', 'listen_addresses=127.0.0.1',
    '-c', `unix_socket_directories=${sock}`,
    '-c', 'fsync=off',
    '-c', 'synchronous_commit=off',
    '-c', 'full_page_writes=off',
    '-c', 'max_connections=200',
    '-c', 'logging_collector=off',
  ], { logFile, ...(user ? { runAs: user } : {}) });
  // SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to disconnect
  const stop = async (): Promise<void> => {
    await proc.stop('SIGINT', 10_000);
    await fs.rm(base, { recursive: true, force: true });
  };
  try {
    await waitUntil(async () => {
      const c = new pg.Client({ host: '127.0.0.1', port, user: PG_ROLE, database: 'postgres' });
      await c.connect();
      try {
        const exists = await c.query('select 1 from pg_database where datname = $1', [PG_DATABASE]);
        if (exists.rowCount === 0) await c.query(`create database ${PG_DATABASE}`);
      } finally {
        await c.end();
      }
      return true;
    }, { timeoutMs: 30_000, intervalMs: 100, proc, what: 'postgres to accept connections' });
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
  return { url: `postgres://${PG_ROLE}@127.0.0.1:${port}/${PG_DATABASE}`, port, process: proc, stop };
}
