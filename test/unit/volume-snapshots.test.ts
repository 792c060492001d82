/**
 * Volume snapshots before a deletion, with a fake of our own VolumeSnapshotApi (the real API is
 * proven in test/serial/volume-snapshots.test.ts): names, refusals before anything is created,
 * the wait, re-use on a retry, status.error, the timeout, and the pipeline's order.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { VolumeSnapshotApi, VolumeSnapshotClassInfo, VolumeSnapshotContentInfo, VolumeSnapshotInfo, VolumeSnapshotRequest } from '../../src/adapters/kube.js';
import type { Job } from '../../src/domain/job.js';
import { parseSnapshotClass, snapshotName, volumeCoverage } from '../../src/domain/volume-snapshots.js';
import { BackupError, exitCodeFor, UsageError } from '../../src/errors.js';
import { runDeleteAttempt } from '../../src/pipeline/run.js';
import { takeVolumeSnapshots } from '../../src/pipeline/volume-snapshots.js';
import { coverVolumes, planView } from '../../src/pipeline/plan.js';
import { renderPlan } from '../../src/output/plan.js';
import { Chalk } from 'chalk';
import { FakeHelm, FakeKube, FakeStore, runningDeleteJob } from '../support/fakes.js';

const KEY = 'vs123';
const NS = `customer-${KEY}`;
const ID = `cust_${KEY}`;

/** The snapshot controller as a fake: a snapshot becomes ready after `readyAfterLists` lists (or fails). */
class FakeSnapshots implements VolumeSnapshotApi {
  served_ = true;
  classes = new Map<string, VolumeSnapshotClassInfo>([['retain', { name: 'retain', driver: 'd', deletionPolicy: 'Retain' }], ['gone', { name: 'gone', driver: 'd', deletionPolicy: 'Delete' }]]);
  snaps = new Map<string, VolumeSnapshotInfo>();
  contents = new Map<string, VolumeSnapshotContentInfo>();
  calls: string[] = [];
  readyAfterLists = 2;
  failWith: string | undefined;
  contentPolicy = 'Retain';
  private lists = 0;

  async served() { this.calls.push('served'); return this.served_; }
  async getClass(name: string) { this.calls.push(`class ${name}`); return this.classes.get(name) ?? null; }
  async list(_ns: string, selector: string) {
    this.calls.push(`list ${selector}`);
    this.lists++;
    for (const v of this.snaps.values()) {
      if (this.failWith) v.error = this.failWith;
      else if (this.lists > this.readyAfterLists && !v.readyToUse) {
        const content = `snapcontent-${v.name}`;
        this.contents.set(content, { name: content, deletionPolicy: this.contentPolicy, driver: 'd', snapshotHandle: `h-${v.name}`, restoreSizeBytes: 1024, snapshotRef: { namespace: NS, name: v.name }, readyToUse: true });
        Object.assign(v, { readyToUse: true, boundContentName: content, restoreSize: '1Ki' });
      }
    }
    const [k, val] = selector.split('=');
    return [...this.snaps.values()].filter((v) => v.labels[k as string] === val).map((v) => ({ ...v }));
  }
  async create(_ns: string, r: VolumeSnapshotRequest) {
    this.calls.push(`create ${r.name}`);
    if (this.snaps.has(r.name)) return 'exists' as const;
    this.snaps.set(r.name, { name: r.name, pvc: r.pvc, className: r.className, labels: r.labels, readyToUse: false });
    return 'created' as const;
  }
  async getContent(name: string) { return this.contents.get(name) ?? null; }
}

const pvcs = [
  { name: 'data', phase: 'Bound', volumeName: 'pv-1', reclaimPolicy: 'Delete', storage: '1Gi' },
  { name: 'logs', phase: 'Bound', volumeName: 'pv-2', reclaimPolicy: 'Retain', storage: '1Gi' },
  { name: 'unbound', phase: 'Pending' },
];

function kubeWith(api: FakeSnapshots): FakeKube {
  const k = new FakeKube();
  (k as unknown as { volumeSnapshots: VolumeSnapshotApi }).volumeSnapshots = api;
  return k;
}

function take(api: FakeSnapshots, over: { className?: string; timeoutMs?: number; jobId?: string } = {}, lines: string[] = []) {
  let t = 0;
  return takeVolumeSnapshots({
    kube: kubeWith(api), namespace: NS, customerId: ID, jobId: over.jobId ?? '7', className: over.className ?? 'retain', pvcs,
    timeoutMs: over.timeoutMs ?? 60_000, log: (_l, m) => void lines.push(m), signal: new AbortController().signal,
    now: () => t, sleep: async (ms) => { t += ms; },
  });
}

