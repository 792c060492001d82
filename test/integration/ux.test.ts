/**
 * Issue 17 items 4–8 on the real parts: the built binary, the real kube-apiserver and
 * controller-manager, real helm, a real PostgreSQL. Bulk runs that report every problem at once,
 * a job nobody runs, a pending row with nothing left, who is being deleted, cancelled jobs, prune.
 */
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { cliEnv } from '../support/env.js';
import { db, getNamespace, kubectlJson, listEverything, namespaceOf, openCostName, provisionCustomer, randomKey, waitFor, type Snapshot } from '../support/fixtures.js';

interface Outcome { customerId: string; jobId: string | null; state: string; exitCode: number; alreadyDeleted?: { byJob: string | null; at: string | null } }
interface Report { results: Outcome[]; exitCode: number }
interface JobJson { id: string; state: string; failedReason: string | null }

const state = tempStateDir();
const env = { CUSTCTL_STATE_DIR: state };

async function row(customerId: string) {
  const r = await db().query('select deployment_status, instance_namespace, deletion_job_id, deleted_at, updated_at from customers where customer_id = $1', [customerId]);
  return r.rows[0] as { deployment_status: string; instance_namespace: string; deletion_job_id: string | null; deleted_at: Date | null; updated_at: Date } | undefined;
}

async function clusterRbacNames(): Promise<string[]> {
  const roles = await kubectlJson<{ items: Array<{ metadata: { name: string } }> }>(['get', 'clusterroles']);
  const bindings = await kubectlJson<{ items: Array<{ metadata: { name: string } }> }>(['get', 'clusterrolebindings']);
  return [...roles.items.map((o) => `ClusterRole/${o.metadata.name}`), ...bindings.items.map((o) => `ClusterRoleBinding/${o.metadata.name}`)];
}

/** The part of a snapshot that belongs to the given keys (other tests change the rest concurrently). */
function scoped(s: Snapshot, keys: string[]) {
  const mine = (name: string) => keys.some((k) => name === namespaceOf(k) || name === `cust_${k}` || name.includes(`c${k}-customer-instance`));
  return {
    namespaces: s.namespaces.filter((n) => mine(n.name)),
    clusterRoles: s.clusterRoles.filter((n) => mine(n.name)),
    clusterRoleBindings: s.clusterRoleBindings.filter((n) => mine(n.name)),
    releases: s.releases.filter((r) => mine(r.namespace)),
    customers: s.customers.filter((c) => mine(c.customerId)),
  };
}

async function jobIds(stateDir: string): Promise<string[]> {
  const { json } = await custctlJson<JobJson[]>(['jobs', 'list'], { env: { CUSTCTL_STATE_DIR: stateDir } });
  return json.map((j) => j.id);
}

beforeAll(async () => {
  const m = await custctl(['db', 'migrate'], { env });
  expect(m.exitCode, m.stderr).toBe(0);
});

