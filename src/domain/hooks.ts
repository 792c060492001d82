/**
 * Deletion hooks, the pure part: a site's own service (typically its billing service) called
 * synchronously at named points of a deletion, able to stop it. Signed like the webhooks
 * (src/domain/webhook.ts: the same headers and HMAC), but part of the job: the deletion waits for
 * the answer.
 *
 * - The points: `before` (nothing is deleted yet: a refusal hands the row back) and
 *   `after-cluster` (the cluster part is done, the row not yet reset: a refusal keeps the row from
 *   being reset). What each point means, and the progress mark that records it passed, is here.
 * - One call: a signed JSON POST whose delivery id is the same for every try and attempt of one
 *   job at one point to one endpoint, so the receiver acts once.
 * - The answer: 2xx continues (an optional JSON `message` is shown), 4xx refuses (408 and 429
 *   excepted: they mean "later"), 5xx and no answer are tried again within the attempt, anything
 *   else (a redirect) fails the call.
 * - What the plan and the result say, as data (`HookPlanLine`, `HookPointResult`) and as lines
 *   (the result's in hook-result.ts, which `status job` reads without the rest of this module).
 *
 * The file is read by src/adapters/hook-config.ts, the POST is src/adapters/hook-http.ts, the
 * calls with their retries are src/pipeline/hooks.ts.
 */
import type { HookCall, HookPoint, HookPointResult } from './hook-result.js';
import { createHash } from 'node:crypto';
import { ConflictError, OperationError } from './errors.js';
import { visible } from './visible.js';
import { deletedBody, signBody, shownUrl, type DeletedSummary, type WebhookPayload } from './webhook.js';

// ---- points ---------------------------------------------------------------------------------

export const HOOK_POINTS: readonly HookPoint[] = ['before', 'after-cluster'];
/** `X-Custctl-Event` and the body's `event` (webhooks send `job.*`). */
export type HookEventName = `hook.${HookPoint}`;

export interface HookPointInfo {
  /** when the point comes, as the plan says it */
  when: string;
  /** what a refusal there does */
  onRefusal: string;
  /**
   * The job's progress recorded once the point is passed (every hook there answered 2xx, or none
   * is configured): the step's own progress. A later attempt of the job whose progress reached it
   * does not call the point again: it was passed, and (for `before`) something may have been
   * deleted since, so a refusal could no longer hand the row back.
   */
  progress: number;
}

export const HOOK_POINT_INFO: Readonly<Record<HookPoint, HookPointInfo>> = {
  before: {
    when: 'before anything is deleted',
    onRefusal: 'a 4xx answer refuses the deletion: nothing is deleted and the row is handed back',
    // after the volume snapshots (3) and the backup (5), before Helm (25)
    progress: 7,
  },
  'after-cluster': {
    when: 'after the cluster part, before the row is reset',
    onRefusal: 'a 4xx answer stops the job before the row is reset: the row stays deletion_failed until the job is retried',
    // after the cluster RBAC (85), before the row (100)
    progress: 90,
  },
};

export function eventOf(point: HookPoint): HookEventName {
  return `hook.${point}`;
}

/** Whether an earlier attempt of the job got past this point (see HookPointInfo.progress). */
export function pointPassed(point: HookPoint, jobProgress: number): boolean {
  return jobProgress >= HOOK_POINT_INFO[point].progress;
}

export function isHookPoint(v: unknown): v is HookPoint {
  return typeof v === 'string' && (HOOK_POINTS as readonly string[]).includes(v);
}

// ---- endpoints ------------------------------------------------------------------------------

/** How one endpoint is called within one attempt of a job. */
export interface HookPolicy {
  /** one request, answer body included, ms */
  timeoutMs: number;
  /** requests in all within one attempt, the first included */
  tries: number;
  /** the first wait between tries; doubled for each further one (with jitter) */
  baseDelayMs: number;
  /** the longest wait between tries */
  maxDelayMs: number;
  /** a `Retry-After` longer than this is not waited for: the call fails at once (the job's next attempt calls again) */
  maxRetryAfterMs: number;
  /** no new try starts this long after the first */
  maxElapsedMs: number;
}

/** 4 tries, 1 s, 2 s, 4 s between them (each 50–100 %), 10 s each; a Retry-After up to 30 s. */
export const DEFAULT_HOOK_POLICY: Readonly<HookPolicy> = {
  timeoutMs: 10_000,
  tries: 4,
  baseDelayMs: 1_000,
  maxDelayMs: 8_000,
  maxRetryAfterMs: 30_000,
  maxElapsedMs: 120_000,
};

/** The answer body read at most (the rest is not read: the connection is closed). */
export const MAX_ANSWER_BYTES = 16 * 1024;
/** The longest message from an answer that is shown, in characters. */
export const MAX_MESSAGE_CHARS = 300;

