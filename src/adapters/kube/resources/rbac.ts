/**
 * Cluster RBAC (ClusterRoles and ClusterRoleBindings): read from the API server's watch cache in
 * one streamed request per kind, slimmed to what the ownership rules read, shared by every
 * deletion of the process and kept current by watches once followed (rbac-cache.ts); deleted one
 * by one.
 */
import type { RbacKind, RbacObject } from '../../../domain/rbac-owner.js';
import { slimRbac } from '../../../domain/rbac-index.js';
import type { Kube } from '../../kube.js';
import type { Client } from '../client.js';
import { isNotFound, translateError } from '../errors.js';
import { makeRbacCache, type RbacListing, type RbacWatchEvent } from '../rbac-cache.js';

/** Longest RBAC watch; it is resumed from its last resourceVersion when the server ends it. */
const RBAC_WATCH_SECONDS = 300;
const RBAC_API = '/apis/rbac.authorization.k8s.io/v1';
const RBAC_PATHS: Record<RbacKind, string> = { ClusterRole: `${RBAC_API}/clusterroles`, ClusterRoleBinding: `${RBAC_API}/clusterrolebindings` };
// ClusterRoles as metadata only: their rules are never read (a binding's roleRef is not metadata)
const RBAC_ACCEPT: Record<RbacKind, string> = { ClusterRole: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json', ClusterRoleBinding: 'application/json' };
const WATCH_ACCEPT: Record<RbacKind, string> = { ClusterRole: 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json', ClusterRoleBinding: 'application/json' };

type RawRbac = { metadata?: { name?: string; annotations?: Record<string, string>; resourceVersion?: string }; roleRef?: { kind: string; name: string } };
const slim = (kind: RbacKind, o: RawRbac) => slimRbac(kind, o.metadata?.name ?? '', o.metadata?.annotations, kind === 'ClusterRoleBinding' ? o.roleRef : undefined);

export type ClusterRbacApi = Pick<Kube, 'listClusterRbac' | 'deleteClusterRbac'> & Required<Pick<Kube, 'clusterRbac' | 'followClusterRbac'>> & {
  /** Stops the watches. */
  close(): void;
};

export function clusterRbacApi(c: Client): ClusterRbacApi {
  const rbacCache = makeRbacCache({
    list: (kind, signal) => listRbacKind(c, kind, signal),
    watch: (kind, resourceVersion, signal, onEvent) => watchRbacKind(c, kind, resourceVersion, signal, onEvent),
  });

  async function deleteClusterRbac(kind: RbacKind, name: string, signal?: AbortSignal): Promise<'deleted' | 'not-found'> {
    const what = `${kind === 'ClusterRole' ? 'clusterrole' : 'clusterrolebinding'} ${name}`;
    const seen = { tries: 0 };
    const r = await c.callOr({ verb: 'delete', what }, signal, 'not-found' as const,
      (s) => c.send('DELETE', `${RBAC_API}/${kind === 'ClusterRole' ? 'clusterroles' : 'clusterrolebindings'}/${encodeURIComponent(name)}`, {}, { signal: s }), seen);
    rbacCache.forget(kind, name); // deleted, or gone: a later read of this process does not show it
    // a 404 on a retry: most likely the try whose answer was lost deleted it
    return r === 'not-found' && seen.tries <= 1 ? r : 'deleted';
  }

  return {
    /** Every ClusterRole and ClusterRoleBinding, slimmed (one shared listing; see rbac-cache.ts). */
    listClusterRbac: async (signal?: AbortSignal): Promise<RbacObject[]> => (await rbacCache.index(signal)).all(),
    clusterRbac: (signal) => rbacCache.index(signal),
    followClusterRbac: () => rbacCache.follow(),
    deleteClusterRbac,
    close: () => rbacCache.close(),
  };
}

/**
 * One kind, from the API server's watch cache (resourceVersion=0: no etcd read, which is what
 * made 100,000 objects take 20 s), streamed and slimmed item by item: the raw list (tens of MB
 * at that size) never exists whole. The cache may be a few milliseconds behind etcd, as a
 * watch is; the listing's resourceVersion is where the watch resumes.
 */
async function listRbacKind(c: Client, kind: RbacKind, signal?: AbortSignal): Promise<RbacListing> {
  const objects: RbacObject[] = [];
  const op = { verb: 'list', what: `${kind === 'ClusterRole' ? 'clusterroles' : 'clusterrolebindings'}.rbac.authorization.k8s.io` };
  const fields = await c.call(op, signal, (s) => {
    objects.length = 0; // a retried request starts over
    return c.sendStreamed(RBAC_PATHS[kind], { resourceVersion: '0' }, { signal: s, accept: RBAC_ACCEPT[kind] }, (o) => objects.push(slim(kind, o as RawRbac)));
  }).catch((e: unknown) => {
    throw isNotFound(e) ? translateError(e, op, c.errCtx) : e;
  });
  const rv = (fields.metadata as { resourceVersion?: unknown } | undefined)?.resourceVersion;
  return { objects, resourceVersion: typeof rv === 'string' && rv !== '' ? rv : undefined };
}

function watchRbacKind(c: Client, kind: RbacKind, resourceVersion: string, signal: AbortSignal, onEvent: (e: RbacWatchEvent) => void): Promise<{ status?: number; error?: unknown } | null> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: { status?: number; error?: unknown } | null): void => { if (!done) { done = true; resolve(r); } };
    void c.watchOnce(RBAC_PATHS[kind], { watch: 'true', resourceVersion, allowWatchBookmarks: 'true', timeoutSeconds: RBAC_WATCH_SECONDS }, signal, (type, object) => {
      const o = (object ?? {}) as RawRbac & { code?: number };
      if (type === 'ERROR') onEvent({ type: 'ERROR', ...(typeof o.code === 'number' ? { code: o.code } : {}) });
      else if (type === 'BOOKMARK') onEvent({ type: 'BOOKMARK', ...(o.metadata?.resourceVersion ? { resourceVersion: o.metadata.resourceVersion } : {}) });
      else if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') onEvent({ type, object: slim(kind, o), ...(o.metadata?.resourceVersion ? { resourceVersion: o.metadata.resourceVersion } : {}) });
    }, (err) => {
      const status = typeof err === 'object' && err !== null ? (err as { statusCode?: unknown }).statusCode : undefined;
      finish(err === null ? null : typeof status === 'number' ? { status } : { error: err });
    }, { accept: WATCH_ACCEPT[kind], unref: true }).then((running) => { if (running) onEvent({ type: 'CONNECTED' }); });
  });
}
