// The one cancel (src/jobs/cancel.ts) on a real file journal, with the in-memory store and kube of
// test/support: every way in (by job, by customer), every state a job can be cancelled in, the
// races, a restore that fails, the owner rule. The same paths on the real control plane, with
// PostgreSQL, BullMQ and `serve`: test/integration/cancel.test.ts.
import { mkdtemp, rm } from 'node:fs/promises';
import { singleCluster } from '../../src/adapters/clusters.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openFileJournal, type FileJournal } from '../../src/adapters/file-journal.js';
import { buildConfig } from '../../src/config.js';
import { parseCustomerId } from '../../src/domain/customer-id.js';
import { ConflictError, ForbiddenError, NotFoundError, OperationError } from '../../src/errors.js';
import { cancel, mayCancel } from '../../src/jobs/cancel.js';
import type { JobsEnv } from '../../src/jobs/env.js';
import { fakeJobsEnv } from '../support/fake-deps.js';
import { submitDeletion } from '../../src/jobs/kinds/delete.js';
import { settle } from '../../src/jobs/kinds/index.js';
import { SUSPENDED_ANNOTATION } from '../../src/pipeline/suspend.js';
import { FakeHelm, FakeKube, FakeStore } from '../support/fakes.js';

const T0 = Date.parse('2026-12-01T10:00:00Z');
const CUST = parseCustomerId('cust_abc123');
const NS = 'customer-abc123';
const ADMIN = { actor: 'api:ops' };

let dir: string;
let queue: FileJournal;
let store: FakeStore;
let kube: FakeKube;
let env: JobsEnv;
let clusterCalls: number;
let now: number;

function seed(status: 'deployed' | 'failed' = 'deployed') {
  store.rows.set(CUST.id, {
    id: 1, customerId: CUST.id, email: 'a@x', companyName: 'Co', deploymentStatus: status, instanceNamespace: NS, instanceUrl: 'https://x',
    deletionJobId: null, previousStatus: null, deletionScheduledAt: null, deletedAt: null, createdAt: 'then', updatedAt: 'then',
  });
  kube.addNamespace(NS);
  kube.workloads.set(NS, [
    { kind: 'Deployment', name: 'web', replicas: 3, annotations: {}, resourceVersion: '1' },
    { kind: 'CronJob', name: 'report', suspend: false, annotations: {}, resourceVersion: '1' },
  ]);
}

const workloads = () => (kube.workloads.get(NS) ?? []).map((w) => [w.name, w.replicas ?? w.suspend, w.annotations[SUSPENDED_ANNOTATION]]);
const row = () => store.rows.get(CUST.id);
const patches = () => kube.calls.filter((c) => c.startsWith('patch'));

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'custctl-cancel-'));
  queue = await openFileJournal({ dir: join(dir, 'journal'), worker: 'test' });
  store = new FakeStore();
  kube = new FakeKube();
  clusterCalls = 0;
  now = T0;
  env = fakeJobsEnv({
    queue, store, config: buildConfig({}, {}), now: () => now,
    clusters: singleCluster({
      kube: async () => {
        clusterCalls += 1;
        return kube;
      },
      helm: async () => new FakeHelm(),
    }),
  });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** `delete --after 7d`: the instance suspended, the job delayed. */
async function schedule(requestedBy = 'alice@host (cli)') {
  return submitDeletion(env, CUST, { requestedBy, afterMs: 7 * 86_400_000 });
}

describe('a scheduled deletion: by job id and by customer, the same result', () => {
  it.each([
    ['jobs cancel N', (id: string) => ({ jobId: id })],
    ['cancel ID', () => ({ customer: CUST })],
  ])('%s: the instance restored exactly, the row back to deployed, one audit row naming who cancelled', async (_what, target) => {
    seed();
    const job = await schedule();
    expect(workloads()).toEqual([['web', 0, '3'], ['report', true, 'false']]);
    expect(row()).toMatchObject({ deploymentStatus: 'deleting', deletionJobId: job.id });

    const r = await cancel(env, target(job.id), ADMIN);
    expect(r).toMatchObject({ customerId: CUST.id, jobId: job.id, status: 'deployed', deletionStarted: false, cancelledBy: 'api:ops', scheduledFor: new Date(T0 + 7 * 86_400_000).toISOString() });
    expect(r.restored.map((c) => `${c.kind}/${c.name}=${c.to}`)).toEqual(['Deployment/web=3', 'CronJob/report=false']);
    expect(workloads()).toEqual([['web', 3, undefined], ['report', false, undefined]]);
    expect(row()).toMatchObject({ deploymentStatus: 'deployed', deletionJobId: null, deletionScheduledAt: null });
    expect(await queue.get(job.id)).toMatchObject({ state: 'failed', failedReason: 'cancelled' });
    const cancels = store.audit.filter((a) => a.action.includes('cancel'));
    expect(cancels).toEqual([expect.objectContaining({ action: 'deletion-cancelled', actor: 'api:ops', rowStatus: 'deployed', jobId: job.id, reason: `was due ${r.scheduledFor}; restored 2 object(s)` })]);

    // asked again: nothing left to cancel (exit 4), nothing touched
    const before = patches().length;
    await expect(cancel(env, target(job.id), ADMIN)).rejects.toBeInstanceOf(ConflictError);
    expect(patches().length).toBe(before);
  });
});

