import { beforeEach, describe, expect, it } from 'vitest';
import { runDeleteAttempt } from '../../src/pipeline/run.js';
import type { Job } from '../../src/domain/job.js';
import { exitCodeFor, OperationError, UsageError, WaitTimeoutError } from '../../src/errors.js';
import { defaultClassify } from '../../src/jobs/runner.js';
import type { Level } from '../../src/io.js';
import { FakeHelm, FakeKube, FakeStore } from '../support/fakes.js';

const KEY = 'abc123';
const NS = `customer-${KEY}`;
const ID = `cust_${KEY}`;

function job(over: Partial<Job> = {}, opts: Partial<Job['opts']> = {}): Job {
  return {
    id: '7',
    name: 'delete',
    state: 'active',
    progress: 0,
    data: { customerId: ID, namespace: NS },
    opts: { attempts: 3, backoff: { type: 'exponential', delay: 1 }, timeoutMs: 60_000, waitTimeoutMs: 1_000, ...opts },
    attemptsMade: 0,
    maxAttempts: 3,
    delayUntil: null,
    failedReason: null,
    failedCode: null,
    stacktrace: [],
    returnvalue: null,
    requestedBy: 'test',
    simulated: false,
    timestamp: 0,
    processedOn: 0,
    finishedOn: null,
    attempts: [{ attempt: 1, startedOn: 0, finishedOn: null, worker: 'w', outcome: 'running', log: [] }],
    lease: null,
    ...over,
  };
}

