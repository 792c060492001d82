// The environment through the libraries the product uses: @kubernetes/client-node, pg, redis,
// and the fixtures' own options.
import net from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { cliEnv, testEnv } from '../support/env.js';
import {
  ALL_RELEASE_STATES, coreApi, db, diffSnapshots, getNamespace, helm, kubeConfigForTests, kubectl, kubectlJson, listEverything, namespaceOf,
  openCostName, provisionCustomer, randomKey, waitFor,
} from '../support/fixtures.js';

describe('@kubernetes/client-node against the test cluster', () => {
  it('lists, deletes and watches namespaces', async () => {
    const api = coreApi();
    const name = namespaceOf(randomKey('cn'));
    await api.createNamespace({ body: { metadata: { name } } });
    const list = await api.listNamespace();
    expect(list.items.map((n) => n.metadata?.name)).toEqual(expect.arrayContaining(['default', 'kube-system', name]));

    const events: string[] = [];
    const deleted = new Promise<void>((resolve, reject) => {
      void new k8s.Watch(kubeConfigForTests()).watch('/api/v1/namespaces', { fieldSelector: `metadata.name=${name}` },
        (type: string, obj: k8s.V1Namespace) => {
          events.push(`${type}:${obj.status?.phase ?? ''}`);
          if (type === 'DELETED') resolve();
        },
        (err: unknown) => { if (err) reject(err instanceof Error ? err : new Error(String(err))); })
        .then((req) => deleted.finally(() => req.abort()), reject);
    });
    await waitFor(async () => events.length > 0, 'the watch to deliver the initial ADDED event', 10_000);
    await api.deleteNamespace({ name });
    await deleted;
    expect(events[0]).toBe('ADDED:Active');
    expect(events).toContain('MODIFIED:Terminating');
    expect(events.at(-1)).toMatch(/^DELETED:/);
    expect(await getNamespace(name)).toBeNull();
  });
});

describe('PostgreSQL and Redis', () => {
  it('pg answers a round-trip query on loopback', async () => {
    expect(testEnv().databaseUrl).toMatch(/^postgres:\/\/custctl_test@127\.0\.0\.1:\d+\/custctl_test$/);
    const res = await db().query<{ sum: number; version: string; db: string }>('select 1 + 1 as sum, version() as version, current_database() as db');
    expect(res.rows[0]).toMatchObject({ sum: 2, db: 'custctl_test' });
    expect(res.rows[0]?.version).toMatch(/^PostgreSQL 15\./);
  });

  it('redis answers AUTH + PING with the provided password', async () => {
    const url = new URL(testEnv().redisUrl);
    expect(url.hostname).toBe('127.0.0.1');
    const reply = await new Promise<string>((resolve, reject) => {
      const s = net.connect({ host: url.hostname, port: Number(url.port) });
      let buf = '';
      s.on('data', (d) => { buf += d.toString(); if (buf.includes('PONG')) { s.destroy(); resolve(buf); } });
      s.on('error', reject);
      s.on('connect', () => s.write(`AUTH ${decodeURIComponent(url.password)}\r\nPING\r\n`));
    });
    expect(reply).toBe('+OK\r\n+PONG\r\n');
  });
});

