// The Kube adapter (src/adapters/kube-client.ts) against the real kube-apiserver of the test run.
import { readFileSync } from 'node:fs';
import type * as k8s from '@kubernetes/client-node';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { openKube } from '../../src/adapters/kube/index.js';
import type { Kube } from '../../src/adapters/kube.js';
import { ConflictError, OperationError } from '../../src/errors.js';
import { coreApi, getNamespace, kubeConfigForTests, namespaceOf, randomKey, rbacApi, tokenKubeconfig, waitFor } from '../support/fixtures.js';

const FINALIZER = 'custctl.test/stuck';

async function open(userAgent = 'custctl-it/kube-client'): Promise<Kube> {
  return openKube({ kubeconfig: inject('kubeconfig'), context: inject('kubeContext'), env: {}, userAgent });
}

async function createNamespace(name: string): Promise<string> {
  const ns = await coreApi().createNamespace({ body: { metadata: { name } } });
  return ns.metadata?.uid ?? '';
}

async function createConfigMap(namespace: string, name: string, finalizers: string[] = []): Promise<void> {
  await coreApi().createNamespacedConfigMap({ namespace, body: { metadata: { name, namespace, finalizers }, data: { a: 'b' } } });
}

async function removeFinalizers(namespace: string, name: string): Promise<void> {
  await coreApi().patchNamespacedConfigMap({ namespace, name, body: [{ op: 'remove', path: '/metadata/finalizers' }] });
}

/** The requests the API server logged for `userAgent` (audit log, one entry per auditID). */
function auditedRequests(userAgent: string): Array<{ verb: string; uri: string }> {
  const seen = new Map<string, { verb: string; uri: string }>();
  for (const line of readFileSync(inject('auditLog'), 'utf8').split('\n')) {
    if (!line.includes(userAgent)) continue;
    const ev = JSON.parse(line) as { auditID: string; userAgent?: string; verb: string; requestURI: string };
    if (ev.userAgent === userAgent) seen.set(ev.auditID, { verb: ev.verb, uri: ev.requestURI });
  }
  return [...seen.values()];
}

let kube: Kube;
beforeAll(async () => {
  kube = await open();
});

