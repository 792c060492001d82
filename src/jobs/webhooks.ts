/**
 * Webhooks on job end (the billing hook): a listener on the job lifecycle (src/jobs/events.ts)
 * journals one delivery per configured endpoint whose events include the end — before anything is
 * sent — and a delivery loop in this process sends it, signed, and retries it with backoff until
 * it is answered 2xx or its retry window is over.
 *
 * - Never in the way of a job: the listener only writes the journal (milliseconds) and wakes the
 *   loop; a failing receiver, a slow one or a journal error is logged and nothing else.
 * - At least once: the delivery is journaled (file journal in the state directory, or Redis with
 *   BullMQ) before its first try; a try is leased, so two processes do not send it at once, and a
 *   process that dies mid-try leaves it to the next after the lease. A receiver may see a delivery
 *   twice (its `X-Custctl-Delivery` is the same): it drops the second.
 * - Who delivers: every process that works with jobs runs the loop while it lives (`serve`,
 *   `worker`, and a one-off `custctl delete`, which also resumes the pending deliveries of earlier
 *   processes). A one-off command gives the loop at most `exitWaitMs` at its end (after its result
 *   and exit code are settled), then leaves the rest pending for the next custctl process.
 * - Never a secret in a log, an error or the journal: endpoints are named by name and URL without
 *   its query; signatures are made at each try from the configuration.
 */
import { randomUUID } from 'node:crypto';
import type { PostWebhook } from '../adapters/webhook-http.js';
import type { DeliveryJournal } from '../adapters/webhook-journal.js';
import type { WebhookConfig } from '../adapters/webhook-config.js';
import {
  DELIVERY_HEADER,
  deliveryKey,
  deliveryView,
  EVENT_HEADER,
  eventName,
  isDue,
  nextAttemptAt,
  SIGNATURE_HEADER,
  webhookPayload,
  type DeliveryRecord,
  type DeliveryView,
  type WebhookEndpoint,
  type WebhookEvent,
} from '../domain/webhook.js';
import { customerEventKey, type CustomerEvent } from '../domain/customer-events.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../io.js';
import { runPool } from '../util/pool.js';
import { within } from '../util/within.js';
import { isEnd, type JobEvents, type JobListener } from './events.js';

export type { DeliveryView };

export interface WebhooksOptions {
  config: WebhookConfig;
  /** the delivery journal, opened on first use */
  journal: () => Promise<DeliveryJournal>;
  post: PostWebhook;
  log: Logger;
  now: () => number;
  /** this process in leases: `pid@host` */
  owner: string;
  /** `custctl/<version>` */
  userAgent: string;
  random?: () => number;
  /** how often the loop looks for deliveries journaled by other processes (default 5 s) */
  pollMs?: number;
}

/** Deliveries of a job that the loop tries at once, at most. */
const CONCURRENCY = 4;
/** A try's lease outlasts its POST by this much (the journal write after it); a process killed mid-try holds it no longer. */
const LEASE_SLACK_MS = 5_000;
/** Finished deliveries are kept this long (the jobs' 7 days), then pruned. */
const KEEP_MS = 7 * 86_400_000;

export class Webhooks {
  private loop: Promise<void> | null = null;
  private stopping = false;
  private wakeUp: (() => void) | null = null;
  private kicked = false;
  private readonly ending = new AbortController();
  /** errors already logged by the loop, so a journal that stays broken is not logged every pass */
  private readonly reported = new Set<string>();

  constructor(private readonly o: WebhooksOptions) {}

  get endpoints(): readonly WebhookEndpoint[] {
    return this.o.config.endpoints;
  }

  /** The listener (registered on the jobs environment's stream in src/jobs/env.ts). */
  readonly onJobEvent: JobListener = async (e) => {
    if (!isEnd(e) || this.endpoints.length === 0) return;
    const outcome = e.type as WebhookEvent;
    const now = this.o.now();
    const records: DeliveryRecord[] = [];
    for (const ep of this.endpoints) {
      if (!ep.events.includes(outcome) || (ep.kinds && !ep.kinds.includes(e.job.name))) continue;
      const id = randomUUID();
      records.push({
        id,
        jobId: e.job.id,
        endpoint: ep.name,
        url: ep.shownUrl,
        event: eventName(outcome),
        key: deliveryKey(e.job, outcome, ep.name),
        state: 'pending',
        attempts: 0,
        statusCode: null,
        lastError: null,
        createdAt: now,
        lastAttemptAt: null,
        nextAttemptAt: now,
        deliveredAt: null,
        giveUpAt: now + this.o.config.policy.windowMs,
        body: JSON.stringify(webhookPayload(e.job, outcome, id, now)),
        lease: null,
      });
    }
    if (records.length === 0) return;
    // journaled before the first try: from here on the delivery survives a restart
    await (await this.o.journal()).add(records);
    this.start();
    this.kick();
  };

