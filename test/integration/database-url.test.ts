/**
 * DATABASE_URL as managed databases hand it out, against a real PostgreSQL run as they run it:
 * TLS on with a certificate from a private CA (not in Node's trust store), passwords over TCP only
 * with TLS, a client-certificate user. Every command goes through the one connection builder.
 */
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatePostgresCerts, type PostgresCerts } from '../env/certs.js';
import { startPostgres, type Postgres } from '../env/postgres.js';
import { custctl, tempStateDir } from '../support/cli.js';
import { testEnv } from '../support/env.js';

const PASSWORD = 'p@ss:w/rd%1';
const ENC = encodeURIComponent(PASSWORD);

let pgTls: Postgres;
let certs: PostgresCerts;

beforeAll(async () => {
  const dir = path.join(testEnv().runDir, 'postgres-tls-certs');
  certs = await generatePostgresCerts(dir, 'certuser');
  pgTls = await startPostgres(testEnv().runDir, {
    name: 'postgres-tls',
    ssl: { cert: certs.server.cert, key: certs.server.key, ca: certs.caCert },
    hba: [
      'hostssl all certuser 127.0.0.1/32 cert',
      'hostssl all all 127.0.0.1/32 scram-sha-256',
      'hostssl all all ::1/128 scram-sha-256',
    ],
    setup: [
      `create role billing login password '${PASSWORD.replace(/'/g, "''")}'`,
      'create role certuser login',
      'create database billing owner billing',
      'create database certdb owner certuser',
    ],
  });
  // a schema of its own for `options=-c search_path=…`
  const c = new pg.Client({ host: '127.0.0.1', port: pgTls.port, user: 'billing', password: PASSWORD, database: 'billing', ssl: { rejectUnauthorized: false } });
  await c.connect();
  await c.query('create schema ops');
  await c.end();
}, 120_000);

afterAll(async () => {
  await pgTls?.stop();
});

function run(args: string[], env: Record<string, string>, stateDir = tempStateDir()) {
  return custctl(args, { env: { SIMULATE_K8S_DEPLOYMENT: 'true', CUSTCTL_STATE_DIR: stateDir, ...env } });
}

const url = (host: string, query: string, scheme = 'postgres') => `${scheme}://billing:${ENC}@${host}:${pgTls.port}/billing${query ? `?${query}` : ''}`;

