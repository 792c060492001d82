/**
 * Sizes the seed's checklist names ("Test with large namespaces (many resources)"), on the real
 * control plane through the built CLI: a namespace of 10,000 objects (ConfigMaps, Secrets and the
 * custom resources of a CRD) planned without listing them and deleted within the timeout with a
 * progress line by kind; a bulk run and a cleanup-rbac sweep that list the cluster RBAC once.
 * Serial: the API server's audit log is read for this file's requests alone, and filling a namespace
 * with 10,000 objects loads the API server for everyone.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openKube } from '../../src/adapters/kube/index.js';
import type { Kube } from '../../src/adapters/kube.js';
import { PROGRESS_AFTER_MS } from '../../src/pipeline/namespace.js';
import { custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { db, getNamespace, kubectl, provisionCustomer, randomKey, waitFor } from '../support/fixtures.js';

const state = tempStateDir();
const env = { CUSTCTL_STATE_DIR: state };
let kube: Kube;

interface Audited { verb: string; uri: string; at: number; ua: string }

/** custctl's requests (its user agent) the API server logged at or after `since` (ms). */
function custctlRequests(since: number): Audited[] {
  const seen = new Map<string, Audited>();
  for (const line of readFileSync(inject('auditLog'), 'utf8').split('\n')) {
    if (!line.includes('"custctl/')) continue;
    const ev = JSON.parse(line) as { auditID: string; verb: string; requestURI: string; userAgent?: string; requestReceivedTimestamp: string };
    const at = Date.parse(ev.requestReceivedTimestamp);
    if (at >= since && ev.userAgent?.startsWith('custctl/')) seen.set(ev.auditID, { verb: ev.verb, uri: ev.requestURI, at, ua: ev.userAgent });
  }
  return [...seen.values()];
}

const rbacCalls = (reqs: Audited[], verb: string) => reqs.filter((r) => r.verb === verb && /\/apis\/rbac\.authorization\.k8s\.io\/v1\/cluster(roles|rolebindings)(\?|$)/.test(r.uri));

/** Creates `n` objects with `make(i)`, 32 at a time, through one kept-alive client. */
async function fill(n: number, make: (i: number) => Parameters<Kube['createObject']>[0]): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next < n) await kube.createObject(make(next++));
  }));
}

beforeAll(async () => {
  kube = await openKube({ kubeconfig: inject('kubeconfig'), context: inject('kubeContext'), env: {}, userAgent: 'custctl-test/fill' });
  const m = await custctl(['db', 'migrate'], { env });
  expect(m.exitCode, m.stderr).toBe(0);
});
afterAll(() => kube.close?.());

