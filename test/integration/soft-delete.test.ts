/**
 * Soft delete end to end on the real parts (built binary, real kube-apiserver with the deployment
 * and replicaset controllers, real helm, real PostgreSQL): `delete --after` suspends the instance
 * and delays the job, `cancel` restores it exactly, a worker deletes on time across a restart,
 * owner tokens through `serve`, and a redeployment during the retention supersedes the job.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/server/auth.js';
import { freePort } from '../env/ports.js';
import { BIN, custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { cliEnv } from '../support/env.js';
import { db, getNamespace, kubectl, kubectlJson, provisionCustomer, randomKey, unstick, waitFor } from '../support/fixtures.js';
import { bringDue } from '../support/due.js';
import { CLI_BULL_BACKENDS } from '../support/queue-backends.js';
import { provisionWithWorkloads, workloads } from '../support/workloads.js';

interface Row { deployment_status: string; deletion_job_id: string | null; deletion_scheduled_at: Date | null; deleted_at: Date | null; previous_status: string | null }
async function row(customerId: string): Promise<Row> {
  const r = await db().query('select deployment_status, deletion_job_id, deletion_scheduled_at, deleted_at, previous_status from customers where customer_id = $1', [customerId]);
  return r.rows[0] as Row;
}

interface JobJson { id: string; state: string; delayUntil: number | null; failedReason: string | null; progress: number; returnvalue: { outcome?: string } | null; data: { scheduledFor?: number } }

/** Pods the replicaset controller keeps for the Deployment (the scaling is real). */
async function podsOf(namespace: string, app: string): Promise<number> {
  const pods = await kubectlJson<{ items: Array<{ metadata: { deletionTimestamp?: string } }> }>(['get', 'pods', '-n', namespace, '-l', `app=${app}`, '-o', 'json']);
  return pods.items.filter((p) => !p.metadata.deletionTimestamp).length;
}

const state = tempStateDir();
const env = { CUSTCTL_STATE_DIR: state };

beforeAll(async () => {
  const m = await custctl(['db', 'migrate'], { env });
  expect(m.exitCode, m.stderr).toBe(0);
}, 120_000);

