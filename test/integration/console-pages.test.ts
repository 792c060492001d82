/// <reference lib="dom" />
/**
 * The console's pages in Chromium against `custctl serve` (simulated: no cluster, the real
 * PostgreSQL): the environment banner on every page, the jobs page (pages of 50, a customer
 * filter, a duration column), and one column at phone width (375 px: nothing scrolls sideways).
 * The real-cluster pages (plans with tables, the delete dialog) are in console.test.ts.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/server/auth.js';
import { launchChromium } from '../env/chromium.js';
import { tempStateDir } from '../support/cli.js';
import { db, ensureCustomersTable, randomKey, waitFor } from '../support/fixtures.js';
import { startServe, type RunningServe } from '../support/serve.js';

const ADMIN = `adm-${randomKey('g')}-pages-0123456789`;
const VIEWER = `view-${randomKey('g')}-pages-0123456789`;
const prefix = randomKey('pg').slice(0, 8);
const customers = Array.from({ length: 55 }, (_, i) => `cust_${prefix}${String(i).padStart(2, '0')}`);
let serve: RunningServe;
let browser: Browser;

async function signedIn(token: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  await page.goto(`${serve.url}/console/login`);
  await page.type('#token', token);
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  expect(new URL(page.url()).pathname).toBe('/');
  return { context, page };
}

const text = (page: Page, selector = 'body') => page.$eval(selector, (el) => (el as HTMLElement).innerText);

beforeAll(async () => {
  await ensureCustomersTable();
  for (const id of customers) {
    await db().query(`insert into customers (customer_id, email, company_name, deployment_status, instance_namespace, instance_url) values ($1, $2, $3, 'deployed', $4, '')`,
      [id, `${id}@example.test`, `Pages Test ${id} with a rather long company name that must wrap on a phone`, `customer-${id.slice(5)}`]);
  }
  const stateDir = tempStateDir();
  const tokens = path.join(stateDir, 'tokens');
  writeFileSync(tokens, `ci-bot:admin:${sha256Hex(ADMIN)}\ngrafana:viewer:${sha256Hex(VIEWER)}\n`, { mode: 0o600 });
  serve = await startServe({ stateDir, env: { CUSTCTL_API_TOKENS_FILE: tokens, SIMULATE_K8S_DEPLOYMENT: 'true' } });
  // one (simulated) deletion per customer: 55 jobs
  for (const id of customers) {
    const r = await fetch(`${serve.url}/api/customers/${id}?after=0`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(r.status, await r.text()).toBe(200);
  }
  await waitFor(async () => {
    const r = await fetch(`${serve.url}/api/admin/jobs?state=completed`, { headers: { authorization: `Bearer ${VIEWER}` } });
    const done = ((await r.json()) as Array<{ data: { customerId?: string } }>).filter((j) => j.data.customerId?.startsWith(`cust_${prefix}`));
    return done.length === customers.length;
  }, 'the 55 simulated deletions to complete', 180_000, 500);
  browser = await launchChromium();
}, 420_000);

afterAll(async () => {
  await browser?.close();
  await serve?.stop();
});

describe('console pages (Chromium, serve)', () => {
  it('every page of an admin and of a viewer starts with the environment banner: simulated or not, the database', async () => {
    for (const token of [ADMIN, VIEWER]) {
      const { context, page } = await signedIn(token);
      try {
        for (const p of ['/', `/console/customers/${customers[0]}`, '/console/jobs', '/console/jobs?state=completed', '/console/customers/cust_nosuchone', ...(token === ADMIN ? ['/console/rbac'] : [])]) {
          await page.goto(`${serve.url}${p}`);
          const banner = await text(page, '.env-banner');
          expect(banner, p).toMatch(/Cluster\s+simulated/);
          expect(banner, p).toMatch(/Database\s+postgres:\/\/\S+@127\.0\.0\.1:\d+\//);
        }
      } finally {
        await context.close();
      }
    }
  }, 240_000);

  it('jobs: pages of 50, a customer filter, and how long each ran', async () => {
    const { context, page } = await signedIn(VIEWER);
    try {
      await page.goto(`${serve.url}/console/jobs`);
      expect(await text(page, 'main')).toMatch(/\d+ jobs, latest first; 50 a page\./);
      expect(await page.$$eval('main table tbody tr', (rows) => rows.length)).toBe(50);
      expect(await text(page, 'nav.pager')).toMatch(/Page 1 of \d+/);
      expect(await page.$$eval('thead th', (ths) => ths.map((t) => (t as HTMLElement).innerText))).toContain('Duration');
      // a finished job's duration: from its first attempt's start to its end
      const durations = await page.$$eval('td.duration', (tds) => tds.map((t) => (t as HTMLElement).innerText));
      expect(durations.every((d) => /^\d+(ms|s|m\d*s?)$/.test(d)), durations.join(',')).toBe(true);
      await Promise.all([page.waitForNavigation(), page.click('a[rel="next"]')]);
      expect(new URL(page.url()).searchParams.get('page')).toBe('2');
      // the customer filter
      const one = customers[7] as string;
      await page.goto(`${serve.url}/console/jobs`);
      await page.type('#customer', one);
      await Promise.all([page.waitForNavigation(), page.click('form.filters button[type="submit"]')]);
      expect(new URL(page.url()).searchParams.get('customer')).toBe(one);
      expect(await page.$$eval('main table tbody tr', (rows) => rows.length)).toBe(1);
      expect(await text(page, 'main')).toContain(`1 job of ${one}`);
      // a customer ID that is not one: said so, not a crash
      const bad = await page.goto(`${serve.url}/console/jobs?customer=CUST_X`);
      expect(bad?.status()).toBe(400);
      const message = await text(page, 'main');
      expect(message).toContain('"CUST_X" is not a customer ID'); // quoted once
      expect(message).not.toMatch(/""|''/);
    } finally {
      await context.close();
    }
  }, 240_000);

  it('a phone (375 px wide): one column, nothing scrolls sideways, on every page', async () => {
    const { context, page } = await signedIn(ADMIN);
    try {
      await page.setViewport({ width: 375, height: 812, isMobile: true, hasTouch: true });
      const job = await page.evaluate(async () => {
        const r = await fetch('/console/jobs');
        return /href="\/console\/jobs\/(\d+)"/.exec(await r.text())?.[1] ?? '';
      });
      for (const p of ['/', `/console/customers/${customers[3]}`, '/console/jobs', `/console/jobs/${job}`, '/console/rbac', '/console/jobs?customer=cust_nosuch1']) {
        await page.goto(`${serve.url}${p}`);
        const width = await page.evaluate(() => ({ doc: document.documentElement.scrollWidth, body: document.body.scrollWidth, view: window.innerWidth }));
        expect(width.view, p).toBe(375);
        expect(width.doc, `${p}: the page is ${width.doc}px wide`).toBeLessThanOrEqual(375);
        expect(width.body, p).toBeLessThanOrEqual(375);
      }
      // table rows are cards: each cell under its column's name
      await page.goto(`${serve.url}/console/jobs`);
      const cell = await page.$eval('td[data-label="State"]', (el) => getComputedStyle(el, '::before').content);
      expect(cell).toBe('"State: "');
    } finally {
      await context.close();
    }
    // the sign-in page (no session)
    const anon = await browser.createBrowserContext();
    try {
      const page = await anon.newPage();
      await page.setViewport({ width: 375, height: 812, isMobile: true, hasTouch: true });
      await page.goto(`${serve.url}/console/login`);
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    } finally {
      await anon.close();
    }
  }, 240_000);
});