describe('a namespace of 10,000 objects', () => {
  const key = randomKey('big');
  const ns = `customer-${key}`;
  const crd = `${key}widgets.example.com`;

  beforeAll(async () => {
    await provisionCustomer(key, { rbacOutsideRelease: true });
    await kubectl(['apply', '-f', '-'], { check: true, input: JSON.stringify({
      apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: crd },
      spec: { group: 'example.com', scope: 'Namespaced', names: { plural: `${key}widgets`, singular: `${key}widget`, kind: `Widget${key}`, listKind: `Widget${key}List` },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }] },
    }) });
    await waitFor(async () => (await kubectl(['get', `${key}widgets`, '-n', ns])).exitCode === 0, 'the CRD to be served', 60_000);
    const started = Date.now();
    await fill(6000, (i) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `bulk-${i}`, namespace: ns }, data: { i: String(i) } }));
    await fill(2000, (i) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: `bulk-${i}`, namespace: ns }, data: { i: Buffer.from(String(i)).toString('base64') } }));
    await fill(2000, (i) => ({ apiVersion: 'example.com/v1', kind: `Widget${key}`, metadata: { name: `w-${i}`, namespace: ns } }));
    // one ConfigMap held by a finalizer the test lifts once the first progress line is due: how fast the
    // namespace controller empties 10,000 objects depends on the machine, so the namespace cannot
    // otherwise be counted on to outlive the first progress line's delay
    await kubectl(['apply', '-f', '-'], { check: true, input: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'held', namespace: ns, finalizers: ['example.com/held'] } }) });
    console.log(`[large namespace] 10,000 objects created in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }, 900_000);
  afterAll(async () => {
    await kubectl(['delete', 'crd', crd, '--wait=false']);
  });

  it('the plan counts them by kind with one small request per kind, listing none of them', async () => {
    const since = Date.now();
    const { result, json } = await custctlJson<{ results: Array<{ plan: { objects: Array<{ resource: string; count: number }> } }> }>(['delete', `cust_${key}`, '--dry-run'], { env });
    expect(result.exitCode, result.stderr).toBe(0);
    const counts = Object.fromEntries(json.results[0]?.plan.objects.map((o) => [o.resource, o.count]) ?? []);
    const actual = async (r: string) => (await kubectl(['get', r, '-n', ns, '-o', 'name'], { check: true })).stdout.split('\n').filter(Boolean).length;
    expect(counts.configmaps).toBe(await actual('configmaps'));
    expect(counts.configmaps).toBeGreaterThan(6000);
    expect(counts.secrets).toBe(await actual('secrets'));
    expect(counts[`${key}widgets.example.com`]).toBe(2000);
    // the big kinds: one request each, asking for one item (the server counts the rest)
    await new Promise((r) => setTimeout(r, 1000));
    // (the Helm release records, Secrets labelled owner=helm, are read for the plan too: not a count)
    const lists = custctlRequests(since).filter((r) => r.verb === 'list' && new RegExp(`/namespaces/${ns}/(configmaps|secrets|${key}widgets)`).test(r.uri) && !r.uri.includes('labelSelector=owner%3Dhelm'));
    // each kind asked for one item, never paged through; twice at most: this API server (1.20) leaves
    // remainingItemCount out of a metadata-only list, so custctl asks again as a full list (of one)
    const kinds = lists.map((r) => r.uri.replace(/\?.*/, '').split('/').pop());
    expect([...new Set(kinds)].sort()).toEqual(['configmaps', 'secrets', `${key}widgets`].sort());
    for (const k of new Set(kinds)) expect(kinds.filter((x) => x === k).length, String(k)).toBeLessThanOrEqual(2);
    expect(lists.every((r) => /[?&]limit=1(&|$)/.test(r.uri)), lists.map((r) => r.uri).join('\n')).toBe(true);
  });

  it('is deleted within the timeout, with progress lines saying what remains by kind', async () => {
    const started = Date.now();
    const deleting = custctl(['delete', `cust_${key}`, '--yes', '--timeout', '5m'], { env, timeoutMs: 600_000 });
    // the held ConfigMap is let go a little after the first progress line is due (PROGRESS_AFTER_MS)
    await new Promise((res) => setTimeout(res, PROGRESS_AFTER_MS + 8000));
    await kubectl(['patch', 'configmap', 'held', '-n', ns, '--type=merge', '-p', '{"metadata":{"finalizers":null}}'], { check: true });
    const r = await deleting;
    const seconds = (Date.now() - started) / 1000;
    const progress = r.stderr.split('\n').filter((l) => l.includes('Namespace terminating'));
    console.log(`[large namespace] deleted in ${seconds.toFixed(0)} s; progress lines:\n${progress.join('\n')}`);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await getNamespace(ns)).toBeNull();
    expect((await db().query('select deployment_status from customers where customer_id = $1', [`cust_${key}`])).rows[0]).toEqual({ deployment_status: 'pending' });
    // the namespace outlived the first progress line's delay (the held ConfigMap saw to it)
    expect(progress.length).toBeGreaterThan(0);
    expect(progress[0]).toMatch(/remaining="(\d+ [\w.]+(, )?)+"/);
    expect(progress.join('\n')).toMatch(/\d+ (configmaps|secrets|[a-z0-9]+widgets\.example\.com)/);
  }, 900_000);
});

describe('the cluster RBAC is listed once per run', () => {
  it('a bulk deletion of four customers lists ClusterRoles and ClusterRoleBindings once, then follows them', async () => {
    const customers = await Promise.all([0, 1, 2, 3].map(() => provisionCustomer(randomKey('lo'), { rbacOutsideRelease: true })));
    const since = Date.now();
    const r = await custctl(['delete', ...customers.map((c) => c.customerId), '--yes', '--concurrency', '2'], { env });
    expect(r.exitCode, r.stderr).toBe(0);
    await new Promise((res) => setTimeout(res, 1000));
    const reqs = custctlRequests(since);
    expect(rbacCalls(reqs, 'list').map((x) => x.uri.replace(/\?.*/, '').split('/').pop()).sort()).toEqual(['clusterrolebindings', 'clusterroles']);
    expect(rbacCalls(reqs, 'watch').length).toBeGreaterThanOrEqual(2);
    // and each customer's RBAC was found and deleted
    const left = (await kubectl(['get', 'clusterroles,clusterrolebindings', '-o', 'name'], { check: true })).stdout;
    for (const c of customers) expect(left).not.toContain(`c${c.key}-customer-instance`);
  });

  it('a cleanup-rbac sweep (plan, then its job) lists them once', async () => {
    const key = randomKey('cl');
    const name = `c${key}-customer-instance-opencost`;
    await kubectl(['create', 'clusterrole', name, '--verb=get', '--resource=pods'], { check: true });
    const since = Date.now();
    const r = await custctl(['cleanup-rbac', '--customer', `cust_${key}`, '--yes', '-o', 'json'], { env });
    expect(r.exitCode, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { deleted: Array<{ name: string }> }).deleted.map((x) => x.name)).toEqual([name]);
    await new Promise((res) => setTimeout(res, 1000));
    expect(rbacCalls(custctlRequests(since), 'list').map((x) => x.uri.replace(/\?.*/, '').split('/').pop()).sort()).toEqual(['clusterrolebindings', 'clusterroles']);
  });
});
