/**
 * The customer events on the signed webhooks, from the real `custctl serve` (the built binary, the
 * real control plane and PostgreSQL) to a real HTTP receiver on loopback that checks every
 * signature: a deletion the customer schedules in the portal (`customer.deletion-scheduled` with
 * the due date and a working cancel link), its reminder CUSTCTL_REMINDER_BEFORE ahead (once, also
 * across a restart of serve), its cancel (`customer.deletion-cancelled`, the instance restored),
 * a deletion that runs (`customer.deletion-completed`), and the erasure after it (`customer.erased`
 * with its signed certificate). No event holds personal data.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePortalSecrets, verifyPortalToken } from '../../src/domain/portal-link.js';
import { verifySignature } from '../../src/domain/webhook.js';
import { sha256Hex } from '../../src/server/auth.js';
import { custctl, tempStateDir } from '../support/cli.js';
import { provisionCustomer, randomKey, waitFor } from '../support/fixtures.js';
import { startServe, type RunningServe } from '../support/serve.js';

const SECRET = 'customer-events-webhook-secret-0123456789';
const PORTAL_SECRET = 'customer-events-portal-secret-Vq3c8m1ZpR7yT2kL9';
const ADMIN = `adm-${randomKey('a')}-events-0123456789`;

interface Received { headers: IncomingHttpHeaders; body: string; verified: boolean; json: Record<string, unknown> }
const got: Received[] = [];
let receiver: Server;
let receiverUrl = '';
const stateDir = tempStateDir();
let serve: RunningServe;
let env: NodeJS.ProcessEnv;

const events = (name: string, customerId: string) => got.filter((r) => r.json.event === name && r.json.customerId === customerId);

async function startServeHere(): Promise<RunningServe> {
  return startServe({ stateDir, env });
}

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const verified = verifySignature(SECRET, body, req.headers['x-custctl-signature-256'] as string | undefined);
      got.push({ headers: req.headers, body, verified, json: JSON.parse(body) as Record<string, unknown> });
      res.writeHead(verified ? 204 : 401).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', () => resolve()));
  const addr = receiver.address();
  receiverUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/hooks`;
  const tokens = path.join(stateDir, 'tokens');
  writeFileSync(tokens, `ops:admin:${sha256Hex(ADMIN)}\n`, { mode: 0o600 });
  // the site's signing key: deletions and erasures end with a signed certificate
  const keyFile = path.join(stateDir, 'signing.key');
  const k = await custctl(['certificate', 'keygen', '--out', keyFile], { env: { CUSTCTL_STATE_DIR: stateDir } });
  expect(k.exitCode, k.stderr).toBe(0);
  env = {
    CUSTCTL_SIGNING_KEY_FILE: keyFile,
    CUSTCTL_API_TOKENS_FILE: tokens, CUSTCTL_WEBHOOK_URL: receiverUrl, CUSTCTL_WEBHOOK_SECRET: SECRET, CUSTCTL_WEBHOOK_EVENTS: 'completed,customer',
    CUSTCTL_PORTAL_SECRET: PORTAL_SECRET, CUSTCTL_PORTAL_URL: 'http://localhost:9',
    // a deletion due in 1h gets its reminder 1 s after it was scheduled; the scan runs every 300 ms
    CUSTCTL_OWNER_MIN_RETENTION: '1h', CUSTCTL_REMINDER_BEFORE: '3599s', CUSTCTL_REMINDER_SCAN: '300ms',
  };
  serve = await startServeHere();
}, 180_000);

afterAll(async () => {
  await serve?.stop();
  receiver?.closeAllConnections();
  await new Promise<void>((resolve) => receiver?.close(() => resolve()));
});

/** Signs in to the portal with a link the API mints, and returns the session's cookie and CSRF token. */
async function portalSession(customerId: string): Promise<{ cookie: string; csrf: string }> {
  const minted = await fetch(`${serve.url}/api/customers/${customerId}/portal-link?ttl=10m`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
  expect(minted.status).toBe(200);
  const token = new URL(((await minted.json()) as { url: string }).url).searchParams.get('token') as string;
  const signIn = await fetch(`${serve.url}/portal/sign-in`, {
    method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: serve.url }, body: new URLSearchParams({ link: token }).toString(),
  });
  expect(signIn.status).toBe(303);
  const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const page = await (await fetch(`${serve.url}/portal`, { headers: { cookie } })).text();
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page)?.[1] ?? '';
  expect(csrf).not.toBe('');
  return { cookie, csrf };
}

