/**
 * `custctl token create|list|revoke` against the file the built `custctl serve` reads: a created
 * token signs in, a revoked one is refused by a serve already running, the file stays 0600 and
 * holds digests only, and every refusal leaves the file as it was.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../env/ports.js';
import { BIN, custctl, tempStateDir } from '../support/cli.js';
import { cliEnv } from '../support/env.js';
import { waitFor } from '../support/fixtures.js';

const state = tempStateDir();
const file = path.join(state, 'tokens');
const env = { CUSTCTL_STATE_DIR: state, CUSTCTL_API_TOKENS_FILE: file, SIMULATE_K8S_DEPLOYMENT: 'true' };
const token = (args: string[], extra: Record<string, string> = {}) => custctl(['token', ...args], { env: { ...env, ...extra } });

let serve: { child: ChildProcess; url: string; log: string } | undefined;

async function api(p: string, bearer: string): Promise<number> {
  const res = await fetch(`${serve!.url}${p}`, { headers: { authorization: `Bearer ${bearer}` } });
  await res.text();
  return res.status;
}

beforeAll(async () => {
  const m = await custctl(['db', 'migrate'], { env });
  expect(m.exitCode, m.stderr).toBe(0);
});

afterAll(async () => {
  if (serve && serve.child.exitCode === null) {
    serve.child.kill('SIGTERM');
    await new Promise((r) => serve!.child.once('exit', r));
  }
});

describe('custctl token', () => {
  let admin: string;
  let viewer: string;
  let owner: string;

  it('create prints the token once (stdout) and writes only its digest, 0600, in the format serve reads', async () => {
    const a = await token(['create', 'ci-bot', '--role', 'admin']);
    expect(a.exitCode, a.stderr).toBe(0);
    admin = a.stdout.trim();
    expect(admin).toMatch(/^custctl_[A-Za-z0-9_-]{43}$/);
    expect(a.stderr).toMatch(/only time it is shown/);
    const v = await token(['create', 'grafana', '--role', 'viewer', '-o', 'json']);
    expect(v.exitCode, v.stderr).toBe(0);
    const vj = JSON.parse(v.stdout) as { name: string; role: string; token: string; file: string };
    expect(vj).toMatchObject({ name: 'grafana', role: 'viewer', file });
    viewer = vj.token;
    const o = await token(['create', 'portal-abc', '--role', 'owner', '--customer', 'cust_tokown1']);
    expect(o.exitCode, o.stderr).toBe(0);
    owner = o.stdout.trim();

    const text = readFileSync(file, 'utf8');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(text).not.toContain(admin);
    expect(text).not.toContain(viewer);
    expect(text.trim().split('\n')).toEqual([
      expect.stringMatching(/^ci-bot:admin:[0-9a-f]{64}$/),
      expect.stringMatching(/^grafana:viewer:[0-9a-f]{64}$/),
      expect.stringMatching(/^portal-abc:owner:cust_tokown1:[0-9a-f]{64}$/),
    ]);
  });

  it('list shows names, roles and customers, never a secret', async () => {
    const l = await token(['list', '-o', 'json']);
    expect(l.exitCode, l.stderr).toBe(0);
    expect(JSON.parse(l.stdout)).toEqual([
      { name: 'ci-bot', role: 'admin' },
      { name: 'grafana', role: 'viewer' },
      { name: 'portal-abc', role: 'owner', customerId: 'cust_tokown1' },
    ]);
    const t = await token(['list']);
    expect(t.stdout).toMatch(/NAME\s+ROLE\s+CUSTOMER/);
    expect(t.stdout + t.stderr).not.toMatch(/[0-9a-f]{64}|custctl_/);
  });

  it('serve accepts them by role, and a token created or revoked while it runs takes effect without a restart', async () => {
    const port = await freePort();
    const child = spawn('node', [BIN, 'serve', '--port', String(port)], {
      env: { ...cliEnv(), NO_COLOR: '1', ...env, SIMULATE_K8S_DEPLOYMENT: 'true' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const logFile = path.join(state, 'serve.log');
    const out = createWriteStream(logFile);
    child.stdout?.pipe(out);
    child.stderr?.pipe(out);
    serve = { child, url: `http://127.0.0.1:${port}`, log: logFile };
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`serve exited: ${readFileSync(logFile, 'utf8')}`);
      return readFileSync(logFile, 'utf8').includes('listening on');
    }, 'custctl serve to listen', 60_000, 100);

    expect(await api('/api/admin/jobs', admin)).toBe(200);
    expect(await api('/api/admin/jobs', viewer)).toBe(200);
    expect(await api('/api/customers/cust_tokown1', owner)).not.toBe(401);
    expect(await api('/api/admin/jobs', 'custctl_not-a-token-0123456789')).toBe(401);

    const late = await token(['create', 'late', '--role', 'viewer']);
    expect(late.exitCode, late.stderr).toBe(0);
    expect(await api('/api/admin/jobs', late.stdout.trim())).toBe(200);

    const r = await token(['revoke', 'ci-bot']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/token ci-bot \(admin\) revoked/);
    expect(await api('/api/admin/jobs', admin)).toBe(401);
    expect(await api('/api/admin/jobs', viewer)).toBe(200);
    expect(readFileSync(logFile, 'utf8')).toMatch(/Tokens file .* reloaded/);
  });

  it('concurrent creates all land (one writer at a time under the lock)', async () => {
    const names = Array.from({ length: 6 }, (_, i) => `par-${i}`);
    const rs = await Promise.all(names.map((n) => token(['create', n, '--role', 'viewer'])));
    for (const r of rs) expect(r.exitCode, r.stderr).toBe(0);
    const listed = (JSON.parse((await token(['list', '-o', 'json'])).stdout) as Array<{ name: string }>).map((t) => t.name);
    expect(listed).toEqual(expect.arrayContaining(names));
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it.each([
    [['create', 'grafana', '--role', 'viewer'], 4, /a token named grafana exists already/],
    [['create', 'bad name', '--role', 'viewer'], 2, /token name "bad name"/],
    [['create', 'x:y', '--role', 'viewer'], 2, /token name "x:y"/],
    [['create', 'own2', '--role', 'owner'], 2, /an owner token acts for one customer: add --customer/],
    [['create', 'own3', '--role', 'owner', '--customer', '42'], 2, /--customer "42" is not a customer ID/],
    [['create', 'adm2', '--role', 'admin', '--customer', 'cust_x1'], 2, /--customer is for --role owner/],
    [['create', 'r1', '--role', 'root'], 2, /argument 'root' is invalid|Allowed choices/],
    [['revoke', 'nobody'], 3, /no token named nobody/],
  ])('%j is refused (exit %i) and the file is unchanged', async (args, code, re) => {
    const before = readFileSync(file, 'utf8');
    const r = await token(args);
    expect(r.exitCode, r.stderr).toBe(code);
    expect(r.stderr).toMatch(re);
    expect(r.stdout).toBe('');
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('a tokens file writable by others is refused as serve refuses it, and nothing is written', async () => {
    const other = path.join(state, 'loose-tokens');
    writeFileSync(other, '# loose\n');
    chmodSync(other, 0o666);
    const r = await token(['create', 'x', '--role', 'admin', '--file', other]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/writable by everyone .* chmod 600/s);
    expect(readFileSync(other, 'utf8')).toBe('# loose\n');
  });

  it('no file configured: says which variable to set', async () => {
    const r = await custctl(['token', 'list'], { env: { CUSTCTL_STATE_DIR: state, CUSTCTL_API_TOKENS_FILE: '' } });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/set CUSTCTL_API_TOKENS_FILE/);
  });
});
