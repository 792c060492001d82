/// <reference lib="dom" />
/**
 * The admin console in a real browser: Debian's Chromium (test/env/chromium.ts, puppeteer-core)
 * against `custctl serve` (the built binary) on loopback, with the real control plane, PostgreSQL
 * and helm. Screenshots of the main pages go to test-results/console/ (gitignored).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/server/auth.js';
import { launchChromium } from '../env/chromium.js';
import { freePort } from '../env/ports.js';
import { BIN, custctl, tempStateDir } from '../support/cli.js';
import { cliEnv } from '../support/env.js';
import { db, getNamespace, provisionCustomer, randomKey, waitFor } from '../support/fixtures.js';

const ADMIN = `adm-${randomKey('a')}-console-0123456789`;
const VIEWER = `view-${randomKey('v')}-console-0123456789`;
const SHOTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test-results/console');

let url: string;
let child: ChildProcess;
let exited: Promise<number | null>;
let logFile: string;
let browser: Browser;

async function row(customerId: string) {
  const r = await db().query('select deployment_status, instance_namespace, deletion_job_id from customers where customer_id = $1', [customerId]);
  return r.rows[0] as { deployment_status: string; instance_namespace: string; deletion_job_id: string | null } | undefined;
}

async function jobsOf(customerId: string): Promise<unknown[]> {
  const res = await fetch(`${url}/api/admin/jobs?customer=${customerId}`, { headers: { authorization: `Bearer ${VIEWER}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as unknown[];
}

async function shot(page: Page, name: string, fullPage = true): Promise<void> {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage });
}

/** A fresh browser context (its own cookies) signed in with this token. */
async function signedIn(token: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  await page.goto(`${url}/`);
  expect(new URL(page.url()).pathname).toBe('/console/login'); // no session: sent to sign in
  await page.type('#token', token);
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  expect(new URL(page.url()).pathname).toBe('/');
  return { context, page };
}

const text = (page: Page, selector = 'main') => page.$eval(selector, (el) => (el as HTMLElement).innerText);

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  const stateDir = tempStateDir();
  const m = await custctl(['db', 'migrate'], { env: { CUSTCTL_STATE_DIR: stateDir } });
  expect(m.exitCode, m.stderr).toBe(0);
  const tokensFile = path.join(stateDir, 'tokens');
  writeFileSync(tokensFile, `ci-bot:admin:${sha256Hex(ADMIN)}\ngrafana:viewer:${sha256Hex(VIEWER)}\n`, { mode: 0o600 });
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = { ...cliEnv(), NO_COLOR: '1', CUSTCTL_STATE_DIR: stateDir, CUSTCTL_API_TOKENS_FILE: tokensFile };
  for (const k of ['SIMULATE_K8S_DEPLOYMENT', 'CUSTCTL_API_URL', 'CUSTCTL_API_TOKEN', 'REDIS_URL']) delete env[k];
  logFile = path.join(stateDir, 'serve.stderr');
  child = spawn('node', [BIN, 'serve', '--port', String(port)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = createWriteStream(logFile);
  child.stderr?.pipe(out);
  child.stdout?.pipe(out);
  exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`custctl serve exited ${child.exitCode}:\n${readFileSync(logFile, 'utf8')}`);
    return readFileSync(logFile, 'utf8').includes(`listening on ${url}`);
  }, 'custctl serve to listen', 60_000, 100);
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  if (child && child.exitCode === null) child.kill('SIGTERM');
  await exited;
});

