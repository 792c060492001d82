/**
 * Sessions and failed authentications through the real `custctl serve` (the built binary on
 * loopback): one token's sign-ins end only its own oldest sessions; wrong tokens from one client
 * address are answered 429 after a budget and logged once per burst, while another address is
 * served; a `next=` the Location header cannot carry falls back to `/` with the session cookie set.
 */
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/server/auth.js';
import { tempStateDir } from '../support/cli.js';
import { randomKey, waitFor } from '../support/fixtures.js';
import { startServe, type RunningServe } from '../support/serve.js';

const ADMIN = `adm-${randomKey('s')}-sessions-0123456789`;
const VIEWER = `view-${randomKey('s')}-sessions-0123456789`;
let serve: RunningServe;

/** One request from a chosen loopback address (127.0.0.2 is another client than 127.0.0.1). */
function call(o: { method?: string; path: string; headers?: Record<string, string>; body?: string; from?: string }): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: serve.port, method: o.method ?? 'GET', path: o.path, headers: o.headers, localAddress: o.from ?? '127.0.0.1', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

/** A console sign-in as a browser form post sends it; the session cookie (name=value) or null. */
async function signIn(token: string, next = '/', from = '127.0.0.1') {
  const r = await call({
    method: 'POST', path: '/console/login', from,
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: serve.url, 'sec-fetch-site': 'same-origin' },
    body: new URLSearchParams({ token, next }).toString(),
  });
  const set = r.headers['set-cookie']?.[0];
  return { ...r, cookie: set ? (set.split(';')[0] as string) : null };
}

const signedIn = async (cookie: string | null) => cookie !== null && (await call({ path: '/console/jobs', headers: { cookie } })).status === 200;

beforeAll(async () => {
  const stateDir = tempStateDir();
  const tokens = path.join(stateDir, 'tokens');
  writeFileSync(tokens, `ci-bot:admin:${sha256Hex(ADMIN)}\ngrafana:viewer:${sha256Hex(VIEWER)}\n`, { mode: 0o600 });
  serve = await startServe({ stateDir, env: { CUSTCTL_API_TOKENS_FILE: tokens } });
}, 180_000);

afterAll(async () => {
  await serve?.stop();
});

describe('console sessions and failed authentications (serve)', () => {
  it('sessions are capped per token: the 21st sign-in of one token ends its own oldest session, never another token\'s', async () => {
    const viewer = await signIn(VIEWER);
    expect(viewer.status).toBe(303);
    const admin: Array<string | null> = [];
    for (let i = 0; i < 21; i++) admin.push((await signIn(ADMIN)).cookie);
    expect(await signedIn(admin[0] ?? null)).toBe(false); // its oldest: ended
    for (const c of admin.slice(1)) expect(await signedIn(c)).toBe(true); // the 20 newest live on
    expect(await signedIn(viewer.cookie)).toBe(true); // another token's session is untouched
  }, 120_000);

  it('wrong tokens from one address: 401 up to the budget, then 429 with Retry-After; one log line for the burst; another address is served', async () => {
    const before = serve.log().split('\n').length;
    const statuses: number[] = [];
    let retryAfter: string | undefined;
    for (let i = 0; i < 60; i++) {
      const r = await call({ path: '/api/admin/jobs', headers: { authorization: 'Bearer not-a-token-0123456789abcdef' } });
      statuses.push(r.status);
      if (r.status === 429) retryAfter = String(r.headers['retry-after']);
    }
    // the console's sign-in shares the budget: refused without looking at the token
    const blockedSignIn = await signIn(ADMIN);
    expect(blockedSignIn.headers.location).toBe('/console/login?error=wait');
    expect(blockedSignIn.cookie).toBeNull();
    expect(statuses.filter((s) => s === 401)).toHaveLength(20);
    expect(statuses.slice(20).every((s) => s === 429), statuses.join(',')).toBe(true);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    // a valid token from another address is served meanwhile
    const other = await call({ path: '/api/admin/jobs', headers: { authorization: `Bearer ${VIEWER}` }, from: '127.0.0.2' });
    expect(other.status).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    const lines = serve.log().split('\n').slice(before - 1).filter((l) => l.includes('127.0.0.1') || /status=(401|429)/.test(l));
    expect(lines.filter((l) => l.includes('authentication failed from 127.0.0.1'))).toHaveLength(1);
    expect(lines.filter((l) => /status=(401|429)/.test(l)), lines.join('\n')).toEqual([]);
  }, 120_000);

  it.each([
    ['a snowman (not Latin-1)', '/\u2603'],
    ['CJK', '/console/jobs?q=\u65e5\u672c'],
    ['Latin-1 but not ASCII', '/caf\u00e9'],
    ['a control character', '/console/jobs\u0007'],
    ['a backslash', '/\\\\evil.example'],
  ])('next= with %s falls back to / with the session cookie set (no 500, no session without a cookie)', async (_what, next) => {
    const r = await signIn(VIEWER, next, '127.0.0.3');
    expect(r.status, r.body).toBe(303);
    expect(r.headers.location).toBe('/');
    expect(await signedIn(r.cookie)).toBe(true);
    const page = await call({ path: `/console/login?next=${encodeURIComponent(next)}`, from: '127.0.0.3' });
    expect(page.status).toBe(200);
    expect(page.body).toContain('name="next" value="/"');
  }, 60_000);

  it('the burst is summed up in one line once it is over', async () => {
    // the previous test's burst from 127.0.0.1 ends a minute after its last failure; the server says
    // how many it counted then (the limiter's timer), without a line per request
    await waitFor(async () => /more failed authentications? from 127\.0\.0\.1/.test(serve.log()), 'the burst summary', 150_000, 1_000);
    const summary = serve.log().split('\n').find((l) => l.includes('more failed authentication'));
    expect(summary).toMatch(/\d+ more failed authentications from 127\.0\.0\.1 in \d+ s .*answered429=\d+/);
  }, 180_000);
});
