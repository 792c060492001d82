/**
 * Times in JSON are ISO 8601: the job keeps BullMQ's millisecond fields (deprecated, the schema is
 * shared with the production queue API) and carries an ISO companion beside each; a webhook
 * delivery's times are ISO. The same in `-o json|yaml` and in the queue API's answers.
 */
import { describe, expect, it } from 'vitest';
import { deliveryFromJson, deliveryJson, isoTime, jobJson } from '../../src/domain/json-times.js';
import type { Job } from '../../src/domain/job.js';
import type { DeliveryView } from '../../src/domain/webhook.js';
import { jobJson as apiJobJson } from '../../src/server/api-routes.js';
import { cancelledJobView, customerStatusView, jobIdView, jobListView, jobView } from '../../src/output/job-view.js';
import { print } from '../../src/output/print.js';
import type { CustomerRow } from '../../src/adapters/store.js';
import { bufferIO } from '../support/buffer-io.js';

const T0 = Date.parse('2026-12-01T10:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

const job: Job = {
  id: '12', name: 'delete', state: 'delayed', progress: 25, data: { customerId: 'cust_a', namespace: 'customer-a', scheduledFor: T0 + 7 * 86_400_000 },
  opts: { attempts: 3, backoff: { type: 'exponential', delay: 60_000 }, timeoutMs: 600_000 },
  attemptsMade: 1, maxAttempts: 3, delayUntil: T0 + 120_000, failedReason: 'boom', failedCode: 'internal', stacktrace: [], returnvalue: null,
  requestedBy: 'op (cli)', simulated: false, timestamp: T0, processedOn: T0 + 1000, finishedOn: null, previousStatus: 'deployed',
  attempts: [{ attempt: 1, startedOn: T0 + 1000, finishedOn: T0 + 6000, worker: '1@h', outcome: 'failed', error: 'boom', log: [] }],
  lease: { owner: '1@h', pid: 1, host: 'h', expiresAt: T0 + 31_000 },
};

const delivery: DeliveryView = {
  id: 'd1', jobId: '12', endpoint: 'ops', url: 'https://hooks.example/x', event: 'job.failed', state: 'pending', attempts: 1, statusCode: 500, lastError: 'HTTP 500',
  createdAt: T0, lastAttemptAt: T0 + 1000, nextAttemptAt: T0 + 61_000, deliveredAt: null, giveUpAt: T0 + 86_400_000,
};

/** Every ISO companion of `job`, as `jobJson` must give it. */
const ISO_FIELDS = {
  requestedAt: iso(T0),
  startedAt: iso(T0 + 1000),
  finishedAt: null,
  delayedUntil: iso(T0 + 120_000),
  data: { scheduledAt: iso(T0 + 7 * 86_400_000) },
  attempts: [{ startedAt: iso(T0 + 1000), finishedAt: iso(T0 + 6000) }],
  lease: { expires: iso(T0 + 31_000) },
};

describe('the job JSON: ISO times beside the milliseconds', () => {
  it('every millisecond field keeps its value (the shared schema) and has its ISO companion', () => {
    const j = jobJson(job);
    expect(j).toMatchObject(ISO_FIELDS);
    expect(j).toMatchObject({ timestamp: T0, processedOn: T0 + 1000, finishedOn: null, delayUntil: T0 + 120_000, data: { scheduledFor: T0 + 7 * 86_400_000 }, attempts: [{ startedOn: T0 + 1000, finishedOn: T0 + 6000 }], lease: { expiresAt: T0 + 31_000 } });
    expect(jobJson(j as unknown as Job)).toEqual(j); // a job read back from the API gives the same JSON
    expect(isoTime(null)).toBeNull();
    expect(isoTime(Number.NaN)).toBeNull();
  });

  it('the queue API answers with the same fields (the lease without pid/host)', () => {
    const j = apiJobJson(job);
    expect(j).toMatchObject(ISO_FIELDS);
    expect(j.lease).toMatchObject({ pid: 0, host: '', expires: iso(T0 + 31_000) });
  });

  it.each([
    ['status job', () => jobView(job, T0)],
    ['status job (with deliveries)', () => jobView(job, T0, [delivery])],
    ['jobs cancel', () => cancelledJobView({ customerId: null, jobId: job.id, status: null, scheduledFor: null, restored: [], simulated: false, deletionStarted: false, cancelledBy: 'x', job })],
    ['delete --detach', () => jobIdView(job)],
  ])('-o json and -o yaml of %s carry them', async (_name, make) => {
    for (const format of ['json', 'yaml'] as const) {
      const b = bufferIO();
      await print(b.io, format, make());
      const back = (format === 'json' ? JSON.parse(b.out()) : (await import('yaml')).parse(b.out())) as Record<string, unknown>;
      expect(back).toMatchObject(ISO_FIELDS);
    }
  });

  it('jobs list and status customer carry them for every job', async () => {
    const b = bufferIO();
    await print(b.io, 'json', jobListView([job, job], T0, () => undefined));
    expect(JSON.parse(b.out())).toMatchObject([ISO_FIELDS, ISO_FIELDS]);
    const c = bufferIO();
    const row = { customerId: 'cust_a', updatedAt: iso(T0) } as CustomerRow;
    await print(c.io, 'json', customerStatusView({ customer: row, jobs: [job] }, '', T0));
    expect(JSON.parse(c.out())).toMatchObject({ customer: { updatedAt: iso(T0) }, jobs: [ISO_FIELDS] });
  });
});

describe('webhook deliveries: ISO times', () => {
  it('in JSON every time is ISO; read back (ISO, or an older server\'s ms) it is the view again', () => {
    const j = deliveryJson(delivery);
    expect(j).toMatchObject({ createdAt: iso(T0), lastAttemptAt: iso(T0 + 1000), nextAttemptAt: iso(T0 + 61_000), deliveredAt: null, giveUpAt: iso(T0 + 86_400_000) });
    expect(deliveryFromJson(j as unknown as Record<string, unknown>)).toEqual(delivery);
    expect(deliveryFromJson(delivery as unknown as Record<string, unknown>)).toEqual(delivery);
  });

  it('status job -o json shows the deliveries with ISO times', async () => {
    const b = bufferIO();
    await print(b.io, 'json', jobView(job, T0, [delivery]));
    expect(JSON.parse(b.out()).deliveries).toEqual([expect.objectContaining({ createdAt: iso(T0), giveUpAt: iso(T0 + 86_400_000) })]);
  });
});