describe('delete --after and cancel (file journal)', () => {
  it('schedule suspends (replicas 0, annotated, CronJobs suspended) and delays the job; cancel restores exactly', async () => {
    const c = await provisionWithWorkloads('sd');
    await waitFor(async () => (await podsOf(c.namespace, 'web3')) === 3, 'the 3 pods of web3');
    const before = await workloads(c.namespace);
    expect(before.replicas).toEqual({ 'Deployment/customer-instance': 1, 'Deployment/web3': 3, 'StatefulSet/db': 2 });
    expect(before.suspend).toEqual({ 'CronJob/report': false, 'CronJob/paused': true });

    const t0 = Date.now();
    const { result, json } = await custctlJson<{ results: Array<{ jobId: string; state: string; scheduledFor: string; exitCode: number }>; exitCode: number }>(['delete', c.customerId, '--yes', '--after', '7d'], { env });
    expect(result.exitCode, result.stderr).toBe(0);
    const r0 = json.results[0];
    expect(r0?.state).toBe('delayed');
    const due = Date.parse(r0?.scheduledFor ?? '');
    expect(due).toBeGreaterThanOrEqual(t0 + 7 * 86_400_000 - 1_000);
    expect(due).toBeLessThanOrEqual(Date.now() + 7 * 86_400_000);

    const suspended = await workloads(c.namespace);
    expect(suspended.replicas).toEqual({ 'Deployment/customer-instance': 0, 'Deployment/web3': 0, 'StatefulSet/db': 0 });
    expect(suspended.suspend).toEqual({ 'CronJob/report': true, 'CronJob/paused': true });
    expect(suspended.annotations).toEqual({ 'Deployment/customer-instance': '1', 'Deployment/web3': '3', 'StatefulSet/db': '2', 'CronJob/report': 'false', 'CronJob/paused': 'true' });
    await waitFor(async () => (await podsOf(c.namespace, 'web3')) === 0, 'web3 scaled down by the replicaset controller');
    expect(await getNamespace(c.namespace)).not.toBeNull();

    const r = await row(c.customerId);
    expect(r.deployment_status).toBe('deleting');
    expect(r.deletion_job_id).toBe(r0?.jobId);
    expect(r.deletion_scheduled_at?.getTime()).toBe(due);
    const job = (await custctlJson<JobJson>(['status', 'job', r0?.jobId ?? ''], { env })).json;
    expect(job.state).toBe('delayed');
    expect(job.delayUntil).toBe(due);

    // a worker run from cron before the time does nothing
    const once = await custctl(['worker', '--once'], { env });
    expect(once.exitCode, once.stderr).toBe(0);
    expect((await row(c.customerId)).deployment_status).toBe('deleting');

    const listed = await custctlJson<Array<{ customerId: string }>>(['customers', 'list', '--scheduled', '--within', '8d'], { env });
    expect(listed.json.map((x) => x.customerId)).toContain(c.customerId);
    const notYet = await custctlJson<Array<{ customerId: string }>>(['customers', 'list', '--scheduled', '--within', '6d'], { env });
    expect(notYet.json.map((x) => x.customerId)).not.toContain(c.customerId);
    const status = await custctl(['status', 'customer', c.customerId], { env });
    expect(status.stdout).toMatch(new RegExp(`Status\\s+scheduled\\s+\\(deletion job ${r0?.jobId}\\)`));
    expect(status.stdout).toContain(`Due          ${new Date(due).toISOString()} (the deletion, by job ${r0?.jobId})`);
    expect(status.stdout).toContain(`custctl cancel ${c.customerId}`);

    const cancel = await custctlJson<{ status: string; restored: unknown[] }>(['cancel', c.customerId], { env });
    expect(cancel.result.exitCode, cancel.result.stderr).toBe(0);
    expect(cancel.json.status).toBe('deployed');
    const after = await workloads(c.namespace);
    expect(after.replicas).toEqual(before.replicas);
    expect(after.suspend).toEqual(before.suspend);
    expect(Object.values(after.annotations).every((a) => a === undefined)).toBe(true);
    await waitFor(async () => (await podsOf(c.namespace, 'web3')) === 3, 'web3 scaled back up');
    const back = await row(c.customerId);
    expect(back).toMatchObject({ deployment_status: 'deployed', deletion_job_id: null, deletion_scheduled_at: null, previous_status: null });
    const cancelled = (await custctlJson<JobJson>(['status', 'job', r0?.jobId ?? ''], { env })).json;
    expect(cancelled).toMatchObject({ state: 'failed', failedReason: 'cancelled' });

    // the audit log: the schedule with its due time, then one row for the cancel: who, what was put back, the row's status
    const audit = await db().query('select action, row_status, reason, actor from custctl_audit where customer_id = $1 order by id', [c.customerId]);
    const rows = audit.rows as Array<{ action: string; row_status: string | null; reason: string | null; actor: string }>;
    expect(rows.map((x) => x.action)).toEqual(['deletion-scheduled', 'deletion-cancelled']);
    expect(rows[0]).toMatchObject({ row_status: 'deleting', reason: `due ${new Date(due).toISOString()}` });
    expect(rows[1]).toMatchObject({ row_status: 'deployed', reason: `was due ${new Date(due).toISOString()}; restored 5 object(s)` });
    expect(rows[1]?.actor).toMatch(/@.+ \(cli\)$/);

    // nothing to cancel any more: exit 4
    const again = await custctl(['cancel', c.customerId], { env });
    expect(again.exitCode).toBe(4);
    expect(again.stderr).toContain('no deletion to cancel');
  }, 180_000);

  it('the plan and the confirmation say when the data will be deleted', async () => {
    const c = await provisionCustomer(randomKey('sp'));
    const dry = await custctl(['delete', c.customerId, '--dry-run', '--after', '30d'], { env });
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/When: the data would be deleted at \d{4}-\d\d-\d\dT/);
    const refused = await custctl(['delete', c.customerId, '--after', '30d'], { env }); // no TTY, no --yes: refused after showing the plan
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toMatch(/When: the data will be deleted at \d{4}-\d\d-\d\dT\S+ \(in 30d\)/);
    expect((await row(c.customerId)).deployment_status).toBe('deployed');
  }, 120_000);

  it('--after 1h: a worker deletes it on time, across a worker restart; deleted_at set; cancel after the start refuses', async () => {
    const c = await provisionWithWorkloads('sw');
    const s = await custctlJson<{ results: Array<{ jobId: string; scheduledFor: string }> }>(['delete', c.customerId, '--yes', '--after', '1h'], { env });
    expect(s.result.exitCode, s.result.stderr + s.result.stdout).toBe(0);

    // a long-running worker, stopped before the time and started again (nothing is lost)
    const first = startWorker();
    await waitFor(async () => first.stderr().includes('started'), 'the first worker to start', 60_000, 100);
    first.child.kill('SIGTERM');
    await first.exited;
    expect((await row(c.customerId)).deployment_status).toBe('deleting');
    // the hour passes
    const due = await bringDue(s.json.results[0]?.jobId ?? '', c.customerId, { stateDir: state });
    const second = startWorker();
    try {
      await waitFor(async () => (await row(c.customerId)).deployment_status === 'pending', 'the scheduled deletion', 120_000);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
    const r = await row(c.customerId);
    expect(r.deleted_at).not.toBeNull();
    expect(r.deleted_at?.getTime() ?? 0).toBeGreaterThanOrEqual(due);
    expect(r.deletion_scheduled_at).toBeNull();
    expect(await getNamespace(c.namespace)).toBeNull();
    const job = (await custctlJson<JobJson>(['status', 'job', s.json.results[0]?.jobId ?? ''], { env })).json;
    expect(job.state).toBe('completed');
    expect(job.returnvalue?.outcome).toBe('deleted');
    const late = await custctl(['cancel', c.customerId], { env });
    expect(late.exitCode).toBe(4);
  }, 240_000);

  it('after the hard deletion has started, cancel refuses with exit 4 and says so', async () => {
    const c = await provisionCustomer(randomKey('ss'), { stuck: true });
    const s = await custctlJson<{ results: Array<{ jobId: string }> }>(['delete', c.customerId, '--yes', '--after', '1h'], { env });
    expect(s.result.exitCode, s.result.stderr + s.result.stdout).toBe(0);
    const jobId = s.json.results[0]?.jobId ?? '';
    await bringDue(jobId, c.customerId, { stateDir: state });
    const w = startWorker();
    try {
      await waitFor(async () => {
        const j = (await custctlJson<JobJson>(['status', 'job', jobId], { env })).json;
        return j.state === 'active' && j.progress >= 25;
      }, 'the hard deletion to start', 120_000);
      // a running attempt is not cancelled, whichever way it is asked for: nothing changes
      const cancel = await custctl(['cancel', c.customerId], { env });
      expect(cancel.exitCode).toBe(4);
      expect(cancel.stderr).toContain(`job ${jobId} is running`);
      const byJob = await custctl(['jobs', 'cancel', jobId], { env });
      expect(byJob.exitCode).toBe(4);
      expect(byJob.stderr).toContain(`job ${jobId} is running`);
      expect((await row(c.customerId)).deployment_status).toBe('deleting');
      await unstick(c.namespace);
      await waitFor(async () => (await row(c.customerId)).deployment_status === 'pending', 'the deletion to finish', 120_000);
    } finally {
      w.child.kill('SIGTERM');
      await w.exited;
    }
  }, 300_000);

  it('a customer redeployed by billing during the retention: the due job ends superseded and touches nothing', async () => {
    const c = await provisionWithWorkloads('sr');
    const s = await custctlJson<{ results: Array<{ jobId: string }> }>(['delete', c.customerId, '--yes', '--after', '1h'], { env });
    expect(s.result.exitCode, s.result.stderr + s.result.stdout).toBe(0);
    const jobId = s.json.results[0]?.jobId ?? '';
    // billing redeploys: the row goes back to deployed (and it scales its instance up again)
    await db().query(`update customers set deployment_status = 'deployed', updated_at = now() where customer_id = $1`, [c.customerId]);
    await kubectl(['scale', 'deployment/web3', '-n', c.namespace, '--replicas', '3'], { check: true });
    const nsBefore = await getNamespace(c.namespace);
    await bringDue(jobId, c.customerId, { stateDir: state });
    const once = await custctl(['worker', '--once'], { env });
    expect(once.exitCode, once.stderr).toBe(0);
    const job = (await custctlJson<JobJson>(['status', 'job', jobId], { env })).json;
    expect(job.state).toBe('completed');
    expect(job.returnvalue?.outcome).toBe('superseded');
    expect((await row(c.customerId)).deployment_status).toBe('deployed');
    const nsAfter = await getNamespace(c.namespace);
    expect(nsAfter?.metadata?.uid).toBe(nsBefore?.metadata?.uid);
    expect(nsAfter?.metadata?.deletionTimestamp).toBeUndefined();
    expect((await workloads(c.namespace)).replicas['Deployment/web3']).toBe(3);
  }, 180_000);

  it('a due deletion refused before anything is deleted (helm gone on the worker): the instance is given back, row as it was', async () => {
    const c = await provisionWithWorkloads('sq');
    // helm for every release (recorded on the job): the worker without helm must refuse
    const s = await custctlJson<{ results: Array<{ jobId: string }> }>(['delete', c.customerId, '--yes', '--after', '1h', '--helm-uninstall', 'always'], { env });
    expect(s.result.exitCode, s.result.stderr + s.result.stdout).toBe(0);
    const jobId = s.json.results[0]?.jobId ?? '';
    expect((await workloads(c.namespace)).replicas['Deployment/web3']).toBe(0);
    await bringDue(jobId, c.customerId, { stateDir: state });
    const nsBefore = await getNamespace(c.namespace);
    const once = await custctl(['worker', '--once'], { env: { ...env, HELM_BIN: '/nonexistent/helm' } });
    expect(once.stderr).toMatch(/Suspended instance restored/);
    const job = (await custctlJson<JobJson>(['status', 'job', jobId], { env })).json;
    expect(job.state).toBe('failed');
    expect(job.failedReason).toMatch(/helm not found/);
    const r = await row(c.customerId);
    expect(r.deployment_status).toBe('deployed');
    expect(r.deletion_scheduled_at).toBeNull();
    const w = await workloads(c.namespace);
    expect(w.replicas).toMatchObject({ 'Deployment/web3': 3, 'StatefulSet/db': 2 });
    expect(w.suspend).toMatchObject({ 'CronJob/report': false, 'CronJob/paused': true });
    expect(Object.values(w.annotations).filter(Boolean)).toEqual([]);
    expect((await getNamespace(c.namespace))?.metadata?.uid).toBe(nsBefore?.metadata?.uid);
  }, 180_000);
});

