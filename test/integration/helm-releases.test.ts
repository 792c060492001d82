/**
 * Releases as helm leaves them, deleted for real on the test control plane with real helm v4:
 * charts written by others (`helm create`'s starter, a chart that writes keys twice) are read as
 * helm reads them; and a release removed with its namespace (no helm process) leaves exactly what
 * `helm uninstall` leaves — nothing — for a chart with delete hooks and one without.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { testEnv } from '../support/env.js';
import { db, ensureCustomersTable, getNamespace, helm, kubectl, kubectlJson, randomKey } from '../support/fixtures.js';

const CHARTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/charts');
const state = tempStateDir();
const env = { CUSTCTL_STATE_DIR: state };

interface Report {
  results: Array<{
    customerId: string; state: string; exitCode: number;
    error: { message: string; details: string[] } | null;
    result: { releases: Array<{ name: string; outcome: string; why?: string }>; namespaceOutcome: string; rbac: { deleted: Array<{ kind: string; name: string }> } } | null;
    plan?: { releases: Array<{ name: string; removal: string; why: string; unreadable: string[]; outsideNamespace: string[] }> };
  }>;
}

async function addRow(key: string): Promise<string> {
  await ensureCustomersTable();
  await db().query(
    `insert into customers (customer_id, email, company_name, deployment_status, instance_namespace, instance_url) values ($1, $2, $3, 'deployed', $4, '')`,
    [`cust_${key}`, `${key}@example.test`, `Charts ${key}`, `customer-${key}`]);
  return `cust_${key}`;
}

async function install(key: string, chart: string, args: string[] = []): Promise<void> {
  await helm(['install', `customer-${key}`, chart, '-n', `customer-${key}`, '--create-namespace', ...args], { check: true });
}

async function rowStatus(key: string): Promise<string | undefined> {
  const r = await db().query<{ deployment_status: string }>('select deployment_status from customers where customer_id = $1', [`cust_${key}`]);
  return r.rows[0]?.deployment_status;
}

/** Every object of every listable namespaced kind in the namespace, as `kind/name` with the key written `<key>` (a service-account token's random suffix as `<random>`). */
async function namespacedObjects(key: string): Promise<string[]> {
  const kinds = (await kubectl(['api-resources', '--namespaced', '--verbs=list', '-o', 'name'], { check: true })).stdout.split('\n').filter((k) => k && k !== 'events' && k !== 'events.events.k8s.io');
  const names = (await kubectl(['get', kinds.join(','), '-n', `customer-${key}`, '-o', 'name'], { check: true })).stdout.split('\n').filter(Boolean);
  return names.map((n) => n.replaceAll(key, '<key>').replace(/^(secret\/.+-token-)[a-z0-9]{5}$/, '$1<random>')).sort();
}

/** Cluster-scoped objects that carry the key in their name or in a helm annotation. */
async function clusterObjects(key: string): Promise<string[]> {
  const l = await kubectlJson<{ items: Array<{ kind: string; metadata: { name: string; annotations?: Record<string, string> } }> }>(['get', 'clusterroles,clusterrolebindings,customresourcedefinitions']);
  return l.items
    .filter((o) => o.metadata.name.includes(key) || Object.values(o.metadata.annotations ?? {}).some((v) => v.includes(key)))
    .map((o) => `${o.kind}/${o.metadata.name.replaceAll(key, '<key>')}`).sort();
}

async function releasesOf(key: string): Promise<string[]> {
  const r = await helm(['list', '-n', `customer-${key}`, '--deployed', '--failed', '--pending', '--uninstalling', '--uninstalled', '--superseded', '-o', 'json'], { check: true });
  return (JSON.parse(r.stdout || '[]') as Array<{ name: string }>).map((x) => x.name);
}

