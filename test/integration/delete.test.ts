/**
 * `custctl delete` end to end on the real parts: the built binary, a real kube-apiserver and
 * controller-manager, real helm, a real PostgreSQL.
 */
import { createServer, type Server } from 'node:net';
import { chmodSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { testEnv } from '../support/env.js';
import {
  db, getNamespace, helm, kubectl, kubectlJson, listEverything, namespaceOf, openCostName, provisionCustomer, randomKey, unstick, type Snapshot,
} from '../support/fixtures.js';

interface Report {
  results: Array<{ customerId: string; jobId: string | null; state: string; exitCode: number; error: { error: string; message: string; details: string[] } | null; result: { outcome: string; namespaceOutcome: string; rbac: { deleted: Array<{ kind: string; name: string }> }; warnings: string[] } | null }>;
  exitCode: number;
}

const state = tempStateDir();
const env = { CUSTCTL_STATE_DIR: state };

async function row(customerId: string) {
  const r = await db().query('select deployment_status, instance_namespace, instance_url, deletion_job_id from customers where customer_id = $1', [customerId]);
  return r.rows[0] as { deployment_status: string; instance_namespace: string; instance_url: string; deletion_job_id: string | null } | undefined;
}

async function releases(namespace: string): Promise<string[]> {
  const r = await helm(['list', '-n', namespace, '--deployed', '--failed', '--pending', '--uninstalling', '-o', 'json'], { check: true });
  return (JSON.parse(r.stdout || '[]') as Array<{ name: string }>).map((x) => x.name);
}

async function clusterRbacNames(): Promise<string[]> {
  const roles = await kubectlJson<{ items: Array<{ metadata: { name: string } }> }>(['get', 'clusterroles']);
  const bindings = await kubectlJson<{ items: Array<{ metadata: { name: string } }> }>(['get', 'clusterrolebindings']);
  return [...roles.items.map((o) => `ClusterRole/${o.metadata.name}`), ...bindings.items.map((o) => `ClusterRoleBinding/${o.metadata.name}`)];
}

/** The part of a snapshot that belongs to the given keys (other tests change the rest concurrently). */
function scoped(s: Snapshot, keys: string[]) {
  const mine = (name: string) => keys.some((k) => name === namespaceOf(k) || name === `cust_${k}` || name.includes(`c${k}-customer-instance`) || name.endsWith(`-${k}`));
  return {
    namespaces: s.namespaces.filter((n) => mine(n.name)),
    clusterRoles: s.clusterRoles.filter((n) => mine(n.name)),
    clusterRoleBindings: s.clusterRoleBindings.filter((n) => mine(n.name)),
    releases: s.releases.filter((r) => mine(r.namespace)),
    customers: s.customers.filter((c) => mine(c.customerId)),
  };
}

beforeAll(async () => {
  const m = await custctl(['db', 'migrate'], { env });
  expect(m.exitCode, m.stderr).toBe(0);
});

describe('custctl delete (the seed test flow)', () => {
  it('deletes release, namespace and cluster RBAC, and resets the row — and leaves the substring neighbour alone', async () => {
    const key = randomKey('s');
    const neighbour = `${key}1`; // key is a substring of the neighbour's key (abc12 vs abc123)
    const c = await provisionCustomer(key, { rbacOutsideRelease: true, pvcs: 1 });
    await provisionCustomer(neighbour);
    await kubectl(['create', 'clusterrole', `x${openCostName(key)}`, '--verb=get', '--resource=pods'], { check: true });
    const before = scoped(await listEverything(), [neighbour]);
    const decoy = `ClusterRole/x${openCostName(key)}`;
    expect(await clusterRbacNames()).toEqual(expect.arrayContaining([`ClusterRole/${openCostName(key)}`, `ClusterRoleBinding/${openCostName(key)}`, decoy]));
    const pods = await kubectlJson<{ items: unknown[] }>(['get', 'pods', '-n', c.namespace]);
    expect(pods.items.length).toBeGreaterThan(0);

    const r = await custctl(['delete', c.customerId, '--yes'], { env });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`${c.customerId}\\s+${c.namespace}\\s+\\d+\\s+deleted`));
    // the chart has no delete hooks: its release goes with the namespace, no helm process
    for (const line of ['Starting customer instance deletion', 'Helm release goes with the namespace: no helm process', 'Deleting Kubernetes namespace', 'Namespace deleted successfully', 'Cleaning up cluster-scoped resources', 'Deleted ClusterRoleBinding', 'Deleted ClusterRole', 'Customer instance deleted successfully']) {
      expect(r.stderr).toContain(line);
    }
    expect(await releases(c.namespace)).toEqual([]);
    expect(await getNamespace(c.namespace)).toBeNull();
    const rbac = await clusterRbacNames();
    expect(rbac).not.toContain(`ClusterRole/${openCostName(key)}`);
    expect(rbac).not.toContain(`ClusterRoleBinding/${openCostName(key)}`);
    expect(rbac).toContain(decoy);
    expect(await row(c.customerId)).toMatchObject({ deployment_status: 'pending', instance_namespace: '', instance_url: '' });
    // the neighbour, object for object
    expect(scoped(await listEverything(), [neighbour])).toEqual(before);
    await kubectl(['delete', 'clusterrole', `x${openCostName(key)}`]);
  });

  it('removes RBAC that was part of the release via helm, and prints a stable JSON result', async () => {
    const c = await provisionCustomer(randomKey('j'));
    const { result, json } = await custctlJson<Report>(['delete', c.customerId, '--yes'], { env });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(json.exitCode).toBe(0);
    expect(json.results).toHaveLength(1);
    expect(json.results[0]).toMatchObject({ customerId: c.customerId, state: 'completed', exitCode: 0, error: null, result: { outcome: 'deleted', namespaceOutcome: 'deleted' } });
    expect(json.results[0]?.result?.rbac.deleted.map((o) => `${o.kind}/${o.name}`).sort()).toEqual([`ClusterRole/${openCostName(c.key)}`, `ClusterRoleBinding/${openCostName(c.key)}`]);
    expect(await clusterRbacNames()).not.toContain(`ClusterRole/${openCostName(c.key)}`);
    const s = await custctlJson<{ id: string; state: string; progress: number; data: { customerId: string } }>(['status', 'job', json.results[0]?.jobId ?? ''], { env });
    expect(s.json).toMatchObject({ state: 'completed', progress: 100, data: { customerId: c.customerId } });
  });
});

