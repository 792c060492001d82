/// <reference lib="dom" />
/**
 * The customer portal in Chromium against the real `custctl serve` (the built binary), the real
 * control plane and PostgreSQL: an account owner signs in with a link (`custctl portal link`, and
 * one the billing app mints through the API), reads what a deletion means, downloads its export,
 * schedules its deletion (refused below the owner's minimum and without the ID typed), cancels it
 * (the instance is restored), schedules it again and watches the job. An expired, a tampered and a
 * used link are refused; another customer's jobs read as missing ones (404, the same page), and no
 * page or answer names the cluster, the database, the namespace, a token or the server.
 */
import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintPortalToken, parsePortalSecrets } from '../../src/domain/portal-link.js';
import { sha256Hex } from '../../src/server/auth.js';
import { launchChromium } from '../env/chromium.js';
import { custctl, tempStateDir } from '../support/cli.js';
import { testEnv } from '../support/env.js';
import { db, provisionCustomer, randomKey, waitFor } from '../support/fixtures.js';
import { startServe, type RunningServe } from '../support/serve.js';
import { tarEntriesOf } from '../support/archive.js';
import { workloads } from '../support/workloads.js';

const ADMIN_NAME = `billing${randomKey('n')}`;
const ADMIN = `adm-${randomKey('a')}-portal-0123456789`;
const OWNER_NAME = `owner${randomKey('n')}`;
const OWNER = `own-${randomKey('o')}-portal-0123456789`;
const SECRET = 'portal-test-secret-Vq3c8m1ZpR7yT2kL9xW4nB6dF0hJ';
const stateDir = tempStateDir();
let serve: RunningServe;
let browser: Browser;
let mine: Awaited<ReturnType<typeof provisionCustomer>>;
let other: Awaited<ReturnType<typeof provisionCustomer>>;
let otherJob = '';

const text = (page: Page, selector = 'main') => page.$eval(selector, (el) => (el as HTMLElement).innerText);

/** What must never reach a customer. */
function leaks(body: string): string[] {
  const env = testEnv();
  const found: string[] = [];
  const dbUrl = new URL(env.databaseUrl);
  const words: Array<[string, string]> = [
    ['database URL', env.databaseUrl], ['database address', dbUrl.host], ['cluster server', env.apiServer], ['cluster context', env.kubeContext],
    ['kubeconfig', env.kubeconfig], ['state directory', stateDir], ['admin token name', ADMIN_NAME], ['namespace', mine.namespace], ['other customer', other.customerId],
  ];
  for (const [what, s] of words) if (s && body.includes(s)) found.push(what);
  if (body.includes(`@${hostname()}`)) found.push('pid@host');
  if (/postgres(?:ql)?:\/\//.test(body) || /node:internal|\.js:\d+:\d+/.test(body)) found.push('internals');
  return found;
}

async function linkFromCli(customerId: string): Promise<string> {
  const r = await custctl(['portal', 'link', customerId, '--ttl', '1h', '--base-url', serve.url], { env: { CUSTCTL_STATE_DIR: stateDir, CUSTCTL_PORTAL_SECRET: SECRET } });
  expect(r.exitCode, r.stderr).toBe(0);
  return r.stdout.trim();
}

async function context(): Promise<{ ctx: BrowserContext; page: Page }> {
  const ctx = await browser.createBrowserContext();
  const page = await ctx.newPage();
  page.setDefaultTimeout(60_000);
  return { ctx, page };
}

/** Opens a link and presses its button: the account page. */
async function signInWith(page: Page, link: string): Promise<void> {
  await page.goto(link);
  expect(await text(page)).toContain(`Sign in to account ${mine.customerId}`);
  await Promise.all([page.waitForNavigation(), page.click('#use-link')]);
  expect(new URL(page.url()).pathname).toBe('/portal');
}

async function schedule(page: Page, after: string, typed = mine.customerId): Promise<void> {
  await page.$eval('#after', (el) => { (el as HTMLInputElement).value = ''; });
  await page.type('#after', after);
  await page.type('#confirm', typed);
  await Promise.all([page.waitForNavigation(), page.click('#delete-button')]);
}

const stateOf = (page: Page) => page.$eval('p.state', (el) => (el as HTMLElement).dataset.state);

beforeAll(async () => {
  mine = await provisionCustomer(randomKey('pm'));
  other = await provisionCustomer(randomKey('po'));
  const tokens = path.join(stateDir, 'tokens');
  writeFileSync(tokens, `${ADMIN_NAME}:admin:${sha256Hex(ADMIN)}\n${OWNER_NAME}:owner:${mine.customerId}:${sha256Hex(OWNER)}\n`, { mode: 0o600 });
  serve = await startServe({ stateDir, env: { CUSTCTL_API_TOKENS_FILE: tokens, CUSTCTL_PORTAL_SECRET: SECRET, CUSTCTL_OWNER_MIN_RETENTION: '7d', CUSTCTL_RETENTION: '14d', CUSTCTL_SITE_NAME: 'Example Hosting' } });
  // the other customer: a deletion an operator scheduled
  const r = await fetch(`${serve.url}/api/customers/${other.customerId}?after=7d`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN}` } });
  expect(r.status, await r.text()).toBe(200);
  otherJob = String(((await (await fetch(`${serve.url}/api/customers/${other.customerId}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { customer: { deletionJobId: string } }).customer.deletionJobId);
  browser = await launchChromium();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await serve?.stop();
});

