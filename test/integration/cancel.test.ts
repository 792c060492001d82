/**
 * One cancel, one truth, on the real parts (built binary, real kube-apiserver with its controllers,
 * helm, PostgreSQL, Redis, `custctl serve`): a scheduled deletion cancelled through each way in —
 * `custctl cancel ID`, `custctl jobs cancel N`, `POST /api/admin/jobs/:id/cancel`,
 * `POST /api/customers/:id/cancel-deletion`, the console's two buttons — gets its replicas and
 * CronJob `suspend` back exactly, and the row, the job and the audit log agree; the same through
 * BullMQ; a deletion between two attempts; a restore that fails; the owner rule through serve;
 * retention periods bounded at every entry point; the words a person reads.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/server/auth.js';
import { freePort } from '../env/ports.js';
import { S3_CREDENTIALS } from '../env/s3.js';
import { BIN, custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { cliEnv, testEnv } from '../support/env.js';
import { coreApi, db, provisionCustomer, randomKey, rbacApi, tokenKubeconfig, unstick, waitFor } from '../support/fixtures.js';
import { AS_DEPLOYED, provisionWithWorkloads, SUSPENDED, workloads } from '../support/workloads.js';
import { CLI_BULL_BACKENDS } from '../support/queue-backends.js';

const ADMIN = `adm-${randomKey('a')}-secret-0123456789`;
const OWNER = `own-${randomKey('o')}-secret-0123456789`;
const CLI_USER = /^\S+@\S+ \(cli\)$/;

interface Row { deployment_status: string; deletion_job_id: string | null; deletion_scheduled_at: Date | null; previous_status: string | null }
async function row(customerId: string): Promise<Row> {
  const r = await db().query('select deployment_status, deletion_job_id, deletion_scheduled_at, previous_status from customers where customer_id = $1', [customerId]);
  return r.rows[0] as Row;
}

interface AuditRow { action: string; actor: string; row_status: string | null; reason: string | null; outcome: string | null; job_id: string | null }
async function audit(customerId: string): Promise<AuditRow[]> {
  const r = await db().query('select action, actor, row_status, reason, outcome, job_id from custctl_audit where customer_id = $1 order by id', [customerId]);
  return r.rows as AuditRow[];
}

interface JobJson { id: string; state: string; failedReason: string | null; attemptsMade: number; delayUntil: number | null; data: { customerId?: string; scheduledFor?: number } }

// ---- serve --------------------------------------------------------------------------------------

interface Served { url: string; child: ChildProcess; exited: Promise<number | null>; stderr(): string }

async function startServe(stateDir: string, owners: Array<[name: string, customerId: string]>, extraEnv: NodeJS.ProcessEnv = {}): Promise<Served> {
  const port = await freePort();
  const tokensFile = path.join(stateDir, 'tokens');
  writeFileSync(tokensFile, [`ops:admin:${sha256Hex(ADMIN)}`, ...owners.map(([n, c]) => `${n}:owner:${c}:${sha256Hex(OWNER)}`)].join('\n') + '\n', { mode: 0o600 });
  const file = path.join(stateDir, `serve-${port}.log`);
  const env: NodeJS.ProcessEnv = { ...cliEnv(), NO_COLOR: '1', CUSTCTL_STATE_DIR: stateDir, CUSTCTL_API_TOKENS_FILE: tokensFile, ...extraEnv };
  for (const k of ['SIMULATE_K8S_DEPLOYMENT', 'CUSTCTL_API_URL', 'CUSTCTL_API_TOKEN']) delete env[k];
  if (!('REDIS_URL' in extraEnv)) delete env.REDIS_URL;
  const child = spawn('node', [BIN, 'serve', '--port', String(port)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = createWriteStream(file);
  child.stderr?.pipe(out);
  child.stdout?.pipe(out);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const s: Served = { url: `http://127.0.0.1:${port}`, child, exited, stderr: () => readFileSync(file, 'utf8') };
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode}:\n${s.stderr()}`);
    return s.stderr().includes(`listening on ${s.url}`);
  }, 'serve to listen', 60_000, 100);
  return s;
}

async function stop(s: Served | undefined): Promise<void> {
  if (!s) return;
  if (s.child.exitCode === null) s.child.kill('SIGTERM');
  await s.exited;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function api(s: Served, method: string, p: string, token = ADMIN): Promise<{ status: number; body: any }> {
  const res = await fetch(`${s.url}${p}`, { method, headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** A console session (sign-in with a token), and a form post with its CSRF token taken from `page`. */
