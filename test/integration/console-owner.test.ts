/**
 * What an account owner reads through the real `custctl serve` (the built binary, the real
 * control plane, PostgreSQL, a backup target): every route of the API and the console
 * (test/support/owner-routes.ts), asked for its own customer or job, another customer's, and one
 * that does not exist. Another's and a missing one answer the same (status and body, up to the id
 * asked for); no answer names the database, the cluster, the backup location, another token, a
 * worker's pid@host, or holds a stack trace.
 */
import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/server/auth.js';
import { tempStateDir } from '../support/cli.js';
import { testEnv } from '../support/env.js';
import { db, provisionCustomer, randomKey, waitFor } from '../support/fixtures.js';
import { OWNER_ROUTES, type OwnerRouteCase } from '../support/owner-routes.js';
import { startServe, type RunningServe } from '../support/serve.js';

const ADMIN_NAME = `opsadmin${randomKey('n')}`;
const VIEWER_NAME = `grafview${randomKey('n')}`;
const ADMIN = `adm-${randomKey('a')}-owner-0123456789`;
const VIEWER = `view-${randomKey('v')}-owner-0123456789`;
const OWNER = `own-${randomKey('o')}-owner-0123456789`;
const stateDir = tempStateDir();
const backupDir = path.join(stateDir, 'backups-site');

let serve: RunningServe;
let mine: Awaited<ReturnType<typeof provisionCustomer>>;
let other: Awaited<ReturnType<typeof provisionCustomer>>;
let myJob = '';
let otherJob = '';
const missingCustomer = `cust_${randomKey('nx')}`;
const missingJob = '987654321';

async function api(method: string, p: string, token: string) {
  const res = await fetch(`${serve.url}${p}`, { method, headers: { authorization: `Bearer ${token}` }, redirect: 'manual' });
  return { status: res.status, body: await res.text() };
}

/** A signed-in owner session of the console: its cookie and CSRF token. */
async function ownerSession(): Promise<{ cookie: string; csrf: string }> {
  const res = await fetch(`${serve.url}/console/login`, {
    method: 'POST', redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: serve.url },
    body: new URLSearchParams({ token: OWNER }).toString(),
  });
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  expect(cookie).toMatch(/^custctl_session=/);
  const page = await (await fetch(`${serve.url}/`, { headers: { cookie } })).text();
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page)?.[1] ?? '';
  expect(csrf).not.toBe('');
  return { cookie, csrf };
}

/** The owner's request on this route: the answer, and for a console form post the page its redirect leads to. */
async function ask(c: OwnerRouteCase, id: string): Promise<{ status: number; body: string; location?: string }> {
  const p = (c.path ?? c.route).replace(':id', id);
  if (c.surface === 'api') return api(c.method, p, OWNER);
  const { cookie, csrf } = await ownerSession();
  if (c.method === 'GET') {
    const res = await fetch(`${serve.url}${p}`, { headers: { cookie }, redirect: 'manual' });
    return { status: res.status, body: await res.text() };
  }
  const res = await fetch(`${serve.url}${p}`, {
    method: 'POST', redirect: 'manual',
    headers: { cookie, origin: serve.url, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...(c.form ?? {}), _csrf: csrf }).toString(),
  });
  // every form post is answered with a redirect; its outcome is the next page's
  expect(res.status, `${c.method} ${p}`).toBe(303);
  const location = res.headers.get('location') ?? '';
  const next = await fetch(new URL(location, serve.url), { headers: { cookie }, redirect: 'manual' });
  return { status: next.status, body: await next.text(), location };
}

/** What must never reach an owner. */
function leaks(text: string): string[] {
  const env = testEnv();
  const found: string[] = [];
  const db = new URL(env.databaseUrl);
  const words: Array<[string, string]> = [
    ['database URL', env.databaseUrl], ['database address', db.host], ['database user', db.username],
    ['cluster server', env.apiServer], ['cluster context', env.kubeContext], ['kubeconfig', env.kubeconfig],
    ['backup location', backupDir], ['state directory', stateDir],
    ['admin token name', ADMIN_NAME], ['viewer token name', VIEWER_NAME],
  ];
  for (const [what, s] of words) if (s && text.includes(s)) found.push(what);
  if (new RegExp(`\\b\\d+@${hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`).test(text)) found.push('pid@host');
  if (/\bat (?:async )?\S+ \(?\/?[^\s)]*\.[cm]?js:\d+:\d+\)?/.test(text) || /node:internal/.test(text)) found.push('stack trace');
  if (/postgres(?:ql)?:\/\//.test(text)) found.push('postgres URL');
  return found;
}

/** The same answer up to the id that was asked for, where it stands as a word (the CSRF token of a fresh session aside). */
const normalized = (r: { status: number; body: string; location?: string }, id: string) => {
  const word = new RegExp(`(?<![0-9A-Za-z_])${id}(?![0-9A-Za-z_])`, 'g');
  return {
    status: r.status,
    location: r.location?.replace(word, '<id>'),
    body: r.body.replace(word, '<id>').replace(/name="_csrf" value="[^"]+"/g, 'name="_csrf" value="…"'),
  };
};