describe('start-up of a deletion', () => {
  it('a deletion (client certificate kubeconfig) sends its requests itself: @kubernetes/client-node is never loaded', async () => {
    const c = await provisionCustomer(randomKey('n'));
    const trace = path.resolve(path.dirname(BIN), '../test/support/trace-imports.mjs');
    const file = path.join(state, `imports-${c.key}.txt`);
    const r = await custctl(['delete', c.customerId, '--yes'], { env: { ...env, NODE_OPTIONS: `--import ${trace}`, CUSTCTL_TRACE_IMPORTS: file } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await getNamespace(c.namespace)).toBeNull();
    const urls = readFileSync(file, 'utf8').split('\n').filter((u) => u.startsWith('file:'));
    expect(urls.some((u) => u.includes('/dist/adapters/kube/index.js'))).toBe(true); // the tracer saw the kube adapter load
    expect(urls.filter((u) => u.includes('@kubernetes/client-node'))).toEqual([]);
  }, 120_000);
});

describe('several customers in one run', () => {
  it('deletes them in one process and writes one n/N line per customer on stderr (plain lines without a TTY)', async () => {
    const [a, b, c] = await Promise.all([provisionCustomer(randomKey('ba')), provisionCustomer(randomKey('bb')), provisionCustomer(randomKey('bc'))]);
    const { result, json } = await custctlJson<Report>(['delete', a.customerId, b.customerId, c.customerId, '--yes'], { env });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(json.results.map((r) => [r.customerId, r.state])).toEqual([[a.customerId, 'completed'], [b.customerId, 'completed'], [c.customerId, 'completed']]);
    // one line per customer as it ends: `OK    2/3 cust_… deleted  job=…`
    const counts = result.stderr.split('\n').filter((l) => /OK +\d\/3 cust_[a-z0-9]+ deleted/.test(l)).map((l) => /(\d\/3) cust_/.exec(l)?.[1]);
    expect(counts).toEqual(['1/3', '2/3', '3/3']);
    for (const x of [a, b, c]) {
      expect((await row(x.customerId))?.deployment_status).toBe('pending');
      expect(await getNamespace(x.namespace)).toBeNull();
    }
  });
});

describe('already gone', () => {
  it('release missing: warns and continues', async () => {
    const c = await provisionCustomer(randomKey('r'), { release: false, rbacOutsideRelease: true });
    const r = await custctl(['delete', c.customerId, '--yes'], { env });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/WARN\s+Helm release not found/);
    expect(await getNamespace(c.namespace)).toBeNull();
    expect(await clusterRbacNames()).not.toContain(`ClusterRole/${openCostName(c.key)}`);
    expect((await row(c.customerId))?.deployment_status).toBe('pending');
  });

  it('namespace missing (RBAC left behind): warns, cleans the RBAC, resets the row', async () => {
    const c = await provisionCustomer(randomKey('n'), { namespace: false, rbacOutsideRelease: true });
    const r = await custctl(['delete', c.customerId, '--yes'], { env });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/WARN\s+Namespace not found/);
    expect(await clusterRbacNames()).not.toContain(`ClusterRoleBinding/${openCostName(c.key)}`);
    expect((await row(c.customerId))?.deployment_status).toBe('pending');
  });

  it('everything missing on a deletion_failed row: warnings, exit 0, row reset', async () => {
    const c = await provisionCustomer(randomKey('f'), { namespace: false, status: 'deletion_failed' });
    const r = await custctl(['delete', c.customerId, '--yes'], { env });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/WARN/);
    expect(await row(c.customerId)).toMatchObject({ deployment_status: 'pending', instance_namespace: '' });
  });
});

