/**
 * The deletion hooks, called: at one point of one attempt, every endpoint configured for the
 * point, one after the other in the file's order, each a signed POST tried again within the
 * attempt (5xx, 408, 429, no answer: capped backoff with jitter, `Retry-After` honoured up to the
 * policy's bound; every wait and request stopped by the attempt's signal) until it answers 2xx
 * (the next endpoint is called), 4xx (refused: the rest are not called), or its tries are used up.
 *
 * A step calls it in one line:
 *
 *   ctx.result.hooks.push(await passHookPoint(env.hooks, hookCallOf(ctx, 'before', attempt)));
 *
 * `passHookPoint` returns the point's result when it may go on and throws the typed error when it
 * may not: HookRefusedError (`nothingDeleted` at `before`: hand the row back), HookFailedError
 * (the attempt fails; a later one calls again). `callHookPoint` returns the result without
 * throwing. Rules (what an answer means, the delivery id, the body, the lines) are
 * src/domain/hooks.ts; the POST is src/adapters/hook-http.ts.
 */
import { abortableSleep, parseRetryAfter, withRetries, type RetryPolicy } from '../adapters/retry.js';
import {
  endpointsAt,
  eventOf,
  HookFailedError,
  hookDeliveryId,
  hookPayload,
  HookRefusedError,
  judgeAnswer,
  pointOutcome,
  pointPassed,
  stoppingCall,
  type HookCall,
  type HookDeleted,
  type HookEndpoint,
  type HookJobFacts,
  type HookPoint,
  type HookPointResult,
} from '../domain/hooks.js';
import { DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER } from '../domain/webhook.js';
import type { StepContext } from './step.js';
import { deletedCounts } from './steps/row.js';
import type { HooksEnv } from './outside.js';
import type { StepLog } from './types.js';

export type { HooksEnv };

/** One point of one attempt of one job. */
export interface HookCallInput {
  point: HookPoint;
  job: HookJobFacts & { progress: number };
  customerId: string;
  namespace: string;
  /** the attempt, 1-based */
  attempt: number;
  /** `after-cluster`: what the cluster part did */
  deleted?: HookDeleted | undefined;
  signal: AbortSignal;
  log: StepLog;
}

/** The input of a point from a step's context: the job, the customer, and (after the cluster part) what it deleted. */
export function hookCallOf(ctx: Pick<StepContext, 'job' | 'customer' | 'namespace' | 'signal' | 'log' | 'result' | 'inspection' | 'pvcs'>, point: HookPoint, attempt: number): HookCallInput {
  const j = ctx.job;
  return {
    point,
    job: { id: j.id, timestamp: j.timestamp, requestedBy: j.requestedBy, maxAttempts: j.maxAttempts, scheduledFor: j.data.scheduledFor, progress: j.progress },
    customerId: ctx.customer.id,
    namespace: ctx.namespace,
    attempt,
    ...(point === 'after-cluster' ? { deleted: { ...deletedCounts(ctx), namespace: ctx.result.namespaceOutcome } } : {}),
    signal: ctx.signal,
    log: ctx.log,
  };
}

/**
 * Calls the point's endpoints; never throws for an answer (only when the signal aborts: its
 * reason). A point an earlier attempt of the job got past is not called again (`passed`).
 */
export async function callHookPoint(env: HooksEnv, input: HookCallInput): Promise<HookPointResult> {
  const { point, log, signal } = input;
  const endpoints = endpointsAt(env.endpoints, point);
  if (endpoints.length === 0) return { point, outcome: 'none', calls: [], notCalled: [] };
  if (pointPassed(point, input.job.progress)) {
    log('info', `Hooks (${point}): an earlier attempt of this job got past this point: not called again`, { hooks: endpoints.map((e) => e.name) });
    return { point, outcome: 'passed', calls: [], notCalled: [] };
  }
  const calls: HookCall[] = [];
  for (const [i, ep] of endpoints.entries()) {
    signal.throwIfAborted();
    const call = await callOne(env, ep, input);
    calls.push(call);
    if (call.outcome !== 'continued') {
      return { point, outcome: call.outcome, calls, notCalled: endpoints.slice(i + 1).map((e) => e.name) };
    }
  }
  return { point, outcome: pointOutcome(calls), calls, notCalled: [] };
}

/** Calls the point; returns its result when the deletion may go on, else throws HookRefusedError or HookFailedError. */
export async function passHookPoint(env: HooksEnv, input: HookCallInput): Promise<HookPointResult> {
  const r = await callHookPoint(env, input);
  const stop = stoppingCall(r);
  if (stop?.outcome === 'refused') throw new HookRefusedError(r, stop, input.job.id);
  if (stop?.outcome === 'failed') throw new HookFailedError(r, stop);
  return r;
}

