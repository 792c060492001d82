/**
 * Webhooks on job end, the pure part: what a delivery says (the JSON body), how it is signed (like
 * GitHub's `X-Hub-Signature-256`), when a failed delivery is tried again, and the record a
 * delivery journal keeps. The configuration is read by src/adapters/webhook-config.ts, the POST is
 * src/adapters/webhook-http.ts, the journals are src/adapters/webhook-journal*.ts, and the
 * delivery loop is src/jobs/webhooks.ts.
 */
import type { BillingSummary } from './billing.js';
import { releaseRemoved } from './release-outcome.js';
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Job, JobName } from './job.js';
import type { CustomerEventName } from './customer-events.js';

/** The ends of a job a webhook can be sent for (src/jobs/events.ts END_EVENTS). */
export type WebhookEvent = 'completed' | 'failed' | 'cancelled' | 'superseded';
export const WEBHOOK_EVENTS: readonly WebhookEvent[] = ['completed', 'failed', 'cancelled', 'superseded'];
/** `X-Custctl-Event` and the body's `event`. */
export type WebhookEventName = `job.${WebhookEvent}`;

export const SIGNATURE_HEADER = 'x-custctl-signature-256';
export const EVENT_HEADER = 'x-custctl-event';
export const DELIVERY_HEADER = 'x-custctl-delivery';

/** One configured receiver. The secret is not a field: only `sign` and `scrub` hold it. */
export interface WebhookEndpoint {
  /** stable name: deliveries are journaled under it, so a restart finds its endpoint again */
  readonly name: string;
  /** the URL to POST to (http or https); never printed as is: see `shownUrl` */
  readonly url: string;
  /** `url` with its query replaced by `?…` (a token in a query is a secret too) */
  readonly shownUrl: string;
  readonly events: readonly WebhookEvent[];
  /** the customer events (src/domain/customer-events.ts) are sent here too: `customer` in its events list */
  readonly customerEvents: boolean;
  /** job kinds sent; null: every kind */
  readonly kinds: readonly JobName[] | null;
  /** `sha256=<hex HMAC-SHA256(secret, body)>` */
  sign(body: string): string;
  /** `text` with the secret (should a foreign message ever quote it) replaced by `<secret>` */
  scrub(text: string): string;
}

/** When and how often deliveries are tried (docs/webhooks.md). */
export interface WebhookPolicy {
  /** a delivery is tried until this long after the job ended, then given up (default 24 h) */
  windowMs: number;
  /** the first retry waits about this long; then doubling (default 10 s) */
  baseDelayMs: number;
  /** no retry waits longer than this (default 1 h) */
  maxDelayMs: number;
  /** one POST may take this long (default 10 s) */
  timeoutMs: number;
  /** a one-off command (`custctl delete`) delivers for at most this long at its end, then leaves the rest pending (default 5 s) */
  exitWaitMs: number;
}

export const DEFAULT_WEBHOOK_POLICY: WebhookPolicy = {
  windowMs: 24 * 3_600_000,
  baseDelayMs: 10_000,
  maxDelayMs: 3_600_000,
  timeoutMs: 10_000,
  exitWaitMs: 5_000,
};

/** The entry of an endpoint's events list that subscribes it to the customer events (never a default). */
export const CUSTOMER_SUBSCRIPTION = 'customer';

export function makeEndpoint(o: { name: string; url: string; secret: string; events?: readonly WebhookEvent[]; kinds?: readonly JobName[] | null; customerEvents?: boolean }): WebhookEndpoint {
  const secret = o.secret;
  const ep = {
    name: o.name,
    shownUrl: shownUrl(o.url),
    events: o.events ?? WEBHOOK_EVENTS,
    customerEvents: o.customerEvents ?? false,
    kinds: o.kinds ?? null,
  };
  // JSON.stringify / util.inspect of an endpoint show neither the secret nor the URL's query: the
  // URL and the two functions are not enumerable, the secret is only in their closure
  Object.defineProperties(ep, {
    url: { value: o.url, enumerable: false },
    sign: { value: (body: string) => signBody(secret, body), enumerable: false },
    scrub: { value: (text: string) => (secret ? text.split(secret).join('<secret>') : text), enumerable: false },
  });
  return Object.freeze(ep) as WebhookEndpoint;
}

/** `sha256=<hex HMAC-SHA256(secret, body)>`, the value of `X-Custctl-Signature-256`. */
export function signBody(secret: string, body: string | Uint8Array): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** What a receiver does: the signature of the raw body, compared in constant time. */
export function verifySignature(secret: string, body: string | Uint8Array, header: string | undefined | null): boolean {
  const expected = Buffer.from(signBody(secret, body));
  const got = Buffer.from(header ?? '');
  return got.length === expected.length && timingSafeEqual(got, expected);
}

/** A URL as it may be shown (logs, `status job`, the journal): no user info, the query as `?…`, no fragment. */
export function shownUrl(raw: string): string {
  try {
    const u = new URL(raw);
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return '(not a URL)';
  }
}

