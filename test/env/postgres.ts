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

/** A server as managed databases run it: TLS on, passwords (scram) over TCP, optionally client certificates. */
export interface PostgresOptions {
  /** a subdirectory of runDir (default `postgres`): several servers in one run */
  name?: string;
  ssl?: {
    /** the server's certificate and key (copied into the data directory, owned by the server) */
    cert: string;
    key: string;
    /** CA for client certificates (ssl_ca_file) */
    ca?: string;
  };
  /** pg_hba.conf lines for 127.0.0.1 (replacing trust); `local` stays trust for the set-up */
  hba?: string[];
  /** SQL run as the superuser once the server is up (roles, passwords) */
  setup?: string[];
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
export async function startPostgres(runDir: string, opts: PostgresOptions = {}): Promise<Postgres> {
  const base = path.join(runDir, opts.name ?? 'postgres');
  const data = path.join(base, 'data');
  const sock = path.join(base, 'sock');
  await fs.mkdir(sock, { recursive: true });
  const user = await osUser();
  if (user) {
    await fs.chmod(runDir, 0o755);
    await fs.chown(base, user.uid, user.gid);
    await fs.chown(sock, user.uid, user.gid);
  }
  const logFile = path.join(runDir, `${opts.name ?? 'postgres'}.log`);
  const initdb = startProcess('initdb', path.join(PG_BIN, 'initdb'), [
    '-D', data, '-U', PG_ROLE, '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync', '--no-instructions',
  ], { logFile, ...(user ? { runAs: user } : {}) });
  const code = await initdb.exited;
  if (code !== 0) throw initdb.failure(`initdb exited with ${String(code)}`);
  const extra: string[] = [];
  if (opts.ssl) {
    // the server refuses a key readable by others or not its own
    for (const [from, to] of [[opts.ssl.cert, 'server.crt'], [opts.ssl.key, 'server.key'], ...(opts.ssl.ca ? [[opts.ssl.ca, 'ca.crt']] : [])] as Array<[string, string]>) {
      await fs.copyFile(from, path.join(data, to));
      await fs.chmod(path.join(data, to), 0o600);
      if (user) await fs.chown(path.join(data, to), user.uid, user.gid);
    }
    extra.push('-c', 'ssl=on', '-c', 'ssl_cert_file=server.crt', '-c', 'ssl_key_file=server.key', ...(opts.ssl.ca ? ['-c', 'ssl_ca_file=ca.crt'] : []));
  }
  if (opts.hba) {
    await fs.writeFile(path.join(data, 'pg_hba.conf'), ['local all all trust', ...opts.hba, ''].join('\n'));
  }

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
    ...extra,
  ], { logFile, ...(user ? { runAs: user } : {}) });
  // SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to disconnect
  const stop = async (): Promise<void> => {
    await proc.stop('SIGINT', 10_000);
    await fs.rm(base, { recursive: true, force: true });
  };
  try {
    await waitUntil(async () => {
      // through the socket: the TCP rules may ask for TLS and passwords
      const c = new pg.Client({ host: sock, port, user: PG_ROLE, database: 'postgres', ssl: false });
      await c.connect();
      try {
        const exists = await c.query('select 1 from pg_database where datname = $1', [PG_DATABASE]);
        if (exists.rowCount === 0) await c.query(`create database ${PG_DATABASE}`);
        for (const sql of opts.setup ?? []) await c.query(sql);
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

/**
 * Stops a server from startPostgres (fast shutdown: every connection dropped) and starts it again
 * on the same data and port after `downMs`; resolves once it accepts connections. The new process
 * is returned: stop it (SIGINT) when done, as `s.stop()` no longer does.
 */
export async function restartPostgres(s: Postgres, dataDir: string, downMs: number): Promise<ManagedProcess> {
  const opts = await fs.readFile(path.join(dataDir, 'postmaster.opts'), 'utf8');
  const argv = [...opts.matchAll(/"([^"]*)"/g)].map((m) => m[1] as string);
  await s.process.stop('SIGINT', 10_000);
  await new Promise((r) => setTimeout(r, downMs));
  const owner = await fs.stat(dataDir);
  const restarted = startProcess('postgres (restarted)', path.join(PG_BIN, 'postgres'), argv, {
    logFile: s.process.logFile,
    ...(process.getuid?.() === 0 ? { runAs: { uid: owner.uid, gid: owner.gid } } : {}),
  });
  await waitUntil(async () => {
    const c = new pg.Client({ connectionString: s.url });
    await c.connect();
    await c.end();
    return true;
  }, { timeoutMs: 30_000, intervalMs: 100, proc: restarted, what: 'postgres to accept connections again' });
  return restarted;
}