describe('the console in Chromium, against serve on the real cluster', () => {
  it('admin: signs in, opens a customer, sees its plan; a wrong ID is refused (nothing deleted); the right one deletes, the job reaches 100 %', async () => {
    const c = await provisionCustomer(randomKey('ui'));
    const { context, page } = await signedIn(ADMIN);
    try {
      // the cookie the browser holds: HttpOnly, SameSite=Strict, and not the token
      const cookies = await page.cookies(url);
      expect(cookies).toEqual([expect.objectContaining({ name: 'custctl_session', httpOnly: true, sameSite: 'Strict', secure: false })]);
      expect(cookies[0]?.value).not.toContain(ADMIN);
      expect(await page.evaluate(() => [document.cookie, JSON.stringify(localStorage), JSON.stringify(sessionStorage), document.documentElement.outerHTML])).not.toEqual(expect.arrayContaining([expect.stringContaining(ADMIN)]));

      // the list: search finds it
      await page.type('#q', c.key);
      await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
      expect(await text(page)).toContain('1 customer match');
      await shot(page, '1-customers');
      await Promise.all([page.waitForNavigation(), page.click(`a[href="/console/customers/${c.customerId}"]`)]);

      // its plan, as the CLI shows it
      const plan = await text(page, 'section.plan');
      expect(plan).toContain(`delete customer-${c.key} with`);
      // the chart has no delete hooks: its release goes with the namespace, and the plan says so
      expect(plan).toMatch(new RegExp(`removed with the namespace ${c.release} \\(deployed, customer-instance-[^)]*\\): no delete hooks, no helm process`));
      expect(plan).toContain('Persistent volume claims');
      expect(plan).toMatch(/No volume is bound to it|deleted with the namespace|stay on the cluster/);
      expect(plan).toMatch(/Deployment|ConfigMap/);
      expect(plan).toContain(`c${c.key}-customer-instance-opencost`);
      expect(plan).toContain('deployment_status deployed → deleting → pending');
      expect(plan).toContain('context custctl-test');
      expect(plan).toMatch(/postgres:\/\/.*127\.0\.0\.1/);
      // the environment banner: the cluster (context and server) and the database, on every page
      const banner = await text(page, '.env-banner');
      expect(banner).toMatch(/Cluster\s+custctl-test \(https:\/\/127\.0\.0\.1:\d+\)/);
      expect(banner).toMatch(/Database\s+postgres:\/\/\S+@127\.0\.0\.1/);
      await shot(page, '2-customer');

      // the dialog: Delete stays disabled until the typed ID matches
      await page.click('button[data-dialog="delete-dialog"]');
      await page.waitForSelector('#delete-dialog[open]');
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('confirm'); // focus in the dialog, on the ID
      const submitDisabled = () => page.$eval('#delete-dialog button[type="submit"]', (b) => (b as HTMLButtonElement).disabled);
      expect(await submitDisabled()).toBe(true);
      await shot(page, '3-delete-dialog', false);
      await page.type('#confirm', c.customerId.slice(0, -1));
      expect(await submitDisabled()).toBe(true);
      await page.type('#confirm', `${c.customerId.slice(-1)}x`);
      expect(await submitDisabled()).toBe(true);
      // the server checks it again: enabled by hand (as a page without its script), the wrong ID is refused
      await page.$eval('#delete-dialog button[type="submit"]', (b) => { (b as HTMLButtonElement).disabled = false; });
      const posts = () => (readFileSync(logFile, 'utf8').match(new RegExp(`POST /console/customers/${c.customerId}/delete `, 'g')) ?? []).length;
      const [refused] = await Promise.all([page.waitForNavigation(), page.click('#delete-dialog button[type="submit"]')]);
      // answered with a redirect: the page shown is a GET of the customer (POST-redirect-GET)
      expect(refused?.request().method()).toBe('GET');
      expect(refused?.request().redirectChain().map((r) => r.method())).toEqual(['POST']);
      expect(new URL(page.url()).pathname).toBe(`/console/customers/${c.customerId}`);
      await page.waitForSelector('#delete-dialog[open] #delete-error');
      const refusal = await text(page, '#delete-error');
      expect(refusal).toContain('nothing was deleted');
      expect(refusal).toContain(`You typed "${c.customerId}x", not the customer ID`); // quoted once
      expect(await row(c.customerId)).toMatchObject({ deployment_status: 'deployed', deletion_job_id: null });
      expect(await jobsOf(c.customerId)).toEqual([]);
      expect(await getNamespace(c.namespace)).not.toBeNull();
      // a reload asks for the page again: nothing is posted again, the one-time message is gone
      await waitFor(async () => posts() === 1, 'the POST in the log', 10_000, 100);
      await page.reload();
      expect(posts()).toBe(1);
      expect(await page.$('#delete-error')).toBeNull();

      // the right one: Delete is enabled once it matches; the job page follows the deletion to 100 %
      await page.click('button[data-dialog="delete-dialog"]');
      await page.waitForSelector('#delete-dialog[open]');
      await page.$eval('#confirm', (el) => { (el as HTMLInputElement).value = ''; });
      await page.type('#confirm', c.customerId);
      expect(await submitDisabled()).toBe(false);
      await Promise.all([page.waitForNavigation(), page.click('#delete-dialog button[type="submit"]')]);
      expect(new URL(page.url()).pathname).toMatch(/^\/console\/jobs\/\d+$/);
      const jobUrl = page.url();
      const seen = new Set<string>();
      await waitFor(async () => {
        const live = await text(page, '#job-live');
        seen.add(live.split('\n')[0] ?? '');
        return (await page.$eval('#job-live', (el) => el.getAttribute('data-finished'))) === 'true';
      }, 'the job page to show the job ended', 120_000, 200);
      const live = await text(page, '#job-live');
      expect(live).toContain('completed');
      expect(live).toContain('100 %');
      expect(live).toMatch(/helm-uninstall \(done\)[\s\S]*namespace \(done\)[\s\S]*cluster-rbac \(done\)[\s\S]*row \(done\)/);
      expect(live).toContain('Attempt 1');
      expect(await page.$eval('#job-progress', (el) => (el as HTMLProgressElement).value)).toBe(100);
      expect(await page.$('#job-live form[action$="/cancel"]')).toBeNull(); // no cancel once it has ended
      // it was followed live: the page showed the job before it had ended
      expect([...seen].some((l) => !l.includes('completed')), [...seen].join(' | ')).toBe(true);
      await shot(page, '4-job');

      expect(await getNamespace(c.namespace)).toBeNull();
      expect(await row(c.customerId)).toMatchObject({ deployment_status: 'pending', instance_namespace: '' });

      // the jobs list, failed filter, and the cleanup-rbac report
      await page.goto(`${url}/console/jobs`);
      expect(await text(page)).toContain(c.customerId);
      await shot(page, '5-jobs');
      await page.goto(`${url}/console/rbac`);
      expect(await text(page)).toMatch(/\d+ orphans? to delete/);
      await shot(page, '6-rbac');
      for (const p of ['/console/jobs', '/console/rbac']) {
        await page.goto(`${url}${p}`);
        expect(await text(page, '.env-banner'), p).toContain('custctl-test');
      }
      // a phone (375 px): one column; nothing scrolls sideways, the plan's tables and the job's log included
      await page.setViewport({ width: 375, height: 812, isMobile: true, hasTouch: true });
      const other = await provisionCustomer(randomKey('ph'), { pvcs: 1 });
      const jobPath = new URL(jobUrl).pathname;
      for (const p of [`/console/customers/${other.customerId}`, jobPath, '/console/jobs', '/console/rbac', '/']) {
        await page.goto(`${url}${p}`);
        const w = await page.evaluate(() => ({ doc: document.documentElement.scrollWidth, view: window.innerWidth }));
        expect(w.view, p).toBe(375); // a wider page makes the phone's layout viewport wider than the screen
        expect(w.doc, p).toBeLessThanOrEqual(375);
        if (p === jobPath) await shot(page, '7-job-phone');
      }
      await page.goto(`${url}/console/customers/${other.customerId}`);
      await shot(page, '7-customer-phone');
      await page.click('button[data-dialog="delete-dialog"]');
      await page.waitForSelector('#delete-dialog[open]');
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
      await shot(page, '7-delete-dialog-phone', false);
    } finally {
      await context.close();
    }
  });

  it('viewer: no delete button; a forged POST (with its own CSRF token) is refused; a POST without the CSRF token is refused (each answered with a redirect to a page that says so)', async () => {
    const c = await provisionCustomer(randomKey('uv'));
    const viewer = await signedIn(VIEWER);
    const admin = await signedIn(ADMIN);
    try {
      await viewer.page.goto(`${url}/console/customers/${c.customerId}`);
      expect(await text(viewer.page, 'section.plan')).toContain(`delete customer-${c.key} with`);
      expect(await viewer.page.$('button[data-dialog="delete-dialog"]')).toBeNull();
      expect(await viewer.page.$('#delete-dialog')).toBeNull();
      await shot(viewer.page, '8-customer-viewer');

      const forge = (page: Page, withCsrf: boolean) => page.evaluate(async (id: string, withToken: boolean) => {
        const csrf = (document.querySelector('input[name="_csrf"]') as HTMLInputElement).value;
        const body = new URLSearchParams({ confirm: id, ...(withToken ? { _csrf: csrf } : {}) });
        const res = await fetch(`/console/customers/${id}/delete`, { method: 'POST', body });
        return { redirected: res.redirected, url: res.url, status: res.status, text: await res.text() };
      }, c.customerId, withCsrf);

      const byViewer = await forge(viewer.page, true);
      expect(byViewer).toMatchObject({ redirected: true, url: `${url}/console/customers/${c.customerId}`, status: 200 });
      expect(byViewer.text).toContain('needs an admin token');

      await admin.page.goto(`${url}/console/customers/${c.customerId}`);
      const noCsrf = await forge(admin.page, false);
      expect(noCsrf).toMatchObject({ redirected: true, status: 200 });
      expect(noCsrf.text).toContain('CSRF token');

      expect(await row(c.customerId)).toMatchObject({ deployment_status: 'deployed', deletion_job_id: null });
      expect(await jobsOf(c.customerId)).toEqual([]);
      expect(await getNamespace(c.namespace)).not.toBeNull();

      // the page's Content-Security-Policy, and sign-out ends the session on the server
      const res = await admin.page.goto(`${url}/console/jobs`);
      expect(res?.headers()['content-security-policy']).toContain("script-src 'self'");
      await Promise.all([admin.page.waitForNavigation(), admin.page.click('form.signout button')]);
      expect(new URL(admin.page.url()).pathname).toBe('/console/login');
      await admin.page.goto(`${url}/`);
      expect(new URL(admin.page.url()).pathname).toBe('/console/login');
    } finally {
      await viewer.context.close();
      await admin.context.close();
    }
  });
});