/** One configured hook. The secret is not a field: only `sign` and `scrub` hold it. */
export interface HookEndpoint {
  /** stable: the delivery id is derived from it */
  readonly name: string;
  /** never printed as is: see `shownUrl` */
  readonly url: string;
  /** `url` with its query replaced by `?…` */
  readonly shownUrl: string;
  readonly points: readonly HookPoint[];
  readonly policy: Readonly<HookPolicy>;
  /** `sha256=<hex HMAC-SHA256(secret, body)>` */
  sign(body: string): string;
  /** `text` with the secret replaced by `<secret>` (should an answer ever quote it) */
  scrub(text: string): string;
}

export function makeHookEndpoint(o: { name: string; url: string; secret: string; points: readonly HookPoint[]; policy?: Partial<HookPolicy> }): HookEndpoint {
  const secret = o.secret;
  const ep = {
    name: o.name,
    shownUrl: shownUrl(o.url),
    points: Object.freeze([...o.points]),
    policy: Object.freeze({ ...DEFAULT_HOOK_POLICY, ...o.policy }),
  };
  // JSON.stringify / util.inspect of an endpoint show neither the secret nor the URL's query
  Object.defineProperties(ep, {
    url: { value: o.url, enumerable: false },
    sign: { value: (body: string) => signBody(secret, body), enumerable: false },
    scrub: { value: (text: string) => (secret ? text.split(secret).join('<secret>') : text), enumerable: false },
  });
  return Object.freeze(ep) as HookEndpoint;
}

/** The endpoints called at `point`, in the configured order. */
export function endpointsAt(endpoints: readonly HookEndpoint[], point: HookPoint): HookEndpoint[] {
  return endpoints.filter((e) => e.points.includes(point));
}

// ---- the delivery id ------------------------------------------------------------------------

/** The UUID namespace of custctl's hook deliveries (RFC 9562 name-based ids). */
export const HOOK_DELIVERY_NAMESPACE = '5b3f0d52-8c1e-4f0a-9a57-2f6d3c7e1b94';