beforeAll(async () => {
  mine = await provisionCustomer(randomKey('om'));
  other = await provisionCustomer(randomKey('oo'));
  const tokens = path.join(stateDir, 'tokens');
  writeFileSync(tokens, `${ADMIN_NAME}:admin:${sha256Hex(ADMIN)}\n${VIEWER_NAME}:viewer:${sha256Hex(VIEWER)}\nportal:owner:${mine.customerId}:${sha256Hex(OWNER)}\n`, { mode: 0o600 });
  serve = await startServe({ stateDir, env: { CUSTCTL_API_TOKENS_FILE: tokens, CUSTCTL_BACKUP_URL: `file://${backupDir}`, CUSTCTL_OWNER_MIN_RETENTION: '7d' } });

  // the owner's customer: deleted by an admin now (a job that ran here, with a backup), then
  // deployed again, so that its page has a plan
  const del = await api('DELETE', `/api/customers/${mine.customerId}?after=0`, ADMIN);
  expect(del.status, del.body).toBe(200);
  myJob = String((JSON.parse(del.body) as { jobId: string }).jobId);
  await waitFor(async () => (JSON.parse((await api('GET', `/api/admin/jobs/${myJob}`, ADMIN)).body) as { state: string }).state === 'completed', 'the admin deletion of the owner\'s customer', 180_000, 500);
  await provisionCustomer(mine.key, { row: false });
  await db().query(`update customers set deployment_status = 'deployed', instance_namespace = $2, deletion_job_id = null where customer_id = $1`, [mine.customerId, mine.namespace]);
  // another customer: a deletion an admin scheduled
  const sched = await api('DELETE', `/api/customers/${other.customerId}?after=30d`, ADMIN);
  expect(sched.status, sched.body).toBe(200);
  otherJob = String((JSON.parse(sched.body) as { jobId: string }).jobId);

  // what the admin sees holds what the owner must not (the test would prove nothing otherwise)
  const adminView = (await api('GET', `/api/admin/jobs/${myJob}`, ADMIN)).body;
  expect(leaks(adminView)).toEqual(expect.arrayContaining(['pid@host', 'backup location', 'admin token name']));
}, 420_000);

afterAll(async () => {
  await serve?.stop();
});

describe('an owner reaches only what concerns it (every route of the API and the console, through serve)', () => {
  it.each(OWNER_ROUTES.map((c) => [`${c.method} ${c.path ?? c.route} (${c.surface}, ${c.access})`, c] as const))('%s', async (_name, c) => {
    const ids = c.id === 'job' ? { own: myJob, other: otherJob, missing: missingJob } : { own: mine.customerId, other: other.customerId, missing: missingCustomer };
    if (!c.id) {
      const r = await ask(c, '');
      expect(leaks(r.body), r.body).toEqual([]);
      if (c.access === 'staff') {
        // not there for an owner: 404, or (a console form post) the next page says so
        if (c.surface === 'console' && c.method === 'POST') expect(r.body).toContain('not found');
        else expect(r.status, r.body).toBe(404);
      }
      return;
    }
    const own = await ask(c, ids.own);
    const theirs = await ask(c, ids.other);
    const missing = await ask(c, ids.missing);
    for (const r of [own, theirs, missing]) expect(leaks(r.body), r.body).toEqual([]);
    // another customer's and a missing one: the same answer
    expect(normalized(theirs, ids.other)).toEqual(normalized(missing, ids.missing));
    // a route an owner may not use is not there for it, whatever the id
    if (c.access === 'staff') {
      for (const r of [own, theirs, missing]) {
        if (c.surface === 'console' && c.method === 'POST') expect(r.body).toContain('not found');
        else expect(r.status, r.body).toBe(404);
      }
    }
    if (c.surface === 'api' && c.access !== 'staff' && !c.path?.includes('?customer=')) expect(theirs.status).toBe(404);
  }, 120_000);

  it('the owner\'s own job reads as its own: state and steps, no worker, no log, "an operator" for the admin who asked', async () => {
    const j = JSON.parse((await api('GET', `/api/admin/jobs/${myJob}`, OWNER)).body) as { state: string; requestedBy: string; attempts: Array<{ worker: string; log: string[] }>; lease: unknown };
    expect(j.state).toBe('completed');
    expect(j.requestedBy).toBe('an operator');
    expect(j.attempts.every((a) => a.worker === '' && a.log.length === 0)).toBe(true);
    const { cookie } = await ownerSession();
    const html = await (await fetch(`${serve.url}/console/jobs/${myJob}`, { headers: { cookie } })).text();
    expect(html).toContain('by an operator');
    expect(html).not.toContain('class="env-banner');
    expect(html).not.toContain('<pre class="log"');
  }, 120_000);
});