describe('sslmode as psql means it', () => {
  it('sslmode=require (a postgresql:// URL, a percent-encoded password, options=): migrate, add, delete and list all connect; no pg SECURITY WARNING', async () => {
    const env = { DATABASE_URL: url('localhost', 'sslmode=require&options=-c%20search_path%3Dops', 'postgresql') };
    const state = tempStateDir();
    const m = await run(['db', 'migrate'], env, state);
    expect(m.stderr + m.stdout, m.stderr).toMatch(/applied/);
    expect(m.exitCode).toBe(0);
    const a = await run(['customers', 'add', 'cust_tlsreq1', '--email', 'x@x.test', '--company', 'T', '--status', 'deployed'], env, state);
    expect(a.exitCode, a.stderr).toBe(0);
    const d = await run(['delete', 'cust_tlsreq1', '--yes'], env, state);
    expect(d.exitCode, d.stderr).toBe(0);
    const l = await run(['customers', 'list', '-o', 'json'], env, state);
    expect(l.exitCode, l.stderr).toBe(0);
    expect(JSON.parse(l.stdout)).toEqual(expect.arrayContaining([expect.objectContaining({ customerId: 'cust_tlsreq1', deploymentStatus: 'pending' })]));
    for (const r of [m, a, d, l]) {
      expect(r.stderr).not.toMatch(/SECURITY WARNING|self-signed|Warning:/);
    }
    // options= put the tables in the schema it named
    const c = new pg.Client({ host: '127.0.0.1', port: pgTls.port, user: 'billing', password: PASSWORD, database: 'billing', ssl: { rejectUnauthorized: false } });
    await c.connect();
    const t = await c.query<{ r: string | null }>("select to_regclass('ops.customers')::text as r");
    await c.end();
    expect(t.rows[0]?.r).toBe('ops.customers');

    const doc = await run(['doctor', '-o', 'json'], env, state);
    const checks = (JSON.parse(doc.stdout) as { checks: Array<{ name: string; status: string; detail: string }> }).checks;
    expect(checks.find((k) => k.name === 'database')).toMatchObject({ status: 'ok' });
    expect(checks.find((k) => k.name === 'database TLS')?.detail).toMatch(/^TLS 1\.[23], encrypted, the server's certificate not verified \(sslmode=require, from DATABASE_URL\)$/);
  });

  it('sslmode=verify-full with a certificate not in the trust store fails fast as a TLS failure, with the fix; doctor names it', async () => {
    const env = { DATABASE_URL: url('localhost', 'sslmode=verify-full') };
    const t0 = Date.now();
    const r = await run(['customers', 'list'], env);
    const took = Date.now() - t0;
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/TLS: the certificate of PostgreSQL at localhost:\d+ \(database billing, user billing\) is not trusted \(.*(self-signed|unable to verify).*\): sslmode=verify-full/);
    expect(r.stderr).toMatch(/sslrootcert=\/path\/to\/ca.pem with sslmode=verify-full in DATABASE_URL/);
    expect(r.stderr).not.toMatch(/check that PostgreSQL runs there|SECURITY WARNING/);
    expect(r.stderr).not.toContain(PASSWORD);
    expect(took).toBeLessThan(10_000);

    const doc = await run(['doctor', '-o', 'json'], env);
    const db = (JSON.parse(doc.stdout) as { checks: Array<{ name: string; status: string; detail: string; fix?: string }> }).checks.find((k) => k.name === 'database');
    expect(db?.status).toBe('fail');
    expect(db?.detail).toMatch(/^TLS: the certificate .* is not trusted/);
    expect(db?.fix).toMatch(/sslrootcert=/);
  });

  it('verify-full with sslrootcert: verified; by an address the certificate does not name it says so, and verify-ca accepts it', async () => {
    const q = `sslmode=verify-full&sslrootcert=${encodeURIComponent(certs.caCert)}`;
    const ok = await run(['doctor', '-o', 'json'], { DATABASE_URL: url('localhost', q) });
    const tls = (JSON.parse(ok.stdout) as { checks: Array<{ name: string; status: string; detail: string }> }).checks.find((k) => k.name === 'database TLS');
    expect(tls).toMatchObject({ status: 'ok' });
    expect(tls?.detail).toContain(`certificate and host name verified against ${certs.caCert} (sslmode=verify-full, from DATABASE_URL)`);

    const byIp = await run(['customers', 'list'], { DATABASE_URL: url('127.0.0.1', q) });
    expect(byIp.exitCode).toBe(1);
    expect(byIp.stderr).toMatch(/TLS: the certificate of PostgreSQL at 127\.0\.0\.1:\d+ .* does not name the host 127\.0\.0\.1/);
    expect(byIp.stderr).toMatch(/sslmode=verify-ca/);

    const ca = await run(['db', 'check'], { DATABASE_URL: url('127.0.0.1', `sslmode=verify-ca&sslrootcert=${encodeURIComponent(certs.caCert)}`) });
    expect(ca.stderr).not.toMatch(/TLS:/);
    expect(ca.stdout).toMatch(/postgres:\/\/billing@127\.0\.0\.1:\d+\/billing/);
  });

  it('a client certificate (sslcert, sslkey) signs in a user without a password', async () => {
    const q = `sslmode=verify-full&sslrootcert=${certs.caCert}&sslcert=${certs.client.cert}&sslkey=${certs.client.key}`;
    const r = await run(['db', 'migrate'], { DATABASE_URL: `postgresql://certuser@localhost:${pgTls.port}/certdb?${q}` });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/postgres:\/\/certuser@localhost:\d+\/certdb: applied/);
  });

  it('the PG* variables carry the same meaning (PGSSLMODE, PGSSLROOTCERT)', async () => {
    const r = await run(['db', 'check'], {
      DATABASE_URL: '', PGHOST: 'localhost', PGPORT: String(pgTls.port), PGUSER: 'billing', PGPASSWORD: PASSWORD, PGDATABASE: 'billing',
      PGSSLMODE: 'verify-full', PGSSLROOTCERT: certs.caCert,
    });
    expect(r.stderr).not.toMatch(/TLS:|cannot connect/);
    expect(r.stdout).toMatch(/postgres:\/\/billing@localhost:\d+\/billing/);
  });

  it('no sslmode is prefer: TLS when offered, and doctor says the certificate is not verified', async () => {
    const doc = await run(['doctor', '-o', 'json'], { DATABASE_URL: url('localhost', '') });
    const tls = (JSON.parse(doc.stdout) as { checks: Array<{ name: string; detail: string }> }).checks.find((k) => k.name === 'database TLS');
    expect(tls?.detail).toMatch(/^TLS 1\.[23], encrypted, the server's certificate not verified \(sslmode=prefer, from libpq's default\)$/);
  });

  it('sslmode=disable against a server that takes passwords only over TLS: says so and what to set', async () => {
    const r = await run(['customers', 'list'], { DATABASE_URL: url('localhost', 'sslmode=disable') });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/no pg_hba.conf entry .* no encryption/);
    expect(r.stderr).toMatch(/accepts this user only over TLS: use sslmode=require/);
  });
});