describe('customer portal (Chromium, serve, cluster, PostgreSQL)', () => {
  it('an owner signs in by link, reads the warning, exports, schedules, cancels (instance restored), schedules again', async () => {
    const before = await workloads(mine.namespace);
    expect(before.replicas['Deployment/customer-instance']).toBe(1);
    const { ctx, page } = await context();
    try {
      const link = await linkFromCli(mine.customerId);
      await signInWith(page, link);
      const main = await text(page);
      expect(await stateOf(page)).toBe('active');
      expect(main).toContain('your app');
      expect(main).toContain("your databases' volumes");
      expect(main).toContain('your configuration');
      expect(main).toMatch(/This cannot be undone/);
      expect(main).toMatch(/retention period, 14d \(at least 7d\)/);
      expect(main).toMatch(/If you schedule it today, your data goes on \w{3}, \d{2} \w{3} \d{4}/);
      expect(leaks(await page.content())).toEqual([]);

      // the export: a tar.gz of what is theirs
      const exported = await page.evaluate(async () => {
        const csrf = (document.querySelector('#export-form input[name="_csrf"]') as HTMLInputElement).value;
        const r = await fetch('/portal/export', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: csrf }).toString() });
        return { status: r.status, type: r.headers.get('content-type'), disposition: r.headers.get('content-disposition'), bytes: Array.from(new Uint8Array(await r.arrayBuffer())) };
      });
      expect(exported.status).toBe(200);
      expect(exported.type).toBe('application/gzip');
      expect(exported.disposition).toMatch(new RegExp(`attachment; filename="[^"]*${mine.customerId}[^"]*\\.tar\\.gz"`));
      const entries = await tarEntriesOf(Buffer.from(exported.bytes));
      const names = [...entries.keys()];
      expect(names.some((n) => n.endsWith('/README.md'))).toBe(true);
      expect(names.some((n) => n.endsWith('/export.json'))).toBe(true);
      const audit = await db().query(`select action, actor from custctl_audit where customer_id = $1 and action = 'customer-exported'`, [mine.customerId]);
      expect(audit.rows).toEqual([{ action: 'customer-exported', actor: `api:portal:${mine.customerId}` }]);

      // the button waits for the ID; a wrong ID or a retention below the minimum schedules nothing
      await page.type('#confirm', 'cust_wrong');
      expect(await page.$eval('#delete-button', (b) => (b as HTMLButtonElement).disabled)).toBe(true);
      await page.$eval('#confirm', (el) => { (el as HTMLInputElement).value = ''; });
      await schedule(page, '1d');
      expect(await text(page, '.flash.error')).toMatch(/at least 7d .*Nothing was scheduled/);
      expect(await stateOf(page)).toBe('active');
      expect((await db().query('select deployment_status from customers where customer_id = $1', [mine.customerId])).rows[0].deployment_status).toBe('deployed');

      // scheduled: suspended, the date shown, the job waiting
      await schedule(page, '8d');
      expect(await text(page, '.flash.ok')).toMatch(/Your deletion is scheduled for/);
      expect(await stateOf(page)).toBe('scheduled');
      expect(await text(page, '#progress')).toMatch(/waiting for its date/);
      expect((await workloads(mine.namespace)).replicas['Deployment/customer-instance']).toBe(0);
      const row = (await db().query('select deployment_status, deletion_scheduled_at from customers where customer_id = $1', [mine.customerId])).rows[0] as { deployment_status: string; deletion_scheduled_at: Date };
      expect(row.deployment_status).toBe('deleting');
      expect(Math.abs(new Date(row.deletion_scheduled_at).getTime() - (Date.now() + 8 * 86_400_000))).toBeLessThan(10 * 60_000);
      expect(leaks(await page.content())).toEqual([]);

      // cancelled: restored
      await Promise.all([page.waitForNavigation(), page.click('#cancel-button')]);
      expect(await text(page, '.flash.ok')).toMatch(/cancelled: your app runs again/);
      expect(await stateOf(page)).toBe('active');
      await waitFor(async () => (await workloads(mine.namespace)).replicas['Deployment/customer-instance'] === 1, 'the instance restored', 30_000);
      expect((await db().query('select deployment_status from customers where customer_id = $1', [mine.customerId])).rows[0].deployment_status).toBe('deployed');

      // scheduled again, watched on the job's own page
      await schedule(page, '7d');
      expect(await stateOf(page)).toBe('scheduled');
      const jobHref = await page.$eval('#progress a', (a) => (a as HTMLAnchorElement).getAttribute('href'));
      await page.goto(`${serve.url}${jobHref}`);
      expect(await text(page)).toMatch(/waiting for its date/);
      const status = await page.evaluate(async (h) => (await fetch(`${h}/status`)).json(), jobHref);
      expect(status).toMatchObject({ state: 'delayed', cancelled: false, progress: 0, finishedAt: null });
      expect(Object.keys(status).sort()).toEqual(['cancelled', 'dueAt', 'finishedAt', 'id', 'progress', 'state']);

      // the link was used: it signs in no more
      const again = await context();
      try {
        await again.page.goto(link);
        await Promise.all([again.page.waitForNavigation(), again.page.click('#use-link')]);
        expect(await text(again.page)).toMatch(/was used already/);
        expect(new URL(again.page.url()).pathname).toBe('/portal/sign-in');
      } finally {
        await again.ctx.close();
      }
    } finally {
      await ctx.close();
    }
    // leave the customer deployed for the next tests
    await fetch(`${serve.url}/api/customers/${mine.customerId}/cancel-deletion`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
  }, 300_000);

  it('an expired link and a tampered link are refused, and sign in no one', async () => {
    const secrets = parsePortalSecrets(SECRET, 'test');
    const expired = mintPortalToken({ customerId: mine.customerId, ttlMs: 3_600_000, now: Date.now() - 2 * 3_600_000, secrets }).token;
    const good = mintPortalToken({ customerId: mine.customerId, ttlMs: 3_600_000, now: Date.now(), secrets }).token;
    const [v, payload, mac] = good.split('.') as [string, string, string];
    const forged = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { c: string };
    forged.c = other.customerId;
    const tampered = `${v}.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${mac}`;
    const { ctx, page } = await context();
    try {
      for (const [token, words] of [[expired, /expired at .*ask for a new one/], [tampered, /not valid \(it was changed, or made for another site\)/]] as const) {
        const res = await page.goto(`${serve.url}/portal/sign-in?token=${encodeURIComponent(token)}`);
        expect(res?.status()).toBe(401);
        expect(await text(page)).toMatch(words);
        expect(await page.$('#use-link')).toBeNull();
        // the exchange refuses it too (a form posted by hand)
        const posted = await page.evaluate(async (t) => {
          const r = await fetch('/portal/sign-in', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ link: t }).toString(), redirect: 'manual' });
          return { status: r.status, cookie: document.cookie };
        }, token);
        expect(posted.status).toBe(401);
        const home = await page.goto(`${serve.url}/portal`);
        expect(new URL(home?.url() ?? '').pathname).toBe('/portal/sign-in');
      }
      expect(await ctx.cookies()).toEqual([]);
    } finally {
      await ctx.close();
    }
  }, 120_000);

  it("another customer's jobs are not reachable: 404, the same as a job that does not exist, nothing leaked", async () => {
    // the billing app's link (admin token, the API)
    const minted = await fetch(`${serve.url}/api/customers/${mine.customerId}/portal-link?ttl=10m&page=overview`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(minted.status).toBe(200);
    const { url, expiresAt, singleUse } = (await minted.json()) as { url: string; expiresAt: string; singleUse: boolean };
    expect(singleUse).toBe(true);
    expect(Date.parse(expiresAt) - Date.now()).toBeLessThanOrEqual(10 * 60_000);
    // an owner token cannot mint links (404 as for any route it may not use); no token: 401
    expect((await fetch(`${serve.url}/api/customers/${mine.customerId}/portal-link`, { method: 'POST', headers: { authorization: `Bearer ${OWNER}` } })).status).toBe(404);
    expect((await fetch(`${serve.url}/api/customers/${mine.customerId}/portal-link`, { method: 'POST' })).status).toBe(401);

    const { ctx, page } = await context();
    try {
      await signInWith(page, url);
      const answers: Record<string, { status: number; body: string }> = {};
      for (const id of [otherJob, '987654321']) {
        for (const suffix of ['', '/status', '/certificate']) {
          const r = await page.goto(`${serve.url}/portal/jobs/${id}${suffix}`);
          const body = await page.content();
          answers[`${id === otherJob ? 'other' : 'missing'}${suffix}`] = { status: r?.status() ?? 0, body: body.split(`job ${id}`).join('job <id>').split(`/jobs/${id}`).join('/jobs/<id>').replace(/name="_csrf" value="[^"]+"/g, '') };
          expect(r?.status(), `${id}${suffix}`).toBe(404);
          expect(leaks(body), `${id}${suffix}`).toEqual([]);
        }
      }
      for (const suffix of ['', '/status', '/certificate']) expect(answers[`other${suffix}`]).toEqual(answers[`missing${suffix}`]);
      // the other customer's deletion is untouched by this customer's cancel
      const cancel = await page.evaluate(async () => {
        await fetch('/portal');
        const html = await (await fetch('/portal')).text();
        const csrf = /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
        const r = await fetch('/portal/cancel', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: csrf }).toString() });
        return r.url;
      });
      expect(new URL(cancel).pathname).toBe('/portal');
      const o = (await db().query('select deployment_status, deletion_job_id from customers where customer_id = $1', [other.customerId])).rows[0] as { deployment_status: string; deletion_job_id: string };
      expect(o).toEqual({ deployment_status: 'deleting', deletion_job_id: otherJob });
      expect(leaks(await (await page.goto(`${serve.url}/portal`))?.text() ?? '')).toEqual([]);
    } finally {
      await ctx.close();
    }
  }, 180_000);

  it('watching a deletion that runs: progress, then the account reads as deleted, in the customer\'s words only', async () => {
    const gone = await provisionCustomer(randomKey('pw'));
    const minted = await fetch(`${serve.url}/api/customers/${gone.customerId}/portal-link?ttl=10m`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
    const { url } = (await minted.json()) as { url: string };
    const { ctx, page } = await context();
    try {
      await page.goto(url);
      await Promise.all([page.waitForNavigation(), page.click('#use-link')]);
      expect(await stateOf(page)).toBe('active');
      const del = await fetch(`${serve.url}/api/customers/${gone.customerId}?after=0`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN}` } });
      expect(del.status).toBe(200);
      const jobId = String(((await del.json()) as { jobId: string }).jobId);
      await waitFor(async () => {
        await page.goto(`${serve.url}/portal`);
        return (await stateOf(page)) === 'deleted';
      }, 'the portal to say the account is deleted', 180_000, 500);
      expect(await text(page, '#progress')).toMatch(/done: your account is deleted/);
      expect(await page.$('#delete-form')).toBeNull();
      expect(await page.$('#export-form')).toBeNull();
      const status = await page.evaluate(async (id) => (await fetch(`/portal/jobs/${id}/status`)).json(), jobId);
      expect(status).toMatchObject({ id: jobId, state: 'completed', progress: 100, cancelled: false });
      const body = await page.content();
      expect(body).not.toContain(gone.namespace);
      expect(leaks(body)).toEqual([]);
    } finally {
      await ctx.close();
    }
  }, 240_000);

  it('an account owner token still signs in (to the portal, and on the API)', async () => {
    const { ctx, page } = await context();
    try {
      await page.goto(`${serve.url}/portal/sign-in`);
      await page.type('#access-token', OWNER);
      await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
      expect(new URL(page.url()).pathname).toBe('/portal');
      expect(await text(page)).toContain(`Your account ${mine.customerId}`);
      // an operator's token is not an account's
      await page.goto(`${serve.url}/portal/sign-in`);
      const c2 = await browser.createBrowserContext();
      const p2 = await c2.newPage();
      await p2.goto(`${serve.url}/portal/sign-in`);
      await p2.type('#access-token', ADMIN);
      await Promise.all([p2.waitForNavigation(), p2.keyboard.press('Enter')]);
      expect(await text(p2)).toMatch(/not an account access token/);
      await c2.close();
    } finally {
      await ctx.close();
    }
    const r = await fetch(`${serve.url}/api/customers/${mine.customerId}`, { headers: { authorization: `Bearer ${OWNER}` } });
    expect(r.status).toBe(200);
  }, 120_000);
});