describe('names and classes', () => {
  it('derives the name from the job and the PVC (a retry asks for the same one), ≤ 253 characters', () => {
    expect(snapshotName('42', 'data')).toBe('custctl-42-data');
    const long = snapshotName('42', `${'a'.repeat(250)}.b`);
    expect(long.length).toBeLessThanOrEqual(253);
    expect(long).toMatch(/^custctl-42-a+-[0-9a-f]{10}$/);
    expect(snapshotName('42', `${'a'.repeat(250)}.b`)).toBe(long);
    expect(snapshotName('42', `${'a'.repeat(250)}.c`)).not.toBe(long);
  });
  it.each(['Retain-Class', 'a_b', '', '-x'])('refuses the class name %j (exit 2)', (raw) => {
    expect(() => parseSnapshotClass(raw)).toThrow(UsageError);
  });
  it('says plainly what covers each volume', () => {
    expect(volumeCoverage({ volumeName: 'pv', reclaimPolicy: 'Delete' }, null).note).toBe('NOT covered: the data is lost when the namespace is deleted');
    expect(volumeCoverage({ volumeName: 'pv', reclaimPolicy: 'Delete' }, { class: 'c', deletionPolicy: 'Retain' }).note).toBe('covered by snapshot (class c, Retain)');
    expect(volumeCoverage({ volumeName: 'pv', reclaimPolicy: 'Retain' }, null).coverage).toBe('volume-retained');
    expect(volumeCoverage({}, null).coverage).toBe('no-volume');
  });
});

describe('takeVolumeSnapshots', () => {
  let api: FakeSnapshots;
  beforeEach(() => { api = new FakeSnapshots(); });

  it.each([
    ['a cluster without the API', (a: FakeSnapshots) => { a.served_ = false; }, /does not serve snapshot\.storage\.k8s\.io\/v1: refusing, nothing was deleted/],
    ['a class that does not exist', () => undefined, /VolumeSnapshotClass none not found/],
    ['a class whose deletionPolicy is Delete', () => undefined, /VolumeSnapshotClass gone has deletionPolicy Delete/],
  ])('refuses %s before creating anything', async (what, arrange, message) => {
    arrange(api);
    const cls = what.includes('not exist') ? 'none' : what.includes('Delete') ? 'gone' : 'retain';
    const e = await take(api, { className: cls }).then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(BackupError);
    expect((e as Error).message).toMatch(message);
    expect(exitCodeFor(e)).toBe(1);
    expect(api.calls.filter((c) => c.startsWith('create') || c.startsWith('list'))).toEqual([]);
  });

  it('takes one per bound PVC, labelled, waits until ready (with progress lines), and returns the contents', async () => {
    const lines: string[] = [];
    const r = await take(api, {}, lines);
    expect(api.calls.filter((c) => c.startsWith('create'))).toEqual(['create custctl-7-data', 'create custctl-7-logs']);
    expect(api.snaps.get('custctl-7-data')?.labels).toEqual({ 'app.kubernetes.io/managed-by': 'custctl', 'custctl.io/customer-id': ID, 'custctl.io/deletion-job': '7' });
    expect(lines).toContain('Waiting for volume snapshots: 0/2 ready');
    expect(r).toEqual([
      { pvc: 'data', volume: 'pv-1', snapshot: 'custctl-7-data', class: 'retain', content: 'snapcontent-custctl-7-data', deletionPolicy: 'Retain', snapshotHandle: 'h-custctl-7-data', restoreSize: '1Ki', driver: 'd' },
      { pvc: 'logs', volume: 'pv-2', snapshot: 'custctl-7-logs', class: 'retain', content: 'snapcontent-custctl-7-logs', deletionPolicy: 'Retain', snapshotHandle: 'h-custctl-7-logs', restoreSize: '1Ki', driver: 'd' },
    ]);
  });

  it('a retry of the same job re-uses its snapshots instead of taking more; another job takes its own', async () => {
    await take(api);
    api.calls = [];
    const again = await take(api);
    expect(api.calls.filter((c) => c.startsWith('create'))).toEqual([]);
    expect(again.map((s) => s.snapshot)).toEqual(['custctl-7-data', 'custctl-7-logs']);
    await take(api, { jobId: '8' });
    expect(api.calls.filter((c) => c.startsWith('create'))).toEqual(['create custctl-8-data', 'create custctl-8-logs']);
  });

  it('a snapshot with status.error fails the attempt', async () => {
    api.failWith = 'the driver said no';
    await expect(take(api)).rejects.toThrow(/volume snapshot of PVC data, logs failed: custctl-7-data: the driver said no; .*nothing was deleted/);
  });

  it('is bounded by the timeout', async () => {
    api.readyAfterLists = 1_000;
    const e = await take(api, { timeoutMs: 5_000 }).then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(BackupError);
    expect((e as Error).message).toMatch(/volume snapshots not ready within 5s \(0\/2 ready; waiting for custctl-7-data, custctl-7-logs\)/);
  });

  it('refuses a content that would not outlive the namespace', async () => {
    api.contentPolicy = 'Delete';
    await expect(take(api)).rejects.toThrow(/VolumeSnapshotContent snapcontent-custctl-7-data has deletionPolicy Delete/);
  });
});