describe('the deletion pipeline (fakes)', () => {
  let kube: FakeKube;
  let helm: FakeHelm;
  let store: FakeStore;
  let progress: number[];
  let lines: Array<[Level, string]>;
  let clusterLoads: number;

  const run = (j: Job = job()) =>
    runDeleteAttempt(
      { job: j, attempt: 1, signal: new AbortController().signal, progress: async (n) => void progress.push(n), log: (level, message) => void lines.push([level, message]) },
      store,
      async () => {
        clusterLoads++;
        return { kube, helm, target: kube.target };
      },
      { namespacePrefix: 'customer-', defaultWaitTimeoutMs: 1_000, now: () => 0 },
    );

  beforeEach(async () => {
    kube = new FakeKube();
    helm = new FakeHelm(kube);
    store = new FakeStore();
    progress = [];
    lines = [];
    clusterLoads = 0;
    await store.add({ customerId: ID, email: '', companyName: '', deploymentStatus: 'deployed', instanceNamespace: NS, instanceUrl: 'https://x' });
    await store.claimForDeletion(ID, '7', { force: false });
    kube.addNamespace(NS);
    helm.install(`customer-${KEY}`, NS, [
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'cfg' },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', name: `c${KEY}-customer-instance-reader` },
    ]);
    kube.rbac = [
      { kind: 'ClusterRole', name: `c${KEY}-customer-instance-reader`, annotations: { 'meta.helm.sh/release-namespace': NS } },
      { kind: 'ClusterRole', name: `c${KEY}-customer-instance-opencost`, annotations: {} },
      { kind: 'ClusterRoleBinding', name: `c${KEY}-customer-instance-opencost`, annotations: {}, roleRef: { kind: 'ClusterRole', name: `c${KEY}-customer-instance-opencost` } },
      { kind: 'ClusterRole', name: `xc${KEY}-customer-instance-opencost`, annotations: {} },
      { kind: 'ClusterRole', name: `cabc12-customer-instance-opencost`, annotations: {} },
    ];
  });

  it('--helm-uninstall always: uninstalls Helm first, deletes the namespace and owned RBAC, then resets the row', async () => {
    const r = await run(job({}, { helmUninstall: 'always' }));
    expect(r.outcome).toBe('deleted');
    const order = [...helm.calls.filter((c) => c.startsWith('uninstall')), ...kube.calls.filter((c) => c.startsWith('delete'))];
    expect(order[0]).toBe(`uninstall customer-${KEY} -n ${NS}`);
    expect(kube.calls.indexOf(`delete ns/${NS}`)).toBeGreaterThan(-1);
    expect(kube.rbac.map((o) => o.name).sort()).toEqual(['cabc12-customer-instance-opencost', `xc${KEY}-customer-instance-opencost`]);
    // the release's own ClusterRole was removed by helm, not deleted a second time
    expect(kube.calls).not.toContain(`delete ClusterRole/c${KEY}-customer-instance-reader`);
    expect(progress).toEqual([25, 70, 85, 100]);
    expect((await store.get(ID))?.deploymentStatus).toBe('pending');
    expect((await store.get(ID))?.instanceNamespace).toBe('');
    expect(lines.map(([, m]) => m)).toEqual(expect.arrayContaining(['Starting customer instance deletion', 'Helm release uninstalled', 'Namespace deleted successfully', 'Deleted ClusterRoleBinding', 'Deleted ClusterRole', 'Customer instance deleted successfully']));
    // the row change's audit row: what went, by the job's requester
    expect(store.audit).toEqual([expect.objectContaining({
      action: 'deletion-completed', actor: 'test', customerId: ID, namespace: NS, jobId: '7', outcome: 'deleted', rowStatus: 'pending',
      deleted: {
        releases: [`customer-${KEY}`],
        objects: { ConfigMap: 1, ClusterRole: 1 },
        // the release's own ClusterRole (removed by helm) is reported among the deleted too
        rbac: [`ClusterRoleBinding/c${KEY}-customer-instance-opencost`, `ClusterRole/c${KEY}-customer-instance-opencost`, `ClusterRole/c${KEY}-customer-instance-reader`],
      },
    })]);
  });

  it('a release without delete hooks goes with the namespace: no helm process, its ClusterRole deleted by step 3', async () => {
    helm.missing = true; // not needed, so not looked for
    const r = await run();
    expect(r.outcome).toBe('deleted');
    expect(helm.calls.filter((c) => c.startsWith('uninstall') || c === 'locate')).toEqual([]);
    expect(r.releases).toEqual([{ name: `customer-${KEY}`, outcome: 'removed-with-namespace', why: 'no delete hooks' }]);
    expect(kube.calls).toContain(`delete ClusterRole/c${KEY}-customer-instance-reader`);
    expect(kube.rbac.map((o) => o.name).sort()).toEqual(['cabc12-customer-instance-opencost', `xc${KEY}-customer-instance-opencost`]);
    expect(progress).toEqual([25, 70, 85, 100]);
    expect(lines.map(([, m]) => m)).toContain('Helm release goes with the namespace: no helm process');
    // the release counts as deleted in the audit row
    expect(store.audit.at(-1)).toMatchObject({ deleted: { releases: [`customer-${KEY}`] } });
  });

  it.each<[string, { deleteHooks?: Array<{ kind: string; name: string; events: string[] }> }, { outside?: boolean; always?: boolean }, RegExp]>([
    ['a pre-delete hook', { deleteHooks: [{ kind: 'Job', name: 'drain', events: ['pre-delete'] }] }, {}, /delete hooks: pre-delete Job\/drain/],
    ['records outside the namespace (HELM_DRIVER=sql)', {}, { outside: true }, /outside the namespace/],
    ['--helm-uninstall always', {}, { always: true }, /--helm-uninstall always/],
  ])('%s: helm uninstall runs', async (_name, release, o, why) => {
    helm.releases.clear();
    helm.install(`customer-${KEY}`, NS, [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'cfg' }], release);
    if (o.outside) helm.recordsInNamespace = false;
    const r = await run(job({}, o.always ? { helmUninstall: 'always' } : {}));
    expect(helm.calls).toContain(`uninstall customer-${KEY} -n ${NS}`);
    expect(r.releases).toEqual([{ name: `customer-${KEY}`, outcome: 'uninstalled', why: expect.stringMatching(why) }]);
  });

  it('a release naming a ClusterRole that exists without the customer\'s mark is refused whatever the flags, nothing deleted', async () => {
    kube.rbac.push({ kind: 'ClusterRole', name: 'shared-reader', annotations: {} });
    helm.releases.clear();
    helm.install(`customer-${KEY}`, NS, [{ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', name: 'shared-reader' }]);
    for (const opts of [{}, { allowClusterScoped: true, helmUninstall: 'always' as const }]) {
      const err = await run(job({}, opts)).catch((e: unknown) => e);
      expect(exitCodeFor(err)).toBe(4);
      expect([(err as Error).message, ...(err as UsageError).details].join('\n')).toMatch(/release customer-[a-z0-9]+: ClusterRole shared-reader/);
      expect(helm.calls.filter((c) => c.startsWith('uninstall'))).toEqual([]);
      expect(kube.calls.filter((c) => c.startsWith('delete'))).toEqual([]);
      expect(kube.rbac.map((o) => o.name)).toContain('shared-reader');
      expect((await store.get(ID))?.deploymentStatus).toBe('deployed');
      await store.claimForDeletion(ID, '7', { force: false });
    }
  });

  it('the same ClusterRole annotated for the customer\'s namespace is the customer\'s: deleted', async () => {
    kube.rbac.push({ kind: 'ClusterRole', name: 'shared-reader', annotations: { 'meta.helm.sh/release-namespace': NS } });
    helm.releases.clear();
    helm.install(`customer-${KEY}`, NS, [{ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', name: 'shared-reader' }]);
    const r = await run();
    expect(r.outcome).toBe('deleted');
    expect(kube.rbac.map((o) => o.name)).not.toContain('shared-reader');
  });

  it('a missing helm is refused before anything happens when a release needs it', async () => {
    helm.missing = true;
    const err = await run(job({}, { helmUninstall: 'always' })).catch((e: unknown) => e);
    expect(String(err)).toMatch(/helm not found/);
    expect(kube.calls.filter((c) => c.startsWith('delete'))).toEqual([]);
  });

  it('a manifest document that cannot be read is refused as possibly cluster-scoped, unless allowed (then helm runs)', async () => {
    helm.releases.clear();
    helm.install(`customer-${KEY}`, NS, [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'cfg' }], { unreadable: [{ index: 2, source: 'x/templates/bad.yaml', reason: 'not valid YAML: bad indentation' }] });
    const err = await run().catch((e: unknown) => e);
    expect(exitCodeFor(err)).toBe(2);
    const text = [(err as Error).message, ...(err as UsageError).details].join('\n');
    expect(text).toMatch(/manifest documents custctl cannot interpret/);
    expect(text).toMatch(/manifest document 2 \(x\/templates\/bad.yaml\) could not be read: not valid YAML: bad indentation/);
    expect(kube.calls.filter((c) => c.startsWith('delete'))).toEqual([]);
    expect((await store.get(ID))?.deploymentStatus).toBe('deployed');
    await store.claimForDeletion(ID, '7', { force: false });
    const r = await run(job({}, { allowClusterScoped: true }));
    expect(r.releases[0]).toMatchObject({ outcome: 'uninstalled', why: expect.stringMatching(/could not be read/) });
  });

  it('touches nothing when the job no longer owns the customer (superseded)', async () => {
    await store.releaseDeletion(ID, '7');
    const r = await run();
    expect(r.outcome).toBe('superseded');
    expect(clusterLoads).toBe(0);
    expect(helm.calls).toEqual([]);
    expect((await store.get(ID))?.deploymentStatus).toBe('deployed');
  });

  it('refuses a corrupted row namespace before any cluster call, and hands the row back', async () => {
    (store.rows.get(ID) as { instanceNamespace: string }).instanceNamespace = 'kube-system';
    await expect(run()).rejects.toMatchObject({ errorName: 'invalid_namespace' });
    expect(clusterLoads).toBe(0);
    expect((await store.get(ID))?.deploymentStatus).toBe('deployed');
    expect(store.audit).toEqual([expect.objectContaining({ action: 'deletion-refused', outcome: 'invalid_namespace', rowStatus: 'deployed', reason: expect.stringContaining('kube-system') })]);
  });

  it('a refused scheduled deletion whose instance cannot be restored keeps the row (never deployed over workloads at 0)', async () => {
    helm.install('extra', NS, [{ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: 'widgets.example.com' }]);
    kube.workloads.set(NS, [{ kind: 'Deployment', name: 'web', replicas: 0, annotations: { 'custctl.io/suspended-from': '3' }, resourceVersion: '1' }]);
    kube.patchWorkload = async () => { throw new OperationError('connect ECONNREFUSED'); };
    const err = await run(job({ data: { customerId: ID, namespace: NS, scheduledFor: 1 } })).catch((e: unknown) => e);
    expect(exitCodeFor(err)).toBe(2);
    // the row stays held: the job's failure then makes it deletion_failed (the job kind's settle)
    expect((await store.get(ID))?.deploymentStatus).toBe('deleting');
    expect(lines.some(([level, m]) => level === 'error' && m.startsWith('The instance stays suspended'))).toBe(true);
  });

  it('refuses a release holding a CRD, unless allowed', async () => {
    helm.install('extra', NS, [{ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: 'widgets.example.com' }]);
    const err = await run().catch((e: unknown) => e);
    expect(exitCodeFor(err)).toBe(2);
    expect(String((err as Error).message)).toMatch(/cluster-scoped/);
    expect(helm.calls.some((c) => c.startsWith('uninstall'))).toBe(false);
    expect(kube.calls.some((c) => c.startsWith('delete'))).toBe(false);
    expect((await store.get(ID))?.deploymentStatus).toBe('deployed');
  });

  it('refuses a release placing objects in other namespaces (like cluster-scoped ones), unless allowed; its own namespace, named or not, is fine', async () => {
    helm.install('extras', NS, [
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'in-release-ns' },
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'named-own-ns', namespace: NS },
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'dashboards', namespace: 'monitoring' },
      { apiVersion: 'v1', kind: 'Secret', name: 'pull', namespace: 'shared' },
      // cluster-scoped: a namespace written on it means nothing (and is not "another namespace")
      { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', name: 'fast', namespace: NS },
    ]);
    const err = await run().catch((e: unknown) => e) as { message: string; details: string[] };
    expect(exitCodeFor(err)).toBe(2);
    expect(err.message).toBe(`refusing to delete ${ID}: its Helm release holds cluster-scoped objects and objects in namespaces other than ${NS} that other customers may depend on`);
    expect(err.details).toEqual([
      'release extras: StorageClass fast (storage.k8s.io/v1, cluster-scoped)',
      'release extras: ConfigMap dashboards (v1) in namespace monitoring',
      'release extras: Secret pull (v1) in namespace shared',
      expect.stringContaining('--allow-cluster-scoped (alias --allow-outside-namespace)'),
    ]);
    expect(helm.calls.some((c) => c.startsWith('uninstall'))).toBe(false);
    expect(kube.calls.some((c) => c.startsWith('delete'))).toBe(false);
    expect((await store.get(ID))?.deploymentStatus).toBe('deployed');

    await store.claimForDeletion(ID, '7', { force: false });
    const r = await run(job({}, { allowClusterScoped: true }));
    expect(r.outcome).toBe('deleted');
    expect(helm.calls).toContain(`uninstall extras -n ${NS}`);
  });

  it('a release whose objects all stay in the namespace (named or not) is not refused', async () => {
    helm.install('own', NS, [
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'a' },
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'b', namespace: NS },
    ]);
    expect((await run()).outcome).toBe('deleted');
  });

  it('a permanent error before anything is touched (helm missing) fails at once and hands the row back', async () => {
    helm.listReleases = async () => { throw new OperationError('helm not found: HELM_BIN=/x/helm (set HELM_BIN to the helm binary, v3.8+ or v4)', [], { permanent: true }); };
    const err = await run().catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/^helm not found/);
    expect(defaultClassify(err).final).toBe(true);
    expect(await store.get(ID)).toMatchObject({ deploymentStatus: 'deployed', deletionJobId: null });
    expect(kube.calls.some((c) => c.startsWith('delete'))).toBe(false);
  });

  it('an unusable kubeconfig or context (usage error) when the worker loads the cluster: the row is handed back', async () => {
    const err = await runDeleteAttempt(
      { job: job(), attempt: 1, signal: new AbortController().signal, progress: async () => undefined, log: () => undefined },
      store,
      async () => { throw new UsageError('context "prod" not found in kubeconfig /k (available: dev)'); },
      { namespacePrefix: 'customer-', defaultWaitTimeoutMs: 1_000, now: () => 0 },
    ).catch((e: unknown) => e);
    expect(defaultClassify(err).final).toBe(true);
    expect((await store.get(ID))?.deploymentStatus).toBe('deployed');
  });

  it('a permanent error after the cluster was touched keeps the claim (the job fails; the row goes deletion_failed)', async () => {
    kube.deleteNamespace = async () => { throw new OperationError('permission denied: cannot delete namespaces', [], { permanent: true }); };
    const err = await run(job({}, { helmUninstall: 'always' })).catch((e: unknown) => e);
    expect(defaultClassify(err).final).toBe(true);
    expect(helm.calls).toContain(`uninstall customer-${KEY} -n ${NS}`);
    expect((await store.get(ID))?.deploymentStatus).toBe('deleting');
  });

  it('a transient error before anything is touched keeps the claim: the job retries', async () => {
    helm.listReleases = async () => { throw new OperationError('helm list failed (exit 1): Kubernetes cluster unreachable'); };
    const err = await run().catch((e: unknown) => e);
    expect(defaultClassify(err).final).toBe(false);
    expect((await store.get(ID))?.deploymentStatus).toBe('deleting');
  });

  it('refuses a deployed customer with nothing on the cluster (wrong context?) unless --allow-missing', async () => {
    kube.namespaces.clear();
    helm.releases.clear();
    kube.rbac = kube.rbac.filter((o) => !o.name.startsWith(`c${KEY}-`));
    const err = await run().catch((e: unknown) => e);
    expect(exitCodeFor(err)).toBe(3);
    expect((err as { details: string[] }).details.join('\n')).toMatch(/kube context: fake/);
    expect((await store.get(ID))?.deploymentStatus).toBe('deployed');

    await store.claimForDeletion(ID, '7', { force: false });
    const r = await run(job({}, { allowMissing: true }));
    expect(r.namespaceOutcome).toBe('already-gone');
    expect((await store.get(ID))?.deploymentStatus).toBe('pending');
  });

  it('an attempt resumed after a crash (progress recorded, no attempt counted) finishes instead of refusing', async () => {
    kube.namespaces.clear();
    helm.releases.clear();
    kube.rbac = kube.rbac.filter((o) => !o.name.startsWith(`c${KEY}-`));
    const r = await run(job({ progress: 25 }));
    expect(r.outcome).toBe('deleted');
    expect((await store.get(ID))?.deploymentStatus).toBe('pending');
  });

  it('already gone on a later attempt or another status: warns and resets', async () => {
    kube.namespaces.clear();
    helm.releases.clear();
    const r = await run(job({ attemptsMade: 1 }));
    expect(r.outcome).toBe('deleted');
    expect(lines.filter(([l]) => l === 'warn').map(([, m]) => m)).toEqual(expect.arrayContaining([expect.stringMatching(/Helm release not found/), expect.stringMatching(/Namespace not found/)]));
    expect((await store.get(ID))?.deploymentStatus).toBe('pending');
  });

  it('a stuck namespace fails the attempt with a diagnosis and leaves the row deleting', async () => {
    kube.stuck.add(NS);
    const ns = kube.namespaces.get(NS);
    if (ns) ns.conditions = [{ type: 'NamespaceFinalizersRemaining', status: 'True', message: 'Some content has finalizers: custctl.test/stuck in 1 resource instances' }];
    const err = await run().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    const text = [(err as Error).message, ...(err as WaitTimeoutError).details].join('\n');
    expect(text).toMatch(/custctl\.test\/stuck/);
    expect(text).toMatch(/configmaps/);
    expect(text).toMatch(/NamespaceFinalizersRemaining/);
    expect((await store.get(ID))?.deploymentStatus).toBe('deleting');
  });

  it('refuses a namespace recreated since the job was accepted, before Helm runs', async () => {
    const err = await run(job({ data: { customerId: ID, namespace: NS, namespaceUid: 'an-older-uid' } })).catch((e: unknown) => e);
    expect(exitCodeFor(err)).toBe(4);
    expect(helm.calls.some((c) => c.startsWith('uninstall'))).toBe(false);
    expect(kube.namespaces.has(NS)).toBe(true);
  });

  it('a failed RBAC delete is a warning, not a failure', async () => {
    kube.failRbacDelete = true;
    const r = await run();
    expect(r.outcome).toBe('deleted');
    // the OpenCost pair and the release's own ClusterRole (no helm ran: step 3 deletes it)
    expect(r.rbac.failed.length).toBe(3);
    expect(r.warnings.join('\n')).toMatch(/not deleted/);
    expect((await store.get(ID))?.deploymentStatus).toBe('pending');
  });

  it('a simulated job makes no cluster calls and resets the row', async () => {
    const r = await run(job({ simulated: true }));
    expect(r.simulated).toBe(true);
    expect(clusterLoads).toBe(0);
    expect(progress).toEqual([25, 70, 85, 100]);
    expect((await store.get(ID))?.deploymentStatus).toBe('pending');
  });
});