describe('item 4: a bulk run reports every problem at once, and nothing happens', () => {
  it('a bad id, an unknown customer, one deploying and one with a wrong namespace beside a good one: all four named, exit 1, nothing changed', async () => {
    const stateDir = tempStateDir();
    const good = await provisionCustomer(randomKey('bg'));
    const deploying = await provisionCustomer(randomKey('bd'), { namespace: false, status: 'deploying' });
    const wrongNs = await provisionCustomer(randomKey('bw'), { namespace: false, instanceNamespace: 'kube-system' });
    const unknown = `cust_${randomKey('bu')}`;
    const keys = [good.key, deploying.key, wrongNs.key];
    const before = scoped(await listEverything(), keys);
    const r = await custctl(['delete', good.customerId, 'cust_Bad', unknown, deploying.customerId, wrongNs.customerId, '--yes'], { env: { CUSTCTL_STATE_DIR: stateDir } });
    expect(r.exitCode, r.stderr).toBe(1); // mixed: 2, 3, 4, 2
    expect(r.stderr).toMatch(/Error: refusing to delete these 5 customers: 4 of 5 cannot go ahead, so nothing was changed/);
    expect(r.stderr).toMatch(/"cust_Bad" is not a customer ID/);
    expect(r.stderr).toContain(`${unknown}: customer ${unknown} not found`);
    expect(r.stderr).toMatch(new RegExp(`${deploying.customerId}: .*deploying`));
    expect(r.stderr).toMatch(new RegExp(`${wrongNs.customerId}: .*"kube-system"`));
    expect(r.stderr).not.toContain(`${good.customerId}:`);
    expect(scoped(await listEverything(), keys)).toEqual(before);
    expect(await getNamespace(good.namespace)).not.toBeNull();
    expect((await row(good.customerId))?.deployment_status).toBe('deployed');
    expect(await jobIds(stateDir)).toEqual([]);
  }, 120_000);

  it('two refusals of one kind share its exit code (3)', async () => {
    const r = await custctl(['delete', `cust_${randomKey('n1')}`, `cust_${randomKey('n2')}`, '--yes'], { env });
    expect(r.exitCode, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/2 of 2 cannot go ahead/);
  });

  it('a bulk run closes its table with `N deleted, M failed`', async () => {
    const [a, b] = await Promise.all([provisionCustomer(randomKey('sa')), provisionCustomer(randomKey('sb'))]);
    const r = await custctl(['delete', a.customerId, b.customerId, '--yes'], { env });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\n\n2 deleted, 0 failed$/);
    expect(await getNamespace(a.namespace)).toBeNull();
    expect(await getNamespace(b.namespace)).toBeNull();
  }, 120_000);
});

describe('item 6: a pending row with nothing left on the cluster', () => {
  it('says "already deleted (by job N, DATE)", exit 0, creates no job and changes nothing', async () => {
    const stateDir = tempStateDir();
    const e = { CUSTCTL_STATE_DIR: stateDir };
    const c = await provisionCustomer(randomKey('ad'));
    const first = await custctlJson<Report>(['delete', c.customerId, '--yes'], { env: e });
    expect(first.result.exitCode, first.result.stderr).toBe(0);
    const jobId = first.json.results[0]?.jobId as string;
    const after = await row(c.customerId);
    expect(after).toMatchObject({ deployment_status: 'pending', deletion_job_id: jobId });
    const deletedAt = (after?.deleted_at as Date).toISOString();
    const jobsBefore = await jobIds(stateDir);
    const snapshot = scoped(await listEverything(), [c.key]);

    const again = await custctl(['delete', c.customerId, '--yes'], { env: e });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stderr).toContain(`${c.customerId}: already deleted (by job ${jobId}, ${deletedAt})`);
    expect(again.stdout).toMatch(new RegExp(`${c.customerId}\\s+${c.namespace}\\s+-\\s+already deleted\\s+by job ${jobId}, ${deletedAt}`));
    const json = await custctlJson<Report>(['delete', c.customerId, '--yes'], { env: e });
    expect(json.json.results[0]).toMatchObject({ state: 'already-deleted', jobId: null, exitCode: 0, alreadyDeleted: { byJob: jobId, at: deletedAt } });
    const dry = await custctl(['delete', c.customerId, '--dry-run'], { env: e });
    expect(dry.stdout).toContain(`already deleted (by job ${jobId}, ${deletedAt}): nothing left on the cluster, nothing to do`);
    // no question either: without a terminal and without --yes it is not refused, there is nothing to confirm
    const noYes = await custctl(['delete', c.customerId], { env: e });
    expect(noYes.exitCode, noYes.stderr).toBe(0);

    expect(await jobIds(stateDir)).toEqual(jobsBefore);
    expect(await row(c.customerId)).toEqual(after); // updated_at included: the row was not written
    expect(scoped(await listEverything(), [c.key])).toEqual(snapshot);
  }, 120_000);

  it('leftover cluster RBAC of a pending row is still cleaned (a job runs, as before)', async () => {
    const c = await provisionCustomer(randomKey('lr'), { namespace: false, rbacOutsideRelease: true, status: 'pending', instanceNamespace: '' });
    expect(await clusterRbacNames()).toContain(`ClusterRole/${openCostName(c.key)}`);
    const r = await custctlJson<Report>(['delete', c.customerId, '--yes'], { env });
    expect(r.result.exitCode, r.result.stderr).toBe(0);
    expect(r.json.results[0]).toMatchObject({ state: 'completed', exitCode: 0 });
    expect(r.json.results[0]?.jobId).toMatch(/^\d+$/);
    const rbac = await clusterRbacNames();
    expect(rbac).not.toContain(`ClusterRole/${openCostName(c.key)}`);
    expect(rbac).not.toContain(`ClusterRoleBinding/${openCostName(c.key)}`);
    expect((await row(c.customerId))?.deployment_status).toBe('pending');
  }, 120_000);

  it('a leftover namespace (and release) of a pending row is still deleted', async () => {
    const c = await provisionCustomer(randomKey('ln'), { status: 'pending' });
    const r = await custctlJson<Report>(['delete', c.customerId, '--yes'], { env });
    expect(r.result.exitCode, r.result.stderr).toBe(0);
    expect(r.json.results[0]?.state).toBe('completed');
    expect(await getNamespace(c.namespace)).toBeNull();
  }, 120_000);
});