describe('refusals on the cluster', () => {
  it('a deployed row with nothing on the cluster is the wrong place: exit 3 naming the context; --allow-missing resets it', async () => {
    const c = await provisionCustomer(randomKey('w'), { namespace: false });
    const r = await custctl(['delete', c.customerId, '--yes'], { env });
    expect(r.exitCode, r.stderr).toBe(3);
    expect(r.stderr).toContain(`kube context: ${testEnv().kubeContext}`);
    expect(r.stderr).toContain(testEnv().apiServer);
    expect(r.stderr).toMatch(/--allow-missing/);
    expect((await row(c.customerId))?.deployment_status).toBe('deployed');

    const ok = await custctl(['delete', c.customerId, '--yes', '--allow-missing'], { env });
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect((await row(c.customerId))?.deployment_status).toBe('pending');
  });

  it('a release holding a CRD is refused and nothing changes', async () => {
    const c = await provisionCustomer(randomKey('crd'), { crd: true });
    const before = scoped(await listEverything(), [c.key]);
    const crdsBefore = await kubectlJson<{ items: Array<{ metadata: { name: string } }> }>(['get', 'crds']);
    const r = await custctl(['delete', c.customerId, '--yes'], { env });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/CustomResourceDefinition/);
    expect(r.stderr).toMatch(/--allow-cluster-scoped/);
    expect(scoped(await listEverything(), [c.key])).toEqual(before);
    expect((await kubectlJson<{ items: unknown[] }>(['get', 'crds'])).items.length).toBe(crdsBefore.items.length);
    expect((await row(c.customerId))?.deployment_status).toBe('deployed');
  });

  it('without a TTY and without --yes it refuses (exit 2) and changes nothing', async () => {
    const c = await provisionCustomer(randomKey('t'));
    const before = scoped(await listEverything(), [c.key]);
    const r = await custctl(['delete', c.customerId], { env });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/--yes/);
    expect(scoped(await listEverything(), [c.key])).toEqual(before);
  });

  it('a customer being deployed is refused with exit 4 unless --force; one being deleted names its job', async () => {
    const c = await provisionCustomer(randomKey('d'), { status: 'deploying' });
    const r = await custctl(['delete', c.customerId, '--yes'], { env });
    expect(r.exitCode).toBe(4);
    expect(r.stderr).toMatch(/deploying/);
    await db().query("update customers set deployment_status = 'deleting', deletion_job_id = '999999' where customer_id = $1", [c.customerId]);
    const r2 = await custctl(['delete', c.customerId, '--yes'], { env });
    expect(r2.exitCode).toBe(4);
    expect(r2.stderr).toMatch(/job 999999/);
    expect(r2.stderr).toMatch(/jobs resume --customer/);
  });
});

