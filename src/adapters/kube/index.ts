/**
 * The cluster over plain HTTPS (node:https), loaded on demand: `openKube` reads the kubeconfig
 * and returns a Kube (src/adapters/kube.ts) for its context. One client per API server; every
 * request carries the caller's User-Agent and AbortSignal, shares one pool of kept-alive
 * connections, is tried again on transient faults, and fails with the typed errors of
 * src/errors.ts.
 *
 *   kubeconfig.ts   the files and the context (kubectl's rules); the context name alone, cheaply
 *   credentials.ts  TLS options and credentials of a request (exec plugins: exec-credentials.ts;
 *                   client-node only for auth providers, impersonation and proxies)
 *   transport.ts    the connection pool; send, streamed list, watch
 *   client.ts       retries, timeouts and error translation (errors.ts) around the wire
 *   paging.ts       the one pagination helper every list uses (list-stream.ts: a list read as it arrives)
 *   discovery.ts    API groups, resources, the scope of kinds
 *   resources/      one file per resource family
 */
import type { Kube } from '../kube.js';
import { openClient } from './client.js';
import { makeDiscovery } from './discovery.js';
import { loadKubeconfig } from './kubeconfig.js';
import type { OpenKubeOptions } from './options.js';
import { accessReview, serverVersion } from './resources/access.js';
import { namespaceCounter } from './resources/counting.js';
import { listHelmReleaseRecords } from './resources/helm-records.js';
import { namespaceApi } from './resources/namespaces.js';
import { objectApi } from './resources/objects.js';
import { clusterRbacApi } from './resources/rbac.js';
import { volumeSnapshotApi } from './resources/snapshots.js';
import { listPvcs } from './resources/volumes.js';
import { workloadApi } from './resources/workloads.js';

export type { OpenKubeOptions } from './options.js';
export { loadKubeconfig, serviceAccountOfToken, type LoadedKubeconfig } from './kubeconfig.js';
export { plainCredentials } from './credentials.js';
export {
  ApiStatusError, permissionDeniedMessage, requestVerdict, shortReason, statusOf, translateError, type ErrorContext,
} from './errors.js';
export { groupOf, wellKnownScope } from './discovery.js';

export async function openKube(opts: OpenKubeOptions): Promise<Kube> {
  const c = openClient(loadKubeconfig(opts), opts);
  const discovery = makeDiscovery(c);
  const { close: closeRbac, ...rbac } = clusterRbacApi(c);
  return {
    target: c.target,
    pluginToken: c.pluginToken,
    answered: c.answered,
    ...namespaceApi(c),
    ...rbac,
    close: () => { closeRbac(); c.close(); },
    listPvcs: (namespace, signal) => listPvcs(c, namespace, signal),
    countNamespaceObjects: namespaceCounter(c, discovery),
    isClusterScoped: discovery.isClusterScoped,
    listHelmReleaseRecords: (namespace, resource, signal) => listHelmReleaseRecords(c, namespace, resource, signal),
    ...workloadApi(c),
    volumeSnapshots: volumeSnapshotApi(c, discovery),
    ...objectApi(c, discovery),
    serverVersion: (signal) => serverVersion(c, signal),
    accessReview: (checks, signal) => accessReview(c, checks, signal),
  };
}