  /**
   * Journals a customer event (src/domain/customer-events.ts) for every endpoint subscribed to them
   * (`customer` in its events), under the job it
   * concerns, and wakes the loop. An event journaled already (the same key: a reminder found again
   * after a restart) adds nothing. Returns how many deliveries were added.
   */
  async sendCustomerEvent(jobId: string, make: (deliveryId: string) => CustomerEvent): Promise<number> {
    const subscribed = this.endpoints.filter((ep) => ep.customerEvents);
    if (subscribed.length === 0) return 0;
    const now = this.o.now();
    const records: DeliveryRecord[] = subscribed.map((ep) => {
      const id = randomUUID();
      const e = make(id);
      return {
        id, jobId, endpoint: ep.name, url: ep.shownUrl, event: e.event, key: customerEventKey(e, ep.name), state: 'pending', attempts: 0, statusCode: null, lastError: null,
        createdAt: now, lastAttemptAt: null, nextAttemptAt: now, deliveredAt: null, giveUpAt: now + this.o.config.policy.windowMs, body: JSON.stringify(e), lease: null,
      };
    });
    const added = await (await this.o.journal()).add(records);
    if (added.length > 0) {
      this.start();
      this.kick();
    }
    return added.length;
  }

  /** The deliveries of a job, as `status job N` shows them (readable without any endpoint configured). */
  async deliveries(jobId: string): Promise<DeliveryView[]> {
    return (await (await this.o.journal()).forJob(jobId)).map(deliveryView);
  }

  /** Starts the delivery loop of this process (idempotent; nothing without endpoints). */
  start(): void {
    if (this.loop || this.stopping || this.endpoints.length === 0) return;
    this.loop = this.run();
  }

  private kick(): void {
    this.kicked = true;
    this.wakeUp?.();
  }