describe('dry-run and simulation change nothing', () => {
  it('--dry-run prints the plan (releases, objects by kind, PVCs with reclaim policy, RBAC, row change)', async () => {
    const c = await provisionCustomer(randomKey('p'), { rbacOutsideRelease: true, extraConfigMaps: 3 });
    const before = scoped(await listEverything(), [c.key]);
    const r = await custctl(['delete', c.customerId, '--dry-run'], { env });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(c.release);
    expect(r.stdout).toMatch(/configmaps/);
    expect(r.stdout).toMatch(/PVC/);
    expect(r.stdout).toContain(openCostName(c.key));
    expect(r.stdout).toMatch(/deployed → deleting → pending/);
    expect(scoped(await listEverything(), [c.key])).toEqual(before);
  });

  it('SIMULATE_K8S_DEPLOYMENT=true leaves the cluster alone and resets only the row', async () => {
    const c = await provisionCustomer(randomKey('sim'), { rbacOutsideRelease: true });
    const before = scoped(await listEverything(), [c.key]);
    const r = await custctl(['delete', c.customerId, '--yes', '-o', 'json'], { env: { ...env, SIMULATE_K8S_DEPLOYMENT: 'true' } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/simulated/i);
    expect(JSON.parse(r.stdout)).toMatchObject({ simulated: true });
    const after = scoped(await listEverything(), [c.key]);
    expect({ ...after, customers: [] }).toEqual({ ...before, customers: [] });
    expect((await row(c.customerId))?.deployment_status).toBe('pending');
  });
});

describe('a stuck namespace', () => {
  it('fails with exit 5 and a diagnosis naming the finalizer and the kind; the row is deletion_failed', async () => {
    const c = await provisionCustomer(randomKey('stk'), { stuck: true });
    try {
      const r = await custctl(['delete', c.customerId, '--yes', '--timeout', '20s'], { env: { ...env, QUEUE_MAX_RETRIES: '1' } });
      expect(r.exitCode, r.stderr).toBe(5);
      expect(r.stderr).toContain('custctl.test/stuck');
      expect(r.stderr).toMatch(/configmaps/);
      expect(r.stderr).toMatch(/NamespaceFinalizersRemaining|NamespaceContentRemaining/);
      expect((await row(c.customerId))?.deployment_status).toBe('deletion_failed');
      expect((await getNamespace(c.namespace))?.status?.phase).toBe('Terminating');
    } finally {
      await unstick(c.namespace);
    }
  });
});

describe('a large namespace', () => {
  it('500 configmaps, 50 secrets and PVCs are deleted within the timeout, with progress shown', async () => {
    const c = await provisionCustomer(randomKey('big'), { extraConfigMaps: 500, extraSecrets: 50, pvcs: 5 });
    const count = await kubectlJson<{ items: unknown[] }>(['get', 'configmaps', '-n', c.namespace]);
    expect(count.items.length).toBeGreaterThanOrEqual(500);
    const r = await custctl(['delete', c.customerId, '--yes'], { env });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Namespace deleted successfully/);
    expect(await getNamespace(c.namespace)).toBeNull();
    expect((await row(c.customerId))?.deployment_status).toBe('pending');
  }, 300_000);
});

