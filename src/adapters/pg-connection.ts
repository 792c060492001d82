/**
 * The one place a PostgreSQL connection is configured, for every command that opens the customer
 * store: a database URL (DATABASE_URL, as managed databases hand it out) or libpq's PG* variables,
 * read from the `env` given, never from process.env.
 *
 * `sslmode` has the meaning libpq (psql) gives it, not `pg`'s:
 *   disable      no TLS
 *   allow        plain first; TLS if the server insists
 *   prefer       TLS if the server offers it, else plain; the certificate is not checked (the default)
 *   require      TLS, encrypted but the certificate not checked (checked as verify-ca when
 *                sslrootcert is given, as libpq does)
 *   verify-ca    TLS, the certificate chain checked against sslrootcert (any host name)
 *   verify-full  TLS, the chain and the host name checked
 * `sslrootcert=FILE` (or `system`: Node's trust store; the default for verify-* when neither it
 * nor ~/.postgresql/root.crt exists), `sslcert`/`sslkey` (a client certificate) and `sslpassword`
 * are honoured; `no-verify` (pg's own name, used by some PaaS) is `require`.
 *
 * The URL is parsed here and `pg` gets plain fields: pg-connection-string never sees `sslmode`, so
 * it neither gives it pg's meaning (every mode as verify-full) nor prints its SECURITY WARNING.
 */
import { readFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import type { Pool, PoolClient, PoolConfig } from 'pg';
import { OperationError, UsageError } from '../errors.js';

export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
export const SSL_MODES: readonly SslMode[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

/** Where to connect and how, resolved from the options; nothing in it is a secret but `config`. */
export interface PgTarget {
  /** for `pg`: host, port, user, password, database, options, timeouts; TLS is added per attempt */
  config: PoolConfig;
  host: string;
  port: number;
  user: string;
  database: string;
  /** `postgres://user@host:port/db`, never the password */
  description: string;
  /** what the operator changes to point custctl elsewhere (`DATABASE_URL`, `the PG* variables`) */
  source: string;
  sslMode: SslMode;
  /** where the mode came from: `sslmode=` in the URL, PGSSLMODE, or libpq's default */
  sslModeFrom: string;
  /** a file, or `system` (Node's trust store); absent: verify-* uses ~/.postgresql/root.crt or the system store */
  sslRootCert?: string;
  sslCert?: string;
  sslKey?: string;
  sslPassword?: string;
  /** sslnegotiation=direct: TLS from the first byte (PostgreSQL 17+) */
  direct?: boolean;
  /** URL parameters custctl does not use (a pooler's or an ORM's, e.g. `pgbouncer`, `schema`) */
  ignoredParams: string[];
}

const POOL_MAX = 10;
const CONNECT_TIMEOUT_MS = 10_000;

/** URL query parameters libpq knows that custctl reads. */
const USED_PARAMS = new Set([
  'host', 'hostaddr', 'port', 'user', 'password', 'dbname', 'sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'sslpassword',
  'application_name', 'options', 'connect_timeout', 'sslnegotiation', 'channel_binding',
]);

function nonEmpty(v: string | undefined | null): string | undefined {
  return v === undefined || v === null || v === '' ? undefined : v;
}

function defaultUser(env: Record<string, string | undefined>): string {
  const fromEnv = nonEmpty(env.PGUSER) ?? nonEmpty(env.USER) ?? nonEmpty(env.USERNAME);
  if (fromEnv) return fromEnv;
  try {
    return os.userInfo().username;
  } catch {
    return 'postgres';
  }
}

function portOf(v: string | undefined, what: string): number {
  if (v === undefined || v === '') return 5432;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`${what} port '${v}' is not a port number`);
  return n;
}

function sslModeOf(raw: string, from: string): SslMode {
  if (raw === 'no-verify') return 'require';
  if ((SSL_MODES as readonly string[]).includes(raw)) return raw as SslMode;
  throw new UsageError(`${from}=${raw} is not an sslmode: use disable, allow, prefer, require, verify-ca or verify-full`);
}

function decode(v: string, what: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    throw new UsageError(`the ${what} in the database URL has a malformed %-escape: percent-encode special characters (@ is %40, : is %3A, / is %2F, % is %25)`);
  }
}

