import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectError, connectionAttempts, describeTransport, pgTarget, poolConfigFor } from '../../src/adapters/pg-connection.js';
import { UsageError } from '../../src/errors.js';

const HOME = mkdtempSync(path.join(tmpdir(), 'pgconn-home-'));
const CA = path.join(HOME, 'ca.pem');
writeFileSync(CA, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');

describe('DATABASE_URL as managed databases hand it out', () => {
  it.each([
    ['Heroku', 'postgres://uabc:p4ss@ec2-1-2-3-4.compute-1.amazonaws.com:5432/d9x', { host: 'ec2-1-2-3-4.compute-1.amazonaws.com', port: 5432, user: 'uabc', password: 'p4ss', database: 'd9x' }, 'prefer'],
    ['Supabase pooler', 'postgresql://postgres.abcd:p%40ss%2Fw0rd@aws-0-eu-west-1.pooler.supabase.com:6543/postgres?sslmode=require&pgbouncer=true', { host: 'aws-0-eu-west-1.pooler.supabase.com', port: 6543, user: 'postgres.abcd', password: 'p@ss/w0rd', database: 'postgres' }, 'require'],
    ['Neon', 'postgresql://alex:AbC123dEf@ep-cool-darkness-123456.us-east-2.aws.neon.tech/dbname?sslmode=require&channel_binding=require', { host: 'ep-cool-darkness-123456.us-east-2.aws.neon.tech', port: 5432, user: 'alex', password: 'AbC123dEf', database: 'dbname', enableChannelBinding: true }, 'require'],
    ['RDS', 'postgres://billing:pa%3Ass@billing.c9akciq32.eu-west-1.rds.amazonaws.com:5432/billing?sslmode=verify-full&sslrootcert=/etc/ssl/rds-global-bundle.pem', { host: 'billing.c9akciq32.eu-west-1.rds.amazonaws.com', user: 'billing', password: 'pa:ss', database: 'billing' }, 'verify-full'],
    ['options and a unix socket', 'postgresql:///billing?host=/var/run/postgresql&options=-c%20search_path%3Dbilling', { host: '/var/run/postgresql', port: 5432, database: 'billing', options: '-c search_path=billing' }, 'prefer'],
  ])('%s', (_name, url, config, mode) => {
    const t = pgTarget({ env: { DATABASE_URL: url, USER: 'me' } });
    expect(t.config).toMatchObject(config);
    expect(t.sslMode).toBe(mode);
    // pg never sees the URL: pg-connection-string would give sslmode pg's meaning and print its SECURITY WARNING
    expect(t.config.connectionString).toBeUndefined();
    expect(t.description).not.toMatch(/p4ss|p@ss|AbC123|pa:ss/);
  });

  it('a comma in the password is not a second host', () => {
    expect(pgTarget({ env: { DATABASE_URL: 'postgres://u:a,b@h/d' } }).config.password).toBe('a,b');
  });

  it('parameters custctl does not use are named, not silently taken for libpq ones', () => {
    const t = pgTarget({ env: { DATABASE_URL: 'postgres://u:p@h/d?sslmode=require&pgbouncer=true&schema=public&connection_limit=1' } });
    expect(t.ignoredParams).toEqual(['pgbouncer', 'schema', 'connection_limit']);
  });

  it('URL parameters beat PG* variables, which fill what the URL leaves out', () => {
    const t = pgTarget({ env: { DATABASE_URL: 'postgres://u@h/d?sslmode=verify-ca', PGSSLMODE: 'disable', PGPASSWORD: 'fromenv', PGSSLROOTCERT: '/x/ca.pem' } });
    expect(t.sslMode).toBe('verify-ca');
    expect(t.sslModeFrom).toBe('sslmode=verify-ca in DATABASE_URL');
    expect(t.config.password).toBe('fromenv');
    expect(t.sslRootCert).toBe('/x/ca.pem');
    expect(pgTarget({ env: { DATABASE_URL: 'postgres://u@h/d', PGSSLMODE: 'require' } }).sslModeFrom).toBe('PGSSLMODE=require');
    expect(pgTarget({ env: { DATABASE_URL: 'postgres://u@h/d' } }).sslModeFrom).toBe("libpq's default");
  });

  it.each([
    ['postgres://u@h/d?sslmode=required', /sslmode=required is not an sslmode/],
    ['postgres://u:p%zz@h/d', /malformed %-escape/],
    ['postgres://u@h1:5432,h2:5432/d', /several hosts/],
    ['postgres://u@h/d?connect_timeout=soon', /connect_timeout=soon/],
  ])('%s is a UsageError', (url, re) => {
    expect(() => pgTarget({ env: { DATABASE_URL: url } })).toThrow(UsageError);
    expect(() => pgTarget({ env: { DATABASE_URL: url } })).toThrow(re);
  });
});

describe('sslmode with libpq meaning', () => {
  const attempts = (url: string, env: Record<string, string> = {}) => {
    const e = { HOME, ...env, DATABASE_URL: url };
    const t = pgTarget({ env: e });
    return connectionAttempts(t, e).map((a) => {
      const ssl = poolConfigFor(t, a).ssl;
      if (!a.tls || typeof ssl !== 'object') return a.tls ? 'tls?' : 'plain';
      const name = ssl.checkServerIdentity ? 'ca' : ssl.rejectUnauthorized === false ? 'none' : 'full';
      return `tls:${name}${ssl.ca ? '+ca' : ''}`;
    });
  };

  it.each([
    ['disable', ['plain']],
    ['allow', ['plain', 'tls:none']],
    ['prefer', ['tls:none', 'plain']],
    ['require', ['tls:none']],
    ['no-verify', ['tls:none']],
    ['verify-ca', ['tls:ca']],
    ['verify-full', ['tls:full']],
  ])('sslmode=%s', (mode, expected) => {
    expect(attempts(`postgres://u@h/d?sslmode=${mode}`)).toEqual(expected);
  });

  it('no sslmode is prefer, as for psql', () => {
    expect(attempts('postgres://u@h/d')).toEqual(['tls:none', 'plain']);
  });

  it('sslrootcert is read and honoured; require with a root certificate verifies the chain, as libpq does', () => {
    expect(attempts(`postgres://u@h/d?sslmode=verify-full&sslrootcert=${CA}`)).toEqual(['tls:full+ca']);
    expect(attempts(`postgres://u@h/d?sslmode=verify-ca&sslrootcert=${CA}`)).toEqual(['tls:ca+ca']);
    expect(attempts(`postgres://u@h/d?sslmode=require&sslrootcert=${CA}`)).toEqual(['tls:ca+ca']);
    expect(attempts('postgres://u@h/d?sslmode=verify-full&sslrootcert=system')).toEqual(['tls:full']);
  });

  it('sslcert and sslkey give a client certificate', () => {
    const e = { HOME, DATABASE_URL: `postgres://u@h/d?sslmode=verify-full&sslrootcert=${CA}&sslcert=${CA}&sslkey=${CA}` };
    const t = pgTarget({ env: e });
    const ssl = poolConfigFor(t, connectionAttempts(t, e)[0]!).ssl as { cert?: Buffer; key?: Buffer };
    expect(ssl.cert).toBeInstanceOf(Buffer);
    expect(ssl.key).toBeInstanceOf(Buffer);
  });

  it('a missing certificate file is a UsageError naming the parameter', () => {
    const e = { HOME, DATABASE_URL: 'postgres://u@h/d?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem' };
    expect(() => connectionAttempts(pgTarget({ env: e }), e)).toThrow(/sslrootcert=\/nonexistent\/ca.pem: cannot read it \(ENOENT\)/);
  });

  it('the transport says what was verified, and by which sslmode', () => {
    const e = { HOME, DATABASE_URL: `postgres://u@db.example.com/d?sslmode=verify-full&sslrootcert=${CA}` };
    const t = pgTarget({ env: e });
    const tr = describeTransport(t, connectionAttempts(t, e)[0]!, 'TLS 1.3');
    expect(tr).toMatchObject({ encrypted: true, verified: true, local: false });
    expect(tr.summary).toBe(`TLS 1.3, certificate and host name verified against ${CA} (sslmode=verify-full, from DATABASE_URL)`);
    const r = pgTarget({ env: { DATABASE_URL: 'postgres://u@db.example.com/d?sslmode=require' } });
    expect(describeTransport(r, connectionAttempts(r, {})[0]!, 'TLS 1.3').summary).toBe("TLS 1.3, encrypted, the server's certificate not verified (sslmode=require, from DATABASE_URL)");
    const p = pgTarget({ env: { DATABASE_URL: 'postgres://u@127.0.0.1/d' } });
    expect(describeTransport(p, { tls: false }, null)).toMatchObject({ summary: "not encrypted: the server offers no TLS (sslmode=prefer, from libpq's default)", local: true });
  });
});

describe('connection failures name their cause', () => {
  const t = pgTarget({ env: { DATABASE_URL: 'postgres://u:pw@db.example.com:5433/billing?sslmode=verify-full' } });
  const a = connectionAttempts(t, { HOME })[0]!;
  const err = (props: Record<string, unknown>) => Object.assign(new Error(String(props.message ?? '')), props);

  it('a certificate not trusted is a TLS failure with the fix, not "check that PostgreSQL runs there"', () => {
    const e = connectError(err({ code: 'SELF_SIGNED_CERT_IN_CHAIN', message: 'self-signed certificate in certificate chain' }), t, a);
    expect(e.message).toMatch(/^TLS: the certificate of PostgreSQL at db.example.com:5433 .* is not trusted \(self-signed certificate in certificate chain\): sslmode=verify-full/);
    expect(e.details.join('\n')).toMatch(/sslrootcert=\/path\/to\/ca.pem with sslmode=verify-full/);
    expect(e.details.join('\n')).toMatch(/sslmode=require: encrypted, the certificate not verified/);
    expect(e.details.join('\n')).not.toMatch(/runs there/);
    expect(e.message + e.details.join('')).not.toContain('pw');
  });

  it('a host name the certificate does not hold', () => {
    const e = connectError(err({ code: 'ERR_TLS_CERT_ALTNAME_INVALID', message: "Hostname/IP does not match certificate's altnames" }), t, a);
    expect(e.message).toMatch(/does not name the host db.example.com/);
    expect(e.details.join('\n')).toMatch(/sslmode=verify-ca/);
  });

  it.each([
    [{ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 10.0.0.1:5433' }, /connection refused \(ECONNREFUSED\)/],
    [{ code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND db.example.com' }, /host db.example.com not found \(ENOTFOUND\)/],
    [{ code: 'EAI_AGAIN', message: 'getaddrinfo EAI_AGAIN db.example.com' }, /host db.example.com not found \(EAI_AGAIN\)/],
    [{ code: '28P01', message: 'password authentication failed for user "u"' }, /password authentication failed/],
    [{ message: 'The server does not support SSL connections' }, /does not accept TLS, and sslmode=verify-full/],
  ])('%o', (e, re) => {
    expect(connectError(err(e), t, a).message).toMatch(re);
  });
});
