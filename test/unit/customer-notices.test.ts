/**
 * The customer events as the jobs' stream and the reminder scan make them (src/jobs/customer-notices.ts),
 * over the real webhook loop and the real file delivery journal with a recording POST: which job
 * events become which customer events, the portal link they carry, the certificate of a completed
 * deletion or erasure, and a reminder that is journaled once — by one scan, by repeated scans, and
 * by a new process on the same journal. Also the portal's owner rules (src/server/portal/rules.ts).
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { JobQueue } from '../../src/adapters/queue.js';
import { loadWebhookConfig } from '../../src/adapters/webhook-config.js';
import type { WebhookRequest } from '../../src/adapters/webhook-http.js';
import { openFileDeliveryJournal } from '../../src/adapters/webhook-journal.js';
import { signCertificate } from '../../src/domain/certificate.js';
import { parsePortalSecrets, verifyPortalToken } from '../../src/domain/portal-link.js';
import { ownerTokenNames, type TokenEntry } from '../../src/domain/tokens-file.js';
import { DEFAULT_WEBHOOK_POLICY, makeEndpoint, verifySignature } from '../../src/domain/webhook.js';
import type { Job } from '../../src/domain/job.js';
import { UsageError } from '../../src/errors.js';
import type { Logger } from '../../src/io.js';
import { CustomerNotices, reminderSettings, requesterOf } from '../../src/jobs/customer-notices.js';
import { Webhooks } from '../../src/jobs/webhooks.js';
import { certificateFor, erasureCertificateFor } from '../../src/pipeline/certificate.js';
import type { DeleteResult } from '../../src/pipeline/types.js';
import { ownerDefaultRetention, ownerRetention } from '../../src/server/portal/rules.js';
import { FakeStore, runningDeleteJob } from '../support/fakes.js';

const SECRET = 'a-webhook-secret-of-some-length';
const PORTAL = parsePortalSecrets('p'.repeat(40), 'test');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.parse('2026-12-01T12:00:00Z');
const quiet = { info() {}, ok() {}, warn() {}, error() {}, debug() {} } as unknown as Logger;
const key = generateKeyPairSync('ed25519').privateKey;

async function harness(o: { dir?: string; jobs?: Job[]; beforeMs?: number; subscribed?: boolean } = {}) {
  const dir = o.dir ?? join(await mkdtemp(join(tmpdir(), 'custctl-notices-')), 'webhooks');
  let now = T0;
  const sent: WebhookRequest[] = [];
  const hooks = new Webhooks({
    config: { endpoints: [makeEndpoint({ name: 'crm', url: 'http://127.0.0.1:1/hook', secret: SECRET, customerEvents: o.subscribed ?? true })], policy: DEFAULT_WEBHOOK_POLICY, source: 'test', warnings: [] },
    journal: async () => openFileDeliveryJournal(dir),
    post: async (r) => {
      sent.push(r);
      return { ok: true, status: 204 };
    },
    log: quiet, now: () => now, owner: 'test@host', userAgent: 'custctl/test', pollMs: 10,
  });
  const store = new FakeStore();
  const queue = { list: async (f?: { state?: string; name?: string }) => (o.jobs ?? []).filter((j) => (!f?.state || j.state === f.state) && (!f?.name || j.name === f.name)) } as unknown as JobQueue;
  const notices = new CustomerNotices({ hooks, store, queue: async () => queue, now: () => now, log: quiet, reminderBeforeMs: o.beforeMs ?? 48 * HOUR, portal: { baseUrl: 'https://portal.example.com', secrets: PORTAL } });
  return { hooks, notices, sent, store, dir, journal: () => openFileDeliveryJournal(dir), setNow: (ms: number) => void (now = ms) };
}

const scheduledJob = (over: Partial<Job> = {}): Job => runningDeleteJob('cust_abc123', 'customer-abc123', {}, {
  id: '9', state: 'delayed', timestamp: T0, processedOn: null, attempts: [], requestedBy: 'api:portal:cust_abc123', data: { customerId: 'cust_abc123', namespace: 'customer-abc123', scheduledFor: T0 + 7 * DAY }, ...over,
});

const result = { customerId: 'cust_abc123', namespace: 'customer-abc123', jobId: '9', simulated: false, outcome: 'deleted', releases: [], namespaceOutcome: 'deleted',
  rbac: { deleted: [], alreadyGone: [], keptByPolicy: [], keptUnowned: [], failed: [] }, retainedVolumes: [], row: { status: 'pending' }, warnings: [], durationMs: 1 } as unknown as DeleteResult;

describe('customer events from the jobs stream', () => {
  it('a scheduled deletion: customer.deletion-scheduled, signed, with a cancel link valid until it is due (7 days at most)', async () => {
    const h = await harness();
    await h.notices.onJobEvent({ type: 'accepted', job: scheduledJob() });
    await h.notices.onJobEvent({ type: 'accepted', job: scheduledJob({ id: '10', data: { customerId: 'cust_abc123', namespace: 'customer-abc123' } }) }); // not scheduled: nothing
    const list = await (await h.journal()).forJob('9');
    expect(list.map((d) => d.event)).toEqual(['customer.deletion-scheduled']);
    expect(await (await h.journal()).forJob('10')).toEqual([]);
    const body = JSON.parse(list[0]?.body ?? '{}') as { dueAt: string; requestedBy: string; cancelLink: { url: string; expiresAt: string } };
    expect(body).toMatchObject({ event: 'customer.deletion-scheduled', customerId: 'cust_abc123', jobId: '9', dueAt: new Date(T0 + 7 * DAY).toISOString(), requestedBy: 'customer', exportTaken: false });
    const token = new URL(body.cancelLink.url).searchParams.get('token') as string;
    expect(verifyPortalToken(token, PORTAL, T0)).toMatchObject({ ok: true, claims: { customerId: 'cust_abc123', page: 'cancel', expiresAt: T0 + 7 * DAY } });
    h.hooks.start();
    await new Promise((r) => setTimeout(r, 100));
    await h.hooks.close(1_000);
    expect(h.sent).toHaveLength(1);
    expect(verifySignature(SECRET, h.sent[0]?.body ?? '', h.sent[0]?.headers['x-custctl-signature-256'])).toBe(true);
    expect(h.sent[0]?.headers['x-custctl-event']).toBe('customer.deletion-scheduled');
  });

  it('completed: with the certificate the result carries (and the portal\'s address of it), else none; nothing for simulated or superseded', async () => {
    const h = await harness();
    const cert = signCertificate(certificateFor(result, { seq: '5', hash: 'f'.repeat(64), action: 'deletion-completed', at: '2026-12-08T12:00:01.000Z' }, { issuer: 'Example', issuedAt: new Date(T0) }), key);
    await h.notices.onJobEvent({ type: 'completed', attempt: 1, job: scheduledJob({ state: 'completed', finishedOn: T0, returnvalue: { ...result, certificate: cert } }) });
    await h.notices.onJobEvent({ type: 'completed', attempt: 1, job: scheduledJob({ id: '11', state: 'completed', finishedOn: T0 + 1000, returnvalue: result }) });
    await h.notices.onJobEvent({ type: 'completed', attempt: 1, job: scheduledJob({ id: '12', state: 'completed', simulated: true, returnvalue: result }) });
    await h.notices.onJobEvent({ type: 'completed', attempt: 1, job: scheduledJob({ id: '13', state: 'completed', returnvalue: { ...result, outcome: 'superseded' } }) });
    const one = JSON.parse((await (await h.journal()).forJob('9'))[0]?.body ?? '{}') as Record<string, unknown>;
    expect(one).toMatchObject({ event: 'customer.deletion-completed', jobId: '9', completedAt: '2026-12-08T12:00:01.000Z', certificate: cert, certificateUrl: 'https://portal.example.com/portal/jobs/9/certificate' });
    const two = JSON.parse((await (await h.journal()).forJob('11'))[0]?.body ?? '{}') as Record<string, unknown>;
    expect(two).toMatchObject({ event: 'customer.deletion-completed', jobId: '11', completedAt: new Date(T0 + 1000).toISOString(), certificate: null, certificateUrl: null });
    expect(await (await h.journal()).forJob('12')).toEqual([]);
    expect(await (await h.journal()).forJob('13')).toEqual([]);
  });

  it('an erasure that completes with its certificate: customer.erased', async () => {
    const h = await harness();
    const cert = signCertificate(erasureCertificateFor({ customerId: 'cust_abc123', fields: ['email'] }, { seq: '6', hash: 'e'.repeat(64), action: 'customer-erased', at: '2026-12-09T12:00:00.000Z' }, { issuer: 'Example', issuedAt: new Date(T0) }), key);
    await h.notices.onJobEvent({ type: 'completed', attempt: 1, job: scheduledJob({ id: '20', name: 'erase' as Job['name'], state: 'completed', returnvalue: { certificate: cert } }) });
    const body = JSON.parse((await (await h.journal()).forJob('20'))[0]?.body ?? '{}') as Record<string, unknown>;
    expect(body).toMatchObject({ event: 'customer.erased', customerId: 'cust_abc123', erasedAt: '2026-12-09T12:00:00.000Z', certificate: cert });
  });

  it('cancelled: who cancelled (from the audit row), and whether the instance was restored', async () => {
    const h = await harness();
    h.store.rows.set('cust_abc123', { id: 1, customerId: 'cust_abc123', email: 'x@example.com', companyName: 'X', deploymentStatus: 'deployed', instanceNamespace: 'customer-abc123', instanceUrl: '', deletionJobId: '9', previousStatus: null, deletionScheduledAt: null, deletedAt: null, createdAt: '', updatedAt: '' });
    await h.store.appendAudit({ action: 'deletion-cancelled', actor: 'cli:ops@laptop', customerId: 'cust_abc123', jobId: '9', outcome: 'cancelled' });
    await h.notices.onJobEvent({ type: 'cancelled', job: scheduledJob({ state: 'failed', failedReason: 'cancelled' }) });
    const body = JSON.parse((await (await h.journal()).forJob('9'))[0]?.body ?? '{}') as Record<string, unknown>;
    expect(body).toMatchObject({ event: 'customer.deletion-cancelled', jobId: '9', cancelledBy: 'operator', instanceRestored: true });
    expect(JSON.stringify(body)).not.toContain('x@example.com');
  });
});

describe('who receives them', () => {
  it('`customer` in an endpoint\'s events subscribes it; no list (the job ends) does not', async () => {
    const base = { CUSTCTL_WEBHOOK_URL: 'https://crm.example/hooks', CUSTCTL_WEBHOOK_SECRET: SECRET };
    const plain = (await loadWebhookConfig(base)).endpoints[0];
    expect(plain?.customerEvents).toBe(false);
    const both = (await loadWebhookConfig({ ...base, CUSTCTL_WEBHOOK_EVENTS: 'completed,customer' })).endpoints[0];
    expect(both?.customerEvents).toBe(true);
    expect(both?.events).toEqual(['completed']);
    const only = (await loadWebhookConfig({ ...base, CUSTCTL_WEBHOOK_EVENTS: 'customer' })).endpoints[0];
    expect(only).toMatchObject({ customerEvents: true, events: [] });
    await expect(loadWebhookConfig({ ...base, CUSTCTL_WEBHOOK_EVENTS: 'customers' })).rejects.toThrow(/the events are completed, failed, cancelled, superseded, customer/);
  });

  it('only endpoints with `customer` in their events: a billing endpoint of job ends gets none, and no reminder is scanned for it', async () => {
    const h = await harness({ subscribed: false, jobs: [scheduledJob()] });
    await h.notices.onJobEvent({ type: 'accepted', job: scheduledJob() });
    await h.notices.onJobEvent({ type: 'completed', attempt: 1, job: scheduledJob({ state: 'completed', returnvalue: result }) });
    h.setNow(T0 + 6 * DAY);
    expect(await h.notices.scanReminders()).toBe(0);
    expect(await (await h.journal()).forJob('9')).toEqual([]);
  });
});

describe('deletion reminders', () => {
  it('journaled once the reminder time has come, not before, not after the due time, and once whatever the scans and restarts', async () => {
    const jobs = [scheduledJob(), scheduledJob({ id: '30', data: { customerId: 'cust_near1', namespace: 'customer-near1', scheduledFor: T0 + HOUR } })];
    const h = await harness({ jobs });
    expect(await h.notices.scanReminders()).toBe(0); // 7 days ahead
    h.setNow(T0 + 5 * DAY); // 48 h before it is due
    expect(await h.notices.scanReminders()).toBe(1);
    expect(await h.notices.scanReminders()).toBe(0);
    // a new process on the same journal (a restart of serve, or a second worker scanning)
    const again = await harness({ jobs, dir: h.dir });
    again.setNow(T0 + 6 * DAY);
    expect(await again.notices.scanReminders()).toBe(0);
    const list = await (await h.journal()).forJob('9');
    expect(list.map((d) => d.event)).toEqual(['customer.deletion-reminder']);
    expect(JSON.parse(list[0]?.body ?? '{}')).toMatchObject({ jobId: '9', dueAt: new Date(T0 + 7 * DAY).toISOString(), remainingMs: 2 * DAY });
    // the deletion scheduled an hour ahead gets none (closer than the lead), nor does a deletion past its time
    expect(await (await h.journal()).forJob('30')).toEqual([]);
    h.setNow(T0 + 8 * DAY);
    expect(await h.notices.scanReminders()).toBe(0);
  });

  it('CUSTCTL_REMINDER_BEFORE 0 sends none; settings are read and checked', async () => {
    const h = await harness({ jobs: [scheduledJob()], beforeMs: 0 });
    h.setNow(T0 + 6 * DAY);
    expect(await h.notices.scanReminders()).toBe(0);
    expect(reminderSettings({})).toEqual({ beforeMs: 48 * HOUR, scanMs: 60_000 });
    expect(reminderSettings({ CUSTCTL_REMINDER_BEFORE: '0', CUSTCTL_REMINDER_SCAN: '5s' })).toEqual({ beforeMs: 0, scanMs: 5_000 });
    expect(reminderSettings({ CUSTCTL_REMINDER_BEFORE: '3d' }).beforeMs).toBe(3 * DAY);
    expect(() => reminderSettings({ CUSTCTL_REMINDER_BEFORE: 'soon' })).toThrow(UsageError);
    expect(() => reminderSettings({ CUSTCTL_REMINDER_BEFORE: '5s' })).toThrow(/at least 60s/);
  });

  it('who asked, in the customer\'s terms', () => {
    expect(requesterOf('api:portal:cust_abc123')).toBe('customer');
    expect(requesterOf('api:acme-owner', new Set(['acme-owner']))).toBe('customer');
    expect(requesterOf('api:billing')).toBe('operator');
    expect(requesterOf('cli:ops@host')).toBe('operator');
    expect(requesterOf(null)).toBe('operator');
  });

  it('an owner token\'s deletion and cancel are the customer\'s once the process names its owner tokens (serve: the tokens set, asked at each event)', async () => {
    const h = await harness();
    const byOwner = { requestedBy: 'api:acme-owner' };
    await h.notices.onJobEvent({ type: 'accepted', job: scheduledJob(byOwner) });
    const tokens: { entries: TokenEntry[] } = { entries: [] };
    h.notices.useOwners(() => ownerTokenNames(tokens));
    await h.notices.onJobEvent({ type: 'accepted', job: scheduledJob({ ...byOwner, id: '30' }) });
    tokens.entries = [
      { name: 'acme-owner', role: 'owner', customerId: 'cust_abc123', digest: Buffer.alloc(32) },
      { name: 'billing', role: 'admin', digest: Buffer.alloc(32) },
    ];
    await h.notices.onJobEvent({ type: 'accepted', job: scheduledJob({ ...byOwner, id: '31' }) });
    await h.notices.onJobEvent({ type: 'accepted', job: scheduledJob({ id: '32', requestedBy: 'api:billing' }) });
    await h.store.appendAudit({ action: 'deletion-cancelled', actor: 'api:acme-owner', customerId: 'cust_abc123', jobId: '31' });
    await h.notices.onJobEvent({ type: 'cancelled', job: scheduledJob({ id: '31', state: 'failed', failedReason: 'cancelled' }) });
    const first = async (id: string) => (await (await h.journal()).forJob(id)).map((d) => JSON.parse(d.body) as Record<string, unknown>);
    expect((await first('9'))[0]).toMatchObject({ requestedBy: 'operator' }); // no owner names known: the operator, as before
    expect((await first('30'))[0]).toMatchObject({ requestedBy: 'operator' }); // a token set without that owner
    const by31 = await first('31');
    expect(by31.find((b) => b.event === 'customer.deletion-scheduled')).toMatchObject({ requestedBy: 'customer' });
    expect(by31.find((b) => b.event === 'customer.deletion-cancelled')).toMatchObject({ cancelledBy: 'customer' });
    expect((await first('32'))[0]).toMatchObject({ requestedBy: 'operator' });
  });
});

describe('the portal\'s owner rules', () => {
  const r = { defaultMs: 0, ownerMinMs: 7 * DAY };
  it('the default is the site\'s retention, never below the owner\'s minimum; shorter is refused, never immediate', () => {
    expect(ownerDefaultRetention(r)).toBe(7 * DAY);
    expect(ownerDefaultRetention({ defaultMs: 30 * DAY, ownerMinMs: 7 * DAY })).toBe(30 * DAY);
    expect(ownerRetention(r, undefined)).toBe(7 * DAY);
    expect(ownerRetention(r, 8 * DAY)).toBe(8 * DAY);
    expect(() => ownerRetention(r, 0)).toThrow(/at least 7d \(you asked for now\)/);
    expect(() => ownerRetention(r, DAY)).toThrow(UsageError);
  });
});
