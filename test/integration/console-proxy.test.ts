/// <reference lib="dom" />
/**
 * The console behind a TLS-terminating reverse proxy, as it is deployed (nginx, an ingress): a
 * real HTTPS proxy on 127.0.0.1 (node:https with the test CA's certificate, test/env/certs.ts) in
 * front of `custctl serve` (the built binary, plain HTTP on loopback), and Debian's Chromium
 * signing in through it.
 */
import { mkdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import type { Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/server/auth.js';
import { generateCerts, type Certs } from '../env/certs.js';
import { launchChromium } from '../env/chromium.js';
import { freePort } from '../env/ports.js';
import { tempStateDir } from '../support/cli.js';
import { randomKey } from '../support/fixtures.js';
import { startServe, type RunningServe } from '../support/serve.js';

const ADMIN = `adm-${randomKey('p')}-proxy-0123456789`;

let certs: Certs;
let browser: Browser;
const stops: Array<() => Promise<unknown>> = [];

/**
 * A TLS-terminating proxy: HTTPS on `port`, forwarding to `upstream` over plain HTTP with the
 * upstream's own Host (as nginx's default `proxy_set_header Host $proxy_host`). `forwarded`: it
 * also says what the browser asked for (X-Forwarded-Proto, -Host, -For), as proxies are told to.
 */
async function startTlsProxy(port: number, upstream: string, forwarded: boolean): Promise<void> {
  const up = new URL(upstream);
  const server = https.createServer({ cert: await readFile(certs.serving.cert), key: await readFile(certs.serving.key) }, (req, res) => {
    const headers: http.OutgoingHttpHeaders = { ...req.headers, host: up.host };
    if (forwarded) {
      headers['x-forwarded-proto'] = 'https';
      headers['x-forwarded-host'] = req.headers.host ?? '';
      headers['x-forwarded-for'] = req.socket.remoteAddress ?? '';
    }
    const out = http.request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    out.on('error', () => {
      res.writeHead(502);
      res.end('bad gateway');
    });
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  stops.push(() => new Promise((resolve) => {
    server.closeAllConnections();
    server.close(resolve);
  }));
}

/** serve with these flags, its tokens file holding the admin token. */
async function serveWith(args: readonly string[]): Promise<RunningServe> {
  const stateDir = tempStateDir();
  const tokens = path.join(stateDir, 'tokens');
  await writeFile(tokens, `ci-bot:admin:${sha256Hex(ADMIN)}\n`, { mode: 0o600 });
  const s = await startServe({ stateDir, args, env: { CUSTCTL_API_TOKENS_FILE: tokens } });
  stops.push(() => s.stop());
  return s;
}

/** Chromium opens the proxy's address and signs in with the admin token: where it lands, and its cookies. */
async function signInThrough(publicUrl: string) {
  const context = await browser.createBrowserContext();
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(60_000);
    await page.goto(`${publicUrl}/console/jobs`);
    expect(new URL(page.url()).pathname).toBe('/console/login');
    await page.type('#token', ADMIN);
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    const landed = new URL(page.url());
    const main = await page.$eval('main', (el) => (el as HTMLElement).innerText);
    const cookies = await page.cookies(publicUrl);
    let afterSignOut: string | null = null;
    if (landed.pathname === '/console/jobs') {
      await Promise.all([page.waitForNavigation(), page.click('form.signout button')]);
      afterSignOut = new URL(page.url()).pathname;
    }
    return { landed, main, cookies, afterSignOut };
  } finally {
    await context.close();
  }
}

beforeAll(async () => {
  const dir = tempStateDir();
  mkdirSync(dir, { recursive: true });
  certs = await generateCerts(path.join(dir, 'certs'));
  browser = await launchChromium({ acceptInsecureCerts: true });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
});

describe('the console behind a TLS-terminating proxy (Chromium through a real HTTPS proxy)', () => {
  it('serve --public-url https://…: the sign-in is checked against the public origin; the cookie is Secure and __Host- named', async () => {
    const proxyPort = await freePort();
    const publicUrl = `https://127.0.0.1:${proxyPort}`;
    const s = await serveWith(['--public-url', publicUrl]);
    await startTlsProxy(proxyPort, s.url, false);
    const r = await signInThrough(publicUrl);
    expect(r.landed.pathname, r.main).toBe('/console/jobs');
    expect(r.landed.origin).toBe(publicUrl);
    expect(r.cookies).toEqual([expect.objectContaining({ name: '__Host-custctl_session', secure: true, httpOnly: true, sameSite: 'Strict', path: '/' })]);
    expect(r.afterSignOut).toBe('/console/login');
  }, 240_000);

  it('serve --trust-proxy loopback: X-Forwarded-Proto/-Host of the proxy name the origin; the cookie is Secure and __Host- named', async () => {
    const proxyPort = await freePort();
    const publicUrl = `https://127.0.0.1:${proxyPort}`;
    const s = await serveWith(['--trust-proxy', 'loopback']);
    await startTlsProxy(proxyPort, s.url, true);
    const r = await signInThrough(publicUrl);
    expect(r.landed.pathname, r.main).toBe('/console/jobs');
    expect(r.cookies).toEqual([expect.objectContaining({ name: '__Host-custctl_session', secure: true, httpOnly: true, sameSite: 'Strict' })]);
    expect(r.afterSignOut).toBe('/console/login');
  }, 240_000);

  it('without either, the sign-in through the proxy is refused, and the page says what to pass (no session, no cookie)', async () => {
    const proxyPort = await freePort();
    const publicUrl = `https://127.0.0.1:${proxyPort}`;
    const s = await serveWith([]);
    await startTlsProxy(proxyPort, s.url, true);
    const r = await signInThrough(publicUrl);
    expect(r.landed.pathname).toBe('/console/login');
    expect(r.landed.searchParams.get('error')).toBe('origin');
    expect(r.main).toContain('--public-url');
    expect(r.cookies).toEqual([]);
    expect(s.log()).toMatch(new RegExp(`authentication failed from 127\\.0\\.0\\.1: console sign-in refused: it did not come from this console \\(Origin ${publicUrl.replace(/\./g, '\\.')}, expected http://127\\.0\\.0\\.1:\\d+; behind a proxy: serve --public-url`));
  }, 240_000);

  it('X-Forwarded-* from a peer that is not a trusted proxy are ignored: neither the origin nor the client address can be claimed', async () => {
    const s = await serveWith(['--trust-proxy', '192.0.2.1']);
    // a sign-in that claims, in forwarded headers, to come through https://evil.example
    const res = await fetch(`${s.url}/console/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' },
      body: new URLSearchParams({ token: ADMIN }).toString(),
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/console/login?error=origin');
    expect(res.headers.get('set-cookie')).toBeNull();
    // a new X-Forwarded-For for every wrong token does not make a new client: the peer's budget
    // (20 a minute, the refused sign-in above being the first) runs out
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) {
      const r = await fetch(`${s.url}/api/admin/jobs`, { headers: { authorization: 'Bearer wrong-token-0123456789abcdef', 'x-forwarded-for': `198.51.100.${i}` } });
      statuses.push(r.status);
    }
    expect(statuses.slice(0, 19).every((x) => x === 401), statuses.join(',')).toBe(true);
    expect(statuses.slice(19).every((x) => x === 429), statuses.join(',')).toBe(true);
    expect(s.log()).toContain('authentication failed from 127.0.0.1');
    expect(s.log()).not.toContain('198.51.100.');
  }, 240_000);
});