async function consoleSession(s: Served, token: string) {
  const login = await fetch(`${s.url}/console/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token, next: '/' }).toString() });
  expect(login.status).toBe(303);
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const get = async (p: string) => {
    const res = await fetch(`${s.url}${p}`, { headers: { cookie } });
    return { status: res.status, text: await res.text() };
  };
  const post = async (page: string, action: string) => {
    const html = (await get(page)).text;
    const csrf = /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
    const res = await fetch(`${s.url}${action}`, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: csrf }).toString() });
    return { status: res.status, location: res.headers.get('location'), text: await res.text() };
  };
  return { get, post };
}

// ---- helpers ------------------------------------------------------------------------------------

async function schedule(customerId: string, env: NodeJS.ProcessEnv, after = '7d'): Promise<string> {
  const s = await custctlJson<{ results: Array<{ jobId: string; state: string; scheduledFor: string }> }>(['delete', customerId, '--yes', '--after', after], { env });
  expect(s.result.exitCode, s.result.stderr + s.result.stdout).toBe(0);
  expect(s.json.results[0]?.state).toBe('delayed');
  return s.json.results[0]?.jobId ?? '';
}

/** The instance, the row, the job and the audit log after a cancel that restored: all say the same. */
async function expectRestored(c: { customerId: string; namespace: string }, jobId: string, env: NodeJS.ProcessEnv, actor: RegExp | string): Promise<void> {
  const w = await workloads(c.namespace);
  expect({ replicas: w.replicas, suspend: w.suspend }).toEqual(AS_DEPLOYED);
  expect(Object.values(w.annotations).filter((a) => a !== undefined)).toEqual([]);
  expect(await row(c.customerId)).toMatchObject({ deployment_status: 'deployed', deletion_job_id: null, deletion_scheduled_at: null, previous_status: null });
  const job = await custctlJson<JobJson>(['status', 'job', jobId], { env });
  expect(job.result.exitCode).toBe(4); // cancelled
  expect(job.json).toMatchObject({ id: jobId, state: 'failed', failedReason: 'cancelled' });
  const last = (await audit(c.customerId)).at(-1);
  expect(last).toMatchObject({ action: 'deletion-cancelled', row_status: 'deployed', job_id: jobId });
  expect(last?.reason).toMatch(/^was due \S+; (finishing an earlier cancel; )?restored 5 object\(s\)$/);
  if (typeof actor === 'string') expect(last?.actor).toBe(actor);
  else expect(last?.actor).toMatch(actor);
}

async function expectSuspended(namespace: string): Promise<void> {
  const w = await workloads(namespace);
  expect({ replicas: w.replicas, suspend: w.suspend }).toEqual(SUSPENDED);
}

beforeAll(async () => {
  const m = await custctl(['db', 'migrate'], { env: { CUSTCTL_STATE_DIR: tempStateDir() } });
  expect(m.exitCode, m.stderr).toBe(0);
}, 120_000);

// ---- every way in, file journal -----------------------------------------------------------------

describe('one cancel, every way in (file journal)', () => {
  const state = tempStateDir();
  const env = { CUSTCTL_STATE_DIR: state };
  let served: Served;
  beforeAll(async () => {
    served = await startServe(state, []);
  }, 120_000);
  afterAll(() => stop(served));

  /** cancels through one way in; what it returns checks that way's own answer, after the instance, row, job and audit were checked */
  type Way = (c: { customerId: string }, jobId: string) => Promise<() => void | Promise<void>>;
  const ways: Array<[string, Way, RegExp | string]> = [
    ['custctl cancel ID', async (c) => {
      const r = await custctl(['cancel', c.customerId], { env });
      return () => {
        expect(r.exitCode, r.stderr).toBe(0);
        expect(r.stdout).toMatch(new RegExp(`^deletion of ${c.customerId} cancelled \\(job \\d+, was due \\S+\\); status deployed; restored `));
      };
    }, CLI_USER],
    ['custctl jobs cancel N', async (c, jobId) => {
      const r = await custctl(['jobs', 'cancel', jobId], { env });
      return () => {
        expect(r.exitCode, r.stderr).toBe(0);
        expect(r.stdout).toContain(`deletion of ${c.customerId} cancelled (job ${jobId}`);
        expect(r.stdout).toContain('status deployed; restored Deployment/customer-instance replicas 1');
      };
    }, CLI_USER],
    ['POST /api/admin/jobs/:id/cancel', async (c, jobId) => {
      const r = await api(served, 'POST', `/api/admin/jobs/${jobId}/cancel`);
      return () => {
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        expect(r.body).toMatchObject({ id: jobId, state: 'failed', failedReason: 'cancelled', cancel: { customerId: c.customerId, status: 'deployed', deletionStarted: false, cancelledBy: 'api:ops' } });
        expect(r.body.cancel.restored).toHaveLength(5);
      };
    }, 'api:ops'],
    ['POST /api/customers/:id/cancel-deletion', async (c, jobId) => {
      const r = await api(served, 'POST', `/api/customers/${c.customerId}/cancel-deletion`);
      return () => {
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        expect(r.body).toMatchObject({ customerId: c.customerId, jobId, status: 'deployed', job: { id: jobId, state: 'failed', failedReason: 'cancelled' } });
      };
    }, 'api:ops'],
    ['the console: "Cancel the scheduled deletion" on the customer page', async (c) => {
      const s = await consoleSession(served, ADMIN);
      const r = await s.post(`/console/customers/${c.customerId}`, `/console/customers/${c.customerId}/cancel-deletion`);
      return () => {
        expect(r.status, r.text).toBe(303);
        expect(r.location).toBe(`/console/customers/${c.customerId}?cancelled=1`);
      };
    }, 'api:ops'],
    ['the console: "Cancel" on the job page', async (_c, jobId) => {
      const s = await consoleSession(served, ADMIN);
      const r = await s.post(`/console/jobs/${jobId}`, `/console/jobs/${jobId}/cancel`);
      const page = await s.get(`/console/jobs/${jobId}`);
      return () => {
        expect(r.status, r.text).toBe(303);
        expect(page.text).toContain('s-cancelled');
        expect(page.text).not.toContain(`/console/jobs/${jobId}/retry`); // a cancelled job is never offered a Retry
      };
    }, 'api:ops'],
  ];

  it.each(ways)('%s: replicas and CronJob suspend back exactly; the row, the job and the audit row agree', async (_way, cancelIt, actor) => {
    const c = await provisionWithWorkloads('cw');
    const jobId = await schedule(c.customerId, env);
    await expectSuspended(c.namespace);
    expect(await row(c.customerId)).toMatchObject({ deployment_status: 'deleting', deletion_job_id: jobId });
    const answer = await cancelIt(c, jobId);
    await expectRestored(c, jobId, env, actor);
    await answer();
  }, 240_000);
});

// ---- BullMQ -------------------------------------------------------------------------------------

describe.each(CLI_BULL_BACKENDS)('one cancel through %s', (_title, backend) => {
  const state = tempStateDir();
  let queueEnv: Record<string, string> = {};
  const env = () => ({ CUSTCTL_STATE_DIR: state, ...queueEnv });
  let served: Served;
  beforeAll(async () => {
    queueEnv = await backend.queueEnv(6);
    served = await startServe(state, [], queueEnv);
  }, 120_000);
  afterAll(async () => {
    await stop(served);
    await backend.cleanup();
  });

  const ways: Array<[string, (c: { customerId: string }, jobId: string) => Promise<void>, RegExp | string]> = [
    ['custctl jobs cancel N', async (_c, jobId) => {
      const r = await custctl(['jobs', 'cancel', jobId], { env: env() });
      expect(r.exitCode, r.stderr).toBe(0);
    }, CLI_USER],
    ['POST /api/admin/jobs/:id/cancel', async (_c, jobId) => {
      const r = await api(served, 'POST', `/api/admin/jobs/${jobId}/cancel`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
    }, 'api:ops'],
    ['custctl cancel ID --api-url', async (c) => {
      const r = await custctl(['cancel', c.customerId, '--api-url', served.url], { env: { CUSTCTL_API_TOKEN: ADMIN } });
      expect(r.exitCode, r.stderr).toBe(0);
    }, 'api:ops'],
  ];

  it.each(ways)('%s: restored; the cancelled job stays readable (status job, jobs list --state cancelled)', async (_way, cancelIt, actor) => {
    const c = await provisionWithWorkloads('cb');
    const jobId = await schedule(c.customerId, env());
    await expectSuspended(c.namespace);
    await cancelIt(c, jobId);
    await expectRestored(c, jobId, env(), actor);
    const listed = await custctlJson<JobJson[]>(['jobs', 'list', '--state', 'cancelled'], { env: env() });
    expect(listed.json.map((j) => j.id)).toContain(jobId);
    const remote = await custctlJson<JobJson>(['status', 'job', jobId, '--api-url', served.url], { env: { CUSTCTL_API_TOKEN: ADMIN } });
    expect(remote.json).toMatchObject({ state: 'failed', failedReason: 'cancelled' });
  }, 240_000);
});

// ---- a deletion that has started; a restore that fails ------------------------------------------

describe('a deletion between two attempts, a restore that fails', () => {
  const state = tempStateDir();
  const env = { CUSTCTL_STATE_DIR: state };

  it('between two attempts: stopped, nothing put back, the row deletion_failed (not its old status), no further attempt', async () => {
    const c = await provisionCustomer(randomKey('cs'), { stuck: true });
    const e = { ...env, QUEUE_RETRY_DELAY: '600000' };
    try {
      const q = await custctlJson<{ results: Array<{ jobId: string }> }>(['delete', c.customerId, '--yes', '--detach', '--timeout', '3s'], { env: e });
      expect(q.result.exitCode, q.result.stderr).toBe(0);
      const jobId = q.json.results[0]?.jobId ?? '';
      await custctl(['worker', '--once'], { env: e }); // attempt 1: the namespace is deleted, stays Terminating, times out
      expect((await custctlJson<JobJson>(['status', 'job', jobId], { env })).json).toMatchObject({ state: 'delayed', attemptsMade: 1 });

      const r = await custctl(['cancel', c.customerId], { env: e });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toContain(`deletion of ${c.customerId} stopped: job ${jobId} cancelled after it had started; status deletion_failed; nothing restored`);
      expect(await row(c.customerId)).toMatchObject({ deployment_status: 'deletion_failed', deletion_job_id: jobId });
      const last = (await audit(c.customerId)).at(-1);
      expect(last).toMatchObject({ action: 'deletion-cancelled', row_status: 'deletion_failed' });
      expect(last?.actor).toMatch(CLI_USER);
      expect(last?.reason).toMatch(/the deletion had started \(1 attempt ran\)/);
      // no further attempt, even when the backoff has passed
      await custctl(['worker', '--once'], { env: { ...env, QUEUE_RETRY_DELAY: '1' } });
      expect((await custctlJson<JobJson>(['status', 'job', jobId], { env })).json).toMatchObject({ state: 'failed', failedReason: 'cancelled', attemptsMade: 1 });
      const human = await custctl(['status', 'job', jobId], { env });
      expect(human.stdout).toMatch(/Cancelled\s+\S+; an attempt had run, so nothing was restored and the customer was left deletion_failed/);
    } finally {
      await unstick(c.namespace);
    }
  }, 240_000);

  it('the restore fails (no permission to patch): the job cancelled, the row deletion_failed — never deployed over workloads at 0 — until the cancel, asked again, restores', async () => {
    const c = await provisionWithWorkloads('cr');
    const jobId = await schedule(c.customerId, env);
    await expectSuspended(c.namespace);
    const limited = await readOnlyKubeconfig(c.namespace);
    const r = await custctl(['cancel', c.customerId, '--kubeconfig', limited.file], { env }).finally(limited.remove);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stderr).toContain(`job ${jobId} is cancelled, so nothing of ${c.customerId} will be deleted; but its suspended instance could not be restored`);
    expect(r.stderr).toContain(`Run 'custctl cancel ${c.customerId}' again`);
    await expectSuspended(c.namespace);
    expect(await row(c.customerId)).toMatchObject({ deployment_status: 'deletion_failed', deletion_job_id: jobId });
    expect((await custctlJson<JobJson>(['status', 'job', jobId], { env })).json).toMatchObject({ state: 'failed', failedReason: 'cancelled' });
    expect((await audit(c.customerId)).at(-1)).toMatchObject({ action: 'deletion-cancelled', outcome: 'restore-failed', row_status: 'deletion_failed' });

    // a worker starting (it settles failed jobs) and `jobs resume` leave that row alone
    expect((await custctl(['worker', '--once'], { env })).exitCode).toBe(0);
    await custctl(['jobs', 'resume'], { env });
    expect((await row(c.customerId)).deployment_status).toBe('deletion_failed');
    await expectSuspended(c.namespace);

    const again = await custctl(['cancel', c.customerId], { env });
    expect(again.exitCode, again.stderr).toBe(0);
    await expectRestored(c, jobId, env, CLI_USER);
  }, 240_000);
});

/** A kubeconfig for a service account that may read the namespace and its workloads, not patch them; `remove` takes its cluster role away. */
async function readOnlyKubeconfig(namespace: string): Promise<{ file: string; remove: () => Promise<void> }> {
  const sa = 'cancel-readonly';
  const name = `custctl-test-${namespace}-${sa}`;
  await coreApi().createNamespacedServiceAccount({ namespace, body: { metadata: { name: sa } } });
  await rbacApi().createClusterRole({ body: { metadata: { name }, rules: [
    { apiGroups: [''], resources: ['namespaces'], verbs: ['get'] },
    { apiGroups: ['apps'], resources: ['deployments', 'statefulsets'], verbs: ['get', 'list'] },
    { apiGroups: ['batch'], resources: ['cronjobs'], verbs: ['get', 'list'] },
  ] } });
  await rbacApi().createClusterRoleBinding({ body: { metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name }, subjects: [{ kind: 'ServiceAccount', name: sa, namespace }] } });
  const token = await waitFor(async () => {
    const secrets = await coreApi().listNamespacedSecret({ namespace });
    const s = secrets.items.find((x) => x.type === 'kubernetes.io/service-account-token' && x.metadata?.annotations?.['kubernetes.io/service-account.name'] === sa);
    return s?.data?.token ? Buffer.from(s.data.token, 'base64').toString() : null;
  }, 'the service account token', 60_000);
  const remove = async () => {
    await rbacApi().deleteClusterRoleBinding({ name }).catch(() => undefined);
    await rbacApi().deleteClusterRole({ name }).catch(() => undefined);
  };
  return { file: tokenKubeconfig(sa, token, name), remove };
}

// ---- owners, through the real serve -------------------------------------------------------------

describe('an owner cancels only what it asked for (serve)', () => {
  const state = tempStateDir();
  let served: Served;
  let mine: Awaited<ReturnType<typeof provisionWithWorkloads>>;
  let other: Awaited<ReturnType<typeof provisionCustomer>>;
  beforeAll(async () => {
    mine = await provisionWithWorkloads('co');
    other = await provisionCustomer(randomKey('cx'));
    served = await startServe(state, [['portal', mine.customerId]]);
  }, 180_000);
  afterAll(() => stop(served));

  it("an administrator's deletion of the owner's own customer: refused (403) by the API and the console, nothing changed", async () => {
    const d = await api(served, 'DELETE', `/api/customers/${mine.customerId}?after=30d`);
    expect(d.status, JSON.stringify(d.body)).toBe(200);
    const jobId = String(d.body.jobId);
    await expectSuspended(mine.namespace);

    const r = await api(served, 'POST', `/api/customers/${mine.customerId}/cancel-deletion`, OWNER);
    expect(r.status).toBe(403);
    expect(r.body.error).toBe('forbidden');
    expect(r.body.message).not.toContain('ops'); // the administrator's token name is not shown
    const page = await consoleSession(served, OWNER);
    const view = await page.get(`/console/customers/${mine.customerId}`);
    expect(view.status).toBe(200);
    expect(view.text).toContain('s-scheduled');
    expect(view.text).not.toContain('/cancel-deletion'); // no button for what it may not do
    // a forged form post is refused: the console answers a post with a redirect and says why on the page
    const forged = await page.post(`/console/customers/${mine.customerId}`, `/console/customers/${mine.customerId}/cancel-deletion`);
    expect(forged.status).toBe(303);
    expect(forged.location).toBe(`/console/customers/${mine.customerId}`);
    expect((await page.get(forged.location ?? '')).text).toContain('an account owner cancels only a deletion it asked for');

    await expectSuspended(mine.namespace);
    expect(await row(mine.customerId)).toMatchObject({ deployment_status: 'deleting', deletion_job_id: jobId });
    expect((await api(served, 'GET', `/api/admin/jobs/${jobId}`)).body.state).toBe('delayed');

    // the administrator's to cancel; the audit row names it
    const admin = await api(served, 'POST', `/api/customers/${mine.customerId}/cancel-deletion`);
    expect(admin.status).toBe(200);
    await expectRestored(mine, jobId, { CUSTCTL_STATE_DIR: state }, 'api:ops');
  }, 240_000);

  it('its own deletion: it cancels it (API and CLI), the audit row names the owner', async () => {
    for (const how of ['api', 'cli'] as const) {
      const d = await api(served, 'DELETE', `/api/customers/${mine.customerId}`, OWNER);
      expect(d.status, JSON.stringify(d.body)).toBe(200);
      const jobId = String(d.body.jobId);
      await expectSuspended(mine.namespace);
      if (how === 'api') {
        expect((await api(served, 'POST', `/api/customers/${mine.customerId}/cancel-deletion`, OWNER)).status).toBe(200);
      } else {
        const r = await custctl(['cancel', mine.customerId, '--api-url', served.url], { env: { CUSTCTL_API_TOKEN: OWNER } });
        expect(r.exitCode, r.stderr).toBe(0);
      }
      await expectRestored(mine, jobId, { CUSTCTL_STATE_DIR: state }, 'api:portal');
    }
  }, 240_000);

  it("another customer's deletion reads to the owner exactly as a customer that does not exist", async () => {
    const d = await api(served, 'DELETE', `/api/customers/${other.customerId}?after=30d`);
    expect(d.status).toBe(200);
    const theirs = await api(served, 'POST', `/api/customers/${other.customerId}/cancel-deletion`, OWNER);
    const unknownId = `cust_${randomKey('nx')}`;
    const none = await api(served, 'POST', `/api/customers/${unknownId}/cancel-deletion`, OWNER);
    expect(theirs.status).toBe(404);
    expect(none.status).toBe(404);
    expect(JSON.stringify(theirs.body).replace(other.customerId, 'X')).toBe(JSON.stringify(none.body).replace(unknownId, 'X'));
    expect((await row(other.customerId)).deployment_status).toBe('deleting');
    expect((await api(served, 'POST', `/api/customers/${other.customerId}/cancel-deletion`)).status).toBe(200);
  }, 240_000);

  it('?after= outside 0 | 1h…400d: 400 before anything, no job id used up', async () => {
    const seq = () => (existsSync(path.join(state, 'journal', 'seq')) ? readFileSync(path.join(state, 'journal', 'seq'), 'utf8') : '');
    const before = seq();
    for (const after of ['401d', '30m', '0.0000001s', '1e3d', '7']) {
      const r = await api(served, 'DELETE', `/api/customers/${other.customerId}?after=${encodeURIComponent(after)}`);
      expect(r.status, after).toBe(400);
      expect(r.body.message).toMatch(/give 0 \(now\) or from 1h to 400d/);
    }
    expect(seq()).toBe(before);
    expect((await row(other.customerId)).deployment_status).toBe('deployed');
  }, 120_000);
});

// ---- bounded retention, through the CLI ---------------------------------------------------------

describe('retention periods are bounded (CLI)', () => {
  it('--after and CUSTCTL_RETENTION outside 0 | 1h…400d: exit 2 before anything, no job id used up; --after 1w schedules', async () => {
    const state = tempStateDir();
    const env = { CUSTCTL_STATE_DIR: state };
    const c = await provisionWithWorkloads('cl');
    const refusals: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
      [['--after', '401d'], {}, /--after 401d is longer than 400d/],
      [['--after', '30m'], {}, /--after 30m is shorter than 1h/],
      [['--after', '0.0000001s'], {}, /rounds to 0 ms, which is not "now"/],
      [['--after', '99999999999d'], {}, /longer than 400d/],
      [[], { CUSTCTL_RETENTION: '500d' }, /CUSTCTL_RETENTION 500d is longer than 400d/],
      [[], { CUSTCTL_RETENTION: '3s' }, /CUSTCTL_RETENTION 3s is shorter than 1h/],
    ];
    for (const [flags, extra, message] of refusals) {
      const r = await custctl(['delete', c.customerId, '--yes', ...flags], { env: { ...env, ...extra } });
      expect(r.exitCode, `${flags.join(' ')} ${JSON.stringify(extra)}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    expect(existsSync(path.join(state, 'journal', 'seq'))).toBe(false);
    expect((await row(c.customerId)).deployment_status).toBe('deployed');
    const w = await workloads(c.namespace);
    expect({ replicas: w.replicas, suspend: w.suspend }).toEqual(AS_DEPLOYED);

    const t0 = Date.now();
    const ok = await custctlJson<{ results: Array<{ jobId: string; scheduledFor: string }> }>(['delete', c.customerId, '--yes', '--after', '1w'], { env });
    expect(ok.result.exitCode, ok.result.stderr).toBe(0);
    expect(ok.json.results[0]?.jobId).toBe('1');
    expect(Date.parse(ok.json.results[0]?.scheduledFor ?? '')).toBeGreaterThanOrEqual(t0 + 7 * 86_400_000 - 1_000);
    expect((await custctl(['cancel', c.customerId], { env })).exitCode).toBe(0);
  }, 240_000);
});