/** Objects helm (its user agent) created in the namespace (helm 4 creates by server-side apply, a PATCH): the hooks it ran. */
function helmCreates(key: string): string[] {
  const out: string[] = [];
  for (const line of readFileSync(testEnv().auditLog, 'utf8').split('\n')) {
    if (!line.includes(`customer-${key}`)) continue;
    const ev = JSON.parse(line) as { stage?: string; verb?: string; userAgent?: string; requestURI?: string; objectRef?: { resource?: string; name?: string } };
    if (ev.stage === 'ResponseComplete' && (ev.verb === 'create' || ev.verb === 'patch') && /^helm\//i.test(ev.userAgent ?? '') && ev.requestURI?.includes(`/namespaces/customer-${key}/`)) {
      out.push(`${ev.objectRef?.resource ?? '?'}/${ev.objectRef?.name ?? '?'}`);
    }
  }
  return out;
}

/** After a deletion: no namespace, no release, no cluster object of the key, the row pending. */
async function nothingLeft(key: string): Promise<void> {
  expect(await getNamespace(`customer-${key}`)).toBeNull();
  expect(await releasesOf(key)).toEqual([]);
  expect(await clusterObjects(key)).toEqual([]);
  expect(await rowStatus(key)).toBe('pending');
}

beforeAll(async () => {
  const m = await custctl(['db', 'migrate'], { env });
  expect(m.exitCode, m.stderr).toBe(0);
});

describe('charts written by others, read as helm reads them', () => {
  it("helm create's starter chart (installed by real helm) is deleted for real, nothing left", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'custctl-starter-'));
    await helm(['create', path.join(dir, 'starter')], { check: true });
    const key = randomKey('st');
    const id = await addRow(key);
    await install(key, path.join(dir, 'starter'));
    expect((await namespacedObjects(key)).filter((o) => !o.startsWith('secret/sh.helm.release'))).toEqual(expect.arrayContaining(['deployment.apps/customer-<key>-starter', 'service/customer-<key>-starter', 'serviceaccount/customer-<key>-starter']));
    const { result, json } = await custctlJson<Report>(['delete', id, '--yes'], { env });
    expect(result.exitCode, result.stderr).toBe(0);
    // its only hook is a `helm test` Pod: nothing runs on uninstall, so no helm process
    expect(json.results[0]?.result?.releases).toEqual([{ name: `customer-${key}`, outcome: 'removed-with-namespace', why: 'no delete hooks' }]);
    await nothingLeft(key);
  });

  it('a chart that writes keys twice (helm installs it, the last value wins) is planned and deleted for real', async () => {
    const key = randomKey('dk');
    const id = await addRow(key);
    await install(key, path.join(CHARTS, 'duplicate-keys'));
    const manifest = (await helm(['get', 'manifest', `customer-${key}`, '-n', `customer-${key}`], { check: true })).stdout;
    expect(manifest).toMatch(/token: first\n\s+token: second/);
    const plan = await custctlJson<Report>(['delete', id, '--dry-run'], { env });
    expect(plan.result.exitCode, plan.result.stderr).toBe(0);
    expect(plan.json.results[0]?.plan?.releases).toEqual([expect.objectContaining({ name: `customer-${key}`, removal: 'namespace', unreadable: [], outsideNamespace: [] })]);
    const { result, json } = await custctlJson<Report>(['delete', id, '--yes'], { env });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(/duplicated mapping key/);
    expect(json.results[0]).toMatchObject({ state: 'completed', result: { namespaceOutcome: 'deleted' } });
    await nothingLeft(key);
  });

  it('a namespace written twice is checked by its last value: an object placed in another namespace is refused, nothing changed', async () => {
    const key = randomKey('dn');
    const other = `shared-${key}`;
    await kubectl(['create', 'namespace', other], { check: true });
    try {
      const id = await addRow(key);
      await install(key, path.join(CHARTS, 'duplicate-keys'), ['--set', `otherNamespace=${other}`]);
      // helm created it where the last `namespace:` says
      expect((await kubectl(['get', 'configmap', `customer-${key}-settings`, '-n', other, '-o', 'name'], { check: true })).stdout.trim()).toBe(`configmap/customer-${key}-settings`);
      const r = await custctl(['delete', id, '--yes'], { env });
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toContain(`ConfigMap customer-${key}-settings (v1) in namespace ${other}`);
      expect(await getNamespace(`customer-${key}`)).not.toBeNull();
      expect(await releasesOf(key)).toEqual([`customer-${key}`]);
      expect(await rowStatus(key)).toBe('deployed');
      await helm(['uninstall', `customer-${key}`, '-n', `customer-${key}`], { check: true });
      await kubectl(['delete', 'namespace', `customer-${key}`, '--wait=false']);
    } finally {
      await kubectl(['delete', 'namespace', other, '--wait=false']);
    }
  });
});