describe('an immediate deletion waiting for a worker', () => {
  it('row back to its previous status; the cluster is not asked (nothing was suspended)', async () => {
    seed('failed');
    const job = await submitDeletion(env, CUST, { requestedBy: 'x', afterMs: 0 });
    const r = await cancel(env, { jobId: job.id }, ADMIN);
    expect(r).toMatchObject({ status: 'failed', restored: [], deletionStarted: false });
    expect(clusterCalls).toBe(0);
    expect(row()).toMatchObject({ deploymentStatus: 'failed', deletionJobId: null });
  });
});

describe('a deletion between two attempts (an attempt ran)', () => {
  it('nothing is put back, the row is deletion_failed (never deployed over a half-deleted instance), no further attempt', async () => {
    seed();
    const job = await submitDeletion(env, CUST, { requestedBy: 'x', afterMs: 0 });
    const claimed = await queue.claim(job.id, 'w1', now, 30_000);
    expect(claimed?.state).toBe('active');
    await queue.fail(job.id, 'w1', { message: 'namespace still terminating', errorName: 'timeout', final: false }, now);
    expect(await queue.get(job.id)).toMatchObject({ state: 'delayed', attemptsMade: 1 });

    const r = await cancel(env, { customer: CUST }, ADMIN);
    expect(r).toMatchObject({ status: 'deletion_failed', deletionStarted: true, restored: [] });
    expect(patches()).toEqual([]);
    expect(row()?.deploymentStatus).toBe('deletion_failed');
    expect(store.audit.at(-1)).toMatchObject({ action: 'deletion-cancelled', rowStatus: 'deletion_failed', actor: 'api:ops' });
    expect(store.audit.at(-1)?.reason).toMatch(/the deletion had started \(1 attempt ran\)/);
    // the journal never hands it to a worker again
    expect(await queue.claimNext('w2', now + 86_400_000, 30_000)).toBeNull();
  });

  it('a scheduled deletion whose due attempt failed: still no restore (the attempt may have deleted part of it)', async () => {
    seed();
    const job = await schedule();
    now = T0 + 7 * 86_400_000 + 1;
    await queue.claim(job.id, 'w1', now, 30_000);
    await queue.fail(job.id, 'w1', { message: 'api server went away', errorName: 'internal', final: false }, now);
    const r = await cancel(env, { jobId: job.id }, ADMIN);
    expect(r).toMatchObject({ status: 'deletion_failed', deletionStarted: true });
    expect(patches().length).toBe(2); // the two suspend patches of the schedule, no restore
  });
});

describe('races and refusals: nothing changed', () => {
  it('a worker took the job first: 409, the row still held, the instance still suspended', async () => {
    seed();
    const job = await schedule();
    now = T0 + 7 * 86_400_000;
    await queue.claim(job.id, 'w1', now, 30_000); // the worker started it just now
    const before = patches().length;
    const e = await cancel(env, { customer: CUST }, ADMIN).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConflictError);
    expect((e as Error).message).toMatch(/is running/);
    expect(patches().length).toBe(before);
    expect(row()).toMatchObject({ deploymentStatus: 'deleting', deletionJobId: job.id });
    expect((await queue.get(job.id))?.state).toBe('active');
  });

  it('the cancel wins the race: a worker then finds nothing to claim', async () => {
    seed();
    const job = await submitDeletion(env, CUST, { requestedBy: 'x', afterMs: 0 });
    await cancel(env, { jobId: job.id }, ADMIN);
    expect(await queue.claim(job.id, 'w1', now, 30_000)).toBeNull();
  });

  it('a customer with no deletion, an unknown customer, an unknown job', async () => {
    seed();
    await expect(cancel(env, { customer: CUST }, ADMIN)).rejects.toBeInstanceOf(ConflictError);
    await expect(cancel(env, { customer: parseCustomerId('cust_nope1') }, ADMIN)).rejects.toBeInstanceOf(NotFoundError);
    await expect(cancel(env, { jobId: '4242' }, ADMIN)).rejects.toBeInstanceOf(NotFoundError);
    expect(row()?.deploymentStatus).toBe('deployed');
  });
});