describe('kube-client: namespaces', () => {
  it('target names the context, server and kubeconfig', () => {
    expect(kube.target).toMatchObject({ context: inject('kubeContext'), server: inject('apiServer'), kubeconfig: inject('kubeconfig') });
  });

  it('get, refuse a wrong uid (nothing deleted), delete with the right uid, wait until gone', async () => {
    const name = namespaceOf(randomKey('kn'));
    const uid = await createNamespace(name);
    const got = await kube.getNamespace(name);
    expect(got).toMatchObject({ name, uid, phase: 'Active', finalizers: ['kubernetes'], conditions: [] });
    expect(got?.deletionTimestamp).toBeUndefined();

    const wrong = await kube.deleteNamespace(name, '00000000-0000-0000-0000-000000000000').catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(ConflictError);
    expect((wrong as Error).message).toBe(`namespace ${name} was recreated (uid changed from 00000000-0000-0000-0000-000000000000 to ${uid}): refusing to delete the new one`);
    expect((await getNamespace(name))?.status?.phase).toBe('Active');

    expect(await kube.deleteNamespace(name, uid)).toBe('deleted');
    // a retried attempt deletes again while it terminates (the API answers 409): still fine
    const again = await kube.deleteNamespace(name, uid);
    expect(['deleted', 'not-found']).toContain(again);
    expect(await kube.waitNamespaceGone(name, 60_000)).toBe('gone');
    expect(await kube.getNamespace(name)).toBeNull();
    expect(await getNamespace(name)).toBeNull();
    expect(await kube.deleteNamespace(name, uid)).toBe('not-found');
    expect(await kube.waitNamespaceGone(name, 5_000)).toBe('gone');
  });

  it('a whole deletion costs at most 10 requests, each with the User-Agent', async () => {
    const ua = `custctl-it/${randomKey('ua')}`;
    const k = await open(ua);
    const name = namespaceOf(randomKey('kr'));
    await createNamespace(name);
    const ns = await k.getNamespace(name);
    expect(await k.deleteNamespace(name, ns!.uid)).toBe('deleted');
    const [gone] = await Promise.all([k.waitNamespaceGone(name, 60_000), k.listClusterRbac()]);
    expect(gone).toBe('gone');
    const requests = await waitFor(async () => {
      const r = auditedRequests(ua);
      return r.length >= 6 ? r : null;
    }, 'the audit log to show the requests', 10_000);
    expect(requests.length).toBeLessThanOrEqual(10);
    // GET ns, DELETE ns, WATCH, GET after the watch connected, LIST clusterroles, LIST clusterrolebindings
    expect(requests.map((r) => r.verb).sort()).toEqual(['delete', 'get', 'get', 'list', 'list', 'watch']);
    expect(requests.find((r) => r.verb === 'watch')?.uri).toContain(`fieldSelector=metadata.name%3D${name}`);
  });

  it('hastenNamespaceDeletion: right after the namespace DELETE its pods are gone and its PVCs deleting, before the controller looks', async () => {
    const name = namespaceOf(randomKey('kh'));
    const uid = await createNamespace(name);
    await coreApi().createNamespacedPersistentVolumeClaim({ namespace: name, body: { metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } } });
    await coreApi().createNamespacedPod({ namespace: name, body: { metadata: { name: 'app' }, spec: { containers: [{ name: 'c', image: 'registry.invalid/pause:3' }], volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'data' } }] } } });
    expect(await kube.deleteNamespace(name, uid)).toBe('deleted');
    await kube.hastenNamespaceDeletion?.(name);
    // well inside the namespace controller's 5 s grace period
    expect((await coreApi().listNamespacedPod({ namespace: name })).items).toEqual([]);
    const pvc = (await coreApi().listNamespacedPersistentVolumeClaim({ namespace: name })).items;
    expect(pvc.every((p) => p.metadata?.deletionTimestamp !== undefined)).toBe(true);
    expect(await kube.waitNamespaceGone(name, 60_000)).toBe('gone');
  });

  it('waitNamespaceGone times out on a namespace held by a finalizer, then sees it go', async () => {
    const name = namespaceOf(randomKey('kf'));
    const uid = await createNamespace(name);
    await createConfigMap(name, 'held', [FINALIZER]);
    expect(await kube.deleteNamespace(name, uid)).toBe('deleted');
    const started = Date.now();
    expect(await kube.waitNamespaceGone(name, 3_000)).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(6_000);

    const ns = await kube.getNamespace(name);
    expect(ns?.phase).toBe('Terminating');
    expect(ns?.deletionTimestamp).toMatch(/^\d{4}-\d\d-\d\dT/);
    const counts = await waitFor(async () => {
      const c = await kube.countNamespaceObjects(name);
      return c.some((x) => x.resource === 'configmaps') ? c : null;
    }, 'the stuck configmap to be counted', 20_000);
    expect(counts.find((c) => c.resource === 'configmaps')).toEqual({ resource: 'configmaps', kind: 'ConfigMap', count: 1, finalizers: [FINALIZER] });

    const waiting = kube.waitNamespaceGone(name, 60_000);
    await removeFinalizers(name, 'held');
    expect(await waiting).toBe('gone');
  });

  it('waitNamespaceGone rejects with the abort reason', async () => {
    const name = namespaceOf(randomKey('ka'));
    await createNamespace(name);
    const ac = new AbortController();
    const reason = new Error('job timed out');
    setTimeout(() => ac.abort(reason), 300);
    const started = Date.now();
    await expect(kube.waitNamespaceGone(name, 60_000, ac.signal)).rejects.toBe(reason);
    expect(Date.now() - started).toBeLessThan(3_000);
    await coreApi().deleteNamespace({ name });
  });

  it('listNamespaceNames lists every namespace', async () => {
    const name = namespaceOf(randomKey('kl'));
    await createNamespace(name);
    expect(await kube.listNamespaceNames()).toEqual(expect.arrayContaining(['default', 'kube-system', name]));
    await coreApi().deleteNamespace({ name });
  });
});