async function portalPost(s: { cookie: string; csrf: string }, p: string, form: Record<string, string> = {}): Promise<void> {
  const r = await fetch(`${serve.url}${p}`, {
    method: 'POST', redirect: 'manual', headers: { cookie: s.cookie, origin: serve.url, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ ...form, _csrf: s.csrf }).toString(),
  });
  expect(r.status).toBe(303);
}

describe('customer events (serve, real receiver)', () => {
  it('scheduled in the portal, reminded once (also across a restart), cancelled with the instance restored', async () => {
    const c = await provisionCustomer(randomKey('ce'));
    const s = await portalSession(c.customerId);
    await portalPost(s, '/portal/delete', { after: '1h', confirm: c.customerId });

    await waitFor(async () => events('customer.deletion-scheduled', c.customerId).length === 1, 'customer.deletion-scheduled', 60_000, 200);
    const scheduled = events('customer.deletion-scheduled', c.customerId)[0] as Received;
    expect(scheduled.verified).toBe(true);
    expect(scheduled.headers['x-custctl-event']).toBe('customer.deletion-scheduled');
    expect(scheduled.headers['x-custctl-delivery']).toBe(scheduled.json.deliveryId);
    const e = scheduled.json as { jobId: string; dueAt: string; retentionMs: number; requestedBy: string; cancelLink: { url: string; expiresAt: string }; exportTaken: boolean };
    expect(e.requestedBy).toBe('customer');
    expect(Math.abs(Date.parse(e.dueAt) - (Date.now() + 3_600_000))).toBeLessThan(5 * 60_000);
    expect(e.retentionMs).toBeGreaterThan(3_590_000);
    expect(e.exportTaken).toBe(false);
    // the cancel link opens the portal's cancel page for this customer, until the deletion is due
    expect(e.cancelLink.url.startsWith('http://localhost:9/portal/sign-in?token=')).toBe(true);
    const check = verifyPortalToken(new URL(e.cancelLink.url).searchParams.get('token') as string, parsePortalSecrets(PORTAL_SECRET, 'test'), Date.now());
    expect(check).toMatchObject({ ok: true, claims: { customerId: c.customerId, page: 'cancel' } });
    expect(Math.abs(Date.parse(e.cancelLink.expiresAt) - Date.parse(e.dueAt))).toBeLessThan(60_000);
    // no personal data: the row's e-mail and company are nowhere in it
    expect(scheduled.body).not.toContain(`${c.key}@example.test`);
    expect(scheduled.body).not.toContain(`Test company ${c.key}`);

    // the reminder: once
    await waitFor(async () => events('customer.deletion-reminder', c.customerId).length >= 1, 'customer.deletion-reminder', 60_000, 200);
    const reminder = events('customer.deletion-reminder', c.customerId)[0] as Received;
    expect(reminder.verified).toBe(true);
    expect(reminder.json).toMatchObject({ jobId: e.jobId, dueAt: e.dueAt, cancelLink: { url: expect.stringMatching(/^http:\/\/localhost:9\/portal\/sign-in\?token=/) } });
    await new Promise((r) => setTimeout(r, 2_000)); // several scans
    expect(events('customer.deletion-reminder', c.customerId)).toHaveLength(1);
    // serve restarted: its scan finds the same deletion, and the journal already holds its reminder
    await serve.stop();
    serve = await startServeHere();
    await waitFor(async () => serve.log().includes('listening on'), 'serve again', 60_000);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(events('customer.deletion-reminder', c.customerId)).toHaveLength(1);

    // the customer cancels in the portal (a new session: the old one ended with the old serve)
    const s2 = await portalSession(c.customerId);
    await portalPost(s2, '/portal/cancel');
    await waitFor(async () => events('customer.deletion-cancelled', c.customerId).length === 1, 'customer.deletion-cancelled', 60_000, 200);
    const cancelled = events('customer.deletion-cancelled', c.customerId)[0] as Received;
    expect(cancelled.verified).toBe(true);
    expect(cancelled.json).toMatchObject({ jobId: e.jobId, cancelledBy: 'customer', instanceRestored: true });
    expect(got.every((r) => r.verified)).toBe(true);
  }, 240_000);

  it('a deletion that runs now: customer.deletion-completed, and no scheduled event or reminder', async () => {
    const c = await provisionCustomer(randomKey('cd'));
    const r = await fetch(`${serve.url}/api/customers/${c.customerId}?after=0`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(r.status, await r.text()).toBe(200);
    await waitFor(async () => events('customer.deletion-completed', c.customerId).length === 1, 'customer.deletion-completed', 180_000, 300);
    const done = events('customer.deletion-completed', c.customerId)[0] as Received;
    expect(done.verified).toBe(true);
    const j = done.json as { jobId: string; completedAt: string; certificate: unknown; certificateUrl: string | null };
    expect(Date.parse(j.completedAt)).toBeGreaterThan(Date.now() - 300_000);
    // with a certificate issued by the job, it is attached and the portal offers it; without, both are null
    if (j.certificate === null) expect(j.certificateUrl).toBeNull();
    else expect(j.certificateUrl).toBe(`http://localhost:9/portal/jobs/${j.jobId}/certificate`);
    expect(events('customer.deletion-scheduled', c.customerId)).toHaveLength(0);
    expect(events('customer.deletion-reminder', c.customerId)).toHaveLength(0);
    // the job's own end still goes to the same endpoint (`completed` in its events), and the customer's words beside it
    await waitFor(async () => got.some((g) => g.json.event === 'job.completed' && g.body.includes(c.customerId)), 'job.completed', 60_000, 200);
    expect(got.filter((g) => g.json.event === 'job.completed' && g.body.includes(c.customerId))).toHaveLength(1);
    expect(done.body).not.toContain(`${c.key}@example.test`);
  }, 240_000);

  it('an erasure after the deletion: customer.erased with its signed erasure certificate, and no personal data', async () => {
    const c = await provisionCustomer(randomKey('ce'));
    const r = await fetch(`${serve.url}/api/customers/${c.customerId}?after=0`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(r.status, await r.text()).toBe(200);
    await waitFor(async () => events('customer.deletion-completed', c.customerId).length === 1, 'customer.deletion-completed', 180_000, 300);
    const erase = await fetch(`${serve.url}/api/admin/customers/${c.customerId}/erase`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
    const report = (await erase.json()) as { outcome: string; certificate: { certificate: { subject: string } } | null };
    expect(erase.status, JSON.stringify(report)).toBe(200);
    expect(report.outcome).toBe('erased');
    await waitFor(async () => events('customer.erased', c.customerId).length === 1, 'customer.erased', 60_000, 200);
    const e = events('customer.erased', c.customerId)[0] as Received;
    expect(e.verified).toBe(true);
    const j = e.json as { erasedAt: string; certificate: { certificate: { subject: string; customerId: string } } };
    expect(j.certificate.certificate).toMatchObject({ subject: 'erasure', customerId: c.customerId });
    expect(Date.parse(j.erasedAt)).toBeGreaterThan(Date.now() - 300_000);
    expect(e.body).not.toContain(`${c.key}@example.test`);
  }, 240_000);
});