/** An answer (or none) worth another try: what withRetries classifies. */
class TryAgain extends Error {
  constructor(readonly why: string, readonly status: number | null, readonly afterMs: number | undefined) {
    super(why);
  }
}

async function callOne(env: HooksEnv, ep: HookEndpoint, input: HookCallInput): Promise<HookCall> {
  const now = env.now ?? Date.now;
  const started = now();
  const { point, signal, log } = input;
  const deliveryId = hookDeliveryId({ customerId: input.customerId, jobId: input.job.id, jobCreatedAt: input.job.timestamp, point, endpoint: ep.name });
  // serialised once: every try of this attempt sends (and signs) the same bytes
  const body = JSON.stringify(hookPayload({ point, deliveryId, now: started, customerId: input.customerId, namespace: input.namespace, job: input.job, attempt: input.attempt, deleted: input.deleted }));
  const headers = {
    'content-type': 'application/json',
    accept: 'application/json, text/plain;q=0.5',
    'user-agent': env.userAgent,
    [EVENT_HEADER]: eventOf(point),
    [DELIVERY_HEADER]: deliveryId,
    [SIGNATURE_HEADER]: ep.sign(body),
  };
  const base = { endpoint: ep.name, url: ep.shownUrl, point, deliveryId };
  const p = ep.policy;
  const policy: RetryPolicy = { tries: p.tries, baseMs: p.baseDelayMs, maxMs: p.maxDelayMs, maxRetryAfterMs: p.maxRetryAfterMs, maxElapsedMs: p.maxElapsedMs };
  let tries = 0;
  log('info', `Hook ${ep.name} (${point}): calling ${ep.shownUrl}`, { delivery: deliveryId });
  try {
    const answered = await withRetries(async (tryNo) => {
      tries = tryNo;
      const a = await env.post({ url: ep.url, body, headers, timeoutMs: p.timeoutMs, signal });
      signal.throwIfAborted();
      if (!a.ok) throw new TryAgain(ep.scrub(a.error), null, undefined);
      const verdict = judgeAnswer({ status: a.status, statusText: a.statusText, contentType: a.contentType, body: ep.scrub(a.body), truncated: a.truncated, retryAfterMs: parseRetryAfter(a.retryAfter, now()) });
      if (verdict.kind === 'retry') throw new TryAgain(verdict.why, a.status, verdict.afterMs);
      return { status: a.status, verdict };
    }, {
      policy,
      classify: (e) => (e instanceof TryAgain ? { retry: true, why: e.why, ...(e.afterMs !== undefined ? { afterMs: e.afterMs } : {}) } : { retry: false }),
      signal,
      sleep: env.sleep ?? abortableSleep,
      ...(env.random ? { random: env.random } : {}),
      now,
      onRetry: (ev) => log('warn', `Hook ${ep.name} (${point}): ${ev.why}; try ${ev.tryNo + 1} of ${ev.tries} in ${(ev.waitMs / 1000).toFixed(1)} s`, { delivery: deliveryId }),
    });
    const durationMs = now() - started;
    const v = answered.verdict;
    if (v.kind === 'continue') {
      log('ok', `Hook ${ep.name} (${point}): continued (HTTP ${answered.status})${v.message ? `: ${v.message}` : ''}`, { delivery: deliveryId });
      return { ...base, outcome: 'continued', status: answered.status, message: v.message, tries, durationMs };
    }
    if (v.kind === 'refuse') {
      log('error', `Hook ${ep.name} (${point}): refused (HTTP ${answered.status})${v.message ? `: ${v.message}` : ''}`, { delivery: deliveryId });
      return { ...base, outcome: 'refused', status: answered.status, message: v.message, tries, durationMs };
    }
    // 'fail' (a redirect, a status custctl does not act on): no retry helps within the attempt
    const why = v.kind === 'fail' ? v.why : 'unexpected answer';
    log('error', `Hook ${ep.name} (${point}): ${why}`, { delivery: deliveryId });
    return { ...base, outcome: 'failed', status: answered.status, error: why, tries, durationMs };
  } catch (e) {
    if (signal.aborted) throw signal.reason ?? e;
    if (!(e instanceof TryAgain)) throw e;
    const tooLong = e.afterMs !== undefined && e.afterMs > p.maxRetryAfterMs;
    const error = tooLong
      ? `${e.why}, and it asks to wait ${Math.ceil((e.afterMs as number) / 1000)} s (Retry-After): longer than an attempt waits (${p.maxRetryAfterMs / 1000} s)`
      : e.why;
    log('error', `Hook ${ep.name} (${point}): no usable answer after ${tries} ${tries === 1 ? 'try' : 'tries'}: ${error}`, { delivery: deliveryId });
    return { ...base, outcome: 'failed', status: e.status, error, tries, durationMs: now() - started };
  }
}