  private async run(): Promise<void> {
    const poll = this.o.pollMs ?? 5_000;
    let lastPrune = 0;
    while (!this.stopping) {
      this.kicked = false;
      let wakeAt = this.o.now() + poll;
      try {
        const journal = await this.o.journal();
        if (this.o.now() - lastPrune > 3_600_000) {
          lastPrune = this.o.now();
          await journal.prune(this.o.now() - KEEP_MS).catch(() => 0);
        }
        wakeAt = Math.min(wakeAt, await this.pass(journal, Number.POSITIVE_INFINITY));
        this.reported.clear();
      } catch (e) {
        const m = errorMessage(e);
        if (!this.reported.has(m)) this.o.log.warn('webhook deliveries: cannot read the delivery journal; trying again', { error: m.split('\n')[0] });
        this.reported.add(m);
      }
      if (this.stopping || this.kicked) continue;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(10, wakeAt - this.o.now()));
        t.unref();
        this.wakeUp = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wakeUp = null;
    }
  }

  /**
   * One pass: tries every due delivery of a configured endpoint once (those past their window are
   * given up); returns when the next one is due. Tries started before `deadline` only.
   */
  private async pass(journal: DeliveryJournal, deadline: number): Promise<number> {
    const now = this.o.now();
    let next = Number.POSITIVE_INFINITY;
    const due: DeliveryRecord[] = [];
    for (const r of await journal.pending()) {
      const ep = this.endpoints.find((x) => x.name === r.endpoint);
      if (!ep) {
        // another process's endpoint (or one removed from the configuration): left for it, until its window is over
        if (now >= r.giveUpAt) await this.giveUp(journal, r, `endpoint ${r.endpoint} is not configured here and the retry window is over`);
        continue;
      }
      if (isDue(r, now)) due.push(r);
      else next = Math.min(next, r.lease && r.lease.expiresAt > now ? r.lease.expiresAt : r.nextAttemptAt ?? now);
    }
    await runPool(due, CONCURRENCY, async (r) => {
      if (this.o.now() >= deadline) return;
      const after = await this.attempt(journal, r, deadline);
      if (after !== null) next = Math.min(next, after);
    });
    return next;
  }

  private async giveUp(journal: DeliveryJournal, r: DeliveryRecord, why: string): Promise<void> {
    const now = this.o.now();
    if (!(await journal.claim(r.jobId, r.id, this.o.owner, now, 60_000))) return;
    await journal.finish(r.jobId, r.id, this.o.owner, { state: 'gave-up', attempts: r.attempts, statusCode: r.statusCode, lastError: why, lastAttemptAt: r.lastAttemptAt, nextAttemptAt: null, deliveredAt: null });
    this.o.log.error(`Webhook ${r.event} of job ${r.jobId} to ${r.endpoint} given up`, { delivery: r.id, attempts: r.attempts, why });
  }

  /** One try of one delivery; the time of its next try, or null when it ended. */
  private async attempt(journal: DeliveryJournal, r: DeliveryRecord, deadline: number): Promise<number | null> {
    const ep = this.endpoints.find((x) => x.name === r.endpoint);
    if (!ep) return null;
    const policy = this.o.config.policy;
    const timeoutMs = Math.max(100, Math.min(policy.timeoutMs, deadline - this.o.now()));
    const claimed = await journal.claim(r.jobId, r.id, this.o.owner, this.o.now(), timeoutMs + LEASE_SLACK_MS);
    if (!claimed) return null;
    const answer = await this.o.post({
      url: ep.url,
      body: claimed.body,
      headers: {
        'content-type': 'application/json',
        'user-agent': this.o.userAgent,
        [EVENT_HEADER]: claimed.event,
        [DELIVERY_HEADER]: claimed.id,
        [SIGNATURE_HEADER]: ep.sign(claimed.body),
      },
      timeoutMs,
      signal: this.ending.signal,
    }).catch((e: unknown) => ({ ok: false as const, status: null, error: errorMessage(e) }));
    const now = this.o.now();
    const attempts = claimed.attempts + 1;
    const fields = { delivery: claimed.id, endpoint: ep.name, url: ep.shownUrl, attempt: attempts };
    if (answer.ok) {
      await journal.finish(r.jobId, r.id, this.o.owner, { state: 'delivered', attempts, statusCode: answer.status, lastError: null, lastAttemptAt: now, nextAttemptAt: null, deliveredAt: now });
      this.o.log.info(`Webhook ${claimed.event} of job ${claimed.jobId} delivered to ${ep.name}`, { ...fields, status: answer.status });
      return null;
    }
    const error = ep.scrub(answer.error);
    const next = nextAttemptAt(now, attempts, claimed.giveUpAt, policy, this.o.random);
    await journal.finish(r.jobId, r.id, this.o.owner, {
      state: next === null ? 'gave-up' : 'pending', attempts, statusCode: answer.status, lastError: error, lastAttemptAt: now, nextAttemptAt: next, deliveredAt: null,
    });
    if (next === null) this.o.log.error(`Webhook ${claimed.event} of job ${claimed.jobId} to ${ep.name} given up: not delivered within the retry window`, { ...fields, error });
    else this.o.log.warn(`Webhook ${claimed.event} of job ${claimed.jobId} to ${ep.name} failed; next try ${new Date(next).toISOString()}`, { ...fields, error });
    return next;
  }

  /**
   * The end of this process: the loop stops; what is due now is tried once more within
   * `maxMs` (a one-off command's `exitWaitMs`); the rest stays pending in the journal.
   */
  async close(maxMs = this.o.config.policy.exitWaitMs): Promise<void> {
    const started = this.o.now();
    const deadline = started + maxMs;
    const wasRunning = this.loop !== null;
    this.stopping = true;
    this.wakeUp?.();
    try {
      if (this.loop) await within(this.loop, Math.max(1, maxMs), '').catch(() => undefined);
      if (wasRunning && this.o.now() < deadline - 50) {
        const journal = await this.o.journal();
        await within(this.pass(journal, deadline), Math.max(1, deadline - this.o.now()), '').catch(() => undefined);
      }
    } finally {
      this.ending.abort(new Error('custctl is exiting'));
    }
  }
}

/** The jobs environment's stream with the webhooks listening on it (the one registration in src/jobs/env.ts). */
export function withWebhooks(hooks: Webhooks | null | undefined, events: JobEvents): void {
  if (!hooks || hooks.endpoints.length === 0) return;
  events.on(hooks.onJobEvent);
  hooks.start();
}
