/** PersistentVolumeClaims of a namespace, with the reclaim policy of the PersistentVolumes they are bound to. */
import type { PvcInfo } from '../../kube.js';
import type { Client } from '../client.js';
import { listAll } from '../paging.js';

interface RawPvc {
  metadata?: { name?: string };
  spec?: { volumeName?: string; resources?: { requests?: { storage?: string } } };
  status?: { phase?: string; capacity?: { storage?: string } };
}
interface RawPv { metadata?: { name?: string }; spec?: { persistentVolumeReclaimPolicy?: string } }

export async function listPvcs(c: Client, namespace: string, signal?: AbortSignal): Promise<PvcInfo[]> {
  const pvcs = await listAll<RawPvc>(c, { verb: 'list', what: `persistentvolumeclaims in namespace ${namespace}` }, signal, `/api/v1/namespaces/${encodeURIComponent(namespace)}/persistentvolumeclaims`);
  const policies = new Map<string, string>();
  if (pvcs.some((p) => p.spec?.volumeName)) {
    const pvs = await listAll<RawPv>(c, { verb: 'list', what: 'persistentvolumes' }, signal, '/api/v1/persistentvolumes');
    for (const pv of pvs) {
      if (pv.metadata?.name && pv.spec?.persistentVolumeReclaimPolicy) policies.set(pv.metadata.name, pv.spec.persistentVolumeReclaimPolicy);
    }
  }
  return pvcs.map((p) => {
    const info: PvcInfo = { name: p.metadata?.name ?? '', phase: p.status?.phase ?? 'Pending' };
    const storage = p.status?.capacity?.storage ?? p.spec?.resources?.requests?.storage;
    if (storage !== undefined) info.storage = String(storage);
    if (p.spec?.volumeName) {
      info.volumeName = p.spec.volumeName;
      const policy = policies.get(p.spec.volumeName);
      if (policy) info.reclaimPolicy = policy;
    }
    return info;
  });
}
