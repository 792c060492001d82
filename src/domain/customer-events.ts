/**
 * Telling the customer: the events a site's mailer or CRM receives on the signed webhooks (the
 * same delivery, signature and retries as the job webhooks: src/domain/webhook.ts) so that it can
 * write to the customer in its own words. docs/portal.md describes the process.
 *
 * - `customer.deletion-scheduled`: a deletion was scheduled; when it is due, and a portal link
 *   that opens the cancel page.
 * - `customer.deletion-reminder`: the deletion is due soon (CUSTCTL_REMINDER_BEFORE ahead, e.g.
 *   48 h), with a fresh cancel link (a link lives at most 7 days; a deletion may be further away).
 * - `customer.deletion-cancelled`: the scheduled deletion was cancelled; the instance is served again.
 * - `customer.deletion-completed`: the instance is deleted; the signed certificate is attached
 *   when the job issued one (and where the portal offers it).
 * - `customer.erased`: the customer's personal fields, backups and exports are erased; the signed
 *   certificate is attached.
 *
 * No personal data in any event: the customer is its `cust_…` id; the receiver looks up whom to
 * write to in its own records (the delivery journal keeps bodies for retries, and an erasure must
 * not have to find e-mail addresses there). A portal link is a secret for one customer: the
 * receiver puts it into the message to that customer and nowhere else.
 */
import type { SignedCertificate } from './certificate.js';

export const CUSTOMER_EVENTS = [
  'customer.deletion-scheduled',
  'customer.deletion-reminder',
  'customer.deletion-cancelled',
  'customer.deletion-completed',
  'customer.erased',
] as const;
export type CustomerEventName = (typeof CUSTOMER_EVENTS)[number];

/** Who asked: the customer in the portal, the operator (CLI, console, API token), or the site's billing system (an API token marked so). */
export type Requester = 'customer' | 'operator' | 'billing';

export interface PortalLink {
  /** the sign-in link (a secret for this customer) */
  url: string;
  /** ISO time: after it the link is refused */
  expiresAt: string;
}

interface Base<E extends CustomerEventName> {
  event: E;
  /** X-Custctl-Delivery: a receiver drops a delivery it has seen (retries resend it) */
  deliveryId: string;
  /** ISO time the event happened */
  timestamp: string;
  customerId: string;
}

export interface DeletionScheduledEvent extends Base<'customer.deletion-scheduled'> {
  jobId: string;
  /** ISO time the deletion runs (the data goes then) */
  dueAt: string;
  /** ms between the request and dueAt (the retention the customer was given) */
  retentionMs: number;
  requestedBy: Requester;
  /** the portal's cancel page (null: no portal configured) */
  cancelLink: PortalLink | null;
  /** an export was made before scheduling (site policy may require one) */
  exportTaken: boolean;
}

export interface DeletionReminderEvent extends Base<'customer.deletion-reminder'> {
  jobId: string;
  dueAt: string;
  /** ms left until dueAt when the event was made */
  remainingMs: number;
  cancelLink: PortalLink | null;
}

export interface DeletionCancelledEvent extends Base<'customer.deletion-cancelled'> {
  jobId: string;
  cancelledBy: Requester;
  /** the suspended instance is served again */
  instanceRestored: boolean;
}

export interface DeletionCompletedEvent extends Base<'customer.deletion-completed'> {
  jobId: string;
  /** ISO time the deletion was recorded (the audit row's; the job's end when no certificate was issued) */
  completedAt: string;
  /** the signed deletion certificate (JSON as `certificate verify` reads it); null when the job issued none */
  certificate: SignedCertificate | null;
  /** where the customer downloads the certificate (the portal's job page); null without a portal or a certificate */
  certificateUrl: string | null;
}

export interface ErasedEvent extends Base<'customer.erased'> {
  erasedAt: string;
  certificate: SignedCertificate;
}

export type CustomerEvent = DeletionScheduledEvent | DeletionReminderEvent | DeletionCancelledEvent | DeletionCompletedEvent | ErasedEvent;

/** The default lead of the reminder (CUSTCTL_REMINDER_BEFORE). */
export const DEFAULT_REMINDER_BEFORE_MS = 48 * 3_600_000;

