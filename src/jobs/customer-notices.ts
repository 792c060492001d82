/**
 * Telling the customer: the customer events of src/domain/customer-events.ts, sent on the signed
 * webhooks (src/jobs/webhooks.ts: the same signature, journal and retries as the job webhooks) to
 * the endpoints that subscribe to them (`customer` in their events), so that the site's mailer or CRM writes to the customer in its own words.
 *
 * - `customer.deletion-scheduled` when a deletion with a due date is accepted (with a portal link
 *   that opens the cancel page, when the portal is configured);
 * - `customer.deletion-reminder` CUSTCTL_REMINDER_BEFORE (default 48h; 0: none) before it is due:
 *   found by a scan of the waiting deletions (`startReminders`, run by `serve` and `worker`); its
 *   delivery key names the job and the due time, and the journal keeps one delivery per key, so it
 *   is sent once, whatever restarts and however many processes scan;
 * - `customer.deletion-cancelled` when a deletion is cancelled;
 * - `customer.deletion-completed` when a deletion job completes (not a simulated or superseded
 *   one), with the signed certificate when the job's result carries one (`certificate`), and the
 *   portal's address of it;
 * - `customer.erased` when an erasure completes with its certificate (`erased`, or an `erase` job
 *   whose result carries the certificate).
 *
 * A listener never gets in a job's way: the journal write is all it does; failures are logged.
 */
import type { CustomerStore } from '../adapters/store.js';
import type { JobQueue } from '../adapters/queue.js';
import type { SignedCertificate } from '../domain/certificate.js';
import {
  customerErased, DEFAULT_REMINDER_BEFORE_MS, deletionCancelled, deletionCompleted, deletionCompletedWithout, deletionReminder, deletionScheduled, reminderAt,
  type PortalLink, type Requester,
} from '../domain/customer-events.js';
import { parseDuration } from '../domain/duration.js';
import { kindFacts, type Job } from '../domain/job.js';
import { MAX_LINK_TTL_MS, MIN_LINK_TTL_MS, mintPortalToken, portalLinkUrl, type PortalPage, type PortalSecrets } from '../domain/portal-link.js';
import { errorMessage, UsageError } from '../errors.js';
import type { Logger } from '../io.js';
import type { JobListener } from './events.js';
import type { Webhooks } from './webhooks.js';

/** How often the waiting deletions are scanned for reminders (CUSTCTL_REMINDER_SCAN), by default. */
export const DEFAULT_REMINDER_SCAN_MS = 60_000;

/** CUSTCTL_REMINDER_BEFORE: how long before a deletion is due its reminder goes (`0`: none); CUSTCTL_REMINDER_SCAN: how often to look. */
export function reminderSettings(env: Readonly<Record<string, string | undefined>>): { beforeMs: number; scanMs: number } {
  const read = (name: string, fallback: number, min: number) => {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') return fallback;
    if (raw === '0' && name === 'CUSTCTL_REMINDER_BEFORE') return 0;
    let ms: number;
    try {
      ms = parseDuration(raw);
    } catch {
      throw new UsageError(`${name} takes a duration with a unit, e.g. 48h or 2d${name === 'CUSTCTL_REMINDER_BEFORE' ? ' (0: no reminders)' : ''}`);
    }
    if (ms < min) throw new UsageError(`${name} must be at least ${min / 1000}s`);
    return ms;
  };
  return { beforeMs: read('CUSTCTL_REMINDER_BEFORE', DEFAULT_REMINDER_BEFORE_MS, 60_000), scanMs: read('CUSTCTL_REMINDER_SCAN', DEFAULT_REMINDER_SCAN_MS, 100) };
}

/** Who asked, in the customer's terms: the portal's sessions are the customer; anyone else is the operator. */
export function requesterOf(actor: string | null | undefined, owners: ReadonlySet<string> = new Set()): Requester {
  if (!actor) return 'operator';
  if (actor.startsWith('api:portal:')) return 'customer';
  if (actor.startsWith('api:') && owners.has(actor.slice(4))) return 'customer';
  return 'operator';
}