/**
 * The wait before the next try after `failedAttempts` failed ones: `base × 2^(n−1)`, at most
 * `max`, then a random 50–100 % of that (so receivers coming back are not hit by every sender at
 * once). `random` returns [0, 1).
 */
export function retryDelay(failedAttempts: number, policy: Pick<WebhookPolicy, 'baseDelayMs' | 'maxDelayMs'>, random: () => number = Math.random): number {
  const raw = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, failedAttempts - 1));
  return Math.max(1, Math.round(raw * (0.5 + 0.5 * random())));
}

/**
 * When the next try is due after a failed one (ms), or null when the window is over: a wait
 * that would end past the window is cut to its end, so the last try happens at the deadline.
 */
export function nextAttemptAt(now: number, failedAttempts: number, giveUpAt: number, policy: Pick<WebhookPolicy, 'baseDelayMs' | 'maxDelayMs'>, random: () => number = Math.random): number | null {
  if (now >= giveUpAt) return null;
  return Math.min(giveUpAt, now + retryDelay(failedAttempts, policy, random));
}

/** The delivery schedule without jitter (docs/webhooks.md: the retry table): the offsets from the first try, ms. */
export function retrySchedule(policy: Pick<WebhookPolicy, 'windowMs' | 'baseDelayMs' | 'maxDelayMs'>): number[] {
  const at: number[] = [0];
  for (let n = 1; ; n++) {
    const next = (at.at(-1) as number) + retryDelay(n, policy, () => 1);
    if (next >= policy.windowMs) {
      at.push(policy.windowMs);
      return at;
    }
    at.push(next);
  }
}

// ---- the body ------------------------------------------------------------------------------

/** What a deletion removed (the audit row's `deleted`: src/pipeline/steps/row.ts). */
export interface DeletedSummary {
  releases?: string[];
  objects?: Record<string, number>;
  rbac?: string[];
}

export interface WebhookPayload {
  event: WebhookEventName;
  /** the same as `X-Custctl-Delivery`: a receiver drops a delivery it has seen (retries resend it) */
  deliveryId: string;
  /** when the delivery was created (the job's end was seen), ISO */
  timestamp: string;
  job: {
    id: string;
    kind: JobName;
    outcome: WebhookEvent;
    customerId: string | null;
    namespace: string | null;
    requestedBy: string;
    simulated: boolean;
    attemptsMade: number;
    maxAttempts: number;
    /** failed: the error's name (exit-code table) and message */
    error: { name: string; message: string } | null;
    /** superseded: why; cancelled: 'cancelled' */
    reason: string | null;
    requestedAt: string;
    startedAt: string | null;
    finishedAt: string | null;
  };
  durations: {
    /** from the request to the end, ms */
    totalMs: number | null;
    /** the last attempt, ms */
    lastAttemptMs: number | null;
  };
  /** counts of what was deleted (zeros for a job that deleted nothing), and the names */
  deleted: {
    releases: number;
    objects: number;
    objectsByKind: Record<string, number>;
    clusterRbac: number;
    names: { releases: string[]; clusterRbac: string[] };
  };
  /** what the deletion did at the billing provider: cancelled, invoiced, refunded (ids, amounts in the currency's smallest unit); absent when billing is not configured */
  billing?: BillingSummary;
}

/** The event of a job end. */
export function eventName(e: WebhookEvent): WebhookEventName {
  return `job.${e}`;
}

function iso(ms: number | null | undefined): string | null {
  return typeof ms === 'number' && Number.isFinite(ms) && ms > 0 ? new Date(ms).toISOString() : null;
}

interface RbacEntry { kind: string; name: string }
type ResultShape = { deleted?: unknown; releases?: Array<{ name: string; outcome: string }>; rbac?: { deleted?: RbacEntry[] } };

/** What a job of each kind deleted, read from its result; a kind not named here deleted nothing. */
const DELETED_BY_KIND: Partial<Record<JobName, (rv: ResultShape) => DeletedSummary>> = {
  // the pipeline's summary (the audit row's `deleted`); older results: their releases and RBAC
  delete: (rv) => {
    const s = (rv.deleted && typeof rv.deleted === 'object' && !Array.isArray(rv.deleted) ? rv.deleted : null) as DeletedSummary | null;
    return {
      releases: s?.releases ?? (rv.releases ?? []).filter((r) => releaseRemoved(r.outcome)).map((r) => r.name),
      objects: { ...(s?.objects ?? {}) },
      rbac: s?.rbac ?? (rv.rbac?.deleted ?? []).map((x) => `${x.kind}/${x.name}`),
    };
  },
  // the sweep's report: the RBAC objects it deleted
  'cleanup-rbac': (rv) => ({ rbac: Array.isArray(rv.deleted) ? (rv.deleted as RbacEntry[]).map((x) => `${x.kind}/${x.name}`) : [] }),
};

