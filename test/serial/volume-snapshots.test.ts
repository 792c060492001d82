/**
 * `delete --snapshot-volumes CLASS` on the real parts (built binary, real kube-apiserver +
 * controller-manager, helm, PostgreSQL). The test cluster has no snapshot CRDs, no snapshot
 * controller and no CSI driver: this file first proves the refusal on a cluster without the API,
 * then installs the three snapshot.storage.k8s.io/v1 CRDs (test/fixtures/crds) and plays the
 * snapshot controller itself (a VolumeSnapshot that appears gets its VolumeSnapshotContent and a
 * status through the status subresource). No bytes are snapshotted: that is the CSI driver's part.
 *
 * Serial project: installing and removing CRDs changes what discovery answers for every test
 * running against the cluster at the same time (a backup's discovery of a group that disappears
 * mid-listing fails), so this file runs alone.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tarEntries } from '../support/archive.js';
import { custctl, tempStateDir } from '../support/cli.js';
import { testEnv } from '../support/env.js';
import { coreApi, db, getNamespace, helm, kubeConfigForTests, kubectl, provisionCustomer, randomKey, type ProvisionedCustomer } from '../support/fixtures.js';

const CRDS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/crds/snapshot.storage.k8s.io-v1.yaml');
const GROUP = '/apis/snapshot.storage.k8s.io/v1';
const state = tempStateDir();
const env = { CUSTCTL_STATE_DIR: state, QUEUE_RETRY_DELAY: '100' };
const pvs: string[] = [];

/** One request to the API server as the test's admin user; the answer's status and parsed body. */
async function api<T = Record<string, unknown>>(method: string, urlPath: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; body: T }> {
  const opts: https.RequestOptions = {};
  await kubeConfigForTests().applyToHTTPSOptions(opts);
  const url = new URL(testEnv().apiServer + urlPath);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(url, { ...opts, method, headers: { ...(opts.headers ?? {}), Accept: 'application/json', ...(payload ? { 'Content-Type': contentType } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = {};
        try { parsed = text ? JSON.parse(text) : {}; } catch { parsed = { text }; }
        resolve({ status: res.statusCode ?? 0, body: parsed as T });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

async function row(customerId: string) {
  const r = await db().query('select deployment_status, instance_namespace, deletion_job_id from customers where customer_id = $1', [customerId]);
  return r.rows[0] as { deployment_status: string; instance_namespace: string; deletion_job_id: string | null } | undefined;
}

/** A PV (hostPath, no provisioner) and a PVC in the namespace bound to it by name. */
async function boundPvc(namespace: string, name: string, reclaimPolicy: 'Delete' | 'Retain'): Promise<string> {
  const pv = `custctl-vs-${randomKey('pv')}`;
  pvs.push(pv);
  await coreApi().createPersistentVolume({ body: {
    metadata: { name: pv },
    spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], persistentVolumeReclaimPolicy: reclaimPolicy, storageClassName: '', hostPath: { path: `/tmp/${pv}` } },
  } });
  await coreApi().createNamespacedPersistentVolumeClaim({ namespace, body: {
    metadata: { name },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, storageClassName: '', volumeName: pv },
  } });
  return pv;
}

/** A customer (the chart's PVC stays unbound) with two bound PVCs: data-a on a Delete PV, data-b on a Retain PV. */
async function customerWithVolumes(prefix: string): Promise<ProvisionedCustomer> {
  const c = await provisionCustomer(randomKey(prefix));
  await boundPvc(c.namespace, 'data-a', 'Delete');
  await boundPvc(c.namespace, 'data-b', 'Retain');
  return c;
}

/** What must still be there after a refusal: the namespace (same uid), the release, the row as it was. */
async function untouched(c: ProvisionedCustomer, uid: string): Promise<void> {
  const ns = await getNamespace(c.namespace);
  expect(ns?.metadata?.uid).toBe(uid);
  expect(ns?.metadata?.deletionTimestamp).toBeFalsy();
  const rel = await helm(['status', c.release, '-n', c.namespace], {});
  expect(rel.exitCode, rel.stderr).toBe(0);
  const pvcs = await coreApi().listNamespacedPersistentVolumeClaim({ namespace: c.namespace });
  expect(pvcs.items.map((p) => p.metadata?.name).sort()).toEqual(['customer-instance-data', 'data-a', 'data-b']);
  expect(await row(c.customerId)).toEqual({ deployment_status: 'deployed', instance_namespace: c.namespace, deletion_job_id: null });
}

interface Snap { metadata: { name: string; namespace: string; uid: string; labels?: Record<string, string> }; spec: { volumeSnapshotClassName?: string; source: { persistentVolumeClaimName?: string } }; status?: { readyToUse?: boolean; error?: unknown } }

async function snapshotsIn(namespace: string): Promise<Snap[]> {
  const r = await api<{ items?: Snap[] }>('GET', `${GROUP}/namespaces/${namespace}/volumesnapshots`);
  return r.body.items ?? [];
}

/**
 * The snapshot controller's part, played by the test: for a VolumeSnapshot in a namespace it was
 * told about, after `readyAfterMs`, a VolumeSnapshotContent (with the class's deletionPolicy and
 * driver) and then readyToUse on both; or status.error. It notes, at the moment it makes a snapshot
 * ready, whether the deletion had started (namespace terminating, release records gone).
 */
class TestSnapshotController {
  private readonly plans = new Map<string, { mode: 'ready' | 'error'; readyAfterMs: number }>();
  private readonly firstSeen = new Map<string, number>();
  readonly readied: Array<{ key: string; at: number; namespaceTerminating: boolean; releaseRecords: number; pvcs: number }> = [];
  private stopped = false;
  private loop: Promise<void> | undefined;
  errors: string[] = [];

  handle(namespace: string, mode: 'ready' | 'error', readyAfterMs = 0): void {
    this.plans.set(namespace, { mode, readyAfterMs });
  }

  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        try {
          await this.pass();
        } catch (e) {
          this.errors.push(String(e));
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  private async pass(): Promise<void> {
    const list = await api<{ items?: Snap[] }>('GET', `${GROUP}/volumesnapshots`);
    for (const vs of list.body.items ?? []) {
      const plan = this.plans.get(vs.metadata.namespace);
      if (!plan || vs.status?.readyToUse || vs.status?.error) continue;
      const key = `${vs.metadata.namespace}/${vs.metadata.name}`;
      const first = this.firstSeen.get(key) ?? Date.now();
      this.firstSeen.set(key, first);
      const statusPath = `${GROUP}/namespaces/${vs.metadata.namespace}/volumesnapshots/${vs.metadata.name}/status`;
      if (plan.mode === 'error') {
        await api('PATCH', statusPath, { status: { readyToUse: false, error: { message: 'injected by the test: the CSI driver could not snapshot the volume', time: new Date().toISOString() } } }, 'application/merge-patch+json');
        continue;
      }
      if (Date.now() - first < plan.readyAfterMs) continue;
      const cls = await api<{ driver: string; deletionPolicy: string }>('GET', `${GROUP}/volumesnapshotclasses/${vs.spec.volumeSnapshotClassName ?? ''}`);
      if (cls.status !== 200) {
        await api('PATCH', statusPath, { status: { error: { message: `class ${vs.spec.volumeSnapshotClassName ?? ''} not found` } } }, 'application/merge-patch+json');
        continue;
      }
      const content = `snapcontent-${vs.metadata.uid}`;
      const made = await api('POST', `${GROUP}/volumesnapshotcontents`, {
        apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshotContent', metadata: { name: content },
        spec: {
          deletionPolicy: cls.body.deletionPolicy, driver: cls.body.driver, volumeSnapshotClassName: vs.spec.volumeSnapshotClassName,
          source: { volumeHandle: `vol-${vs.spec.source.persistentVolumeClaimName ?? ''}` },
          volumeSnapshotRef: { apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshot', name: vs.metadata.name, namespace: vs.metadata.namespace, uid: vs.metadata.uid },
        },
      });
      if (made.status !== 201 && made.status !== 409) throw new Error(`create content: ${made.status} ${JSON.stringify(made.body)}`);
      await api('PATCH', `${GROUP}/volumesnapshotcontents/${content}/status`, { status: { readyToUse: true, snapshotHandle: `snap-${vs.metadata.uid}`, restoreSize: 1073741824 } }, 'application/merge-patch+json');
      // the moment of truth: has anything been deleted while custctl waited for this snapshot?
      const ns = await getNamespace(vs.metadata.namespace);
      const records = await coreApi().listNamespacedSecret({ namespace: vs.metadata.namespace, labelSelector: 'owner=helm' });
      const pvcs = await coreApi().listNamespacedPersistentVolumeClaim({ namespace: vs.metadata.namespace });
      this.readied.push({ key, at: Date.now(), namespaceTerminating: Boolean(ns?.metadata?.deletionTimestamp), releaseRecords: records.items.length, pvcs: pvcs.items.length });
      await api('PATCH', statusPath, { status: { readyToUse: true, boundVolumeSnapshotContentName: content, restoreSize: '1Gi', creationTime: new Date().toISOString() } }, 'application/merge-patch+json');
    }
  }
}


interface PlanJson { results: Array<{ plan: { volumeSnapshots: { class: string; deletionPolicy?: string; refused?: string } | null; pvcs: Array<{ name: string; coverage: string; coverageNote: string }> } }> }
interface DeleteJson { results: Array<{ jobId: string; state: string; exitCode: number; error: { message: string; details: string[] } | null; result: { volumeSnapshots?: Array<Record<string, string>>; backup?: { url: string } } | null }> }

beforeAll(async () => {
  const m = await custctl(['db', 'migrate'], { env });
  expect(m.exitCode, m.stderr).toBe(0);
});

afterAll(async () => {
  for (const pv of pvs) await coreApi().deletePersistentVolume({ name: pv }).catch(() => undefined);
});

describe('a cluster without snapshot.storage.k8s.io/v1', () => {
  it('refuses --snapshot-volumes and CUSTCTL_SNAPSHOT_CLASS before anything is deleted; --no-snapshot-volumes opts out', async () => {
    expect((await api('GET', GROUP)).status).toBe(404);
    const c = await customerWithVolumes('vn');
    const uid = (await getNamespace(c.namespace))?.metadata?.uid as string;

    // the plan says so, and says plainly which data is lost
    const plan = await custctl(['delete', c.customerId, '--dry-run', '--snapshot-volumes', 'csi-retain'], { env });
    expect(plan.exitCode, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/Snapshots\s+REFUSED .*does not serve snapshot\.storage\.k8s\.io\/v1/);
    expect(plan.stdout).toMatch(/PVC\s+data-a .*NOT covered: the data is lost when the namespace is deleted/);
    expect(plan.stdout).toMatch(/PVC\s+data-b .*not snapshotted; the volume stays \(reclaim policy Retain\)/);
    expect(plan.stdout).toMatch(/PVC\s+customer-instance-data .*no volume bound/);
    const planJson = JSON.parse((await custctl(['delete', c.customerId, '--dry-run', '--snapshot-volumes', 'csi-retain', '-o', 'json'], { env })).stdout) as PlanJson;
    expect(planJson.results[0]?.plan.volumeSnapshots?.refused).toMatch(/does not serve snapshot\.storage\.k8s\.io\/v1/);
    expect(Object.fromEntries((planJson.results[0]?.plan.pvcs ?? []).map((p) => [p.name, p.coverage]))).toEqual({ 'customer-instance-data': 'no-volume', 'data-a': 'not-covered', 'data-b': 'volume-retained' });

    const r = await custctl(['delete', c.customerId, '--yes', '--snapshot-volumes', 'csi-retain', '-o', 'json'], { env });
    expect(r.exitCode, r.stderr).toBe(1);
    const out = JSON.parse(r.stdout) as DeleteJson;
    expect(out.results[0]?.error?.message).toMatch(/does not serve snapshot\.storage\.k8s\.io\/v1: refusing, nothing was deleted/);
    await untouched(c, uid);

    // the site default is refused the same way ...
    const site = await custctl(['delete', c.customerId, '--yes'], { env: { ...env, CUSTCTL_SNAPSHOT_CLASS: 'csi-retain' } });
    expect(site.exitCode).toBe(1);
    expect(site.stderr).toContain('does not serve snapshot.storage.k8s.io/v1');
    await untouched(c, uid);
    // ... and --no-snapshot-volumes deletes without snapshots, on purpose
    const optOut = await custctl(['delete', c.customerId, '--yes', '--no-snapshot-volumes'], { env: { ...env, CUSTCTL_SNAPSHOT_CLASS: 'csi-retain' } });
    expect(optOut.exitCode, optOut.stderr).toBe(0);
    expect(await getNamespace(c.namespace)).toBeNull();
  }, 180_000);
});

describe('with the VolumeSnapshot CRDs and a snapshot controller played by the test', () => {
  const controller = new TestSnapshotController();
  const retain = `${randomKey('vr')}-retain`;
  const del = `${randomKey('vd')}-delete`;

  beforeAll(async () => {
    await kubectl(['apply', '-f', CRDS], { check: true });
    for (const n of ['volumesnapshotclasses', 'volumesnapshots', 'volumesnapshotcontents']) {
      await kubectl(['wait', '--for=condition=Established', `crd/${n}.snapshot.storage.k8s.io`, '--timeout=60s'], { check: true });
    }
    // discovery can lag the Established condition: wait until the group serves all three
    for (let i = 0; ; i++) {
      const g = await api<{ resources?: Array<{ name: string }> }>('GET', GROUP);
      if (g.status === 200 && ['volumesnapshotclasses', 'volumesnapshots', 'volumesnapshotcontents'].every((n) => g.body.resources?.some((r) => r.name === n))) break;
      if (i > 120) throw new Error(`discovery of ${GROUP} never served the three resources: ${g.status}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    for (const [name, deletionPolicy] of [[retain, 'Retain'], [del, 'Delete']] as const) {
      const r = await api('POST', `${GROUP}/volumesnapshotclasses`, { apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshotClass', metadata: { name }, driver: 'test.csi.custctl.io', deletionPolicy });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    }
    controller.start();
  }, 120_000);

  afterAll(async () => {
    await controller.stop();
    expect(controller.errors).toEqual([]);
    // other test files share the cluster: the CRDs (and with them every class, snapshot and content) go
    await kubectl(['delete', '-f', CRDS, '--ignore-not-found', '--timeout=120s'], { check: true });
  }, 180_000);

  it('refuses a class whose deletionPolicy is Delete, and a class that does not exist: nothing created, nothing deleted', async () => {
    const c = await customerWithVolumes('vp');
    const uid = (await getNamespace(c.namespace))?.metadata?.uid as string;
    controller.handle(c.namespace, 'ready');

    const plan = await custctl(['delete', c.customerId, '--dry-run', '--snapshot-volumes', del], { env });
    expect(plan.stdout).toMatch(new RegExp(`Snapshots\\s+REFUSED VolumeSnapshotClass ${del} has deletionPolicy Delete`));
    const r = await custctl(['delete', c.customerId, '--yes', '--snapshot-volumes', del], { env });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`VolumeSnapshotClass ${del} has deletionPolicy Delete: its snapshot contents would be deleted with the namespace's VolumeSnapshots: refusing, nothing was deleted`);
    expect(r.stderr).toContain('The row is unchanged');
    expect(await snapshotsIn(c.namespace)).toEqual([]);
    await untouched(c, uid);

    const missing = await custctl(['delete', c.customerId, '--yes', '--snapshot-volumes', 'no-such-class'], { env });
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain('VolumeSnapshotClass no-such-class not found');
    expect(await snapshotsIn(c.namespace)).toEqual([]);
    await untouched(c, uid);

    // the confirmation prompt is not even reached: the plan refuses first (no TTY would be exit 2)
    const asked = await custctl(['delete', c.customerId, '--snapshot-volumes', del], { env });
    expect(asked.exitCode).toBe(1);
    expect(asked.stderr).toContain('has deletionPolicy Delete');
    await untouched(c, uid);
    await custctl(['delete', c.customerId, '--yes', '--no-snapshot-volumes'], { env });
  }, 180_000);

  it('waits until every snapshot is ready before deleting, records the contents in the manifest, and the contents outlive the namespace', async () => {
    const c = await customerWithVolumes('vh');
    controller.handle(c.namespace, 'ready', 3000);
    const dir = mkdtempSync(path.join(tmpdir(), 'custctl-vs-backups-'));

    const plan = await custctl(['delete', c.customerId, '--dry-run', '--snapshot-volumes', retain, '--backup', `file://${dir}`], { env });
    expect(plan.exitCode, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(new RegExp(`Snapshots\\s+take and wait for a VolumeSnapshot of every bound PVC first \\(class ${retain}, Retain, driver test.csi.custctl.io\\)`));
    expect(plan.stdout).toMatch(new RegExp(`PVC\\s+data-a .*covered by snapshot \\(class ${retain}, Retain\\)`));
    expect(plan.stdout).toMatch(new RegExp(`PVC\\s+data-b .*covered by snapshot \\(class ${retain}, Retain\\)`));
    expect(plan.stdout).toContain('not in the backup the data in PVC customer-instance-data');
    expect(plan.stdout).not.toContain('not in the backup the data in PVC data-a');

    const started = Date.now();
    const r = await custctl(['delete', c.customerId, '--yes', '--snapshot-volumes', retain, '--backup', `file://${dir}`, '-o', 'json'], { env });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Waiting for volume snapshots: 0\/2 ready/);
    const out = (JSON.parse(r.stdout) as DeleteJson).results[0];
    const snaps = out?.result?.volumeSnapshots ?? [];
    expect(snaps.map((s) => s.pvc)).toEqual(['data-a', 'data-b']);
    for (const s of snaps) {
      expect(s).toMatchObject({ snapshot: `custctl-${out?.jobId}-${s.pvc}`, class: retain, deletionPolicy: 'Retain', restoreSize: '1Gi', driver: 'test.csi.custctl.io' });
      expect(s.content).toMatch(/^snapcontent-[0-9a-f-]{36}$/);
      expect(s.snapshotHandle).toBe(s.content?.replace('snapcontent-', 'snap-'));
    }

    // ordering: when the controller made each snapshot ready (≥ 3 s after it appeared), nothing had been deleted yet
    const mine = controller.readied.filter((x) => x.key.startsWith(`${c.namespace}/`));
    expect(mine).toHaveLength(2);
    for (const x of mine) {
      expect(x).toMatchObject({ namespaceTerminating: false, pvcs: 3 });
      expect(x.releaseRecords).toBeGreaterThan(0);
      expect(x.at - started).toBeGreaterThanOrEqual(3000);
    }
    const job = JSON.parse((await custctl(['status', 'job', out?.jobId ?? '', '-o', 'json'], { env })).stdout) as { attempts: Array<{ log: string[] }> };
    const log = job.attempts[0]?.log ?? [];
    const lastReady = log.map((l, i) => (l.includes('Volume snapshot ready') ? i : -1)).filter((i) => i >= 0);
    expect(lastReady).toHaveLength(2);
    const firstDeletion = log.findIndex((l) => l.includes('Uninstalling Helm release') || l.includes('Deleting Kubernetes namespace'));
    const backupAt = log.findIndex((l) => l.includes('Backup written and verified'));
    expect(Math.max(...lastReady)).toBeLessThan(backupAt);
    expect(backupAt).toBeLessThan(firstDeletion);

    // the manifest records the contents; the VolumeSnapshot objects themselves are not in the archive
    const archive = readdirSync(dir).filter((n) => n.endsWith('.tar.gz'));
    expect(archive).toHaveLength(1);
    const entries = await tarEntries(path.join(dir, archive[0] as string));
    const manifest = JSON.parse((entries.get('manifest.json') as Buffer).toString()) as { volumeSnapshots?: unknown[] };
    expect(manifest.volumeSnapshots).toEqual(snaps);
    expect([...entries.keys()].some((n) => n.includes('VolumeSnapshot'))).toBe(false);

    // the namespace (and its VolumeSnapshots) are gone; the contents remain, Retain
    expect(await getNamespace(c.namespace)).toBeNull();
    expect((await row(c.customerId))?.deployment_status).toBe('pending');
    for (const s of snaps) {
      const content = await api<{ spec: { deletionPolicy: string; volumeSnapshotRef: { namespace: string } }; status: { snapshotHandle: string } }>('GET', `${GROUP}/volumesnapshotcontents/${s.content ?? ''}`);
      expect(content.status).toBe(200);
      expect(content.body.spec).toMatchObject({ deletionPolicy: 'Retain', volumeSnapshotRef: { namespace: c.namespace } });
      expect(content.body.status.snapshotHandle).toBe(s.snapshotHandle);
    }
  }, 180_000);

  it('a snapshot with status.error fails the attempt before anything is deleted', async () => {
    const c = await customerWithVolumes('ve');
    const uid = (await getNamespace(c.namespace))?.metadata?.uid as string;
    controller.handle(c.namespace, 'error');
    const r = await custctl(['delete', c.customerId, '--yes', '--snapshot-volumes', retain, '-o', 'json'], { env });
    expect(r.exitCode).toBe(1);
    const out = (JSON.parse(r.stdout) as DeleteJson).results[0];
    expect(out?.state).toBe('failed');
    expect(out?.error?.message).toMatch(/volume snapshot of PVC data-a(, data-b)? failed: .*injected by the test: the CSI driver could not snapshot the volume, nothing was deleted/);
    // the failed snapshots stay for a look; nothing else changed
    const left = await snapshotsIn(c.namespace);
    expect(left.map((v) => v.spec.source.persistentVolumeClaimName).sort()).toEqual(['data-a', 'data-b']);
    expect(left.every((v) => v.metadata.labels?.['custctl.io/customer-id'] === c.customerId && v.metadata.labels?.['custctl.io/deletion-job'] === out?.jobId)).toBe(true);
    await untouched(c, uid);
    await custctl(['delete', c.customerId, '--yes', '--no-snapshot-volumes'], { env });
  }, 180_000);
});
