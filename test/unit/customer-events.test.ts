/**
 * The customer events (scheduled, reminder, cancelled, completed, erased): their shapes, when the
 * reminder is due, their delivery keys, no personal data, and signed like every webhook body.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signCertificate } from '../../src/domain/certificate.js';
import {
  CUSTOMER_EVENTS, customerErased, customerEventKey, DEFAULT_REMINDER_BEFORE_MS, deletionCancelled, deletionCompleted, deletionReminder, deletionScheduled, reminderAt,
} from '../../src/domain/customer-events.js';
import { signBody, verifySignature } from '../../src/domain/webhook.js';
import { certificateFor, erasureCertificateFor } from '../../src/pipeline/certificate.js';
import type { DeleteResult } from '../../src/pipeline/types.js';

const now = Date.parse('2026-12-01T12:00:00Z');
const DAY = 86_400_000;
const link = { url: 'https://portal.example.com/portal/sign-in?token=v1.x.y', expiresAt: '2026-12-08T12:00:00.000Z' };
const key = generateKeyPairSync('ed25519').privateKey;
const result = {
  customerId: 'cust_abc', namespace: 'customer-abc', jobId: '9', simulated: false, outcome: 'deleted', releases: [], namespaceOutcome: 'deleted',
  rbac: { deleted: [], alreadyGone: [], keptByPolicy: [], keptUnowned: [], failed: [] }, retainedVolumes: [], row: { status: 'pending' }, warnings: [], durationMs: 1,
} as DeleteResult;
const deletionCert = signCertificate(certificateFor(result, { seq: '5', hash: 'f'.repeat(64), action: 'deletion-completed', at: '2026-12-08T12:00:01.000Z' }, { issuer: 'x', issuedAt: new Date(now) }), key);
const erasureCert = signCertificate(erasureCertificateFor({ customerId: 'cust_abc', fields: ['email'] }, { seq: '6', hash: 'e'.repeat(64), action: 'customer-erased', at: '2026-12-09T12:00:00.000Z' }, { issuer: 'x', issuedAt: new Date(now) }), key);

describe('customer events', () => {
  const all = [
    deletionScheduled({ deliveryId: 'd1', now, customerId: 'cust_abc', jobId: '9', dueAt: now + 7 * DAY, requestedBy: 'customer', cancelLink: link }),
    deletionReminder({ deliveryId: 'd2', now: now + 5 * DAY, customerId: 'cust_abc', jobId: '9', dueAt: now + 7 * DAY, cancelLink: link }),
    deletionCancelled({ deliveryId: 'd3', now, customerId: 'cust_abc', jobId: '9', cancelledBy: 'customer', instanceRestored: true }),
    deletionCompleted({ deliveryId: 'd4', now: now + 7 * DAY, certificate: deletionCert }),
    customerErased({ deliveryId: 'd5', now: now + 8 * DAY, certificate: erasureCert }),
  ];

  it('one of each, named as listed, for the customer by id', () => {
    expect(all.map((e) => e.event)).toEqual([...CUSTOMER_EVENTS]);
    for (const e of all) expect(e.customerId).toBe('cust_abc');
    expect(all[0]).toMatchObject({ dueAt: '2026-12-08T12:00:00.000Z', retentionMs: 7 * DAY, cancelLink: link, exportTaken: false });
    expect(all[1]).toMatchObject({ remainingMs: 2 * DAY });
    expect(all[3]).toMatchObject({ jobId: '9', completedAt: '2026-12-08T12:00:01.000Z' });
    expect(all[4]).toMatchObject({ erasedAt: '2026-12-09T12:00:00.000Z' });
  });

  it('carry no personal data: no e-mail, company or URL field anywhere', () => {
    const keys = new Set<string>();
    const walk = (v: unknown) => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) { keys.add(k); walk(x); }
    };
    all.forEach(walk);
    expect([...keys].filter((k) => /mail|company|name$|instanceUrl|phone/i.test(k) && k !== 'name')).toEqual([]);
  });

  it('are signed like every webhook body', () => {
    const body = JSON.stringify(all[3]);
    expect(verifySignature('secret', body, signBody('secret', body))).toBe(true);
    expect(verifySignature('secret', body.replace('cust_abc', 'cust_abd'), signBody('secret', body))).toBe(false);
  });

  it('completed and erased take only the certificate of their kind', () => {
    expect(() => deletionCompleted({ deliveryId: 'x', now, certificate: erasureCert })).toThrow(/deletion certificate/);
    expect(() => customerErased({ deliveryId: 'x', now, certificate: deletionCert })).toThrow(/erasure certificate/);
  });

  it('delivery keys: one per event and endpoint, a reminder once per due time', () => {
    expect(customerEventKey(all[1] as (typeof all)[1], 'crm')).toBe('cust_abc/customer.deletion-reminder/9/2026-12-08T12:00:00.000Z/crm');
    expect(customerEventKey(all[4] as (typeof all)[4], 'crm')).toBe('cust_abc/customer.erased/6/crm');
  });
});

describe('reminderAt', () => {
  it('the lead before the due time; none when the deletion is closer than that, or reminders are off', () => {
    expect(reminderAt(now, now + 7 * DAY, DEFAULT_REMINDER_BEFORE_MS)).toBe(now + 5 * DAY);
    expect(reminderAt(now, now + DAY, DEFAULT_REMINDER_BEFORE_MS)).toBeNull();
    expect(reminderAt(now, now + 7 * DAY, 0)).toBeNull();
  });
});