describe('a restore that fails', () => {
  it('the job stays cancelled, the row says deletion_failed (not deployed with workloads at 0); asking again finishes it, by customer or by job', async () => {
    seed();
    const job = await schedule();
    const patch = kube.patchWorkload.bind(kube);
    kube.patchWorkload = async () => { throw new OperationError('connect ECONNREFUSED 10.0.0.1:443'); };
    const e = await cancel(env, { jobId: job.id }, ADMIN).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(OperationError);
    expect((e as Error).message).toMatch(/is cancelled, so nothing of cust_abc123 will be deleted; but its suspended instance could not be restored/);
    expect(workloads()).toEqual([['web', 0, '3'], ['report', true, 'false']]);
    expect(row()).toMatchObject({ deploymentStatus: 'deletion_failed', deletionJobId: job.id });
    expect(await queue.get(job.id)).toMatchObject({ state: 'failed', failedReason: 'cancelled' });
    expect(store.audit.at(-1)).toMatchObject({ action: 'deletion-cancelled', outcome: 'restore-failed', rowStatus: 'deletion_failed' });

    // a worker starting up, or `jobs resume`, settles failed jobs: it must not hand this row back
    await settle(env, (await queue.get(job.id))!);
    expect(row()?.deploymentStatus).toBe('deletion_failed');

    kube.patchWorkload = patch;
    const r = await cancel(env, { customer: CUST }, { actor: 'bob@host (cli)' });
    expect(r).toMatchObject({ status: 'deployed', deletionStarted: false });
    expect(workloads()).toEqual([['web', 3, undefined], ['report', false, undefined]]);
    expect(row()).toMatchObject({ deploymentStatus: 'deployed', deletionJobId: null });
    expect(store.audit.at(-1)).toMatchObject({ action: 'deletion-cancelled', actor: 'bob@host (cli)', rowStatus: 'deployed' });
    await expect(cancel(env, { jobId: job.id }, ADMIN)).rejects.toBeInstanceOf(ConflictError);
  });

  it('a process that died between the job cancel and the row: the row stays deleting (never released by a settle), the next cancel finishes', async () => {
    seed();
    const job = await schedule();
    const cancelled = await queue.cancel(job.id, now); // the queue's half only
    await settle(env, cancelled);
    expect(row()?.deploymentStatus).toBe('deleting');
    const r = await cancel(env, { jobId: job.id }, ADMIN);
    expect(r.status).toBe('deployed');
    expect(workloads()).toEqual([['web', 3, undefined], ['report', false, undefined]]);
  });
});

describe('account owners', () => {
  const OWNER = { actor: 'api:portal', ownerOf: CUST.id };

  it('cancels the deletion it asked for; the audit row names it', async () => {
    seed();
    await schedule('api:portal');
    const r = await cancel(env, { customer: CUST }, OWNER);
    expect(r.status).toBe('deployed');
    expect(store.audit.at(-1)).toMatchObject({ action: 'deletion-cancelled', actor: 'api:portal' });
  });

  it("an administrator's deletion of its own customer is refused (403), nothing changed", async () => {
    seed();
    const job = await schedule('api:ops');
    const e = await cancel(env, { customer: CUST }, OWNER).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ForbiddenError);
    expect((e as Error).message).not.toContain('ops');
    expect(row()).toMatchObject({ deploymentStatus: 'deleting', deletionJobId: job.id });
    expect((await queue.get(job.id))?.state).toBe('delayed');
    expect(workloads()).toEqual([['web', 0, '3'], ['report', true, 'false']]);
    expect(mayCancel(job, OWNER)).toBe(false);
    expect(mayCancel(job, ADMIN)).toBe(true);
  });

  it("another customer's job reads exactly as a job that does not exist", async () => {
    seed();
    const job = await schedule('api:portal');
    const other = { actor: 'api:portal', ownerOf: 'cust_other1' };
    const a = await cancel(env, { jobId: job.id }, other).catch((x: unknown) => x);
    const b = await cancel(env, { jobId: '4242' }, other).catch((x: unknown) => x);
    expect(a).toBeInstanceOf(NotFoundError);
    expect([(a as NotFoundError).message.replace(job.id, 'N'), (a as NotFoundError).details]).toEqual([(b as NotFoundError).message.replace('4242', 'N'), (b as NotFoundError).details]);
    await expect(cancel(env, { customer: CUST }, other)).rejects.toBeInstanceOf(NotFoundError);
    expect((await queue.get(job.id))?.state).toBe('delayed');
  });
});