export interface CustomerNoticesOptions {
  hooks: Webhooks;
  store: CustomerStore;
  queue: () => Promise<JobQueue>;
  now: () => number;
  log: Logger;
  reminderBeforeMs: number;
  /** how often `startReminders` scans (default DEFAULT_REMINDER_SCAN_MS) */
  reminderScanMs?: number;
  /** the portal's links (absent: no portal configured; events carry no link) */
  portal?: { baseUrl: string; secrets: PortalSecrets };
  /** names of account owner tokens (their requests are the customer's) */
  owners?: () => ReadonlySet<string>;
}

function certificateIn(job: Job, subject: 'deletion' | 'erasure'): SignedCertificate | null {
  const c = (job.returnvalue as { certificate?: SignedCertificate } | null)?.certificate;
  return c && typeof c === 'object' && c.certificate?.subject === subject && typeof c.signature === 'object' ? c : null;
}

export class CustomerNotices {
  private timer: NodeJS.Timeout | null = null;
  private owners: () => ReadonlySet<string>;

  constructor(private readonly o: CustomerNoticesOptions) {
    this.owners = o.owners ?? (() => new Set());
  }

  /** The names of the owner tokens, from the process that knows its tokens (serve), asked at each event: their requests are the customer's. */
  useOwners(owners: () => ReadonlySet<string>): void {
    this.owners = owners;
  }

  /** A sign-in link to the portal for this customer, valid until the deletion is due (5 min … 7 days). */
  private link(customerId: string, page: PortalPage, until: number): PortalLink | null {
    if (!this.o.portal) return null;
    const now = this.o.now();
    const ttlMs = Math.min(MAX_LINK_TTL_MS, Math.max(MIN_LINK_TTL_MS, until - now));
    const { token, claims } = mintPortalToken({ customerId, page, ttlMs, now, secrets: this.o.portal.secrets });
    return { url: portalLinkUrl(this.o.portal.baseUrl, token), expiresAt: new Date(claims.expiresAt).toISOString() };
  }

  private async send(what: string, jobId: string, make: Parameters<Webhooks['sendCustomerEvent']>[1]): Promise<void> {
    try {
      await this.o.hooks.sendCustomerEvent(jobId, make);
    } catch (e) {
      this.o.log.warn(`Customer event ${what} of job ${jobId} not journaled`, { error: errorMessage(e).split('\n')[0] });
    }
  }

  /** The listener (registered on the jobs environment's stream in src/jobs/env.ts). */
  readonly onJobEvent: JobListener = async (e) => {
    if (e.type !== 'accepted' && e.type !== 'cancelled' && e.type !== 'completed') return;
    const job = e.job;
    const customerId = job.data.customerId;
    if (!customerId) return;
    const now = this.o.now();
    const deletion = kindFacts(job.name).holdsCustomerRow;
    if (deletion && e.type === 'accepted' && job.data.scheduledFor !== undefined) {
      const dueAt = job.data.scheduledFor;
      const requestedBy = requesterOf(job.requestedBy, this.owners());
      const exportTaken = await this.o.store.listAudit({ customerId, actions: ['customer-exported'], since: new Date(now - MAX_LINK_TTL_MS), limit: 1 }).then((r) => r.length > 0, () => false);
      const cancelLink = this.link(customerId, 'cancel', dueAt);
      await this.send('customer.deletion-scheduled', job.id, (deliveryId) => deletionScheduled({ deliveryId, now, customerId, jobId: job.id, dueAt, requestedBy, cancelLink, exportTaken }));
    } else if (deletion && e.type === 'cancelled') {
      const row = await this.o.store.get(customerId).catch(() => null);
      const audit = await this.o.store.listAudit({ customerId, actions: ['deletion-cancelled', 'job-cancelled'], limit: 20 }).catch(() => []);
      const actor = audit.find((a) => (a as { jobId?: string | null }).jobId === job.id)?.actor;
      const instanceRestored = job.attempts.length === 0 && row !== null && row.deploymentStatus !== 'deleting' && row.deploymentStatus !== 'deletion_failed';
      await this.send('customer.deletion-cancelled', job.id, (deliveryId) => deletionCancelled({ deliveryId, now, customerId, jobId: job.id, cancelledBy: requesterOf(actor, this.owners()), instanceRestored }));
    } else if (deletion && e.type === 'completed' && !job.simulated) {
      if ((job.returnvalue as { outcome?: string } | null)?.outcome === 'superseded') return;
      const certificate = certificateIn(job, 'deletion');
      const certificateUrl = certificate && this.o.portal ? `${this.o.portal.baseUrl}/portal/jobs/${job.id}/certificate` : null;
      await this.send('customer.deletion-completed', job.id, (deliveryId) => (certificate
        ? deletionCompleted({ deliveryId, now, certificate, certificateUrl })
        : deletionCompletedWithout({ deliveryId, now, customerId, jobId: job.id, finishedAt: job.finishedOn ?? now })));
    } else if (!deletion && e.type === 'completed') {
      // a job whose result carries an erasure certificate
      const certificate = certificateIn(job, 'erasure');
      if (certificate) await this.erased(job.id, certificate);
    }
  };