describe.each(CLI_BULL_BACKENDS)('delete --after and cancel (%s)', (_title, backend) => {
  afterAll(() => backend.cleanup());

  it('schedule is a delayed BullMQ job; cancel restores exactly; a second schedule is deleted by a worker when due, not before', async () => {
    const queueEnv = await backend.queueEnv(4);
    const e = { ...queueEnv, CUSTCTL_STATE_DIR: tempStateDir() };
    const c = await provisionWithWorkloads('sb');
    const before = await workloads(c.namespace);
    const s = await custctlJson<{ results: Array<{ jobId: string }> }>(['delete', c.customerId, '--yes', '--after', '1h'], { env: e });
    expect(s.result.exitCode, s.result.stderr + s.result.stdout).toBe(0);
    const jobId = s.json.results[0]?.jobId ?? '';
    const delayed = (await custctlJson<JobJson>(['status', 'job', jobId], { env: e })).json;
    expect(delayed.state).toBe('delayed');
    expect(Math.abs((delayed.delayUntil ?? 0) - (Date.now() + 3_600_000))).toBeLessThan(120_000);
    expect((await workloads(c.namespace)).replicas['Deployment/web3']).toBe(0);
    expect((await row(c.customerId)).deployment_status).toBe('deleting');
    const cancel = await custctl(['cancel', c.customerId], { env: e });
    expect(cancel.exitCode, cancel.stderr + cancel.stdout).toBe(0);
    const after = await workloads(c.namespace);
    expect(after.replicas).toEqual(before.replicas);
    expect(after.suspend).toEqual(before.suspend);
    expect((await row(c.customerId)).deployment_status).toBe('deployed');

    const s2 = await custctlJson<{ results: Array<{ jobId: string }> }>(['delete', c.customerId, '--yes', '--after', '1h'], { env: e });
    expect(s2.result.exitCode, s2.result.stderr).toBe(0);
    const job2 = s2.json.results[0]?.jobId ?? '';
    // BullMQ: a worker runs until stopped (--once is for the file journal); it promotes the delayed job when due, not before
    const w = startWorker(queueEnv);
    try {
      await waitFor(async () => w.stderr().includes(backend.started), 'the worker to start', 30_000, 200);
      await new Promise((r) => setTimeout(r, 5_000));
      expect((await custctlJson<JobJson>(['status', 'job', job2], { env: e })).json.state).toBe('delayed');
      expect((await row(c.customerId)).deployment_status).toBe('deleting');
      expect(await getNamespace(c.namespace)).not.toBeNull();
      await bringDue(job2, c.customerId, { queueEnv });
      await waitFor(async () => (await custctlJson<JobJson>(['status', 'job', job2], { env: e })).json.state === 'completed', 'the due job to be run by a worker', 120_000, 1000);
    } finally {
      w.child.kill('SIGTERM');
      await w.exited;
    }
    const r = await row(c.customerId);
    expect(r.deployment_status).toBe('pending');
    expect(r.deleted_at).not.toBeNull();
    expect(await getNamespace(c.namespace)).toBeNull();
  }, 300_000);
});

