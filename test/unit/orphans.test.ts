// Orphaned cluster RBAC: the pure rules (src/domain/orphans.ts) and the cleanup-rbac command with a
// fake cluster and store (src/commands/cleanup-rbac.ts). The real cluster: test/serial/cleanup-rbac.test.ts.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Kube } from '../../src/adapters/kube.js';
import type { CustomerRow, CustomerStore } from '../../src/adapters/store.js';
import { runCleanupRbac, type CleanupRbacOptions, type CleanupResult } from '../../src/commands/cleanup-rbac.js';
import { jobsEnv } from '../../src/jobs/env.js';
import { cleanupRbacKind } from '../../src/jobs/kinds/cleanup-rbac.js';
import { LocalJobsClient } from '../../src/service/local.js';
import { buildConfig } from '../../src/config.js';
import type { Deps } from '../../src/deps.js';
import { fakeDeps } from '../support/fake-deps.js';
import { findOrphans, ownerMarks, type FindOrphansInput } from '../../src/domain/orphans.js';
import type { RbacKind, RbacObject } from '../../src/domain/rbac-owner.js';
import { OperationError } from '../../src/errors.js';
import { makeIO } from '../../src/io.js';
import { openFileJournal } from '../../src/adapters/file-journal.js';
import type { Job } from '../../src/domain/job.js';
import type { JobQueue } from '../../src/adapters/queue.js';

const REL = 'meta.helm.sh/release-namespace';
const KEEP = { 'helm.sh/resource-policy': 'keep' };

const role = (name: string, annotations: Record<string, string> = {}): RbacObject => ({ kind: 'ClusterRole', name, annotations });
const binding = (name: string, roleName: string, annotations: Record<string, string> = {}): RbacObject => ({
  kind: 'ClusterRoleBinding', name, annotations, roleRef: { kind: 'ClusterRole', name: roleName },
});
const row = (key: string, deploymentStatus: string, instanceNamespace = ''): FindOrphansInput['rows'][number] => ({ customerId: `cust_${key}`, deploymentStatus, instanceNamespace });

function input(objects: RbacObject[], over: Partial<FindOrphansInput> = {}): FindOrphansInput {
  return {
    roles: objects.filter((o) => o.kind === 'ClusterRole'),
    bindings: objects.filter((o) => o.kind === 'ClusterRoleBinding'),
    namespaces: new Set(['default', 'kube-system', 'monitoring']),
    rows: [],
    prefix: 'customer-',
    includeKept: false,
    ...over,
  };
}

/** `Kind/name` lists of what is orphaned and what is kept */
function classify(objects: RbacObject[], over: Partial<FindOrphansInput> = {}): { orphans: string[]; kept: string[] } {
  const r = findOrphans(input(objects, over));
  return { orphans: r.orphans.map((o) => `${o.kind}/${o.name}`), kept: r.kept.map((o) => `${o.kind}/${o.name}`) };
}

describe('ownerMarks: exact rules, never substrings', () => {
  it.each([
    ['annotation with the prefix and a key', role('anything', { [REL]: 'customer-abc123' }), ['annotation:abc123']],
    ['opencost name', role('cabc123-customer-instance-opencost'), ['name:abc123']],
    ['bare instance name', role('cabc123-customer-instance'), ['name:abc123']],
    ['both marks', role('cabc123-customer-instance-x', { [REL]: 'customer-abc123' }), ['annotation:abc123', 'name:abc123']],
    ['decoy: x prefix', role('xcabc123-customer-instance-opencost'), []],
    ['decoy: instancex', role('cabc123-customer-instancex'), []],
    ['decoy: system role', role('system:controller:namespace-controller'), []],
    ['decoy: cluster-admin', role('cluster-admin'), []],
    ['annotation with another release namespace', role('prometheus', { [REL]: 'monitoring' }), []],
    ['annotation: prefix only', role('r', { [REL]: 'customer-' }), []],
    ['annotation: prefix + invalid key', role('r', { [REL]: 'customer-abc-123' }), []],
    ['annotation: upper case', role('r', { [REL]: 'customer-ABC' }), []],
    ['annotation: 45-char key', role('r', { [REL]: `customer-${'a'.repeat(45)}` }), []],
    ['annotation: 44-char key', role('r', { [REL]: `customer-${'a'.repeat(44)}` }), [`annotation:${'a'.repeat(44)}`]],
    ['annotation: kube-system', role('r', { [REL]: 'kube-system' }), []],
    ['name: upper case key', role('cABC-customer-instance'), []],
    ['name: no key', role('c-customer-instance'), []],
    ['name: key with a dash', role('cab-c-customer-instance'), []],
  ])('%s', (_what, obj, expected) => {
    expect(ownerMarks(obj, 'customer-').map((m) => `${m.rule}:${m.key}`)).toEqual(expected);
  });
});