describe('kube-client: objects in a namespace', () => {
  it('countNamespaceObjects counts by resource with the finalizers, only non-zero', async () => {
    const name = namespaceOf(randomKey('kc'));
    await createNamespace(name);
    for (let i = 0; i < 3; i++) await createConfigMap(name, `cm-${i}`);
    await createConfigMap(name, 'cm-final', [FINALIZER]);
    await coreApi().createNamespacedSecret({ namespace: name, body: { metadata: { name: 's1' }, stringData: { a: 'b' } } });
    try {
      const counts = await kube.countNamespaceObjects(name);
      const cm = counts.find((c) => c.resource === 'configmaps');
      // the controller-manager may add kube-root-ca.crt
      expect(cm?.count).toBeGreaterThanOrEqual(4);
      expect(cm?.finalizers).toEqual([FINALIZER]);
      expect(counts.find((c) => c.resource === 'secrets')?.count).toBeGreaterThanOrEqual(1);
      expect(counts.every((c) => c.count > 0 || c.resource.includes('failed'))).toBe(true);
      expect(counts.some((c) => c.resource === 'events' || c.resource.startsWith('events.'))).toBe(false);
      expect(await kube.countNamespaceObjects(namespaceOf(randomKey('kx')))).toEqual([]);
    } finally {
      await removeFinalizers(name, 'cm-final');
      await coreApi().deleteNamespace({ name });
    }
  });

  it('listPvcs shows the reclaim policy of the bound PV', async () => {
    const name = namespaceOf(randomKey('kp'));
    const pvName = `custctl-it-${randomKey('pv')}`;
    await createNamespace(name);
    await coreApi().createPersistentVolume({ body: {
      metadata: { name: pvName },
      spec: {
        capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], persistentVolumeReclaimPolicy: 'Retain',
        storageClassName: '', hostPath: { path: `/tmp/${pvName}` },
      },
    } });
    await coreApi().createNamespacedPersistentVolumeClaim({ namespace: name, body: {
      metadata: { name: 'data' },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, storageClassName: '', volumeName: pvName },
    } });
    await coreApi().createNamespacedPersistentVolumeClaim({ namespace: name, body: {
      metadata: { name: 'unbound' },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '2Gi' } }, storageClassName: 'none-such' },
    } });
    try {
      const pvcs = await kube.listPvcs(name);
      const byName = Object.fromEntries(pvcs.map((p) => [p.name, p]));
      expect(byName.data).toMatchObject({ volumeName: pvName, reclaimPolicy: 'Retain' });
      expect(byName.data?.storage).toMatch(/^1Gi$/);
      expect(byName.unbound).toMatchObject({ name: 'unbound', phase: 'Pending', storage: '2Gi' });
      expect(byName.unbound?.reclaimPolicy).toBeUndefined();
      expect(await kube.listPvcs(namespaceOf(randomKey('kx')))).toEqual([]);
    } finally {
      await coreApi().deleteNamespace({ name });
      await coreApi().deletePersistentVolume({ name: pvName }).catch(() => undefined);
    }
  });
});

describe('kube-client: cluster RBAC', () => {
  it('lists ClusterRoles and ClusterRoleBindings with annotations and roleRef, deletes them', async () => {
    const key = randomKey('kb');
    const role = `c${key}-customer-instance-opencost`;
    const annotations = { 'meta.helm.sh/release-namespace': namespaceOf(key), 'meta.helm.sh/release-name': `customer-${key}` };
    await rbacApi().createClusterRole({ body: { metadata: { name: role, annotations }, rules: [] } });
    await rbacApi().createClusterRoleBinding({ body: {
      metadata: { name: role },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
      subjects: [{ kind: 'ServiceAccount', name: 'x', namespace: namespaceOf(key) }],
    } });

    const all = await kube.listClusterRbac();
    // only the annotations the ownership rules read are kept
    expect(all.find((o) => o.kind === 'ClusterRole' && o.name === role)).toEqual({ kind: 'ClusterRole', name: role, annotations: { 'meta.helm.sh/release-namespace': namespaceOf(key) } });
    expect(all.find((o) => o.kind === 'ClusterRoleBinding' && o.name === role)).toEqual({
      kind: 'ClusterRoleBinding', name: role, annotations: {}, roleRef: { kind: 'ClusterRole', name: role },
    });
    expect(all.some((o) => o.kind === 'ClusterRole' && o.name === 'cluster-admin')).toBe(true);

    expect(await kube.deleteClusterRbac('ClusterRoleBinding', role)).toBe('deleted');
    expect(await kube.deleteClusterRbac('ClusterRole', role)).toBe('deleted');
    expect(await kube.deleteClusterRbac('ClusterRole', role)).toBe('not-found');
    expect(await kube.deleteClusterRbac('ClusterRoleBinding', role)).toBe('not-found');
    const after = await kube.listClusterRbac();
    expect(after.some((o) => o.name === role)).toBe(false);
  });
});