describe('fixtures', () => {
  it('provisionCustomer options: extra objects, keep policy, CRD, row values; snapshots see them', async () => {
    const before = await listEverything();
    const key = randomKey('fx');
    const c = await provisionCustomer(key, { extraConfigMaps: 5, extraSecrets: 2, pvcs: 2, keepPolicy: true, crd: true, status: 'failed' });

    const cms = await kubectlJson<{ items: unknown[] }>(['get', 'configmaps', '--namespace', c.namespace, '-l', `custctl.test/customer-key=${key}`]);
    expect(cms.items).toHaveLength(6);
    const secrets = await kubectlJson<{ items: unknown[] }>(['get', 'secrets', '--namespace', c.namespace, '-l', `custctl.test/customer-key=${key}`]);
    expect(secrets.items).toHaveLength(3);
    const pvcs = await kubectlJson<{ items: unknown[] }>(['get', 'pvc', '--namespace', c.namespace]);
    expect(pvcs.items).toHaveLength(3);
    expect((await kubectl(['get', 'crd', `${key}widgets.example.com`])).exitCode).toBe(0);

    const after = await listEverything();
    const diff = diffSnapshots(before, after);
    expect(diff.removed).toEqual([]);
    expect(diff.added).toEqual(expect.arrayContaining([
      `namespace/${c.namespace}`, `clusterrole/${openCostName(key)}`, `clusterrolebinding/${openCostName(key)}`,
      `release/${c.namespace}/${c.release}`, `customer/${c.customerId}`,
    ]));
    expect(after.clusterRoles.find((r) => r.name === openCostName(key))?.annotations).toMatchObject({
      'helm.sh/resource-policy': 'keep', 'meta.helm.sh/release-namespace': c.namespace,
    });
    expect(after.customers.find((r) => r.customerId === c.customerId)).toEqual({
      customerId: c.customerId, deploymentStatus: 'failed', instanceNamespace: c.namespace,
      instanceUrl: `https://${key}.example.test`, deletionJobId: null, previousStatus: null,
    });
    expect(after.releases.find((r) => r.name === c.release)).toEqual({ name: c.release, namespace: c.namespace, status: 'deployed' });

    // keep policy: helm uninstall leaves the cluster RBAC behind
    await helm(['uninstall', c.release, '--namespace', c.namespace], { check: true });
    expect((await kubectl(['get', 'clusterrole', openCostName(key)])).exitCode).toBe(0);
    await kubectl(['delete', 'clusterrolebinding,clusterrole', openCostName(key)], { check: true });
    await kubectl(['delete', 'crd', `${key}widgets.example.com`, '--ignore-not-found']);
    await kubectl(['delete', 'namespace', c.namespace, '--wait=false'], { check: true });
  });

  it('provisionCustomer without a release, without a namespace, with another row namespace', async () => {
    const noRelease = await provisionCustomer(randomKey('nr'), { release: false });
    expect((await getNamespace(noRelease.namespace))?.status?.phase).toBe('Active');
    const releases = await helm(['list', '--namespace', noRelease.namespace, ...ALL_RELEASE_STATES, '--output', 'json'], { check: true });
    expect(JSON.parse(releases.stdout)).toEqual([]);
    expect((await kubectl(['get', 'configmap', 'customer-instance', '--namespace', noRelease.namespace])).exitCode).toBe(0);
    expect((await kubectl(['get', 'clusterrole', openCostName(noRelease.key)])).exitCode).toBe(0);

    const noNamespace = await provisionCustomer(randomKey('nn'), { namespace: false, instanceNamespace: 'kube-system', status: 'deleting' });
    expect(await getNamespace(noNamespace.namespace)).toBeNull();
    const row = await db().query('select deployment_status, instance_namespace from customers where customer_id = $1', [noNamespace.customerId]);
    expect(row.rows).toEqual([{ deployment_status: 'deleting', instance_namespace: 'kube-system' }]);

    const noRow = await provisionCustomer(randomKey('nw'), { row: false, namespace: false });
    expect((await db().query('select 1 from customers where customer_id = $1', [noRow.customerId])).rowCount).toBe(0);

    await kubectl(['delete', 'clusterrolebinding,clusterrole', openCostName(noRelease.key)], { check: true });
    await kubectl(['delete', 'namespace', noRelease.namespace, '--wait=false'], { check: true });
  });

  it('randomKey gives distinct valid keys; cliEnv points a child process at this run', () => {
    const keys = new Set(Array.from({ length: 200 }, () => randomKey()));
    expect(keys.size).toBe(200);
    for (const k of keys) expect(k).toMatch(/^[a-z][a-z0-9]{1,23}$/);
    const env = cliEnv();
    expect(env).toMatchObject({ KUBECONFIG: testEnv().kubeconfig, HELM_BIN: testEnv().helmBin, DATABASE_URL: testEnv().databaseUrl });
  });
});
