/**
 * Volume snapshots before a deletion (`--snapshot-volumes CLASS`, CUSTCTL_SNAPSHOT_CLASS): one
 * VolumeSnapshot per bound PVC of the namespace, waited for until each is readyToUse, before
 * anything is deleted. The VolumeSnapshots live in the namespace and go with it; their
 * VolumeSnapshotContents (cluster-scoped) stay because the class's deletionPolicy is Retain, which
 * is checked before anything is created. Every failure is a BackupError: nothing has been deleted
 * and the row is handed back unchanged.
 */
import type { Kube, PvcInfo, VolumeSnapshotApi, VolumeSnapshotClassInfo, VolumeSnapshotInfo } from '../adapters/kube.js';
import {
  classProblem, MANAGED_BY_LABEL, SNAPSHOT_API, SNAPSHOT_CUSTOMER_LABEL, SNAPSHOT_JOB_LABEL, snapshotName,
  type VolumeSnapshotRecord,
} from '../domain/volume-snapshots.js';
import { formatDuration } from '../domain/duration.js';
import type { KubeObject } from '../domain/backup.js';
import { BackupError, errorMessage } from '../errors.js';
import type { StepLog } from './types.js';

const NO_SNAPSHOTS_HINT = 'pass --no-snapshot-volumes to delete without volume snapshots (the data of PVCs whose volumes have reclaim policy Delete is then lost)';

/** How long between two looks at the snapshots, and how often a progress line is written while waiting. */
export const SNAPSHOT_POLL_MS = 1_000;
const PROGRESS_EVERY_MS = 15_000;

function apiOf(kube: Kube): VolumeSnapshotApi {
  if (!kube.volumeSnapshots) throw new BackupError('this cluster client cannot take volume snapshots, nothing was deleted', ['The row is unchanged.']);
  return kube.volumeSnapshots;
}

/**
 * The class, checked: the server serves snapshot.storage.k8s.io/v1, the class exists, its
 * deletionPolicy is Retain. Refuses (BackupError) otherwise, before anything is created.
 */
export async function checkSnapshotClass(kube: Kube, className: string, signal?: AbortSignal): Promise<VolumeSnapshotClassInfo> {
  const api = apiOf(kube);
  const server = kube.target.server;
  if (!(await api.served(signal))) {
    throw new BackupError(`volume snapshots (class ${className}) were asked for, but the API server ${server} does not serve ${SNAPSHOT_API}: refusing, nothing was deleted`, [
      'The row is unchanged. The cluster needs the VolumeSnapshot CRDs, the snapshot controller and a CSI driver that takes snapshots;',
      `or ${NO_SNAPSHOTS_HINT}.`,
    ]);
  }
  const cls = await api.getClass(className, signal);
  if (!cls) {
    throw new BackupError(`VolumeSnapshotClass ${className} not found on ${server}: refusing, nothing was deleted`, [
      "The row is unchanged. List the classes with 'kubectl get volumesnapshotclass' and pass one whose deletionPolicy is Retain,",
      `or ${NO_SNAPSHOTS_HINT}.`,
    ]);
  }
  const problem = classProblem(cls.name, cls.deletionPolicy);
  if (problem) {
    throw new BackupError(`${problem}: refusing, nothing was deleted`, [
      'The row is unchanged. The snapshot content must outlive the namespace: use a VolumeSnapshotClass with deletionPolicy: Retain,',
      `or ${NO_SNAPSHOTS_HINT}.`,
    ]);
  }
  return cls;
}