function deletedOf(job: Job): WebhookPayload['deleted'] {
  const rv = (typeof job.returnvalue === 'object' && job.returnvalue !== null ? job.returnvalue : {}) as ResultShape;
  return deletedBody((DELETED_BY_KIND as Record<string, ((rv: ResultShape) => DeletedSummary) | undefined>)[job.name]?.(rv) ?? {});
}

/** The `deleted` part of a body (webhooks, and the deletion hooks after the cluster part): counts and names. */
export function deletedBody(s: DeletedSummary): WebhookPayload['deleted'] {
  const releases = s.releases ?? [];
  const rbac = s.rbac ?? [];
  const objectsByKind = { ...(s.objects ?? {}) };
  return {
    releases: releases.length,
    objects: Object.values(objectsByKind).reduce((a, b) => a + b, 0),
    objectsByKind,
    clusterRbac: rbac.length,
    names: { releases, clusterRbac: rbac },
  };
}

/** The body of one delivery: stable field names (docs/webhooks.md), serialised once and journaled as sent. */
export function webhookPayload(job: Job, outcome: WebhookEvent, deliveryId: string, now: number): WebhookPayload {
  const finishedOn = job.finishedOn ?? (outcome === 'cancelled' ? now : null);
  const rv = job.returnvalue as { reason?: unknown } | null;
  const reason = outcome === 'cancelled' ? 'cancelled' : typeof rv?.reason === 'string' ? rv.reason : null;
  return {
    event: eventName(outcome),
    deliveryId,
    timestamp: new Date(now).toISOString(),
    job: {
      id: job.id,
      kind: job.name,
      outcome,
      customerId: job.data.customerId ?? null,
      namespace: job.data.namespace ?? null,
      requestedBy: job.requestedBy,
      simulated: job.simulated,
      attemptsMade: job.attemptsMade,
      maxAttempts: job.maxAttempts,
      error: outcome === 'failed' ? { name: job.failedCode ?? 'internal', message: job.failedReason ?? '' } : null,
      reason,
      requestedAt: new Date(job.timestamp).toISOString(),
      startedAt: iso(job.processedOn),
      finishedAt: iso(finishedOn),
    },
    durations: {
      totalMs: finishedOn ? Math.max(0, finishedOn - job.timestamp) : null,
      lastAttemptMs: finishedOn && job.processedOn ? Math.max(0, finishedOn - job.processedOn) : null,
    },
    deleted: deletedOf(job),
    ...billingOf(job),
  };
}

function billingOf(job: Job): { billing?: BillingSummary } {
  const rv = job.returnvalue as { billing?: BillingSummary & { lines?: string[] } } | null;
  if (!rv || typeof rv !== 'object' || !rv.billing || typeof rv.billing !== 'object') return {};
  const { lines: _lines, ...billing } = rv.billing;
  return { billing };
}

// ---- the journal's record --------------------------------------------------------------------

export type DeliveryState = 'pending' | 'delivered' | 'gave-up';

/** One delivery of one job end to one endpoint, as journaled (before the first try) and updated after each. */
export interface DeliveryRecord {
  /** uuid: `X-Custctl-Delivery` */
  id: string;
  jobId: string;
  /** the endpoint's name; its URL and secret come from the configuration at each try */
  endpoint: string;
  /** the endpoint's URL as it may be shown (`shownUrl`) */
  url: string;
  /** a job's end, or a customer event (src/domain/customer-events.ts) */
  event: WebhookEventName | CustomerEventName;
  /** one delivery per job end and endpoint: `<jobId>/<event>/<finishedOn>/<endpoint>` */
  key: string;
  state: DeliveryState;
  /** tries made */
  attempts: number;
  /** the HTTP status of the last try; null when it got no answer */
  statusCode: number | null;
  lastError: string | null;
  /** ms */
  createdAt: number;
  lastAttemptAt: number | null;
  /** when the next try is due (pending only), ms */
  nextAttemptAt: number | null;
  deliveredAt: number | null;
  /** the end of the retry window, ms */
  giveUpAt: number;
  /** the exact bytes sent (as UTF-8), so every retry sends (and signs) the same body */
  body: string;
  /** a process is trying it now (until `expiresAt`) */
  lease: { owner: string; expiresAt: number } | null;
}

/** A delivery as `status job N` and the API show it (no body, no lease). */
export type DeliveryView = Omit<DeliveryRecord, 'body' | 'lease' | 'key'>;

export function deliveryView(r: DeliveryRecord): DeliveryView {
  const { body: _b, lease: _l, key: _k, ...rest } = r;
  return rest;
}

export function deliveryKey(job: Pick<Job, 'id' | 'finishedOn' | 'attemptsMade'>, event: WebhookEvent, endpoint: string): string {
  return `${job.id}/${event}/${job.finishedOn ?? `a${job.attemptsMade}`}/${endpoint}`;
}

/** A record is due for a try: pending, its time has come, nobody else holds it. */
export function isDue(r: DeliveryRecord, now: number): boolean {
  return r.state === 'pending' && (r.nextAttemptAt ?? 0) <= now && (r.lease === null || r.lease.expiresAt <= now);
}