  /** `customer.erased`, journaled under `jobId` (the erasure's job, or its audit row's number). */
  async erased(jobId: string, certificate: SignedCertificate): Promise<void> {
    const now = this.o.now();
    await this.send('customer.erased', jobId, (deliveryId) => customerErased({ deliveryId, now, certificate }));
  }

  /** One scan: a reminder for every waiting deletion whose reminder time has come. Returns how many were journaled. */
  async scanReminders(): Promise<number> {
    if (this.o.reminderBeforeMs <= 0 || !this.o.hooks.endpoints.some((e) => e.customerEvents)) return 0;
    const now = this.o.now();
    const waiting = (await (await this.o.queue()).list({ state: 'delayed', name: 'delete' })).filter((j) => j.data.scheduledFor !== undefined && j.data.customerId);
    let sent = 0;
    for (const job of waiting) {
      const dueAt = job.data.scheduledFor as number;
      const customerId = job.data.customerId as string;
      const at = reminderAt(job.timestamp, dueAt, this.o.reminderBeforeMs);
      if (at === null || now < at || now >= dueAt) continue;
      const cancelLink = this.link(customerId, 'cancel', dueAt);
      const before = sent;
      try {
        sent += await this.o.hooks.sendCustomerEvent(job.id, (deliveryId) => deletionReminder({ deliveryId, now, customerId, jobId: job.id, dueAt, cancelLink }));
      } catch (e) {
        this.o.log.warn(`Customer event customer.deletion-reminder of job ${job.id} not journaled`, { error: errorMessage(e).split('\n')[0] });
      }
      if (sent > before) this.o.log.info('Deletion reminder journaled', { customerId, job: job.id, dueAt: new Date(dueAt).toISOString() });
    }
    return sent;
  }

  /** Scans for reminders now and every CUSTCTL_REMINDER_SCAN until `signal` ends (serve, worker). */
  startReminders(signal: AbortSignal, everyMs = this.o.reminderScanMs ?? DEFAULT_REMINDER_SCAN_MS): void {
    if (this.timer || this.o.reminderBeforeMs <= 0 || !this.o.hooks.endpoints.some((e) => e.customerEvents)) return;
    let running = false;
    const tick = async () => {
      if (running || signal.aborted) return;
      running = true;
      await this.scanReminders().catch((e: unknown) => this.o.log.warn('Deletion reminders: scan failed; trying again', { error: errorMessage(e).split('\n')[0] }));
      running = false;
    };
    void tick();
    this.timer = setInterval(() => void tick(), everyMs);
    this.timer.unref();
    signal.addEventListener('abort', () => {
      if (this.timer) clearInterval(this.timer);
      this.timer = null;
    }, { once: true });
  }
}