/**
 * When the reminder of a deletion due at `dueAt` is sent (ms), or null when it is not: a deletion
 * scheduled closer than the lead gets none (the scheduled event already says when), nor does a
 * reminder lead of 0 (reminders off).
 */
export function reminderAt(scheduledAt: number, dueAt: number, beforeMs: number): number | null {
  if (beforeMs <= 0) return null;
  const at = dueAt - beforeMs;
  return at > scheduledAt ? at : null;
}

const iso = (ms: number) => new Date(ms).toISOString();

export function deletionScheduled(o: { deliveryId: string; now: number; customerId: string; jobId: string; dueAt: number; requestedBy: Requester; cancelLink: PortalLink | null; exportTaken?: boolean }): DeletionScheduledEvent {
  return {
    event: 'customer.deletion-scheduled', deliveryId: o.deliveryId, timestamp: iso(o.now), customerId: o.customerId,
    jobId: o.jobId, dueAt: iso(o.dueAt), retentionMs: Math.max(0, o.dueAt - o.now), requestedBy: o.requestedBy,
    cancelLink: o.cancelLink, exportTaken: o.exportTaken ?? false,
  };
}

export function deletionReminder(o: { deliveryId: string; now: number; customerId: string; jobId: string; dueAt: number; cancelLink: PortalLink | null }): DeletionReminderEvent {
  return {
    event: 'customer.deletion-reminder', deliveryId: o.deliveryId, timestamp: iso(o.now), customerId: o.customerId,
    jobId: o.jobId, dueAt: iso(o.dueAt), remainingMs: Math.max(0, o.dueAt - o.now), cancelLink: o.cancelLink,
  };
}

export function deletionCancelled(o: { deliveryId: string; now: number; customerId: string; jobId: string; cancelledBy: Requester; instanceRestored: boolean }): DeletionCancelledEvent {
  return {
    event: 'customer.deletion-cancelled', deliveryId: o.deliveryId, timestamp: iso(o.now), customerId: o.customerId,
    jobId: o.jobId, cancelledBy: o.cancelledBy, instanceRestored: o.instanceRestored,
  };
}

export function deletionCompleted(o: { deliveryId: string; now: number; certificate: SignedCertificate; certificateUrl?: string | null }): DeletionCompletedEvent {
  const c = o.certificate.certificate;
  if (c.subject !== 'deletion' || !c.job) throw new Error('customer.deletion-completed carries a deletion certificate');
  return {
    event: 'customer.deletion-completed', deliveryId: o.deliveryId, timestamp: iso(o.now), customerId: c.customerId,
    jobId: c.job.id, completedAt: c.audit.at, certificate: o.certificate, certificateUrl: o.certificateUrl ?? null,
  };
}

/** The completion of a deletion job that issued no certificate: when it ended, and no certificate. */
export function deletionCompletedWithout(o: { deliveryId: string; now: number; customerId: string; jobId: string; finishedAt: number }): DeletionCompletedEvent {
  return {
    event: 'customer.deletion-completed', deliveryId: o.deliveryId, timestamp: iso(o.now), customerId: o.customerId,
    jobId: o.jobId, completedAt: iso(o.finishedAt), certificate: null, certificateUrl: null,
  };
}

export function customerErased(o: { deliveryId: string; now: number; certificate: SignedCertificate }): ErasedEvent {
  const c = o.certificate.certificate;
  if (c.subject !== 'erasure') throw new Error('customer.erased carries an erasure certificate');
  return { event: 'customer.erased', deliveryId: o.deliveryId, timestamp: iso(o.now), customerId: c.customerId, erasedAt: c.audit.at, certificate: o.certificate };
}

/** One delivery key per event and endpoint (the delivery journal's dedupe): a reminder once per due time. */
export function customerEventKey(e: CustomerEvent, endpoint: string): string {
  const subject = 'jobId' in e ? e.jobId : e.certificate.certificate.audit.seq;
  const when = e.event === 'customer.deletion-reminder' || e.event === 'customer.deletion-scheduled' ? `/${e.dueAt}` : '';
  return `${e.customerId}/${e.event}/${subject}${when}/${endpoint}`;
}
