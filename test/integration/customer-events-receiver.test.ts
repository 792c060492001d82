/**
 * The example receiver of docs/portal.md, run as the docs say (node, a secret, a
 * contacts file), fed the five customer events as custctl builds and signs them: it writes one
 * message per event to the customer it looks up, attaches the certificates, refuses a wrong
 * signature, processes a retried delivery once, and asks for a retry when it has no contact.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signCertificate } from '../../src/domain/certificate.js';
import { customerErased, deletionCancelled, deletionCompleted, deletionReminder, deletionScheduled, type CustomerEvent } from '../../src/domain/customer-events.js';
import { signBody } from '../../src/domain/webhook.js';
import { certificateFor, erasureCertificateFor } from '../../src/pipeline/certificate.js';
import type { DeleteResult } from '../../src/pipeline/types.js';

const RECEIVER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/examples/customer-events-receiver.mjs');
const SECRET = 'a-webhook-secret-of-some-length';
let child: ChildProcess;
let url = '';
let stdout = '';

beforeAll(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'custctl-receiver-'));
  const contacts = path.join(dir, 'contacts.json');
  writeFileSync(contacts, JSON.stringify({ cust_abc123: { email: 'ops@example.com', name: 'Example Corp' }, cust_def456: { email: 'it@example.org', name: 'Other Org' } }));
  child = spawn(process.execPath, [RECEIVER], { env: { ...process.env, CUSTCTL_WEBHOOK_SECRET: SECRET, CONTACTS_FILE: contacts, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (c: Buffer) => { stdout += c.toString(); });
  url = await new Promise<string>((resolve, reject) => {
    child.stderr?.on('data', (c: Buffer) => {
      const m = /listening on (\d+)/.exec(c.toString());
      if (m) resolve(`http://127.0.0.1:${m[1]}/`);
    });
    child.on('exit', (code) => reject(new Error(`receiver exited with ${code}`)));
  });
});

afterAll(() => {
  child?.kill();
});

async function post(e: CustomerEvent, signature = signBody(SECRET, JSON.stringify(e))): Promise<number> {
  const body = JSON.stringify(e);
  const r = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-custctl-event': e.event, 'x-custctl-delivery': e.deliveryId, 'x-custctl-signature-256': signature } });
  return r.status;
}

const now = Date.parse('2026-12-01T12:00:00Z');
const DAY = 86_400_000;
const link = { url: 'https://portal.example.com/portal/sign-in?token=v1.abc.def', expiresAt: '2026-12-08T12:00:00.000Z' };
const key = generateKeyPairSync('ed25519').privateKey;
const result = {
  customerId: 'cust_abc123', namespace: 'customer-abc123', jobId: '9', simulated: false, outcome: 'deleted', releases: [], namespaceOutcome: 'deleted',
  rbac: { deleted: [], alreadyGone: [], keptByPolicy: [], keptUnowned: [], failed: [] }, retainedVolumes: [], row: { status: 'pending' }, warnings: [], durationMs: 1,
} as DeleteResult;

describe('the example receiver', () => {
  it('writes the customer one message per event, with the cancel link and the certificates', async () => {
    const deletion = signCertificate(certificateFor(result, { seq: '5', hash: 'f'.repeat(64), action: 'deletion-completed', at: '2026-12-08T12:00:01.000Z' }, { issuer: 'Example Hosting', issuedAt: new Date(now) }), key);
    const erasure = signCertificate(erasureCertificateFor({ customerId: 'cust_abc123', fields: ['email', 'company_name'] }, { seq: '6', hash: 'e'.repeat(64), action: 'customer-erased', at: '2026-12-09T12:00:00.000Z' }, { issuer: 'Example Hosting', issuedAt: new Date(now) }), key);
    const events: CustomerEvent[] = [
      deletionScheduled({ deliveryId: randomUUID(), now, customerId: 'cust_abc123', jobId: '9', dueAt: now + 7 * DAY, requestedBy: 'customer', cancelLink: link }),
      deletionReminder({ deliveryId: randomUUID(), now: now + 5 * DAY, customerId: 'cust_abc123', jobId: '9', dueAt: now + 7 * DAY, cancelLink: link }),
      deletionCancelled({ deliveryId: randomUUID(), now, customerId: 'cust_abc123', jobId: '9', cancelledBy: 'customer', instanceRestored: true }),
      deletionCompleted({ deliveryId: randomUUID(), now: now + 7 * DAY, certificate: deletion }),
      customerErased({ deliveryId: randomUUID(), now: now + 8 * DAY, certificate: erasure }),
    ];
    for (const e of events) expect(await post(e), e.event).toBe(204);
    const mails = stdout.split('\n.\n').filter((m) => m.trim() !== '');
    expect(mails.map((m) => /^Subject: (.*)$/m.exec(m)?.[1])).toEqual([
      'Your account will be deleted', 'Your account will be deleted soon', 'Your account will not be deleted',
      'Your account has been deleted', 'Your personal data has been erased',
    ]);
    for (const m of mails) expect(m).toMatch(/^To: ops@example\.com$/m);
    expect(mails[0]).toContain('scheduled for deletion on Tue, 08 Dec 2026');
    expect(mails[0]).toContain(link.url);
    expect(mails[3]).toMatch(/\[attached: deletion-certificate\.json, \d+ bytes\]/);
    expect(mails[4]).toMatch(/\[attached: erasure-certificate\.json, \d+ bytes\]/);
  });

  it('refuses a wrong signature, processes a retried delivery once, asks for a retry without a contact', async () => {
    const before = stdout;
    const e = deletionCancelled({ deliveryId: randomUUID(), now, customerId: 'cust_def456', jobId: '10', cancelledBy: 'operator', instanceRestored: true });
    expect(await post(e, signBody('another-secret-of-some-length', JSON.stringify(e)))).toBe(401);
    expect(stdout).toBe(before);
    expect(await post(e)).toBe(204);
    expect(await post(e)).toBe(204);
    expect(stdout.slice(before.length).match(/^To: it@example\.org$/gm)).toHaveLength(1);
    const stranger = deletionCancelled({ deliveryId: randomUUID(), now, customerId: 'cust_unknown1', jobId: '11', cancelledBy: 'operator', instanceRestored: true });
    expect(await post(stranger)).toBe(503);
    // after the erasure the receiver forgot the contact too: a late event for it is not sent
    const late = deletionCancelled({ deliveryId: randomUUID(), now, customerId: 'cust_abc123', jobId: '12', cancelledBy: 'operator', instanceRestored: true });
    expect(await post(late)).toBe(503);
  });
});