describe('removed with the namespace leaves what helm uninstall leaves (nothing)', () => {
  const chart = path.join(CHARTS, 'with-hooks');

  it.each([
    { name: 'a chart with pre-delete and post-delete hooks', hooks: true },
    { name: 'the same chart without delete hooks', hooks: false },
  ])('$name: the default and --helm-uninstall always remove the same objects and leave nothing', async ({ hooks }) => {
    const [auto, always] = [randomKey('ea'), randomKey('eh')];
    for (const key of [auto, always]) {
      await addRow(key);
      await install(key, chart, ['--set', `customerKey=${key}`, '--set', `hooks=${hooks}`]);
    }
    const before = { objects: await namespacedObjects(auto), cluster: await clusterObjects(auto) };
    expect({ objects: await namespacedObjects(always), cluster: await clusterObjects(always) }).toEqual(before);
    expect(before.cluster).toEqual(['ClusterRole/c<key>-customer-instance-reader', 'ClusterRoleBinding/c<key>-customer-instance-reader']);

    const [a, h] = await Promise.all([
      custctlJson<Report>(['delete', `cust_${auto}`, '--yes'], { env }),
      custctlJson<Report>(['delete', `cust_${always}`, '--yes', '--helm-uninstall', 'always'], { env }),
    ]);
    expect(a.result.exitCode, a.result.stderr).toBe(0);
    expect(h.result.exitCode, h.result.stderr).toBe(0);
    for (const key of [auto, always]) await nothingLeft(key);

    // what decided, per release
    expect(h.json.results[0]?.result?.releases).toEqual([{ name: `customer-${always}`, outcome: 'uninstalled', why: '--helm-uninstall always' }]);
    expect(a.json.results[0]?.result?.releases).toEqual([hooks
      ? { name: `customer-${auto}`, outcome: 'uninstalled', why: 'delete hooks: pre-delete ConfigMap/before-delete, post-delete ConfigMap/after-delete' }
      : { name: `customer-${auto}`, outcome: 'removed-with-namespace', why: 'no delete hooks' }]);
    // the release's cluster RBAC is gone either way: by helm, or by step 3
    const rbac = (r: Report) => (r.results[0]?.result?.rbac.deleted ?? []).map((o) => `${o.kind}/${o.name}`).sort();
    expect(rbac(a.json).map((n) => n.replaceAll(auto, '<key>'))).toEqual(before.cluster);
    expect(rbac(h.json).map((n) => n.replaceAll(always, '<key>'))).toEqual(before.cluster);
    // the delete hooks ran where helm ran (helm created them in the namespace), and never without helm
    await new Promise((r) => setTimeout(r, 1000)); // the audit log is written asynchronously
    const hookRuns = (key: string) => helmCreates(key).filter((c) => /before-delete|after-delete/.test(c)).sort();
    expect(hookRuns(always)).toEqual(hooks ? ['configmaps/after-delete', 'configmaps/before-delete'] : []);
    expect(hookRuns(auto)).toEqual(hookRuns(always));
  }, 240_000);
});
