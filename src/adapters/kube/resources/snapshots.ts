/** snapshot.storage.k8s.io/v1 (the external-snapshotter CRDs): three GETs, a list and a create. */
import { ConflictError } from '../../../errors.js';
import { SNAPSHOT_API } from '../../../domain/volume-snapshots.js';
import type { VolumeSnapshotApi, VolumeSnapshotContentInfo, VolumeSnapshotInfo } from '../../kube.js';
import type { Client } from '../client.js';
import type { Discovery } from '../discovery.js';
import { isNotFound, translateError } from '../errors.js';
import { listAll } from '../paging.js';

const SNAP = `/apis/${SNAPSHOT_API}`;
const enc = encodeURIComponent;

interface RawSnapshot {
  metadata?: { name?: string; labels?: Record<string, string> };
  spec?: { source?: { persistentVolumeClaimName?: string }; volumeSnapshotClassName?: string };
  status?: { readyToUse?: boolean; boundVolumeSnapshotContentName?: string; restoreSize?: string | number; error?: { message?: string } };
}
interface RawContent {
  metadata?: { name?: string };
  spec?: { deletionPolicy?: string; driver?: string; volumeSnapshotRef?: { namespace?: string; name?: string } };
  status?: { snapshotHandle?: string; restoreSize?: number; readyToUse?: boolean; error?: { message?: string } };
}

function snapshotInfo(v: RawSnapshot): VolumeSnapshotInfo {
  const info: VolumeSnapshotInfo = {
    name: v.metadata?.name ?? '', pvc: v.spec?.source?.persistentVolumeClaimName ?? '', labels: v.metadata?.labels ?? {},
    readyToUse: v.status?.readyToUse === true,
  };
  if (v.spec?.volumeSnapshotClassName) info.className = v.spec.volumeSnapshotClassName;
  if (v.status?.boundVolumeSnapshotContentName) info.boundContentName = v.status.boundVolumeSnapshotContentName;
  if (v.status?.restoreSize !== undefined && v.status.restoreSize !== null) info.restoreSize = String(v.status.restoreSize);
  if (v.status?.error) info.error = v.status.error.message ?? 'error (no message)';
  return info;
}

function contentInfo(c: RawContent, name: string): VolumeSnapshotContentInfo {
  const info: VolumeSnapshotContentInfo = {
    name: c.metadata?.name ?? name, deletionPolicy: c.spec?.deletionPolicy ?? '', driver: c.spec?.driver ?? '',
    snapshotRef: { ...(c.spec?.volumeSnapshotRef?.namespace ? { namespace: c.spec.volumeSnapshotRef.namespace } : {}), ...(c.spec?.volumeSnapshotRef?.name ? { name: c.spec.volumeSnapshotRef.name } : {}) },
    readyToUse: c.status?.readyToUse === true,
  };
  if (c.status?.snapshotHandle) info.snapshotHandle = c.status.snapshotHandle;
  if (typeof c.status?.restoreSize === 'number') info.restoreSizeBytes = c.status.restoreSize;
  if (c.status?.error) info.error = c.status.error.message ?? 'error (no message)';
  return info;
}

export function volumeSnapshotApi(c: Client, d: Discovery): VolumeSnapshotApi {
  return {
    async served(signal) {
      try {
        const rs = await d.discover(SNAPSHOT_API, signal);
        return ['volumesnapshots', 'volumesnapshotcontents', 'volumesnapshotclasses'].every((n) => rs.some((r) => r.name === n));
      } catch (e) {
        if (isNotFound(e)) return false;
        throw e;
      }
    },
    async getClass(name, signal) {
      const k = await c.callOr({ verb: 'get', what: `volumesnapshotclass ${name}` }, signal, null, (s) =>
        c.send<{ metadata?: { name?: string }; driver?: string; deletionPolicy?: string }>('GET', `${SNAP}/volumesnapshotclasses/${enc(name)}`, {}, { signal: s }));
      return k ? { name: k.metadata?.name ?? name, driver: k.driver ?? '', deletionPolicy: k.deletionPolicy ?? '' } : null;
    },
    async list(namespace, labelSelector, signal) {
      const items = await listAll<RawSnapshot>(c, { verb: 'list', what: `volumesnapshots in namespace ${namespace}` }, signal,
        `${SNAP}/namespaces/${enc(namespace)}/volumesnapshots`, { query: { labelSelector }, notFound: 'empty' });
      return items.map(snapshotInfo);
    },
    async create(namespace, r, signal) {
      const body = {
        apiVersion: SNAPSHOT_API, kind: 'VolumeSnapshot',
        metadata: { name: r.name, namespace, labels: r.labels },
        spec: { volumeSnapshotClassName: r.className, source: { persistentVolumeClaimName: r.pvc } },
      };
      const op = { verb: 'create', what: `volumesnapshot ${namespace}/${r.name}` };
      try {
        // a retry whose first answer was lost finds it there: 409, counted as exists (the caller re-reads it)
        await c.call(op, signal, (s) => c.send('POST', `${SNAP}/namespaces/${enc(namespace)}/volumesnapshots`, {}, { body, signal: s }));
        return 'created';
      } catch (e) {
        if (e instanceof ConflictError) return 'exists';
        throw isNotFound(e) ? translateError(e, op, c.errCtx) : e;
      }
    },
    async getContent(name, signal) {
      const k = await c.callOr({ verb: 'get', what: `volumesnapshotcontent ${name}` }, signal, null, (s) =>
        c.send<RawContent>('GET', `${SNAP}/volumesnapshotcontents/${enc(name)}`, {}, { signal: s }));
      return k ? contentInfo(k, name) : null;
    },
  };
}