describe('findOrphans', () => {
  const decoys = [
    role('xcabc123-customer-instance-opencost'),
    binding('xcabc123-customer-instance-opencost', 'xcabc123-customer-instance-opencost'),
    role('cabc123-customer-instancex'),
    role('system:controller:namespace-controller'),
    binding('system:controller:namespace-controller', 'system:controller:namespace-controller'),
    role('cluster-admin'),
    binding('cluster-admin', 'cluster-admin'),
    role('prometheus', { [REL]: 'monitoring' }),
    binding('prometheus', 'prometheus', { [REL]: 'monitoring' }),
  ];

  it.each<[string, RbacObject[], Partial<FindOrphansInput>, { orphans: string[]; kept: string[] }]>([
    ['decoys alone: nothing listed', decoys, {}, { orphans: [], kept: [] }],
    ['decoys survive next to a real orphan', [...decoys, role('cabc123-customer-instance-opencost'), binding('cabc123-customer-instance-opencost', 'cabc123-customer-instance-opencost')], {},
      { orphans: ['ClusterRoleBinding/cabc123-customer-instance-opencost', 'ClusterRole/cabc123-customer-instance-opencost'], kept: [] }],
    ['annotation only, namespace gone, no row', [role('metrics-reader-1', { [REL]: 'customer-k1' }), binding('metrics-reader-1', 'metrics-reader-1', { [REL]: 'customer-k1' })], {},
      { orphans: ['ClusterRoleBinding/metrics-reader-1', 'ClusterRole/metrics-reader-1'], kept: [] }],
    ['live customer (namespace present): untouched, not listed', [role('ck2-customer-instance-opencost'), role('r2', { [REL]: 'customer-k2' })],
      { namespaces: new Set(['customer-k2']) }, { orphans: [], kept: [] }],
    ['a terminating namespace still exists: not an orphan yet', [role('ck2-customer-instance-opencost')], { namespaces: new Set(['customer-k2']) }, { orphans: [], kept: [] }],
    ['deploying customer (namespace not there yet): untouched', [role('ck3-customer-instance-opencost')], { rows: [row('k3', 'deploying')] }, { orphans: [], kept: [] }],
    ['deployed with a namespace in the row but namespace missing (wrong cluster?): untouched', [role('ck4-customer-instance-opencost')],
      { rows: [row('k4', 'deployed', 'customer-k4')] }, { orphans: [], kept: [] }],
    ['deployed without a namespace in the row: orphan', [role('ck4-customer-instance-opencost')], { rows: [row('k4', 'deployed', '')] },
      { orphans: ['ClusterRole/ck4-customer-instance-opencost'], kept: [] }],
    ['pending / failed / deletion_failed / deleting rows: orphans', [role('ck5-customer-instance-opencost'), role('ck6-customer-instance-opencost'), role('ck7-customer-instance-opencost'), role('ck8-customer-instance-opencost')],
      { rows: [row('k5', 'pending'), row('k6', 'failed', 'customer-k6'), row('k7', 'deletion_failed', 'customer-k7'), row('k8', 'deleting', 'customer-k8')] },
      { orphans: ['ClusterRole/ck5-customer-instance-opencost', 'ClusterRole/ck6-customer-instance-opencost', 'ClusterRole/ck7-customer-instance-opencost', 'ClusterRole/ck8-customer-instance-opencost'], kept: [] }],
    ['keep policy: kept, not deleted', [role('ck9-customer-instance-opencost', KEEP), binding('ck9-customer-instance-opencost', 'ck9-customer-instance-opencost', KEEP)], {},
      { orphans: [], kept: ['ClusterRoleBinding/ck9-customer-instance-opencost', 'ClusterRole/ck9-customer-instance-opencost'] }],
    ['keep policy with --include-kept: orphans', [role('ck9-customer-instance-opencost', KEEP), binding('ck9-customer-instance-opencost', 'ck9-customer-instance-opencost', KEEP)], { includeKept: true },
      { orphans: ['ClusterRoleBinding/ck9-customer-instance-opencost', 'ClusterRole/ck9-customer-instance-opencost'], kept: [] }],
    ['a binding without marks referencing an orphaned role: both kept', [role('cka-customer-instance-opencost'), binding('someone-elses-binding', 'cka-customer-instance-opencost')], {},
      { orphans: [], kept: ['ClusterRoleBinding/someone-elses-binding', 'ClusterRole/cka-customer-instance-opencost'] }],
    ['a role still bound by a live customer\'s binding: kept; the binding is not listed', [role('ckb-customer-instance-opencost'), binding('ckc-customer-instance-x', 'ckb-customer-instance-opencost')],
      { namespaces: new Set(['customer-kc']) }, { orphans: [], kept: ['ClusterRole/ckb-customer-instance-opencost'] }],
    ['a role bound by a kept-by-policy binding: kept too', [role('ckd-customer-instance-opencost'), binding('ckd-customer-instance-opencost', 'ckd-customer-instance-opencost', KEEP)], {},
      { orphans: [], kept: ['ClusterRoleBinding/ckd-customer-instance-opencost', 'ClusterRole/ckd-customer-instance-opencost'] }],
    ['an orphaned binding of a kept-by-policy role: the binding goes, the role stays', [role('cke-customer-instance-opencost', KEEP), binding('cke-customer-instance-opencost', 'cke-customer-instance-opencost')], {},
      { orphans: ['ClusterRoleBinding/cke-customer-instance-opencost'], kept: ['ClusterRole/cke-customer-instance-opencost'] }],
    ['an orphaned binding to cluster-admin: the binding goes, cluster-admin is not listed', [role('cluster-admin'), binding('ckf-customer-instance-admin', 'cluster-admin')], {},
      { orphans: ['ClusterRoleBinding/ckf-customer-instance-admin'], kept: [] }],
    ['marks of two customers, one live: untouched', [role('ckg-customer-instance-opencost', { [REL]: 'customer-kh' })], { namespaces: new Set(['customer-kh']) }, { orphans: [], kept: [] }],
    ['--customer limits to that customer', [role('cki-customer-instance-opencost'), role('ckj-customer-instance-opencost')], { onlyKey: 'ki' },
      { orphans: ['ClusterRole/cki-customer-instance-opencost'], kept: [] }],
    ['--customer abc12 does not touch cabc123-…', [role('cabc123-customer-instance-opencost')], { onlyKey: 'abc12' }, { orphans: [], kept: [] }],
    ['--customer: a role bound by another orphan customer\'s binding stays (that binding is not swept)', [role('ckk-customer-instance-opencost'), binding('ckl-customer-instance-b', 'ckk-customer-instance-opencost')],
      { onlyKey: 'kk' }, { orphans: [], kept: ['ClusterRole/ckk-customer-instance-opencost'] }],
    ['another prefix', [role('r', { [REL]: 'tenant-k1' }), role('s', { [REL]: 'customer-k1' })], { prefix: 'tenant-' }, { orphans: ['ClusterRole/r'], kept: [] }],
  ])('%s', (_what, objects, over, expected) => {
    expect(classify(objects, over)).toEqual(expected);
  });

  it('reason names the rule and the missing namespace; entries carry key and namespace', () => {
    const r = findOrphans(input([role('metrics', { [REL]: 'customer-abc123' }), role('cdef456-customer-instance-opencost', KEEP)], { rows: [row('abc123', 'pending')] }));
    expect(r.orphans).toEqual([{
      kind: 'ClusterRole', name: 'metrics', customerKey: 'abc123', namespace: 'customer-abc123',
      reason: 'annotation meta.helm.sh/release-namespace=customer-abc123; namespace customer-abc123 not found; customer cust_abc123 is pending',
    }]);
    expect(r.kept).toEqual([{
      kind: 'ClusterRole', name: 'cdef456-customer-instance-opencost', customerKey: 'def456', namespace: 'customer-def456',
      reason: 'kept by policy (helm.sh/resource-policy: keep); name matches ^cdef456-customer-instance(-.*)?$; namespace customer-def456 not found; no customer row cust_def456',
    }]);
  });

  it('sorts by customer, bindings before roles, then name', () => {
    const r = findOrphans(input([role('cb-customer-instance'), binding('cb-customer-instance', 'cb-customer-instance'), role('ca-customer-instance-z'), role('ca-customer-instance-a')]));
    expect(r.orphans.map((o) => `${o.customerKey} ${o.kind} ${o.name}`)).toEqual([
      'a ClusterRole ca-customer-instance-a', 'a ClusterRole ca-customer-instance-z', 'b ClusterRoleBinding cb-customer-instance', 'b ClusterRole cb-customer-instance',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// the command, with a fake cluster and store

class FakeKube implements Partial<Kube> {
  readonly target = { context: 'fake', server: 'https://127.0.0.1:1', kubeconfig: '/dev/null' };
  calls: string[] = [];
  objects = new Map<string, RbacObject>();
  namespaces = new Set<string>(['default', 'kube-system']);
  denyDelete = new Set<string>();
  denyList = false;
  add(...objs: RbacObject[]): void {
    for (const o of objs) this.objects.set(`${o.kind}/${o.name}`, o);
  }
  async listNamespaceNames(): Promise<string[]> {
    this.calls.push('list namespaces');
    return [...this.namespaces];
  }
  async listClusterRbac(): Promise<RbacObject[]> {
    this.calls.push('list clusterroles', 'list clusterrolebindings');
    if (this.denyList) throw new OperationError('permission denied: cannot list clusterroles.rbac.authorization.k8s.io (user bob)');
    return [...this.objects.values()].map((o) => ({ ...o }));
  }
  async deleteClusterRbac(kind: RbacKind, name: string): Promise<'deleted' | 'not-found'> {
    this.calls.push(`delete ${kind}/${name}`);
    if (this.denyDelete.has(name)) throw new OperationError(`permission denied: cannot delete ${kind.toLowerCase()}s.rbac.authorization.k8s.io (user bob)`);
    return this.objects.delete(`${kind}/${name}`) ? 'deleted' : 'not-found';
  }
}

function fakeStore(rows: Array<Pick<CustomerRow, 'customerId' | 'deploymentStatus' | 'instanceNamespace'>>, calls: string[]): CustomerStore {
  return {
    description: 'fake store', kind: 'postgres',
    list: async () => {
      calls.push('list customers');
      return rows as CustomerRow[];
    },
  } as unknown as CustomerStore;
}

interface Harness { d: Deps; kube: FakeKube; out: () => string; err: () => string; queue: JobQueue }

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'custctl-orphans-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function harness(kube: FakeKube, rows: Parameters<typeof fakeStore>[0], env: Record<string, string> = {}): Promise<Harness> {
  const outS = new PassThrough();
  const errS = new PassThrough();
  let out = '';
  let err = '';
  outS.on('data', (c: Buffer) => { out += c.toString(); });
  errS.on('data', (c: Buffer) => { err += c.toString(); });
  const io = makeIO({ stdin: new PassThrough(), stdout: outS, stderr: errS }, { NO_COLOR: '1' });
  const now = () => new Date(1_700_000_000_000);
  const queue = await openFileJournal({ dir: join(dir, 'journal'), worker: 'test@host' });
  const store = fakeStore(rows, kube.calls);
  const config = buildConfig({ CUSTCTL_STATE_DIR: dir, QUEUE_MAX_RETRIES: '1', ...env }, {});
  // helm is not used by cleanup-rbac: the fake's default refuses it
  const d = fakeDeps({ io, env, now, config, queue, store, kube: kube as unknown as Kube, client: (x) => new LocalJobsClient(x) });
  return { d, kube, queue, out: () => out, err: () => err };
}

const opts = (over: Partial<CleanupRbacOptions> = {}): CleanupRbacOptions => ({ dryRun: false, exitCode: false, includeKept: false, yes: true, output: 'json', ...over });

/** n customers: the first half live (namespace + RBAC), the other half orphaned RBAC, plus decoys */
function cluster(n: number): { kube: FakeKube; rows: Parameters<typeof fakeStore>[0] } {
  const kube = new FakeKube();
  const rows: Parameters<typeof fakeStore>[0] = [];
  kube.add(role('cluster-admin'), binding('cluster-admin', 'cluster-admin'), role('xcabc123-customer-instance-opencost'), role('cabc123-customer-instancex'));
  for (let i = 0; i < n; i++) {
    const key = `k${i}`;
    const live = i < n / 2;
    kube.add(role(`c${key}-customer-instance-opencost`), binding(`c${key}-customer-instance-opencost`, `c${key}-customer-instance-opencost`));
    if (live) kube.namespaces.add(`customer-${key}`);
    rows.push({ customerId: `cust_${key}`, deploymentStatus: live ? 'deployed' : 'pending', instanceNamespace: live ? `customer-${key}` : '' });
  }
  return { kube, rows };
}

describe('cleanup-rbac command (fake cluster)', () => {
  it('a sweep costs the same list calls over 5 and over 200 customers; bindings are deleted before roles', async () => {
    const lists: string[][] = [];
    for (const n of [5, 200]) {
      const { kube, rows } = cluster(n);
      const h = await harness(kube, rows);
      const dry = await runCleanupRbac(opts({ dryRun: true }), h.d);
      expect(dry.report.orphans).toHaveLength(2 * (n - Math.ceil(n / 2)));
      const dryCalls = [...kube.calls];
      expect(dryCalls.every((c) => c.startsWith('list '))).toBe(true);
      kube.calls = [];
      const real = await runCleanupRbac(opts(), h.d);
      expect(real.exitCode).toBe(0);
      expect(real.report.deleted).toHaveLength(dry.report.orphans.length);
      const listCalls = kube.calls.filter((c) => c.startsWith('list '));
      const deletes = kube.calls.filter((c) => c.startsWith('delete '));
      expect(deletes).toHaveLength(real.report.deleted.length);
      const lastBinding = deletes.map((c) => c.includes('ClusterRoleBinding/')).lastIndexOf(true);
      const firstRole = deletes.findIndex((c) => c.includes('ClusterRole/'));
      expect(lastBinding).toBeLessThan(firstRole);
      lists.push([...dryCalls].sort(), listCalls.sort());
      await h.queue.close();
    }
    expect(lists[0]).toEqual(lists[2]); // dry run, 5 vs 200
    expect(lists[1]).toEqual(lists[3]); // sweep (plan + job), 5 vs 200
    expect(lists[0]).toEqual(['list clusterrolebindings', 'list clusterroles', 'list customers', 'list namespaces']);
  });

  it('--dry-run changes nothing; --exit-code: 6 with orphans, 0 without', async () => {
    const { kube, rows } = cluster(4);
    const h = await harness(kube, rows);
    const before = [...kube.objects.keys()];
    expect((await runCleanupRbac(opts({ dryRun: true, exitCode: true }), h.d)).exitCode).toBe(6);
    expect((await runCleanupRbac(opts({ dryRun: true }), h.d)).exitCode).toBe(0);
    expect([...kube.objects.keys()]).toEqual(before);
    expect(await h.queue.list()).toEqual([]);
    const sweep = await runCleanupRbac(opts({ exitCode: true }), h.d);
    expect(sweep.exitCode).toBe(0);
    expect(sweep.report.jobId).toMatch(/^\d+$/);
    expect((await runCleanupRbac(opts({ dryRun: true, exitCode: true }), h.d)).exitCode).toBe(0);
  });

  it('a real run is a journaled cleanup-rbac job whose return value is the report; the stderr log names each object', async () => {
    const { kube, rows } = cluster(2);
    const h = await harness(kube, rows);
    const r = await runCleanupRbac(opts({ customer: 'cust_k1' }), h.d);
    const job = (await h.queue.get(r.report.jobId as string)) as Job;
    expect(job).toMatchObject({ name: 'cleanup-rbac', state: 'completed', data: { customerId: 'cust_k1' }, simulated: false, opts: { includeKept: false } });
    expect((job.returnvalue as CleanupResult).deleted).toEqual(r.report.deleted);
    expect(Object.keys(r.report)).toEqual(['dryRun', 'simulated', 'jobId', 'orphans', 'deleted', 'kept', 'errors']);
    expect(h.err()).toContain('Deleted ClusterRoleBinding  binding=clusterrolebinding.rbac.authorization.k8s.io/ck1-customer-instance-opencost');
    expect(h.err()).toContain('Deleted ClusterRole  role=clusterrole.rbac.authorization.k8s.io/ck1-customer-instance-opencost');
    expect(job.attempts[0]?.log.join('\n')).toContain('Deleted ClusterRole');
  });

  it('without a terminal and without --yes: refuses (exit 2), deletes nothing, no job', async () => {
    const { kube, rows } = cluster(2);
    const h = await harness(kube, rows);
    const e = await runCleanupRbac(opts({ yes: false }), h.d).catch((x: unknown) => x);
    expect(e).toMatchObject({ exitCode: 2 });
    expect(String((e as Error).message)).toContain('Pass --yes');
    expect(kube.calls.filter((c) => c.startsWith('delete'))).toEqual([]);
    expect(await h.queue.list()).toEqual([]);
  });

  it('--customer is validated before any call', async () => {
    const { kube, rows } = cluster(2);
    const h = await harness(kube, rows);
    for (const bad of ['42', 'abc123', 'cust_ABC', 'cust_']) {
      await expect(runCleanupRbac(opts({ customer: bad, dryRun: true }), h.d)).rejects.toMatchObject({ exitCode: 2 });
    }
    expect(kube.calls).toEqual([]);
  });

  it('delete refused (403): recorded per object, the others deleted, exit 1 with the message', async () => {
    const { kube, rows } = cluster(4);
    kube.denyDelete.add('ck2-customer-instance-opencost');
    const h = await harness(kube, rows);
    const r = await runCleanupRbac(opts({ exitCode: true }), h.d);
    expect(r.exitCode).toBe(1);
    expect(r.report.errors).toEqual([
      { kind: 'ClusterRoleBinding', name: 'ck2-customer-instance-opencost', error: 'permission denied: cannot delete clusterrolebindings.rbac.authorization.k8s.io (user bob)' },
      { kind: 'ClusterRole', name: 'ck2-customer-instance-opencost', error: 'permission denied: cannot delete clusterroles.rbac.authorization.k8s.io (user bob)' },
    ]);
    expect(r.report.deleted.map((x) => x.name)).toEqual(['ck3-customer-instance-opencost', 'ck3-customer-instance-opencost']);
  });

  it('list refused (403): the typed error reaches the caller before any job exists', async () => {
    const { kube, rows } = cluster(2);
    kube.denyList = true;
    const h = await harness(kube, rows);
    await expect(runCleanupRbac(opts(), h.d)).rejects.toMatchObject({ exitCode: 1, message: expect.stringContaining('permission denied: cannot list') });
    expect(await h.queue.list()).toEqual([]);
  });

  it('SIMULATE_K8S_DEPLOYMENT=true: reports, deletes nothing, says so; the job is simulated; --exit-code: orphans remain → 6', async () => {
    const { kube, rows } = cluster(2);
    const h = await harness(kube, rows, { SIMULATE_K8S_DEPLOYMENT: 'true' });
    const r = await runCleanupRbac(opts({ exitCode: true }), h.d);
    expect(r.exitCode).toBe(6);
    expect(r.report).toMatchObject({ simulated: true, deleted: [], errors: [] });
    expect(r.report.orphans).toHaveLength(2);
    expect(kube.calls.filter((c) => c.startsWith('delete'))).toEqual([]);
    expect(h.err()).toContain('SIMULATE_K8S_DEPLOYMENT=true');
    expect(await h.queue.get(r.report.jobId as string)).toMatchObject({ simulated: true, state: 'completed' });
  });

  it('the processor (worker/serve) honours includeKept from the job', async () => {
    const kube = new FakeKube();
    kube.add(role('ckp-customer-instance-opencost', KEEP));
    const h = await harness(kube, []);
    const id = await h.queue.allocateId();
    const job = await h.queue.add(id, { name: 'cleanup-rbac', data: {}, opts: { attempts: 1, backoff: { type: 'exponential', delay: 1 }, timeoutMs: 60_000, includeKept: true }, requestedBy: 't', simulated: false }, 0);
    const ctx = { job, attempt: 1, signal: new AbortController().signal, progress: async () => undefined, log: async () => undefined };
    const r = (await cleanupRbacKind.process(await jobsEnv(h.d), ctx)) as CleanupResult;
    expect(r.deleted.map((x) => x.name)).toEqual(['ckp-customer-instance-opencost']);
    expect(kube.objects.size).toBe(0);
  });
});