/** An RFC 9562 version-5 (name-based, SHA-1) UUID: any uuid library recomputes it from the namespace and the name. */
export function uuidV5(name: string, namespace: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  if (ns.length !== 16) throw new Error(`not a UUID: ${namespace}`);
  const b = createHash('sha1').update(ns).update(name, 'utf8').digest().subarray(0, 16);
  b[6] = ((b[6] as number) & 0x0f) | 0x50;
  b[8] = ((b[8] as number) & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * `X-Custctl-Delivery` of one call: the same for every try within an attempt, every attempt, a
 * resumed job and another worker — one job (its id and creation time, which keep two journals
 * whose ids coincide apart), one point, one endpoint — so the receiver acts once on it.
 */
export function hookDeliveryId(o: { customerId: string; jobId: string; jobCreatedAt: number; point: HookPoint; endpoint: string }): string {
  return uuidV5(['custctl-hook', o.customerId, o.jobId, String(o.jobCreatedAt), o.point, o.endpoint].join('\n'), HOOK_DELIVERY_NAMESPACE);
}

// ---- the body -------------------------------------------------------------------------------

/** What the cluster part did, as the `after-cluster` body says it. */
export interface HookDeleted extends DeletedSummary {
  /** what the namespace step found: `already-gone` in an attempt after one that deleted it */
  namespace: 'deleted' | 'already-gone' | 'untouched' | 'simulated';
}

export interface HookPayload {
  event: HookEventName;
  /** the same as `X-Custctl-Delivery` */
  deliveryId: string;
  point: HookPoint;
  /** when this attempt first sent it, ISO (retries within the attempt send the same bytes) */
  timestamp: string;
  customerId: string;
  namespace: string;
  job: {
    id: string;
    kind: 'delete';
    /** 1-based; a later attempt sends the same delivery id with its own number */
    attempt: number;
    maxAttempts: number;
    requestedBy: string;
    requestedAt: string;
    /** a scheduled (soft) deletion: when it was due, ISO; else null */
    scheduledFor: string | null;
  };
  /**
   * `after-cluster`: what this attempt deleted (the webhooks' shape) and what it found of the
   * namespace; an attempt after one that deleted everything finds nothing left (zeros,
   * `already-gone`). `before`: null.
   */
  deleted: (WebhookPayload['deleted'] & { namespace: HookDeleted['namespace'] }) | null;
}

export interface HookJobFacts {
  id: string;
  /** created, ms */
  timestamp: number;
  requestedBy: string;
  maxAttempts: number;
  scheduledFor?: number | undefined;
}

export function hookPayload(o: {
  point: HookPoint;
  deliveryId: string;
  now: number;
  customerId: string;
  namespace: string;
  job: HookJobFacts;
  attempt: number;
  deleted?: HookDeleted | undefined;
}): HookPayload {
  return {
    event: eventOf(o.point),
    deliveryId: o.deliveryId,
    point: o.point,
    timestamp: new Date(o.now).toISOString(),
    customerId: o.customerId,
    namespace: o.namespace,
    job: {
      id: o.job.id,
      kind: 'delete',
      attempt: o.attempt,
      maxAttempts: o.job.maxAttempts,
      requestedBy: o.job.requestedBy,
      requestedAt: new Date(o.job.timestamp).toISOString(),
      scheduledFor: o.job.scheduledFor !== undefined ? new Date(o.job.scheduledFor).toISOString() : null,
    },
    deleted: o.point === 'after-cluster' ? { ...deletedBody(o.deleted ?? {}), namespace: o.deleted?.namespace ?? 'untouched' } : null,
  };
}

// ---- the answer -----------------------------------------------------------------------------

/** An HTTP answer as the adapter read it (the body at most MAX_ANSWER_BYTES). */
export interface HookHttpAnswer {
  status: number;
  statusText: string;
  contentType: string | null;
  body: string;
  /** the body was longer than what was read */
  truncated: boolean;
  /** `Retry-After` in ms, when present and readable */
  retryAfterMs?: number | undefined;
}

export type HookVerdict =
  | { kind: 'continue'; message: string | null }
  | { kind: 'refuse'; message: string | null }
  | { kind: 'retry'; why: string; afterMs?: number }
  | { kind: 'fail'; why: string };

export function statusWords(a: Pick<HookHttpAnswer, 'status' | 'statusText'>): string {
  return `HTTP ${a.status}${a.statusText ? ` ${visible(a.statusText).slice(0, 60)}` : ''}`;
}

/**
 * What an answer means. 2xx: go on. 408 and 429: later (they say so; a busy receiver is no
 * refusal). Other 4xx: refused. 5xx: later. 3xx: a failure (redirects are not followed: the signed
 * body goes only where it was configured to go). Anything else: a failure.
 */
export function judgeAnswer(a: HookHttpAnswer): HookVerdict {
  const s = a.status;
  const after = a.retryAfterMs !== undefined ? { afterMs: a.retryAfterMs } : {};
  if (s >= 200 && s < 300) return { kind: 'continue', message: answerMessage(a) };
  if (s === 408 || s === 429) return { kind: 'retry', why: statusWords(a), ...after };
  if (s >= 400 && s < 500) return { kind: 'refuse', message: answerMessage(a) };
  if (s >= 500 && s < 600) return { kind: 'retry', why: statusWords(a), ...after };
  if (s >= 300 && s < 400) return { kind: 'fail', why: `HTTP ${s} (a redirect: not followed; configure the URL it points to)` };
  return { kind: 'fail', why: `HTTP ${s}: not an answer custctl acts on` };
}

/**
 * The message of an answer, as it may be shown: `{"message": "…"}` of a JSON answer, or the text
 * of a `text/plain` one; whitespace runs (line breaks included) become one space, every character
 * a terminal would act on is escaped (src/domain/visible.ts), at most MAX_MESSAGE_CHARS
 * characters. Null: no message (an empty or unreadable body, a JSON answer without one, a JSON
 * answer too long to read whole).
 */
export function answerMessage(a: Pick<HookHttpAnswer, 'contentType' | 'body' | 'truncated'>): string | null {
  const type = (a.contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  const isJson = type === 'application/json' || type.endsWith('+json');
  let raw: string | null = null;
  if (isJson) {
    if (a.truncated) return null;
    try {
      const v = JSON.parse(a.body) as unknown;
      if (typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as { message?: unknown }).message === 'string') raw = (v as { message: string }).message;
    } catch {
      return null;
    }
  } else if (type === 'text/plain' || type === '') {
    raw = a.body;
  }
  return raw === null ? null : boundMessage(raw, a.truncated);
}

/** Whitespace runs as one space, unsafe characters escaped, at most MAX_MESSAGE_CHARS (code points; `…` when cut). */
export function boundMessage(raw: string, cut = false): string | null {
  const one = raw.replace(/\s+/gu, ' ').trim();
  if (one === '') return null;
  // an escape (`\u001b`) is kept whole or left out whole
  const pieces = Array.from(one, (ch) => visible(ch));
  const total = pieces.reduce((a, p) => a + Array.from(p).length, 0);
  if (!cut && total <= MAX_MESSAGE_CHARS) return pieces.join('');
  let out = '';
  let n = 0;
  for (const piece of pieces) {
    const len = Array.from(piece).length;
    if (n + len > MAX_MESSAGE_CHARS - 1) break;
    out += piece;
    n += len;
  }
  return `${out}…`;
}

// ---- outcomes -------------------------------------------------------------------------------

/** The call that stopped the point (the refusal or the failure), if any. */
export function stoppingCall(r: HookPointResult): Exclude<HookCall, { outcome: 'continued' }> | null {
  const c = r.calls.at(-1);
  return c && c.outcome !== 'continued' ? c : null;
}

export function pointOutcome(calls: readonly HookCall[]): HookPointResult['outcome'] {
  const last = calls.at(-1);
  return last === undefined ? 'none' : last.outcome;
}

// ---- plan and result lines --------------------------------------------------------------------

/** One line of the plan, as data: the self-describing step renders it for the CLI, JSON and the console. */
export interface HookPlanLine {
  point: HookPoint;
  endpoint: string;
  /** the URL as it may be shown */
  url: string;
  verb: 'POST';
  /** when the point comes */
  when: string;
  /** what an answer does */
  note: string;
  /** a simulated run makes no call */
  simulated: boolean;
  text: string;
}

export function hookPlanLines(endpoints: readonly HookEndpoint[], point: HookPoint, o: { simulated?: boolean } = {}): HookPlanLine[] {
  const info = HOOK_POINT_INFO[point];
  return endpointsAt(endpoints, point).map((e) => {
    const simulated = o.simulated === true;
    const note = simulated ? 'not called in a simulated run' : `${info.onRefusal}; 5xx and no answer are tried ${e.policy.tries} times`;
    return {
      point,
      endpoint: e.name,
      url: e.shownUrl,
      verb: 'POST' as const,
      when: info.when,
      note,
      simulated,
      text: `${info.when}: hook ${e.name} (POST ${e.shownUrl}, signed)${simulated ? ' — not called: simulated' : `: ${info.onRefusal}`}`,
    };
  });
}

export { hookResultLines } from './hook-result.js';
export type { HookCall, HookPoint, HookPointResult } from './hook-result.js';

// ---- errors ---------------------------------------------------------------------------------

/**
 * A hook refused (4xx). Permanent: no further attempt asks again on its own. `nothingDeleted`:
 * refused at `before` (no attempt of the job deleted anything: the point had not been passed), so
 * the pipeline hands the row back as for a failed backup; at `after-cluster` the instance is gone
 * and the row is left for the job's end to mark `deletion_failed`. Exit 4: a state of the
 * customer elsewhere stands in the way, not a malfunction.
 */
export class HookRefusedError extends ConflictError {
  readonly point: HookPoint;
  readonly endpoint: string;
  readonly status: number;
  readonly answer: string | null;
  readonly nothingDeleted: boolean;
  readonly result: HookPointResult;

  constructor(result: HookPointResult, call: Extract<HookCall, { outcome: 'refused' }>, jobId: string) {
    const said = call.message ? `: ${call.message}` : '';
    const before = result.point === 'before';
    super(
      before
        ? `hook ${call.endpoint} refused the deletion (HTTP ${call.status})${said}`
        : `hook ${call.endpoint} refused after the cluster part (HTTP ${call.status})${said}`,
      before
        ? ['Nothing was deleted; the row was handed back.', `The hook is ${call.url}; delivery ${call.deliveryId}.`]
        : [
          'The instance is deleted; the row was not reset (it is left deletion_failed).',
          `When the hook's service is ready: custctl jobs retry ${jobId} (it calls the hook again with delivery ${call.deliveryId}).`,
        ],
      { permanent: true },
    );
    this.point = result.point;
    this.endpoint = call.endpoint;
    this.status = call.status;
    this.answer = call.message;
    this.nothingDeleted = before;
    this.result = result;
  }
}

/** A hook gave no usable answer within its tries (5xx, no answer, a redirect): the attempt fails, a later one calls again. */
export class HookFailedError extends OperationError {
  readonly point: HookPoint;
  readonly endpoint: string;
  readonly result: HookPointResult;

  constructor(result: HookPointResult, call: Extract<HookCall, { outcome: 'failed' }>) {
    super(
      `hook ${call.endpoint} (${result.point}) failed${call.tries > 1 ? ` after ${call.tries} tries` : ''}: ${call.error}`,
      [
        result.point === 'before' ? 'Nothing was deleted by this attempt.' : 'The cluster part is done; the row is not reset until the hook answers.',
        `The hook is ${call.url}; a later attempt of the job calls it again with delivery ${call.deliveryId}.`,
      ],
    );
    this.point = result.point;
    this.endpoint = call.endpoint;
    this.result = result;
  }
}