export interface TakeSnapshotsInput {
  kube: Kube;
  namespace: string;
  customerId: string;
  jobId: string;
  className: string;
  /** the namespace's PVCs; those without a bound volume hold no data and are skipped */
  pvcs: readonly PvcInfo[];
  timeoutMs: number;
  log: StepLog;
  signal: AbortSignal;
  now?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export function snapshotLabels(customerId: string, jobId: string): Record<string, string> {
  return { [MANAGED_BY_LABEL]: 'custctl', [SNAPSHOT_CUSTOMER_LABEL]: customerId, [SNAPSHOT_JOB_LABEL]: jobId };
}

function sleepFor(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(t); reject(signal.reason); };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Creates (or, on a retry of the same job, finds) one VolumeSnapshot per bound PVC, waits until
 * every one is readyToUse, and returns what each VolumeSnapshotContent holds. A snapshot with
 * status.error, a content that is not Retain or not bound back to its snapshot, and the timeout
 * fail with a BackupError.
 */
export async function takeVolumeSnapshots(i: TakeSnapshotsInput): Promise<VolumeSnapshotRecord[]> {
  const api = apiOf(i.kube);
  const now = i.now ?? Date.now;
  const sleep = i.sleep ?? sleepFor;
  const selector = `${SNAPSHOT_JOB_LABEL}=${i.jobId}`;
  const fail = (message: string, details: string[] = []) => new BackupError(`${message}, nothing was deleted`, [
    ...details,
    `The row is unchanged; the VolumeSnapshots stay in ${i.namespace} (label ${selector}) for a look with 'kubectl get volumesnapshot -n ${i.namespace} -l ${selector}'.`,
  ]);
  const cls = await checkSnapshotClass(i.kube, i.className, i.signal);

  const existing = new Map((await api.list(i.namespace, selector, i.signal)).map((v) => [v.name, v]));
  const wanted = new Map<string, { pvc: string; volume?: string }>();
  for (const p of i.pvcs) {
    if (!p.volumeName) continue;
    wanted.set(snapshotName(i.jobId, p.name), { pvc: p.name, volume: p.volumeName });
  }
  // what an earlier attempt of this job took stays part of the record, even if its PVC is gone now
  for (const v of existing.values()) if (!wanted.has(v.name)) wanted.set(v.name, { pvc: v.pvc });
  const skipped = i.pvcs.filter((p) => !p.volumeName).map((p) => p.name);
  if (skipped.length) i.log('info', 'PVCs without a bound volume hold no data: no snapshot', { pvcs: skipped.join(', ') });
  if (wanted.size === 0) {
    i.log('info', 'No bound PVCs: no volume snapshot to take', { namespace: i.namespace, class: cls.name });
    return [];
  }

  let created = 0;
  for (const [name, w] of wanted) {
    if (existing.has(name)) continue;
    try {
      if ((await api.create(i.namespace, { name, pvc: w.pvc, className: cls.name, labels: snapshotLabels(i.customerId, i.jobId) }, i.signal)) === 'created') created++;
    } catch (e) {
      if (i.signal.aborted) throw e;
      throw fail(`cannot create VolumeSnapshot ${i.namespace}/${name} of PVC ${w.pvc}: ${errorMessage(e)}`);
    }
  }
  const reused = wanted.size - created;
  i.log('info', `Volume snapshots: ${created} created${reused ? `, ${reused} from an earlier attempt of this job` : ''}; waiting until they are ready`, { class: cls.name, namespace: i.namespace, timeout: formatDuration(i.timeoutMs) });

  const started = now();
  const deadline = started + i.timeoutMs;
  let lastReady = -1;
  let lastLine = started;
  let ready: VolumeSnapshotInfo[] = [];
  for (;;) {
    i.signal.throwIfAborted();
    const seen = new Map((await api.list(i.namespace, selector, i.signal)).map((v) => [v.name, v]));
    const failed = [...wanted.keys()].map((n) => seen.get(n)).filter((v): v is VolumeSnapshotInfo => Boolean(v?.error));
    if (failed.length) {
      throw fail(`volume snapshot of PVC ${failed.map((v) => v.pvc).join(', ')} failed: ${failed.map((v) => `${v.name}: ${v.error}`).join('; ')}`);
    }
    const missing = [...wanted.keys()].filter((n) => !seen.has(n));
    if (missing.length) throw fail(`VolumeSnapshot ${missing.join(', ')} disappeared from ${i.namespace} before it was ready`);
    ready = [...wanted.keys()].map((n) => seen.get(n) as VolumeSnapshotInfo).filter((v) => v.readyToUse && v.boundContentName);
    const t = now();
    if (ready.length === wanted.size) break;
    if (ready.length !== lastReady || t - lastLine >= PROGRESS_EVERY_MS) {
      i.log('info', `Waiting for volume snapshots: ${ready.length}/${wanted.size} ready`, { elapsed: formatDuration(Math.max(0, t - started)) });
      lastReady = ready.length;
      lastLine = t;
    }
    if (t >= deadline) {
      const waiting = [...wanted.keys()].filter((n) => !ready.some((v) => v.name === n));
      throw fail(`volume snapshots not ready within ${formatDuration(i.timeoutMs)} (${ready.length}/${wanted.size} ready; waiting for ${waiting.join(', ')})`, [
        'Check the snapshot controller and the CSI driver (kubectl describe volumesnapshot), or give it longer with --snapshot-timeout.',
      ]);
    }
    await sleep(Math.min(SNAPSHOT_POLL_MS, Math.max(0, deadline - t)), i.signal);
  }

  const records: VolumeSnapshotRecord[] = [];
  for (const v of ready) {
    const contentName = v.boundContentName as string;
    const c = await api.getContent(contentName, i.signal);
    if (!c) throw fail(`VolumeSnapshot ${i.namespace}/${v.name} names VolumeSnapshotContent ${contentName}, which does not exist`);
    if (c.snapshotRef.name !== v.name || c.snapshotRef.namespace !== i.namespace) {
      throw fail(`VolumeSnapshotContent ${c.name} is bound to ${c.snapshotRef.namespace ?? '?'}/${c.snapshotRef.name ?? '?'}, not to ${i.namespace}/${v.name}`);
    }
    if (c.deletionPolicy !== 'Retain') {
      throw fail(`VolumeSnapshotContent ${c.name} has deletionPolicy ${c.deletionPolicy || '(none)'}: it would go with the namespace`, [
        `Its class ${cls.name} says Retain; patch the content to deletionPolicy: Retain or find out what changed it.`,
      ]);
    }
    const w = wanted.get(v.name);
    const r: VolumeSnapshotRecord = { pvc: v.pvc || (w?.pvc ?? ''), snapshot: v.name, class: v.className ?? cls.name, content: c.name, deletionPolicy: c.deletionPolicy };
    if (w?.volume) r.volume = w.volume;
    if (c.snapshotHandle) r.snapshotHandle = c.snapshotHandle;
    const size = v.restoreSize ?? (c.restoreSizeBytes !== undefined ? String(c.restoreSizeBytes) : undefined);
    if (size !== undefined) r.restoreSize = size;
    if (c.driver) r.driver = c.driver;
    records.push(r);
    i.log('ok', 'Volume snapshot ready (its content outlives the namespace)', { pvc: r.pvc, snapshot: r.snapshot, content: r.content, handle: r.snapshotHandle, restoreSize: r.restoreSize });
  }
  return records.sort((a, b) => a.pvc.localeCompare(b.pvc));
}

/**
 * A later attempt of a job whose deletion is under way (Helm's progress recorded): the snapshots
 * its first attempt took, read again for the result while the namespace still holds them. Creates
 * nothing and never fails the attempt (the deletion has started): a failure is a warning.
 */
export async function rereadVolumeSnapshots(kube: Kube, namespace: string, jobId: string, log: StepLog, signal: AbortSignal): Promise<VolumeSnapshotRecord[]> {
  try {
    const api = apiOf(kube);
    const out: VolumeSnapshotRecord[] = [];
    for (const v of await api.list(namespace, `${SNAPSHOT_JOB_LABEL}=${jobId}`, signal)) {
      const c = v.boundContentName ? await api.getContent(v.boundContentName, signal) : null;
      if (!c || !v.readyToUse) continue;
      out.push({
        pvc: v.pvc, snapshot: v.name, class: v.className ?? '', content: c.name, deletionPolicy: c.deletionPolicy,
        ...(c.snapshotHandle ? { snapshotHandle: c.snapshotHandle } : {}),
        ...(v.restoreSize ? { restoreSize: v.restoreSize } : {}),
        ...(c.driver ? { driver: c.driver } : {}),
      });
    }
    return out.sort((a, b) => a.pvc.localeCompare(b.pvc));
  } catch (e) {
    if (signal.aborted) throw e;
    log('warn', `Could not re-read the volume snapshots of an earlier attempt: ${errorMessage(e)}`, { namespace });
    return [];
  }
}

/** Whether an exported object is a VolumeSnapshot that custctl took before a deletion (left out of backups: the manifest records it instead). */
export function isDeletionSnapshot(o: KubeObject): boolean {
  return o.kind === 'VolumeSnapshot' && o.apiVersion.startsWith('snapshot.storage.k8s.io/') && o.metadata.labels?.[SNAPSHOT_JOB_LABEL] !== undefined;
}

/**
 * The plan's view of `--snapshot-volumes CLASS`: the class as the cluster has it, or why the
 * deletion will be refused (the same checks as the attempt's, read-only).
 */
export async function snapshotPlan(kube: Kube, className: string, signal?: AbortSignal): Promise<{ class: string; deletionPolicy?: string; driver?: string; refused?: string }> {
  try {
    const cls = await checkSnapshotClass(kube, className, signal);
    return { class: cls.name, deletionPolicy: cls.deletionPolicy, ...(cls.driver ? { driver: cls.driver } : {}) };
  } catch (e) {
    if (!(e instanceof BackupError)) throw e;
    return { class: className, refused: e.message.replace(/: refusing, nothing was deleted$/, '') };
  }
}