describe('item 7: the plan and the confirmation say who is being deleted', () => {
  it('the company and the e-mail beside the id', async () => {
    const c = await provisionCustomer(randomKey('who'));
    const dry = await custctl(['delete', c.customerId, '--dry-run'], { env });
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(new RegExp(`Customer\\s+${c.customerId}  \\(Test company ${c.key}, ${c.key}@example\\.test\\)`));
    // the confirmation shows the same plan on stderr before it asks (refused here: no terminal)
    const ask = await custctl(['delete', c.customerId], { env });
    expect(ask.exitCode).toBe(2);
    expect(ask.stderr).toMatch(new RegExp(`Customer\\s+${c.customerId}  \\(Test company ${c.key}, ${c.key}@example\\.test\\)`));
    expect(await getNamespace(c.namespace)).not.toBeNull();
  }, 120_000);
});

describe('items 5 and 8: a queued job nobody runs; cancelled jobs; prune', () => {
  it('--detach names who runs it; status job --watch says nobody has picked it up, then ends with the job once a worker ran it', async () => {
    const stateDir = tempStateDir();
    const e = { CUSTCTL_STATE_DIR: stateDir };
    const c = await provisionCustomer(randomKey('wk'));
    const q = await custctl(['delete', c.customerId, '--yes', '--detach'], { env: e });
    expect(q.exitCode, q.stderr).toBe(0);
    expect(q.stderr).toMatch(/Queued: the job runs in a 'custctl worker' or 'custctl serve' using this state directory/);
    const jobId = /\s(\d+)\s+waiting\s+queued: a worker runs it/.exec(q.stdout)?.[1] as string;
    expect(jobId).toMatch(/^\d+$/);

    const base = cliEnv();
    delete base.SIMULATE_K8S_DEPLOYMENT;
    const watch = execa('node', [BIN, 'status', 'job', jobId, '--watch'], { env: { ...base, NO_COLOR: '1', ...e }, extendEnv: false, reject: false, timeout: 180_000 });
    let stderr = '';
    watch.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    await waitFor(async () => /no worker has picked it up/.test(stderr), 'the watch to say nobody runs the job', 60_000);
    expect(stderr).toMatch(new RegExp(`WARN  job ${jobId} is still waiting after \\d+s: no worker has picked it up. It runs in a 'custctl worker'`));

    const w = await custctlJson<{ attempts: number; completed: number; failed: number }>(['worker', '--once'], { env: e });
    expect(w.result.exitCode, w.result.stderr).toBe(0);
    expect(w.json).toMatchObject({ attempts: 1, completed: 1, failed: 0 });
    const watched = await watch;
    expect(watched.exitCode, stderr).toBe(0);
    expect(String(watched.stdout)).toMatch(new RegExp(`Job\\s+${jobId} \\(delete\\)\\s+completed`));
    const plain = await custctl(['status', 'job', jobId], { env: e });
    expect(plain.exitCode).toBe(0);
    expect(await getNamespace(c.namespace)).toBeNull();
  }, 240_000);

  it('a cancelled job reads as cancelled (human views, retry), its JSON keeps the BullMQ shape, exit 4; prune asks, --dry-run lists, --yes removes', async () => {
    const stateDir = tempStateDir();
    const e = { CUSTCTL_STATE_DIR: stateDir };
    const c = await provisionCustomer(randomKey('cn'));
    const q = await custctlJson<Report>(['delete', c.customerId, '--yes', '--detach'], { env: e });
    const jobId = q.json.results[0]?.jobId as string;
    const cancel = await custctl(['jobs', 'cancel', jobId], { env: e });
    expect(cancel.exitCode, cancel.stderr).toBe(0);
    expect((await row(c.customerId))?.deployment_status).toBe('deployed');

    const human = await custctl(['status', 'job', jobId], { env: e });
    expect(human.exitCode).toBe(4);
    expect(human.stdout).toMatch(new RegExp(`Job\\s+${jobId} \\(delete\\)\\s+cancelled`));
    expect(human.stdout).toMatch(/Cancelled\s+\d{4}-/);
    expect(human.stdout).not.toMatch(/Failed/);
    const watched = await custctl(['status', 'job', jobId, '--watch'], { env: e });
    expect(watched.exitCode).toBe(4);
    const json = await custctlJson<JobJson>(['status', 'job', jobId], { env: e });
    expect(json.json).toMatchObject({ state: 'failed', failedReason: 'cancelled' });
    const list = await custctl(['jobs', 'list'], { env: e });
    expect(list.stdout).toMatch(new RegExp(`${jobId}\\s+delete\\s+cancelled`));
    const retry = await custctl(['jobs', 'retry', jobId], { env: e });
    expect(retry.exitCode).toBe(4);
    expect(retry.stderr).toContain(`Error: job ${jobId} was cancelled: a cancelled job is not retried`);
    expect(retry.stderr).toContain(`Start a new deletion with 'custctl delete ${c.customerId}'.`);

    const dry = await custctlJson<{ dryRun: boolean; jobs: Array<{ id: string; state: string }>; pruned: number }>(['jobs', 'prune', '--older-than', '0s', '--dry-run'], { env: e });
    expect(dry.json).toMatchObject({ dryRun: true, pruned: 0, jobs: [{ id: jobId, state: 'cancelled' }] });
    const refused = await custctl(['jobs', 'prune', '--older-than', '0s'], { env: e });
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toMatch(/Error: refusing to prune 1 finished job without confirmation: no terminal to ask on/);
    expect(await jobIds(stateDir)).toEqual([jobId]);
    const yes = await custctlJson<{ pruned: number }>(['jobs', 'prune', '--older-than', '0s', '--yes'], { env: e });
    expect(yes.json.pruned).toBe(1);
    expect((await custctl(['status', 'job', jobId], { env: e })).exitCode).toBe(3);
    expect(await getNamespace(c.namespace)).not.toBeNull(); // the cancelled deletion never touched the cluster
  }, 180_000);

  it('db check -o json', async () => {
    const r = await custctlJson<{ upToDate: boolean; missing: string[] }>(['db', 'check'], { env });
    expect(r.result.exitCode, r.result.stderr).toBe(0);
    expect(r.json).toMatchObject({ upToDate: true, missing: [] });
  });
});