function startWorker(extra: NodeJS.ProcessEnv = {}): { child: ChildProcess; exited: Promise<number | null>; stderr: () => string } {
  const file = path.join(state, `worker-${Date.now()}-${Math.random().toString(16).slice(2)}.log`);
  writeFileSync(file, '');
  const e: NodeJS.ProcessEnv = { ...cliEnv(), NO_COLOR: '1', CUSTCTL_STATE_DIR: state };
  for (const k of ['SIMULATE_K8S_DEPLOYMENT', 'CUSTCTL_API_URL', 'REDIS_URL', 'REDIS_HOST']) delete e[k];
  Object.assign(e, extra);
  const child = spawn('node', [BIN, 'worker'], { env: e, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = createWriteStream(file);
  child.stderr?.pipe(out);
  child.stdout?.pipe(out);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, stderr: () => readFileSync(file, 'utf8') };
}

// ---- owner tokens through serve --------------------------------------------------------------

describe('owner tokens (serve)', () => {
  const ADMIN = `adm-${randomKey('a')}-secret-0123456789`;
  const OWNER = `own-${randomKey('o')}-secret-0123456789`;
  let mine: Awaited<ReturnType<typeof provisionCustomer>>;
  let other: Awaited<ReturnType<typeof provisionCustomer>>;
  let child: ChildProcess;
  let exited: Promise<number | null>;
  let url = '';
  const serveState = tempStateDir();

  beforeAll(async () => {
    mine = await provisionWithWorkloads('so');
    other = await provisionCustomer(randomKey('sx'));
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const tokensFile = path.join(serveState, 'tokens');
    writeFileSync(tokensFile, `ops:admin:${sha256Hex(ADMIN)}\nportal:owner:${mine.customerId}:${sha256Hex(OWNER)}\n`, { mode: 0o600 });
    const e: NodeJS.ProcessEnv = { ...cliEnv(), NO_COLOR: '1', CUSTCTL_STATE_DIR: serveState, CUSTCTL_API_TOKENS_FILE: tokensFile, CUSTCTL_OWNER_MIN_RETENTION: '7d' };
    for (const k of ['SIMULATE_K8S_DEPLOYMENT', 'CUSTCTL_API_URL', 'CUSTCTL_API_TOKEN', 'REDIS_URL', 'REDIS_HOST']) delete e[k];
    const file = path.join(serveState, 'serve.log');
    child = spawn('node', [BIN, 'serve', '--port', String(port)], { env: e, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = createWriteStream(file);
    child.stderr?.pipe(out);
    child.stdout?.pipe(out);
    exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    await waitFor(async () => readFileSync(file, 'utf8').includes(`listening on ${url}`), 'serve to listen', 60_000, 100);
  }, 180_000);

  afterAll(async () => {
    child?.kill('SIGTERM');
    await exited;
  });

  const call = async (method: string, p: string, token = OWNER) => {
    const res = await fetch(`${url}${p}`, { method, headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('may schedule its own deletion (never immediate, never below the minimum), sees nothing else, cancels its own', async () => {
    // immediate and below the minimum: refused, nothing changed
    const now = await call('DELETE', `/api/customers/${mine.customerId}?after=0`);
    expect(now.status).toBe(400);
    expect(String(now.body.message)).toContain('never immediate');
    const short = await call('DELETE', `/api/customers/${mine.customerId}?after=6d`);
    expect(short.status).toBe(400);
    expect((await row(mine.customerId)).deployment_status).toBe('deployed');
    expect((await call('DELETE', `/api/customers/${mine.customerId}/deployment`)).status).toBe(404);

    // another customer: 404 for every route, indistinguishable from one that does not exist
    const otherDelete = await call('DELETE', `/api/customers/${other.customerId}?after=30d`);
    const unknown = await call('DELETE', `/api/customers/cust_${randomKey('nx')}?after=30d`);
    expect(otherDelete.status).toBe(404);
    expect(unknown.status).toBe(404);
    expect((await call('GET', `/api/customers/${other.customerId}`)).status).toBe(404);
    expect((await call('POST', `/api/customers/${other.customerId}/cancel-deletion`)).status).toBe(404);
    expect((await call('GET', '/api/admin/jobs?state=failed')).status).toBe(200); // its own jobs only
    expect((await call('POST', '/api/admin/cleanup-rbac?dryRun=true')).status).toBe(404);
    expect((await row(other.customerId)).deployment_status).toBe('deployed');

    // its own, with the default (the minimum): scheduled, suspended
    const ok = await call('DELETE', `/api/customers/${mine.customerId}`);
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.status).toBe('scheduled');
    const due = Date.parse(String(ok.body.scheduledFor));
    expect(due).toBeGreaterThan(Date.now() + 7 * 86_400_000 - 120_000);
    expect((await row(mine.customerId)).deployment_status).toBe('deleting');
    expect((await workloads(mine.namespace)).replicas['Deployment/web3']).toBe(0);
    const ownJob = await call('GET', `/api/admin/jobs/${String(ok.body.jobId)}`);
    expect(ownJob.status).toBe(200);
    expect(ownJob.body.state).toBe('delayed');
    const ownRow = await call('GET', `/api/customers/${mine.customerId}`);
    expect(ownRow.status).toBe(200);

    // an admin's job of the other customer is invisible to the owner
    const adminJob = await call('DELETE', `/api/customers/${other.customerId}?after=30d`, ADMIN);
    expect(adminJob.status).toBe(200);
    expect((await call('GET', `/api/admin/jobs/${String(adminJob.body.jobId)}`)).status).toBe(404);
    const jobs = await fetch(`${url}/api/admin/jobs`, { headers: { authorization: `Bearer ${OWNER}` } }).then((r) => r.json() as Promise<Array<{ data: { customerId: string } }>>);
    expect(jobs.every((j) => j.data.customerId === mine.customerId)).toBe(true);

    // cancel its own through the CLI
    const cancel = await custctlJson<{ status: string }>(['cancel', mine.customerId, '--api-url', url], { env: { CUSTCTL_API_TOKEN: OWNER } });
    expect(cancel.result.exitCode, cancel.result.stderr).toBe(0);
    expect(cancel.json.status).toBe('deployed');
    expect((await workloads(mine.namespace)).replicas['Deployment/web3']).toBe(3);
    expect((await row(mine.customerId)).deployment_status).toBe('deployed');
    const adminCancel = await call('POST', `/api/customers/${other.customerId}/cancel-deletion`, ADMIN);
    expect(adminCancel.status).toBe(200);
    expect((await row(other.customerId)).deployment_status).toBe('deployed');
  }, 180_000);
});