describe('kube-client: isClusterScoped', () => {
  it('answers from the table and from discovery (CRDs of both scopes)', async () => {
    expect(await kube.isClusterScoped('apiextensions.k8s.io/v1', 'CustomResourceDefinition')).toBe(true);
    expect(await kube.isClusterScoped('v1', 'ConfigMap')).toBe(false);
    // not in the table: discovery of /api/v1
    expect(await kube.isClusterScoped('v1', 'Binding')).toBe(false);

    const group = `${randomKey('g')}.example.com`;
    const crd = (plural: string, kind: string, scope: 'Cluster' | 'Namespaced'): k8s.V1CustomResourceDefinition => ({
      metadata: { name: `${plural}.${group}` },
      spec: {
        group, scope, names: { plural, singular: plural.slice(0, -1), kind, listKind: `${kind}List` },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', x_kubernetes_preserve_unknown_fields: true } } }],
      },
    });
    const { ApiextensionsV1Api } = await import('@kubernetes/client-node');
    const ext = kubeConfigForTests().makeApiClient(ApiextensionsV1Api);
    await ext.createCustomResourceDefinition({ body: crd('globals', 'Global', 'Cluster') });
    await ext.createCustomResourceDefinition({ body: crd('locals', 'Local', 'Namespaced') });
    try {
      await waitFor(async () => {
        const found = await Promise.all([`globals.${group}`, `locals.${group}`].map((name) => ext.readCustomResourceDefinition({ name })));
        return found.every((c) => c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True'));
      }, 'the CRDs to be established', 30_000);
      const fresh = await open();
      expect(await fresh.isClusterScoped(`${group}/v1`, 'Global')).toBe(true);
      expect(await fresh.isClusterScoped(`${group}/v1`, 'Local')).toBe(false);
      // a group the server does not serve: unknown, treated as cluster-scoped (the conservative answer)
      expect(await fresh.isClusterScoped('nothing-here.example.com/v1', 'Thing')).toBe(true);
    } finally {
      await ext.deleteCustomResourceDefinition({ name: `globals.${group}` }).catch(() => undefined);
      await ext.deleteCustomResourceDefinition({ name: `locals.${group}` }).catch(() => undefined);
    }
  });
});

describe('kube-client: a user without permissions', () => {
  it('403s are OperationErrors naming the verb, the resource and the user', async () => {
    const ns = namespaceOf(randomKey('kd'));
    const sa = 'nobody';
    await createNamespace(ns);
    try {
      await coreApi().createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: sa } } });
      // Kubernetes 1.20: the token controller writes a token Secret for the service account
      const token = await waitFor(async () => {
        const secrets = await coreApi().listNamespacedSecret({ namespace: ns });
        const s = secrets.items.find((x) => x.type === 'kubernetes.io/service-account-token' && x.metadata?.annotations?.['kubernetes.io/service-account.name'] === sa);
        return s?.data?.token ? Buffer.from(s.data.token, 'base64').toString() : null;
      }, 'the service account token', 30_000);
      const file = tokenKubeconfig('nobody', token, ns);
      const k = await openKube({ kubeconfig: file, env: {}, userAgent: 'custctl-it/nobody' });
      const user = `system:serviceaccount:${ns}:${sa}`;

      const list = await k.listClusterRbac().catch((e: unknown) => e) as OperationError;
      expect(list).toBeInstanceOf(OperationError);
      expect(list.message).toBe(`permission denied: cannot list clusterroles.rbac.authorization.k8s.io (user ${user})`);

      const del = await k.deleteClusterRbac('ClusterRole', 'cluster-admin').catch((e: unknown) => e) as OperationError;
      expect(del.message).toBe(`permission denied: cannot delete clusterroles.rbac.authorization.k8s.io (user ${user})`);

      const get = await k.getNamespace(ns).catch((e: unknown) => e) as OperationError;
      expect(get.message).toBe(`permission denied: cannot get namespaces in namespace ${ns} (user ${user})`);

      const wait = await k.waitNamespaceGone(ns, 10_000).catch((e: unknown) => e) as OperationError;
      expect(wait).toBeInstanceOf(OperationError);
      expect(wait.message).toMatch(/^permission denied: cannot (watch|get) namespaces/);
      expect(await getNamespace(ns)).not.toBeNull();
    } finally {
      await coreApi().deleteNamespace({ name: ns });
    }
  });
});