export function describeTarget(user: string, host: string, p: number, database: string): string {
  return `postgres://${user}@${host}:${p}/${database}`;
}

/** Resolves the connection: a URL (its missing parts filled from PG* of `env`), or the PG* variables alone. */
export function pgTarget(opts: { connectionString?: string; env: Record<string, string | undefined> }): PgTarget {
  const { env } = opts;
  const url = nonEmpty(opts.connectionString) ?? nonEmpty(env.DATABASE_URL);
  if (url === undefined) return fromVariables(env);
  const source = opts.connectionString && opts.connectionString !== env.DATABASE_URL ? 'the database URL' : 'DATABASE_URL';
  const authority = /^postgres(?:ql)?:\/\/([^/?#]*)/.exec(url)?.[1] ?? '';
  if (authority.slice(authority.lastIndexOf('@') + 1).includes(',')) {
    throw new UsageError(`${source} names several hosts: custctl connects to one; give the primary's host`);
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`${source} is not a valid URL: expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (percent-encode special characters in the password: @ is %40)`);
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new UsageError(`${source} must start with postgres:// or postgresql:// (it starts with ${u.protocol}//)`);
  }
  const q = u.searchParams;
  if (u.hostname.includes(',') || (q.get('host') ?? '').includes(',')) {
    throw new UsageError(`${source} names several hosts: custctl connects to one; give the primary's host`);
  }
  const envHost = nonEmpty(env.PGHOST);
  const host = nonEmpty(q.get('host')) ?? nonEmpty(q.get('hostaddr')) ?? (nonEmpty(u.hostname) ? decode(u.hostname.replace(/^\[(.*)\]$/, '$1'), 'host') : undefined) ?? envHost ?? 'localhost';
  const port = portOf(nonEmpty(q.get('port')) ?? nonEmpty(u.port) ?? nonEmpty(env.PGPORT), q.get('port') || u.port ? source : 'PGPORT');
  const user = nonEmpty(q.get('user')) ?? (u.username ? decode(u.username, 'user name') : undefined) ?? defaultUser(env);
  const password = nonEmpty(q.get('password')) ?? (u.password ? decode(u.password, 'password') : undefined) ?? nonEmpty(env.PGPASSWORD);
  const database = nonEmpty(q.get('dbname')) ?? nonEmpty(decode(u.pathname.replace(/^\//, ''), 'database name')) ?? nonEmpty(env.PGDATABASE) ?? user;
  const modeRaw = nonEmpty(q.get('sslmode'));
  const ignoredParams = [...new Set([...q.keys()].filter((k) => !USED_PARAMS.has(k)))];
  const timeout = nonEmpty(q.get('connect_timeout')) ?? nonEmpty(env.PGCONNECT_TIMEOUT);
  const t = target({
    env, source, host, port, user, password, database,
    sslMode: modeRaw !== undefined ? sslModeOf(modeRaw, 'sslmode') : env.PGSSLMODE ? sslModeOf(env.PGSSLMODE, 'PGSSLMODE') : 'prefer',
    sslModeFrom: modeRaw !== undefined ? `sslmode=${modeRaw} in ${source}` : env.PGSSLMODE ? `PGSSLMODE=${env.PGSSLMODE}` : "libpq's default",
    rootCert: nonEmpty(q.get('sslrootcert')) ?? nonEmpty(env.PGSSLROOTCERT),
    cert: nonEmpty(q.get('sslcert')) ?? nonEmpty(env.PGSSLCERT),
    key: nonEmpty(q.get('sslkey')) ?? nonEmpty(env.PGSSLKEY),
    sslPassword: nonEmpty(q.get('sslpassword')),
    applicationName: nonEmpty(q.get('application_name')) ?? nonEmpty(env.PGAPPNAME),
    options: nonEmpty(q.get('options')) ?? nonEmpty(env.PGOPTIONS),
    connectTimeout: timeout,
    direct: (q.get('sslnegotiation') ?? env.PGSSLNEGOTIATION) === 'direct',
    channelBinding: (q.get('channel_binding') ?? env.PGCHANNELBINDING) === 'require',
  });
  return { ...t, ignoredParams };
}

function fromVariables(env: Record<string, string | undefined>): PgTarget {
  const user = defaultUser(env);
  return {
    ...target({
      env,
      source: 'PGHOST/PGPORT/PGUSER/PGDATABASE (or DATABASE_URL)',
      host: nonEmpty(env.PGHOST) ?? nonEmpty(env.PGHOSTADDR) ?? 'localhost',
      port: portOf(env.PGPORT, 'PGPORT'),
      user,
      password: nonEmpty(env.PGPASSWORD),
      database: nonEmpty(env.PGDATABASE) ?? user,
      sslMode: env.PGSSLMODE ? sslModeOf(env.PGSSLMODE, 'PGSSLMODE') : 'prefer',
      sslModeFrom: env.PGSSLMODE ? `PGSSLMODE=${env.PGSSLMODE}` : "libpq's default",
      rootCert: nonEmpty(env.PGSSLROOTCERT),
      cert: nonEmpty(env.PGSSLCERT),
      key: nonEmpty(env.PGSSLKEY),
      sslPassword: undefined,
      applicationName: nonEmpty(env.PGAPPNAME),
      options: nonEmpty(env.PGOPTIONS),
      connectTimeout: nonEmpty(env.PGCONNECT_TIMEOUT),
      direct: env.PGSSLNEGOTIATION === 'direct',
      channelBinding: env.PGCHANNELBINDING === 'require',
    }),
    ignoredParams: [],
  };
}

interface Parts {
  env: Record<string, string | undefined>;
  source: string;
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
  sslMode: SslMode;
  sslModeFrom: string;
  rootCert: string | undefined;
  cert: string | undefined;
  key: string | undefined;
  sslPassword: string | undefined;
  applicationName: string | undefined;
  options: string | undefined;
  connectTimeout: string | undefined;
  direct: boolean;
  channelBinding: boolean;
}

function target(p: Parts): Omit<PgTarget, 'ignoredParams'> {
  let timeoutMs = CONNECT_TIMEOUT_MS;
  if (p.connectTimeout !== undefined) {
    // libpq: seconds; 0 (or negative) waits forever, values under 2 count as 2
    const s = Number(p.connectTimeout);
    if (!Number.isInteger(s)) throw new UsageError(`connect_timeout=${p.connectTimeout} is not a whole number of seconds`);
    timeoutMs = s <= 0 ? 0 : Math.max(2, s) * 1000;
  }
  const config: PoolConfig = {
    max: POOL_MAX,
    connectionTimeoutMillis: timeoutMs,
    application_name: p.applicationName ?? 'custctl',
    host: p.host,
    port: p.port,
    user: p.user,
    database: p.database,
    // set even when empty: pg would otherwise read PGPASSWORD/PGOPTIONS from process.env
    ...(p.password !== undefined ? { password: p.password } : {}),
    ...(p.options !== undefined ? { options: p.options } : {}),
    ...(p.channelBinding ? { enableChannelBinding: true } : {}),
  };
  return {
    config,
    host: p.host, port: p.port, user: p.user, database: p.database, source: p.source,
    description: describeTarget(p.user, p.host, p.port, p.database),
    sslMode: p.sslMode,
    sslModeFrom: p.sslModeFrom,
    ...(p.rootCert !== undefined ? { sslRootCert: expandHome(p.rootCert, p.env) } : {}),
    ...(p.cert !== undefined ? { sslCert: expandHome(p.cert, p.env) } : {}),
    ...(p.key !== undefined ? { sslKey: expandHome(p.key, p.env) } : {}),
    ...(p.sslPassword !== undefined ? { sslPassword: p.sslPassword } : {}),
    ...(p.direct ? { direct: true } : {}),
  };
}

function expandHome(file: string, env: Record<string, string | undefined>): string {
  if (file === 'system' || !file.startsWith('~/')) return file;
  return path.join(env.HOME ?? os.homedir(), file.slice(2));
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new UsageError(`${what}=${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`, [
      `${what} names a PEM file on this machine; download your provider's CA bundle and give its path`,
    ]);
  }
}

/** The one TLS attempt of a mode: pg's `ssl` option (false: plain). */
export type Attempt = { tls: false } | { tls: true; verify: 'none' | 'ca' | 'full'; ssl: ConnectionOptions; rootCert: string };

/** The default root certificate of libpq, used by verify-ca/verify-full when sslrootcert is not given. */
function libpqRootCert(env: Record<string, string | undefined>): string | undefined {
  const f = path.join(env.HOME ?? os.homedir(), '.postgresql', 'root.crt');
  return existsSync(f) ? f : undefined;
}

function tlsAttempt(t: PgTarget, verify: 'none' | 'ca' | 'full', env: Record<string, string | undefined>): Attempt {
  const ssl: ConnectionOptions = {};
  let rootCert = 'none';
  if (verify === 'none') {
    ssl.rejectUnauthorized = false;
  } else {
    const root = t.sslRootCert ?? libpqRootCert(env) ?? 'system';
    rootCert = root;
    if (root !== 'system') ssl.ca = readPem(root, 'sslrootcert');
    ssl.rejectUnauthorized = true;
    // verify-ca: the chain, any host name
    if (verify === 'ca') ssl.checkServerIdentity = () => undefined;
  }
  if (t.sslCert !== undefined) ssl.cert = readPem(t.sslCert, 'sslcert');
  if (t.sslKey !== undefined) ssl.key = readPem(t.sslKey, 'sslkey');
  if (t.sslPassword !== undefined) ssl.passphrase = t.sslPassword;
  return { tls: true, verify, ssl, rootCert };
}

/**
 * The connection attempts of the target's sslmode, in order: prefer tries TLS then plain, allow
 * plain then TLS; the others have one. Certificate files are read here (a missing one: UsageError).
 */
export function connectionAttempts(t: PgTarget, env: Record<string, string | undefined>): Attempt[] {
  const withRoot = t.sslRootCert !== undefined && t.sslRootCert !== 'system';
  switch (t.sslMode) {
    case 'disable': return [{ tls: false }];
    case 'allow': return [{ tls: false }, tlsAttempt(t, 'none', env)];
    case 'prefer': return [tlsAttempt(t, withRoot ? 'ca' : 'none', env), { tls: false }];
    case 'require': return [tlsAttempt(t, withRoot ? 'ca' : 'none', env)];
    case 'verify-ca': return [tlsAttempt(t, 'ca', env)];
    case 'verify-full': return [tlsAttempt(t, 'full', env)];
  }
}

/** pg's config for one attempt. */
export function poolConfigFor(t: PgTarget, a: Attempt): PoolConfig {
  const cfg: PoolConfig & { sslNegotiation?: string } = { ...t.config, ssl: a.tls ? a.ssl : false };
  if (a.tls && t.direct) cfg.sslNegotiation = 'direct';
  return cfg;
}

/** How a connection is secured: for `doctor` and `version`. */
export interface Transport {
  /** `TLS 1.3, certificate and host name verified against /etc/ca.pem (sslmode=verify-full, from DATABASE_URL)` */
  summary: string;
  encrypted: boolean;
  /** the server's certificate was checked (verify-ca, verify-full, or require/prefer with sslrootcert) */
  verified: boolean;
  /** a unix socket or a loopback address: nothing travels on a network */
  local: boolean;
}

export function describeTransport(t: PgTarget, a: Attempt, protocol: string | null): Transport {
  const from = t.sslModeFrom === `sslmode=${t.sslMode} in ${t.source}` ? `from ${t.source}` : `from ${t.sslModeFrom}`;
  const mode = `sslmode=${t.sslMode}, ${from}`;
  const local = t.host.startsWith('/') || t.host === 'localhost' || /^127\./.test(t.host) || t.host === '::1';
  if (!a.tls) {
    const why = t.sslMode === 'prefer' ? 'not encrypted: the server offers no TLS' : 'not encrypted';
    return { summary: `${why} (${mode})`, encrypted: false, verified: false, local };
  }
  const proto = protocol ?? 'TLS';
  if (a.verify === 'none') {
    return { summary: `${proto}, encrypted, the server's certificate not verified (${mode})`, encrypted: true, verified: false, local };
  }
  const root = a.rootCert === 'system' ? "the system's trust store" : a.rootCert;
  const what = a.verify === 'ca' ? `certificate chain verified against ${root}, host name not checked` : `certificate and host name verified against ${root}`;
  return { summary: `${proto}, ${what} (${mode})`, encrypted: true, verified: true, local };
}

/** The TLS version of a pg client's socket (TLSv1.3), or null for a plain one. */
export function socketProtocol(client: unknown): string | null {
  // a TLSSocket, recognised by what it has: node:tls is not loaded for a type check (start-up)
  const stream = (client as { connection?: { stream?: { encrypted?: unknown; getProtocol?: () => string | null } } }).connection?.stream;
  if (stream?.encrypted === true && typeof stream.getProtocol === 'function') {
    const p = stream.getProtocol();
    return p ? p.replace(/^TLSv/, 'TLS ') : 'TLS';
  }
  return null;
}

/**
 * Connects with the first attempt of the target's sslmode that works (prefer: TLS, then plain;
 * allow: plain, then TLS), and keeps that configuration for the pool. A failure is an
 * OperationError naming its cause (TLS, refused, unknown host, password) and what to change.
 * `config` is that configuration, for any other pool of a PostgreSQL database custctl opens (a
 * queue in PostgreSQL), so that it connects as the customer store does.
 */
export async function openPool(t: PgTarget, env: Record<string, string | undefined>): Promise<{ pool: Pool; transport: Transport; config: PoolConfig }> {
  const { default: pg } = await import('pg');
  const attempts = connectionAttempts(t, env);
  const failures: Array<{ e: unknown; a: Attempt }> = [];
  for (const a of attempts) {
    const pool = new pg.Pool(poolConfigFor(t, a));
    // an idle connection dropped by the server must not crash the process; the next query reconnects
    pool.on('error', () => undefined);
    try {
      const c = await pool.connect();
      let protocol: string | null;
      try {
        await c.query('select 1');
        protocol = socketProtocol(c);
      } finally {
        c.release();
      }
      return { pool, transport: describeTransport(t, a, protocol), config: poolConfigFor(t, a) };
    } catch (e) {
      await pool.end().catch(() => undefined);
      failures.push({ e, a });
      if (!fallsBack(e)) break;
    }
  }
  // prefer/allow: the last attempt's failure is the final word (the server refused TLS, then the plain connection)
  const shown = failures[failures.length - 1] as { e: unknown; a: Attempt };
  throw connectError(shown.e, t, shown.a);
}

// ---------------------------------------------------------------------------------------------
// errors

interface PgError { message?: string; code?: string; errors?: Array<{ message?: string; code?: string }>; cause?: unknown }

function codeOf(e: unknown): string | undefined {
  const err = e as PgError;
  return err.code ?? err.errors?.[0]?.code;
}

/** The reason of a connection error, also for Node's AggregateError (IPv4 + IPv6 both refused) whose message is empty. */
export function connectReason(e: unknown): string {
  const err = e as PgError;
  return err.message || err.errors?.[0]?.message || err.code || String(e);
}

const TLS_CODE = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|ERR_TLS_|ERR_SSL_|HOSTNAME_MISMATCH|EPROTO$)/;

/** Is this a failure of the TLS layer (a certificate not trusted, a handshake refused)? */
export function isTlsFailure(e: unknown): boolean {
  const code = codeOf(e);
  if (code && TLS_CODE.test(code)) return true;
  return /does not support SSL connections|error establishing an SSL connection|certificate|SSL routines|alert/i.test(connectReason(e));
}

/** Is this worth trying the next attempt of prefer/allow (TLS refused, or plain refused by pg_hba)? */
export function fallsBack(e: unknown): boolean {
  return isTlsFailure(e) || codeOf(e) === '28000';
}

/** A connection failure as the operator should read it: the cause named, and what to change. */
export function connectError(e: unknown, t: PgTarget, a: Attempt): OperationError {
  const at = `PostgreSQL at ${t.host}:${t.port} (database ${t.database}, user ${t.user})`;
  const code = codeOf(e);
  const reason = connectReason(e);
  const urlHint = t.source === 'DATABASE_URL' || t.source === 'the database URL' ? t.source : 'PGSSLMODE/PGSSLROOTCERT';
  if (a.tls && /does not support SSL connections/.test(reason)) {
    return new OperationError(`cannot connect to ${at}: the server does not accept TLS, and sslmode=${t.sslMode} (${t.sslModeFrom}) requires it`, [
      'enable ssl on the server, or use sslmode=prefer (TLS when offered) or sslmode=disable',
    ], { permanent: true });
  }
  if (isTlsFailure(e)) {
    const altname = code === 'ERR_TLS_CERT_ALTNAME_INVALID' || /Hostname\/IP does not match|altnames/i.test(reason);
    const untrusted = !altname && /self[- ]signed|unable to (verify|get)|certificate chain|UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO/i.test(`${code ?? ''} ${reason}`);
    const root = a.tls && a.rootCert !== 'none' ? (a.rootCert === 'system' ? "the system's trust store" : a.rootCert) : undefined;
    if (altname) {
      return new OperationError(`TLS: the certificate of ${at} does not name the host ${t.host} (${reason}); sslmode=${t.sslMode} checks the host name`, [
        `connect by a name the certificate holds, or use sslmode=verify-ca (the chain checked, not the name) in ${urlHint}`,
      ], { permanent: true });
    }
    if (untrusted) {
      return new OperationError(`TLS: the certificate of ${at} is not trusted (${reason}): sslmode=${t.sslMode} verifies it against ${root ?? 'the trust store'}`, [
        `give the CA that signed it: sslrootcert=/path/to/ca.pem with sslmode=verify-full in ${urlHint} (your provider publishes its CA bundle, e.g. RDS's global-bundle.pem)`,
        'or sslmode=require: encrypted, the certificate not verified (psql\'s meaning)',
      ], { permanent: true });
    }
    return new OperationError(`TLS: the TLS handshake with ${at} failed: ${reason} (sslmode=${t.sslMode})`, [
      `check sslmode, sslrootcert, sslcert and sslkey in ${urlHint}`,
    ], { permanent: true });
  }
  if (code === 'ECONNREFUSED') {
    return new OperationError(`cannot connect to ${at}: connection refused (ECONNREFUSED)`, [
      `check that PostgreSQL runs there and listens on port ${t.port}, or point ${t.source} at the billing database, e.g. DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/DATABASE`,
      'or use the embedded store to try custctl: --store embedded (or CUSTCTL_STORE=embedded)',
    ]);
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME') {
    return new OperationError(`cannot connect to ${at}: host ${t.host} not found (${code})`, [
      `check the host name in ${t.source}`,
    ]);
  }
  if (code === '28P01') {
    return new OperationError(`cannot connect to ${at}: ${reason}`, [
      `check the user and password in ${t.source}; in a URL, percent-encode special characters of the password (@ is %40, : is %3A, / is %2F)`,
    ], { permanent: true });
  }
  if (code === '28000' && /no encryption/.test(reason)) {
    return new OperationError(`cannot connect to ${at}: ${reason}`, [
      `the server accepts this user only over TLS: use sslmode=require (or verify-full with sslrootcert) in ${urlHint}`,
    ], { permanent: true });
  }
  if (code === '3D000') {
    return new OperationError(`cannot connect to ${at}: ${reason}`, [`check the database name in ${t.source}`], { permanent: true });
  }
  if (/timeout/i.test(reason)) {
    return new OperationError(`cannot connect to ${at}: no answer within ${Math.round((t.config.connectionTimeoutMillis ?? CONNECT_TIMEOUT_MS) / 1000)} s (${reason})`, [
      `check that ${t.host}:${t.port} is reachable from here (a firewall, a security group, a private network)`,
    ]);
  }
  return new OperationError(`cannot connect to ${at}: ${reason}`, [
    `check that PostgreSQL runs there, or point ${t.source} at the billing database, e.g. DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/DATABASE`,
    'or use the embedded store to try custctl: --store embedded (or CUSTCTL_STORE=embedded)',
  ]);
}

/**
 * `fn` inside BEGIN … COMMIT on one client of `pool` (ROLLBACK on a throw). A client that failed
 * (an error event, or a ROLLBACK that did not go through) is destroyed, not returned to the pool.
 */
export async function inTransaction<T>(pool: Pool, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  let broken = false;
  const onError = () => {
    broken = true;
  };
  c.on('error', onError);
  try {
    await c.query('begin');
    const v = await fn(c);
    await c.query('commit');
    return v;
  } catch (e) {
    await c.query('rollback').catch(() => {
      broken = true;
    });
    throw e;
  } finally {
    c.off('error', onError);
    c.release(broken);
  }
}