// ---- the words a person reads -------------------------------------------------------------------

describe('words that agree', () => {
  const state = tempStateDir();
  const env = { CUSTCTL_STATE_DIR: state };

  it('a scheduled deletion reads `scheduled` with its due time in the row, the job and jobs list; --state scheduled|cancelled filter', async () => {
    const c = await provisionWithWorkloads('cv');
    const jobId = await schedule(c.customerId, env, '1w');
    const due = new Date((await custctlJson<JobJson>(['status', 'job', jobId], { env })).json.data.scheduledFor ?? 0).toISOString();

    const customer = await custctl(['status', 'customer', c.customerId], { env });
    expect(customer.stdout).toMatch(new RegExp(`Status\\s+scheduled\\s+\\(deletion job ${jobId}\\)`));
    expect(customer.stdout).toContain(`Due          ${due} (the deletion, by job ${jobId})`);
    expect(customer.stdout).toMatch(new RegExp(`${jobId}\\s+delete\\s+scheduled\\s+${due}`));

    const job = await custctl(['status', 'job', jobId], { env });
    expect(job.stdout).toMatch(new RegExp(`Job\\s+${jobId} \\(delete\\)\\s+scheduled`));
    expect(job.stdout).toMatch(new RegExp(`Due\\s+${due} \\(in 6d23h|Due\\s+${due} \\(in 7d`));

    const list = await custctl(['jobs', 'list'], { env });
    expect(list.stdout).toMatch(/^ID\s+NAME\s+STATE\s+DUE\s+/);
    expect(list.stdout).toMatch(new RegExp(`\\n${jobId}\\s+delete\\s+scheduled\\s+${due}\\s+0%\\s+${c.customerId}`));
    const ids = async (state: string) => (await custctlJson<JobJson[]>(['jobs', 'list', '--state', state], { env })).json.map((j) => j.id);
    expect(await ids('scheduled')).toEqual([jobId]);
    expect(await ids('delayed')).toEqual([]);
    const rows = await custctlJson<Array<{ customerId: string }>>(['customers', 'list', '--status', 'scheduled'], { env });
    expect(rows.json.map((r) => r.customerId)).toContain(c.customerId);
    const table = await custctl(['customers', 'list', '--status', 'scheduled'], { env });
    expect(table.stdout).toMatch(new RegExp(`${c.customerId}\\s+scheduled\\s+`));

    expect((await custctl(['jobs', 'cancel', jobId], { env })).exitCode).toBe(0);
    expect(await ids('cancelled')).toEqual([jobId]);
    expect(await ids('failed')).toEqual([]);
    expect((await custctl(['jobs', 'list'], { env })).stdout).toMatch(new RegExp(`\\n${jobId}\\s+delete\\s+cancelled\\s+-\\s`));
  }, 240_000);

  it('delete --detach names the real job id in its hint', async () => {
    const c = await provisionCustomer(randomKey('cd'));
    const r = await custctlJson<{ results: Array<{ jobId: string }> }>(['delete', c.customerId, '--yes', '--detach'], { env });
    expect(r.result.exitCode, r.result.stderr).toBe(0);
    const jobId = r.json.results[0]?.jobId ?? '';
    expect(r.result.stderr).toContain(`Follow it with 'custctl status job ${jobId} --watch'`);
    expect(r.result.stderr).not.toContain('<id>');
    expect((await custctl(['jobs', 'cancel', jobId], { env })).exitCode).toBe(0);
    expect((await row(c.customerId)).deployment_status).toBe('deployed');
  }, 120_000);

  it('jobs prune with nothing to prune says so and exits 0 (no terminal, no --yes)', async () => {
    const r = await custctl(['jobs', 'prune'], { env: { CUSTCTL_STATE_DIR: tempStateDir() } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('nothing to prune: no finished jobs older than 7d');
  });

  it('backups list on a target that does not exist says so (exit 3), not "No backups"', async () => {
    const dir = path.join(tempStateDir(), 'no-such-dir');
    const file = await custctl(['backups', 'list', '--backup', `file://${dir}`], { env });
    expect(file.exitCode, file.stderr).toBe(3);
    expect(file.stderr).toContain(`backup directory ${dir} does not exist`);
    expect(file.stderr).not.toContain('No backups');
    const s3 = await custctl(['backups', 'list', '--backup', `s3://no-such-bucket-${randomKey('b')}`], {
      env: { ...env, ...S3_CREDENTIALS, CUSTCTL_S3_ENDPOINT: testEnv().s3Endpoint, CUSTCTL_S3_FORCE_PATH_STYLE: 'true', CUSTCTL_S3_REGION: 'us-east-1' },
    });
    expect(s3.exitCode, s3.stderr).toBe(3);
    expect(s3.stderr).toMatch(/bucket no-such-bucket-\S+ does not exist/);
  }, 120_000);
});
