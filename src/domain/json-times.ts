/**
 * Times in JSON are ISO 8601 strings (`2026-12-01T10:00:00.000Z`), in every document custctl
 * writes (`-o json|yaml`, the queue API): the rows' `updatedAt`, the audit log's `at`, the webhook
 * payload's `requestedAt` already are.
 *
 * The job keeps BullMQ's epoch-millisecond fields as well (`timestamp`, `processedOn`,
 * `finishedOn`, `delayUntil`, `attempts[].startedOn|finishedOn`, `lease.expiresAt`,
 * `data.scheduledFor`): the job JSON is one schema shared with the production queue API, which
 * answers with BullMQ's own job objects, and with every script written against it. They are
 * deprecated for readers (docs/output.md): each has an ISO companion, the field to read.
 *
 * A webhook delivery's times are custctl's own (no BullMQ shape to follow): in JSON they are ISO
 * strings under their own names; the journal keeps milliseconds.
 */
import type { AttemptRecord, Job, Lease } from './job.js';
import type { DeliveryView } from './webhook.js';

/** ms since the epoch as ISO 8601; null stays null. */
export function isoTime(ms: number | null | undefined): string | null {
  return typeof ms === 'number' && Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}

/** An ISO time or ms (an older server's answer) as ms; null stays null. */
export function msTime(x: unknown): number | null {
  if (typeof x === 'number' && Number.isFinite(x)) return x;
  if (typeof x === 'string') {
    const t = Date.parse(x);
    return Number.isNaN(t) ? null : t;
  }
  return null;
}

export type AttemptJson = AttemptRecord & { startedAt: string | null; finishedAt: string | null };

export type JobJson = Omit<Job, 'attempts' | 'lease'> & {
  /** ISO of `timestamp`: when the job was requested */
  requestedAt: string | null;
  /** ISO of `processedOn`: when its last attempt started */
  startedAt: string | null;
  /** ISO of `finishedOn` */
  finishedAt: string | null;
  /** ISO of `delayUntil`: when a delayed job (a retry's backoff, a scheduled deletion) is due */
  delayedUntil: string | null;
  data: Job['data'] & { scheduledAt?: string | null };
  attempts: AttemptJson[];
  lease: (Lease & { expires: string | null }) | null;
};

/** The job as JSON: every field as stored, and the ISO time beside each millisecond one. */
export function jobJson(job: Job): JobJson {
  const { attempts, lease, data, ...rest } = job;
  return {
    ...rest,
    requestedAt: isoTime(job.timestamp),
    startedAt: isoTime(job.processedOn),
    finishedAt: isoTime(job.finishedOn),
    delayedUntil: isoTime(job.delayUntil),
    data: data.scheduledFor !== undefined ? { ...data, scheduledAt: isoTime(data.scheduledFor) } : data,
    attempts: (attempts ?? []).map((a) => ({ ...a, startedAt: isoTime(a.startedOn), finishedAt: isoTime(a.finishedOn) })),
    lease: lease ? { ...lease, expires: isoTime(lease.expiresAt) } : null,
  };
}

const DELIVERY_TIMES = ['createdAt', 'lastAttemptAt', 'nextAttemptAt', 'deliveredAt', 'giveUpAt'] as const;

export type DeliveryJson = Omit<DeliveryView, (typeof DELIVERY_TIMES)[number]> & { [K in (typeof DELIVERY_TIMES)[number]]: string | null };

/** A webhook delivery as JSON: its times ISO. */
export function deliveryJson(d: DeliveryView): DeliveryJson {
  const out: Record<string, unknown> = { ...d };
  for (const k of DELIVERY_TIMES) out[k] = isoTime(d[k]);
  return out as DeliveryJson;
}

/** A delivery read from the queue API (ISO times; an older server: ms) as the views use it. */
export function deliveryFromJson(x: Record<string, unknown>): DeliveryView {
  const out: Record<string, unknown> = { ...x };
  for (const k of DELIVERY_TIMES) out[k] = msTime(x[k]);
  if (out.createdAt === null) out.createdAt = 0;
  if (out.giveUpAt === null) out.giveUpAt = 0;
  return out as unknown as DeliveryView;
}