describe('bad input: refused with exit 2 and zero requests to the cluster', () => {
  let server: Server;
  let connections = 0;
  let dir: string;
  let kubeconfig: string;
  let helmLog: string;
  let fakeHelm: string;

  beforeAll(async () => {
    dir = tempStateDir();
    server = createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    kubeconfig = path.join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, `apiVersion: v1\nkind: Config\nclusters:\n- name: counting\n  cluster:\n    server: https://127.0.0.1:${port}\n    insecure-skip-tls-verify: true\ncontexts:\n- name: counting\n  context:\n    cluster: counting\n    user: nobody\ncurrent-context: counting\nusers:\n- name: nobody\n  user:\n    token: x\n`);
    helmLog = path.join(dir, 'helm.log');
    fakeHelm = path.join(dir, 'helm');
    writeFileSync(fakeHelm, `#!/bin/sh\necho "$@" >> ${helmLog}\nexit 1\n`);
    chmodSync(fakeHelm, 0o755);
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const badIds = ['12345', 'cust_', 'cust_ABC', 'cust_abc;rm -rf', '../cust_a', `cust_${'a'.repeat(45)}`];
  it.each(badIds)('id %j', async (id) => {
    const r = await custctl(['delete', id, '--yes'], { env: { ...env, KUBECONFIG: kubeconfig, HELM_BIN: fakeHelm } });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/Error: .*(customer ID|row id|characters)/);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace
    expect(connections).toBe(0);
    expect(existsSync(helmLog)).toBe(false);
  });

  it('a 44-character key is accepted (and looked up in the database)', async () => {
    const r = await custctl(['delete', `cust_${'a'.repeat(44)}`, '--yes'], { env: { ...env, KUBECONFIG: kubeconfig, HELM_BIN: fakeHelm } });
    expect(r.exitCode).toBe(3); // valid, but no such row
    expect(r.stderr).toMatch(/not found/);
    expect(connections).toBe(0);
  });

  it.each(['kube-system', 'default', 'customer-', 'Customer-KEY', 'customer-other1', 'OTHER'])('a row whose instance_namespace is %j', async (ns) => {
    const key = randomKey('bad');
    const c = await provisionCustomer(key, { namespace: false, instanceNamespace: ns.replace('KEY', key) });
    const r = await custctl(['delete', c.customerId, '--yes'], { env: { ...env, KUBECONFIG: kubeconfig, HELM_BIN: fakeHelm } });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(JSON.stringify(ns.replace('KEY', key)));
    expect(r.stderr).toContain(JSON.stringify(c.namespace));
    expect(connections).toBe(0);
    expect(existsSync(helmLog)).toBe(false);
    expect((await row(c.customerId))?.deployment_status).toBe('deployed');
  });

  it('control: a valid customer does reach the counting server (so the zeros above mean something)', async () => {
    const c = await provisionCustomer(randomKey('ctl'), { namespace: false });
    const r = await custctl(['delete', c.customerId, '--yes'], { env: { ...env, KUBECONFIG: kubeconfig, HELM_BIN: fakeHelm, QUEUE_MAX_RETRIES: '1' } });
    expect(r.exitCode).not.toBe(0);
    expect(connections + (existsSync(helmLog) ? 1 : 0)).toBeGreaterThan(0);
  });
});