const job = (opts: Partial<Job['opts']> = {}, over: Partial<Job> = {}): Job => runningDeleteJob(ID, NS, opts, over);

describe('the volume-snapshots step in the pipeline', () => {
  let api: FakeSnapshots;
  let kube: FakeKube;
  let helm: FakeHelm;
  let store: FakeStore;
  let progress: number[];
  const run = (j: Job) => runDeleteAttempt(
    { job: j, attempt: 1, signal: new AbortController().signal, progress: async (n) => void progress.push(n), log: () => undefined },
    store,
    async () => ({ kube, helm, target: kube.target }),
    { namespacePrefix: 'customer-', defaultWaitTimeoutMs: 1_000, now: () => 0 },
  );

  beforeEach(async () => {
    api = new FakeSnapshots();
    api.readyAfterLists = 0;
    kube = kubeWith(api);
    helm = new FakeHelm(kube);
    store = new FakeStore();
    progress = [];
    await store.add({ customerId: ID, email: 'e', companyName: 'c', deploymentStatus: 'deployed', instanceNamespace: NS, instanceUrl: 'https://x' });
    await store.claimForDeletion(ID, '7', { force: false });
    kube.addNamespace(NS);
    kube.pvcs.set(NS, pvcs);
    helm.install(`customer-${KEY}`, NS, [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'cfg' }]);
  });

  it('snapshots before Helm and records them in the result (progress 3 first)', async () => {
    const r = await run(job({ snapshotClass: 'retain' }));
    expect(r.volumeSnapshots?.map((s) => s.pvc)).toEqual(['data', 'logs']);
    expect(progress[0]).toBe(3);
    // then deletes (the release has no delete hooks: it goes with the namespace)
    expect(kube.calls.some((c) => c.startsWith('delete ns/'))).toBe(true);
  });

  it('a refused class: nothing deleted, the row handed back, no retry', async () => {
    const e = await run(job({ snapshotClass: 'gone' })).then(() => null, (x: unknown) => x);
    expect((e as Error).message).toMatch(/deletionPolicy Delete/);
    expect((e as { permanent: boolean }).permanent).toBe(true);
    expect(kube.calls.filter((c) => c.startsWith('delete'))).toEqual([]);
    expect(helm.calls.filter((c) => c.startsWith('uninstall'))).toEqual([]);
    expect((await store.get(ID))?.deploymentStatus).toBe('deployed');
  });

  it('a later attempt past the snapshots only re-reads them: never creates, never fails', async () => {
    api.served_ = false; // whatever changed since, the deletion under way is not stopped by it
    const r = await run(job({ snapshotClass: 'retain' }, { progress: 25, attemptsMade: 1 }));
    expect(api.calls.filter((c) => c.startsWith('create'))).toEqual([]);
    expect(r.volumeSnapshots).toEqual([]);
  });

  it('without a class nothing is asked of the snapshot API', async () => {
    await run(job());
    expect(api.calls).toEqual([]);
  });
});

describe('the plan', () => {
  const row = { customerId: ID, email: 'e', companyName: 'c', deploymentStatus: 'deployed', instanceNamespace: NS, instanceUrl: 'u', deletionJobId: null, previousStatus: null } as never;
  const insp = { customer: { id: ID, key: KEY }, namespace: NS, row, releases: [], ns: { name: NS, uid: 'u', phase: 'Active', conditions: [], finalizers: [] }, rbac: { owned: [], keptByPolicy: [], keptUnowned: [] }, pvcs } as never;
  const c = new Chalk({ level: 0 });

  it('says which volumes are covered by a snapshot and which are not (human and JSON)', () => {
    const p = planView(insp, row, ID, NS, false);
    coverVolumes(p, { class: 'retain', deletionPolicy: 'Retain', driver: 'd' });
    expect(p.pvcs?.map((v) => v.coverage)).toEqual(['snapshot', 'snapshot', 'no-volume']);
    const text = renderPlan(p, c).text;
    expect(text).toMatch(/Snapshots\s+take and wait for a VolumeSnapshot of every bound PVC first \(class retain, Retain, driver d\)/);
    expect(text).toMatch(/PVC\s+data 1Gi Bound → pv-1: volume and data deleted; covered by snapshot \(class retain, Retain\)/);
  });

  it('without snapshots (or refused), a Delete volume is NOT covered', () => {
    const p = planView(insp, row, ID, NS, false);
    coverVolumes(p, { class: 'gone', refused: 'VolumeSnapshotClass gone has deletionPolicy Delete' });
    expect(p.pvcs?.map((v) => v.coverage)).toEqual(['not-covered', 'volume-retained', 'no-volume']);
    const text = renderPlan(p, c).text;
    expect(text).toMatch(/Snapshots\s+REFUSED VolumeSnapshotClass gone has deletionPolicy Delete: the deletion will be refused/);
    expect(text).toMatch(/PVC\s+data .*NOT covered: the data is lost when the namespace is deleted/);
  });
});
