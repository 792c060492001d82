/** Helm's release records in a namespace: Secrets (or ConfigMaps) labelled owner=helm, data included. */
import { RELEASE_SELECTOR, type RecordResource, type ReleaseSecret } from '../../helm-storage.js';
import type { Client } from '../client.js';
import { listAll } from '../paging.js';

export function listHelmReleaseRecords(c: Client, namespace: string, resource: RecordResource, signal?: AbortSignal): Promise<ReleaseSecret[]> {
  return listAll<ReleaseSecret>(c, { verb: 'list', what: `Helm release records (${resource}) in namespace ${namespace}` }, signal,
    `/api/v1/namespaces/${encodeURIComponent(namespace)}/${resource}`, { query: { labelSelector: RELEASE_SELECTOR } });
}
